"""The functions' settings, from their environment. Tuning parameter defaults live beside them
as CODETUNE_<PARAMETER> (see codetune.tuning.parameters)."""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import urllib.parse
from collections.abc import Mapping

import msgspec

from codetune.dataset.rules import SecretSeverity
from codetune.deployment import Deployment
from codetune.exceptions import SettingError
from codetune.serving import MULTI_REGIONS
from codetune.state.store import SYSTEM_PREFIX, default_state_bucket
from codetune.vertex import VertexConfig

UPLOAD_PREFIX = "incoming/"  # datasets are dropped under this prefix
VALIDATED_TOPIC = "dataset-validated"
FINISHED_TOPIC = "codetune-finished"  # one message per dataset version that ends
EVALUATION_TOPIC = "codetune-evaluate"  # one request per succeeded job with an evaluation


class Settings(msgspec.Struct, frozen=True):
    project: str  # the Google Cloud project of the topics (and, by default, of the tuning)
    bucket: str = ""  # the upload bucket: datasets, manifests and the reports beside them
    # The state bucket: every object the system writes and reads back (records, pointers,
    # claims, pinned copies, conversions). Only the functions can touch it; "" means
    # `<bucket>-state`, deploy.sh's default.
    state_bucket: str = ""
    project_number: str = ""  # Vertex AI names jobs by the project's number
    # The regions jobs run and models live in (the deployment's pipeline_region and location):
    # the only ones a request may go to.
    regions: tuple[str, ...] = ()
    # The multi-regions (`us`, `eu`) models may be called in; None: those the regions lie in.
    multi_regions: tuple[str, ...] | None = None
    upload_prefix: str = UPLOAD_PREFIX
    system_prefix: str = SYSTEM_PREFIX
    validated_topic: str = VALIDATED_TOPIC
    finished_topic: str = FINISHED_TOPIC
    vertex_endpoint: str | None = None  # a local stand-in; None: Google's regional endpoint
    # The reconciler (the sweep): how long an upload or a validated dataset may wait for its
    # event before it acts, and how long a dataset may take before it is reported stuck.
    reconcile_grace_seconds: float = 300
    stuck_seconds: float = 3 * 3600
    # How long a Gemini claim left by a delivery that died is left alone (see the gemini backend).
    claim_timeout_seconds: float = 600
    # The base models a dataset may choose (empty: any tunable one); the deployment's own
    # default is always allowed.
    allowed_base_models: tuple[str, ...] = ()
    # A credential in a dataset (rule `secret`): an error, or a warning. Never off: a team that
    # tunes on keys publishes them to everyone who can query the model.
    secrets: SecretSeverity = SecretSeverity.ERROR
    # Near-duplicate examples (codetune.dataset.near): several times the cost of the rest of
    # validation, so off unless the deployment turns it on.
    near_duplicates: bool = False
    # A new version of a dataset name: cancel the older versions' unfinished jobs, or keep them.
    supersede: str = "keep"
    # Concurrent tuning jobs the project's quota allows (0: not known). A dataset past them
    # waits in its record, with no create sent, until the sweep sees a slot free.
    tuning_slots: int = 0
    # How long a dataset waiting for a tuning slot waits before the sweep submits it again
    # (when the slots are not known, one a sweep: a probe of the quota).
    slot_retry_seconds: float = 60
    # A SentencePiece model of the base model's tokenizer (a file in the function's source):
    # exact token counts and costs; None: estimated from characters.
    tokenizer_model: str | None = None
    # How long one validation may read (rule `time-limit`); the near-duplicate search gets half.
    # The validate function's timeout is this plus the time to write the report (deploy.sh).
    validation_seconds: float = 420
    # How long the sweep runs: it starts validating a missed upload only with a whole
    # validation_seconds still ahead, so the upload is judged as validate would judge it.
    sweep_seconds: float = 480
    # The evaluation after a succeeded job (docs/evaluation.md): on unless turned off; at most
    # this many examples a version (a dataset's `evaluation_examples` may ask fewer); so many
    # requests at once; one delivery answers for at most evaluation_seconds (the evaluate
    # function's timeout is more), and after evaluation_attempts deliveries it gives up.
    evaluation: bool = True
    evaluation_topic: str = EVALUATION_TOPIC
    evaluation_max_examples: int = 200
    evaluation_concurrency: int = 4
    evaluation_seconds: float = 480
    evaluation_attempts: int = 5

    def __post_init__(self) -> None:
        if self.bucket and self.state == self.bucket:
            raise ValueError(
                "CODETUNE_STATE_BUCKET must not be the upload bucket: uploaders could write state"
            )

    def deployed(self) -> Settings:
        """These settings, if a function can run on them: what its requests and objects are
        checked against must all be set (a function with a partial deployment would accept
        any project or region, or name every job Vertex AI creates foreign)."""
        missing = [
            name
            for name, value in (
                ("CODETUNE_BUCKET", self.bucket),
                ("CODETUNE_PROJECT", self.project),
                ("CODETUNE_PIPELINE_REGION", self.regions),
                # Vertex AI names jobs by the project's number; a local stand-in by its id.
                ("CODETUNE_PROJECT_NUMBER", self.project_number or self.vertex_endpoint),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"a function needs {', '.join(missing)}: deploy/deploy.sh sets them")
        return self

    @property
    def state(self) -> str:
        """The state bucket's name."""
        return self.state_bucket or (default_state_bucket(self.bucket) if self.bucket else "")

    @property
    def deployment(self) -> Deployment:
        """The project and regions Vertex AI requests may go to."""
        projects = tuple(p for p in (self.project, self.project_number) if p)
        return Deployment(projects, self.regions, self.multi_regions)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        project = env.get("CODETUNE_PROJECT") or env.get("GOOGLE_CLOUD_PROJECT") or ""
        return cls(
            project=project,
            bucket=env.get("CODETUNE_BUCKET", ""),
            state_bucket=env.get("CODETUNE_STATE_BUCKET", ""),
            project_number=env.get("CODETUNE_PROJECT_NUMBER", ""),
            regions=tuple(
                dict.fromkeys(
                    region for region in (_job_region(env), env.get("CODETUNE_LOCATION")) if region
                )
            ),
            multi_regions=_multi_regions(env.get("CODETUNE_MULTI_REGIONS")),
            upload_prefix=env.get("CODETUNE_UPLOAD_PREFIX", UPLOAD_PREFIX),
            system_prefix=env.get("CODETUNE_SYSTEM_PREFIX", SYSTEM_PREFIX),
            validated_topic=env.get("CODETUNE_VALIDATED_TOPIC", VALIDATED_TOPIC),
            finished_topic=env.get("CODETUNE_FINISHED_TOPIC", FINISHED_TOPIC),
            vertex_endpoint=stand_in_endpoint(env, "CODETUNE_VERTEX_ENDPOINT"),
            reconcile_grace_seconds=float(env.get("CODETUNE_RECONCILE_GRACE_SECONDS") or 300),
            stuck_seconds=float(env.get("CODETUNE_STUCK_SECONDS") or 3 * 3600),
            claim_timeout_seconds=float(env.get("CODETUNE_CLAIM_TIMEOUT_SECONDS") or 600),
            allowed_base_models=allowed_base_models(env),
            secrets=_secrets(env.get("CODETUNE_SECRETS") or "error"),
            near_duplicates=_near(env.get("CODETUNE_NEAR_DUPLICATES")),
            tokenizer_model=env.get("CODETUNE_TOKENIZER_MODEL") or None,
            validation_seconds=_seconds(env, "CODETUNE_VALIDATION_SECONDS", 420),
            sweep_seconds=_seconds(env, "CODETUNE_SWEEP_SECONDS", 480),
            supersede=_supersede(env.get("CODETUNE_SUPERSEDE") or "keep"),
            tuning_slots=_count(env, "CODETUNE_TUNING_SLOTS"),
            slot_retry_seconds=_seconds(env, "CODETUNE_SLOT_RETRY_SECONDS", 60),
            evaluation=_switch("CODETUNE_EVALUATION", env.get("CODETUNE_EVALUATION") or "on"),
            evaluation_topic=env.get("CODETUNE_EVALUATION_TOPIC", EVALUATION_TOPIC),
            evaluation_max_examples=_count(env, "CODETUNE_EVALUATION_MAX_EXAMPLES", 200),
            evaluation_concurrency=max(1, _count(env, "CODETUNE_EVALUATION_CONCURRENCY", 4)),
            evaluation_seconds=_seconds(env, "CODETUNE_EVALUATION_SECONDS", 480),
            evaluation_attempts=max(1, _count(env, "CODETUNE_EVALUATION_ATTEMPTS", 5)),
        )

    @property
    def validated_topic_path(self) -> str:
        if self.validated_topic.startswith("projects/"):
            return self.validated_topic
        return f"projects/{self.project}/topics/{self.validated_topic}"

    @property
    def finished_topic_path(self) -> str:
        if self.finished_topic.startswith("projects/"):
            return self.finished_topic
        return f"projects/{self.project}/topics/{self.finished_topic}"

    @property
    def evaluation_topic_path(self) -> str:
        if self.evaluation_topic.startswith("projects/"):
            return self.evaluation_topic
        return f"projects/{self.project}/topics/{self.evaluation_topic}"

    @property
    def vertex(self) -> VertexConfig:
        return VertexConfig(endpoint=self.vertex_endpoint, deployment=self.deployment)


def _job_region(env: Mapping[str, str]) -> str | None:
    """CODETUNE_REGION, or its older name CODETUNE_PIPELINE_REGION; two different values stop
    the function at start."""
    region, older = env.get("CODETUNE_REGION"), env.get("CODETUNE_PIPELINE_REGION")
    if region and older and region != older:
        raise ValueError(
            f"CODETUNE_REGION={region} and CODETUNE_PIPELINE_REGION={older} name the same "
            "setting: keep one"
        )
    return region or older


def stand_in_endpoint(env: Mapping[str, str], name: str) -> str | None:
    """A local stand-in's URL in place of Google's API (CODETUNE_VERTEX_ENDPOINT,
    CODETUNE_LOGGING_ENDPOINT; `codetune stack` writes them): honoured for a loopback host only.
    Requests to a stand-in go without credentials, in the clear, so no setting may send them
    to another machine."""
    value = env.get(name) or None
    if value is None:
        return None
    parts = urllib.parse.urlsplit(value)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme not in ("http", "https") or not loopback:
        raise SettingError(
            f"{name} names a local stand-in and must be on this machine "
            f"(http://127.0.0.1:PORT), not {value[:120]!r}"
        )
    return value


def _multi_regions(value: str | None) -> tuple[str, ...] | None:
    """CODETUNE_MULTI_REGIONS: `us`, `eu`, both (comma-separated) or `none`; unset: those the
    deployment's regions lie in (codetune.serving). Anything else stops the function at start."""
    if not value:
        return None
    named = tuple(dict.fromkeys(m.strip() for m in value.split(",") if m.strip()))
    if named == ("none",):
        return ()
    unknown = [m for m in named if m not in MULTI_REGIONS]
    if unknown or not named:
        raise ValueError(
            f"CODETUNE_MULTI_REGIONS names {', '.join(MULTI_REGIONS)} or none, not {value!r}"
        )
    return named


def allowed_base_models(env: Mapping[str, str]) -> tuple[str, ...]:
    """CODETUNE_ALLOWED_BASE_MODELS: the base models a dataset may choose (empty: any)."""
    return tuple(
        m.strip() for m in env.get("CODETUNE_ALLOWED_BASE_MODELS", "").split(",") if m.strip()
    )


def _supersede(value: str) -> str:
    """CODETUNE_SUPERSEDE: 'keep' or 'cancel'; anything else stops the function at start."""
    if value not in ("keep", "cancel"):
        raise ValueError(f"CODETUNE_SUPERSEDE must be 'keep' or 'cancel', not {value!r}")
    return value


def _secrets(value: str) -> SecretSeverity:
    """CODETUNE_SECRETS: 'error' or 'warning'; anything else stops the function at start."""
    if value not in (SecretSeverity.ERROR, SecretSeverity.WARNING):
        raise ValueError(f"CODETUNE_SECRETS must be 'error' or 'warning', not {value!r}")
    return SecretSeverity(value)


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive number of seconds; anything else stops the function at start."""
    value = env.get(name) or str(default)
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0
    if not seconds > 0:
        raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
    return seconds


def _count(env: Mapping[str, str], name: str, default: int = 0) -> int:
    """A count of 0 or more (unset: `default`); anything else stops the function at start."""
    value = (env.get(name) or str(default)).strip()
    if not value.isdigit():
        raise ValueError(f"{name} must be a whole number of 0 or more, not {value!r}")
    return int(value)


def _near(value: str | None) -> bool:
    """CODETUNE_NEAR_DUPLICATES, checked against what is installed: the check's library comes
    with the `near` extra only."""
    near = _switch("CODETUNE_NEAR_DUPLICATES", value)
    if near and importlib.util.find_spec("datasketch") is None:
        raise ValueError(
            "CODETUNE_NEAR_DUPLICATES=on needs the near extra: pip install 'codetune[near]' "
            "(deploy.sh ships it with NEAR_DUPLICATES=on)"
        )
    return near


def _switch(name: str, value: str | None) -> bool:
    """An on/off setting; anything else stops the function at start."""
    if value in (None, "", "off"):
        return False
    if value == "on":
        return True
    raise ValueError(f"{name} must be 'on' or 'off', not {value!r}")
