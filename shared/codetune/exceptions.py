"""Every exception the project raises on purpose, in one place, under one base.

- Input that is not ours to fix (an event, a message) is an `InputError`: acknowledged, logged,
  never retried.
- Rules a dataset's tuning breaks: `PlanRejected`, with every problem.
- Services: `VertexError` (retryable or permanent), `StorageError`, `PublishError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codetune.tuning.parameters import Problem


class CodetuneError(Exception):
    """Base of the project's own errors."""


class SettingError(CodetuneError, ValueError):
    """A setting of the environment that cannot be honoured: a function stops at start, a
    command says it in one line."""


# --- Input ------------------------------------------------------------------------------------
class InputError(CodetuneError, ValueError):
    """Input of the wrong type or shape: acknowledged and logged, never retried."""


class EventError(InputError):
    """An event that is not what the function is triggered by."""


class MessageError(InputError):
    """A message this version of the system cannot read."""


# --- Tuning -----------------------------------------------------------------------------------
class PlanRejected(CodetuneError):
    """The tuning parameters break one or more rules; nothing may be sent."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.parameter} [{p.rule}] {p.message}" for p in problems))


class CancelledBeforeJob(CodetuneError):
    """A cancel reached the record before tune could start creating the job: none is made."""


# --- Services ---------------------------------------------------------------------------------
class VertexError(CodetuneError):
    """Vertex AI refused or failed a request."""

    def __init__(self, message: str, status: int | None = None, reason: str | None = None) -> None:
        self.status = status
        self.reason = reason  # Google's status string, e.g. FAILED_PRECONDITION
        super().__init__(message)


class RetryableVertexError(VertexError):
    """A transient failure (429, 5xx, timeout) that outlasted the retries: try again later."""


class NoTuningSlot(RetryableVertexError):
    """No job was created for want of a tuning slot: Vertex AI refused the create for the
    project's quota (429 RESOURCE_EXHAUSTED), or every slot the deployment counts is in use.
    The dataset waits in its record, and the sweep submits it again when a slot may be free."""


class PermanentVertexError(VertexError):
    """A failure that repeating will not fix (400, 403, 404, ...): report it, do not retry."""


class ForeignName(PermanentVertexError):
    """A job name or region that is not the deployment's: no request is built from it."""


NOT_FOUND = 404  # the HTTP status of a job Vertex AI does not know (any more)


class LogsRefused(CodetuneError):
    """Cloud Logging refused to list entries (a missing role, an unknown project)."""

    def __init__(self, message: str, status: int) -> None:
        self.status = status
        super().__init__(message)


class StorageError(CodetuneError):
    """Cloud Storage could not do what was asked (e.g. too many concurrent writers): retry."""


class PublishError(CodetuneError):
    """A message could not be published as asked."""
