"""One dataset version's story on the local stack, told as it happens: each step of its record,
every warning of every step (the report's, and what each function logged as a warning), and
the job's progress whenever it changes. Each line is told once."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

from codetune import logreader
from codetune.local.stack import LocalStack
from codetune.state import FINAL, Record, RecordStore, Stage, describe
from codetune.state.records import Step

MAX_REPORT_WARNINGS = 10  # past these, the report has the rest
POLL_SECONDS = 0.2


class Story:
    def __init__(
        self,
        stack: LocalStack,
        store: RecordStore,
        name: str,
        generation: str,
        say: Callable[[str], None],
        label: str = "",
    ) -> None:
        self.stack, self.store, self.name, self.generation = stack, store, name, generation
        self.say, self.label = say, label
        self.steps = 0
        self.told: set[str] = set()  # warnings and progress already told

    def follow(self, deadline: float, until: Collection[Stage]) -> Record | None:
        """Tell the story until the record reaches one of `until`; the record then, or None
        when `deadline` (time.monotonic) came first."""
        while time.monotonic() < deadline:
            record = self.store.record(self.name, self.generation)
            if record is not None:
                self.tell(record)
                if record.state in until:
                    self._logged_warnings(record)  # what was logged with the last step
                    return record
            time.sleep(POLL_SECONDS)
        return None

    def tell(self, record: Record) -> None:
        """What is new since the last time."""
        for step in record.history[self.steps :]:
            self._line(step.time, step.by, step_text(step.state, record))
            for warning in self._step_warnings(step, record):
                self._warning(step.time, step.by, warning)
        self.steps = len(record.history)
        self._logged_warnings(record)
        progress = record.progress
        if progress is not None and record.state not in FINAL:
            text = f"progress: {progress.describe()}"
            if text not in self.told:
                self.told.add(text)
                self._line(progress.read, "job", text)

    def _step_warnings(self, step: Step, record: Record) -> Iterator[str]:
        if step.state in (Stage.VALIDATED, Stage.REJECTED):
            yield from self._report_warnings(record)
        if step.state is Stage.SUBMITTED:
            yield from record.warnings or []

    def _report_warnings(self, record: Record) -> Iterator[str]:
        """The validation report's warnings (a rule met but not well: S-2, too few examples)."""
        name = (record.report or "").removeprefix(f"gs://{self.stack.config.bucket}/")
        report = self.stack.read_json(name) if name and name != record.report else None
        findings = (report or {}).get("warnings") or []
        for finding in findings[:MAX_REPORT_WARNINGS]:
            where = f"line {finding['line']}" if finding.get("line") else "file"
            field = f", {finding['field']}" if finding.get("field") else ""
            yield f"{where}{field} [{finding.get('rule')}] {finding.get('message')}"
        if len(findings) > MAX_REPORT_WARNINGS:
            yield f"and {len(findings) - MAX_REPORT_WARNINGS} more in the report"

    def _logged_warnings(self, record: Record) -> None:
        """What any function logged as a warning for this version (labelled with its
        correlation id), in time order."""
        if not record.correlation_id:
            return
        for entry in logreader.local_entries(self.stack.log_dir, record.correlation_id):
            if entry["severity"] == "WARNING":
                payload = entry["jsonPayload"]
                by = str(payload.get("component") or "?")
                self._warning(entry["timestamp"] or "", by, str(payload.get("message")))

    def _warning(self, when: str, by: str, text: str) -> None:
        if text not in self.told:
            self.told.add(text)
            self._line(when, by, f"warning: {text}")

    def _line(self, when: str, by: str, text: str) -> None:
        self.say(f"  {when[11:19]} {by:>8}: {self.label}{text}")


def step_text(state: Stage, record: Record) -> str:
    backend = f", {record.backend} backend" if record.backend else ""
    texts = {
        Stage.VALIDATED: f"dataset valid ({record.examples} examples, {record.kind})",
        Stage.REJECTED: f"dataset rejected ({record.examples or 0} examples read)",
        Stage.SUBMITTED: f"tuning job submitted: {record.job.name if record.job else ''}"
        + (f" ({record.base_model}{backend})" if record.base_model else ""),
        Stage.QUEUED: "job queued",
        Stage.RUNNING: "job running",
        Stage.EVALUATING: "job succeeded; evaluating the tuned model against its base",
        Stage.SUCCEEDED: _succeeded(record),
        Stage.FAILED: "failed",
        Stage.CANCELLED: "job cancelled",
    }
    return texts.get(state, str(state))


def _succeeded(record: Record) -> str:
    evaluation = record.evaluation
    if evaluation is None or evaluation.state == "planned":
        return "job succeeded"
    return f"evaluation {evaluation.state}: {evaluation.brief()}"


def summary(record: Record, out: Path) -> list[str]:
    """Why a version ended without a model, as `codetune status` says it, but pointing at the
    copies in `out`: the bucket's report and the stack's logs are gone once it stops."""
    lines = []
    for line in describe(record)[1:]:
        if line.startswith("  correlation id "):
            continue
        if record.report:
            line = line.replace(record.report, str(out / Path(record.report).name))
        lines.append(line)
    return lines
