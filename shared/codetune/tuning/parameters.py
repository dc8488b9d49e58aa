"""Tuning parameters: their names, types, and where their values come from.

Values arrive as text (environment variables, object metadata, `--set name=value`) or as JSON
(a manifest). Each source is a layer; later layers override earlier ones:

    deployment defaults (CODETUNE_<NAME> environment) < manifest < object metadata < --set
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any

import msgspec

from codetune.dataset.keys import shown_key
from codetune.dataset.rules import estimate_tokens, token_weight
from codetune.evaluation import parsers
from codetune.evaluation.cost import InferencePrice, parse_prices
from codetune.evaluation.plan import DEFAULT_MAX_OUTPUT_TOKENS
from codetune.pipeline.models import (
    CHECKPOINT_SELECTION_VALUES,
    PIPELINE_REGIONS,
    TUNING_REGION_OF_ACCELERATOR,
)

ENV_PREFIX = "CODETUNE_"
METADATA_PREFIX = "codetune-"


class Problem(msgspec.Struct, frozen=True):
    """Why a parameter (or the plan as a whole) cannot be used: the parameter, rule, message."""

    parameter: str
    rule: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"parameter": self.parameter, "rule": self.rule, "message": self.message}


class TuningParameters(msgspec.Struct, frozen=True):
    """Every parameter of a tuning job; None means "not set" (a default applies)."""

    # The pipeline's own parameters (S-11..S-21), by the source's names.
    large_model_reference: str | None = None
    train_steps: int | None = None
    learning_rate_multiplier: float | None = None
    evaluation_data_uri: str | None = None
    evaluation_interval: int | None = None
    enable_early_stopping: bool | None = None
    enable_checkpoint_selection: str | None = None
    tensorboard_resource_id: str | None = None
    location: str | None = None  # where the tuned model is uploaded (S-12)
    accelerator_type: str | None = None
    encryption_spec_key_name: str | None = None
    default_context: str | None = None
    model_display_name: str | None = None
    max_context_length: str | None = None
    # Gemini supervised tuning (codetune.gemini) counts epochs and sizes its adapter.
    epoch_count: int | None = None
    adapter_size: int | None = None
    # The evaluation after a Gemini job (codetune.evaluation, docs/evaluation.md): never sent
    # with the job.
    evaluation_examples: int | None = None
    evaluation_max_output_tokens: int | None = None
    evaluation_temperature: float | None = None
    language: str | None = None
    # The job's own.
    project: str | None = None
    pipeline_region: str | None = None
    output_dir: str | None = None  # runtimeConfig.gcsOutputDirectory
    display_name: str | None = None
    service_account: str | None = None
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    # The deployment's budget (codetune.tuning.budget): never in the request.
    training_price: float | None = None
    training_prices: dict[str, float] | None = None  # by model
    max_cost: float | None = None
    max_training_tokens: int | None = None
    inference_prices: dict[str, InferencePrice] | None = None  # by model
    tuned_inference_prices: dict[str, InferencePrice] | None = None  # by base model

    def set_values(self) -> dict[str, Any]:
        """The parameters that are set, by name."""
        values = msgspec.structs.asdict(self)
        return {k: v for k, v in values.items() if v is not None and v != {}}


# --- Parsers: text or JSON in, a typed value out, or ValueError with what was expected -------
class OutOfRange(ValueError):
    """A value of the right type outside the parameter's range (rule `range`)."""

    rule = "range"


class Refused(ValueError):
    """A text the parameter cannot take as written (rule `format`)."""

    rule = "format"


# The widest integer a parameter takes: the API's int64 fields (epochCount is "format": "int64"
# in the aiplatform v1 discovery document); a request with a larger one is never sent.
INT64_MAX = 2**63 - 1
# Characters a display name never holds, being shown to people (consoles, logs, terminals):
# Unicode's control characters (category Cc: U+0000-U+001F, U+007F-U+009F, NUL, ESC, CR and LF
# among them) and the bidirectional controls that reorder what is shown (U+061C, U+200E,
# U+200F, U+202A-U+202E, U+2066-U+2069).
DISPLAY_NAME_REFUSED = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string")
    return value.strip()


# A default_context is repeated in every example it is given to, so its tokens are paid once
# an example an epoch: 8,192 estimated tokens (the 8k models' whole window, S-9) bounds it far
# above any system instruction written by hand, and far below what a 60 KB one bills.
MAX_DEFAULT_CONTEXT_TOKENS = 8_192


def _context(value: object) -> str:
    text = _text(value)
    tokens = estimate_tokens(token_weight(text))
    if tokens > MAX_DEFAULT_CONTEXT_TOKENS:
        raise OutOfRange(
            f"~{tokens:,} tokens, past the {MAX_DEFAULT_CONTEXT_TOKENS:,} a default_context may "
            "hold: it is repeated in every example, and billed each time"
        )
    return text


def _integer(value: object) -> int:
    """A whole number of int64's range."""
    if isinstance(value, bool):
        raise ValueError("expected a whole number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,30}\s*", value):
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        raise OutOfRange("expected a whole number of at most 19 digits (an int64)")
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        raise ValueError("expected a whole number")
    if not -INT64_MAX - 1 <= number <= INT64_MAX:
        raise OutOfRange(
            f"{number:.3g} is past the largest whole number a job takes, {INT64_MAX:,}"
        )
    return number


def _number(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    try:
        number = float(value) if isinstance(value, int | float | str) else math.nan
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ValueError("expected a finite number")
    return number


def _positive(value: object) -> float:
    number = _number(value)
    if number <= 0:
        raise ValueError("expected a number above 0")
    return number


def _whole(low: int, high: int = INT64_MAX) -> Callable[[object], int]:
    """A whole number from `low` to `high` (and never past int64)."""

    def parse(value: object) -> int:
        number = _integer(value)
        if not low <= number <= high:
            raise OutOfRange(f"expected a whole number from {low:,} to {high:,}")
        return number

    return parse


_positive_integer = _whole(1)
# Gemini's epochs: Google documents no maximum (an int64) and recommends a few; codetune's bound
# keeps a typo (300 for 3) from buying a hundred times the training.
MAX_EPOCHS = 100


def _display_name(value: object) -> str:
    """A name people see: a non-empty text without control or bidi characters (its length,
    S-20, is the planners')."""
    if isinstance(value, str):
        refused = DISPLAY_NAME_REFUSED.search(value)
        if refused is not None:
            raise Refused(
                f"holds U+{ord(refused.group()):04X}, a control or bidirectional character; a "
                "display name is shown to people as written"
            )
    return _text(value)


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError("expected true or false")


def _choice(*choices: str, upper: bool = False) -> Callable[[object], str]:
    def parse(value: object) -> str:
        text = _text(value)
        text = text.upper() if upper else text
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return text

    return parse


def _checkpoint_selection(value: object) -> str:
    # S-17: a string, "true", "false" or "default"; a JSON boolean is read as its string.
    if isinstance(value, bool):
        return "true" if value else "false"
    return _choice(*CHECKPOINT_SELECTION_VALUES)(value.lower() if isinstance(value, str) else value)


def _labels(value: object) -> dict[str, str]:
    """A JSON object of strings, or text `key=value,key=value`."""
    if isinstance(value, str):
        pairs = [item.partition("=") for item in value.split(",") if item.strip()]
        if any(sep != "=" for _, sep, _ in pairs):
            raise ValueError("expected key=value pairs separated by commas")
        return {k.strip(): v.strip() for k, _, v in pairs}
    if isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return dict(value)
    raise ValueError("expected an object of strings, or key=value,key=value")


def _prices(value: object) -> dict[str, float]:
    """`model=price,model=price` (or a JSON object): USD per 1M training tokens, by model."""
    if isinstance(value, str):
        pairs = [item.partition("=") for item in value.split(",") if item.strip()]
        if any(sep != "=" or not model.strip() for model, sep, _ in pairs):
            raise ValueError("expected model=price pairs separated by commas")
        value = {model.strip(): price.strip() for model, _, price in pairs}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError("expected model=price,model=price")
    return {model: _positive(price) for model, price in value.items()}


# The most each evaluation answer may be allowed (generationConfig.maxOutputTokens): codetune's
# bound, the output limit Google's model pages give Gemini 2.5 and 3.x Flash models (65,536).
# Every answer is counted at its whole allowance, so a typo past it would only buy estimate.
MAX_OUTPUT_TOKENS = 65_536
# generationConfig.temperature: "Values can range from 0.0 to 2.0 inclusive" (Google's
# GenerationConfig reference).
MAX_TEMPERATURE = 2.0


def _temperature(value: object) -> float:
    number = _number(value)
    if not 0 <= number <= MAX_TEMPERATURE:
        raise OutOfRange(f"expected a temperature from 0 to {MAX_TEMPERATURE:g}")
    return number


def _language(value: object) -> str:
    """A language of the "code parses" table (codetune.evaluation.parsers), by its name or a
    fence tag that names it: `py` is `python`."""
    language = parsers.language_of(_text(value))
    if language is None:
        raise ValueError("expected one of " + ", ".join(lang.name for lang in parsers.LANGUAGES))
    return language.name


def _inference_prices(value: object) -> dict[str, InferencePrice]:
    """`model=INPUT/OUTPUT,...`: USD per 1M input and output tokens (codetune.evaluation.cost)."""
    if not isinstance(value, str):
        raise ValueError("expected model=INPUT/OUTPUT,... (USD per 1M tokens)")
    return parse_prices(value)


class Scope(StrEnum):
    """Who may set a parameter. Uploaders are not operators: where jobs run, as whom, and where
    their output goes is the deployment's alone."""

    DEPLOYMENT = "deployment"  # CODETUNE_* environment (and --set, the operator's own)
    DATASET = "dataset"  # also a dataset's manifest and object metadata


PIPELINE, GEMINI = "pipeline", "gemini"
# The rule a backend cites when it refuses a parameter that is not its own.
REFUSAL_RULE = {PIPELINE: "S-21", GEMINI: "gemini"}
# The sources a dataset's uploader controls (codetune.tuning.sources).
DATASET_SOURCES = frozenset({"manifest", "metadata"})


class Parameter(msgspec.Struct, frozen=True):
    """One tuning parameter: every fact about it, in one row."""

    name: str  # Google's name on the "Tune code models" page where it has one
    parse: Callable[[object], Any]
    backends: frozenset[str]  # the backends that take it
    scope: Scope
    default: str  # what applies when it is not set, as documented
    lands: Mapping[str, str]  # backend -> where it goes in the request
    rules: str  # what a value must be, citing the rule ids of docs/rules.md
    # backend -> why it refuses the parameter; a backend that neither takes nor refuses it
    # ignores it
    refused_by: Mapping[str, str] = msgspec.field(default_factory=dict)


_BOTH = frozenset({PIPELINE, GEMINI})
_PIPELINE_ONLY = frozenset({PIPELINE})
_GEMINI_ONLY = frozenset({GEMINI})

# Sources: Google's "Tune code models" page (the S-n rules of docs/rules.md), the Vertex AI SDK's
# tune_model, and the TuningJob resource of the aiplatform v1 discovery document.
PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "project",
        _text,
        _BOTH,
        Scope.DEPLOYMENT,
        "(required)",
        {PIPELINE: "URL; `parameterValues.project`", GEMINI: "URL"},
        "a Google Cloud project ID",
    ),
    Parameter(
        "pipeline_region",
        _text,
        _BOTH,
        Scope.DEPLOYMENT,
        "(required)",
        {PIPELINE: "URL", GEMINI: "URL"},
        "pipeline: where it runs (S-11), one of "
        + ", ".join(PIPELINE_REGIONS)
        + "; Gemini: the tuning job's region. Also named `region` (`CODETUNE_REGION`, "
        "`--set region=...`)",
    ),
    Parameter(
        "output_dir",
        _text,
        _PIPELINE_ONLY,
        Scope.DEPLOYMENT,
        "(required)",
        {PIPELINE: "`runtimeConfig.gcsOutputDirectory`"},
        "a `gs://` folder for pipeline artifacts; Gemini ignores it",
    ),
    Parameter(
        "location",
        _text,
        _PIPELINE_ONLY,
        Scope.DEPLOYMENT,
        "`pipeline_region`",
        {PIPELINE: "`parameterValues.location`"},
        "where the tuned model is uploaded (S-12), one of the pipeline regions",
        {GEMINI: "a tuned Gemini model is deployed in the job's region (pipeline_region)"},
    ),
    Parameter(
        "large_model_reference",
        _text,
        _BOTH,
        Scope.DATASET,
        "`gemini-3.5-flash` (a deployment sets its own with `CODETUNE_LARGE_MODEL_REFERENCE`)",
        {PIPELINE: "`parameterValues.large_model_reference`", GEMINI: "`baseModel`"},
        "the base model, which chooses the backend: a tunable Gemini model (docs/gemini.md), or a "
        "legacy code-bison model fitting the dataset's kind (S-21), which Vertex AI refuses since "
        "2024-10-09",
    ),
    Parameter(
        "accelerator_type",
        _choice(*TUNING_REGION_OF_ACCELERATOR, upper=True),
        _PIPELINE_ONLY,
        Scope.DATASET,
        "`GPU`",
        {PIPELINE: "`parameterValues.accelerator_type`"},
        "`GPU` tunes in us-central1 (batch 8), `TPU` in europe-west4 (batch 24 for 8k models, 8 for 32k) (S-13, S-15)",
        {GEMINI: "Vertex AI chooses Gemini's tuning hardware"},
    ),
    Parameter(
        "train_steps",
        _integer,  # at least 1: the pipeline planner's (rule S-15)
        _PIPELINE_ONLY,
        Scope.DATASET,
        "300",
        {PIPELINE: "`parameterValues.train_steps`"},
        "1 to 9,223,372,036,854,775,807 (an int64: at least 1 step, S-15); 200 to 1,000 "
        "recommended for 500+ examples; under one epoch warns (S-15)",
        {GEMINI: "Gemini counts epochs over the whole dataset, not steps: set epoch_count instead"},
    ),
    Parameter(
        "epoch_count",
        _whole(1, MAX_EPOCHS),
        _GEMINI_ONLY,
        Scope.DATASET,
        "Google's recommended value",
        {GEMINI: "`supervisedTuningSpec.hyperParameters.epochCount`"},
        "1 to 100 (an int64 for Google, which documents no maximum; codetune's bound keeps a typo "
        "from buying a hundred times the training)",
        {PIPELINE: "epoch_count is for Gemini tuning; the code-bison pipeline counts train_steps"},
    ),
    Parameter(
        "adapter_size",
        _integer,
        _GEMINI_ONLY,
        Scope.DATASET,
        "Google's recommended value",
        {GEMINI: "`supervisedTuningSpec.hyperParameters.adapterSize`"},
        "an adapter size the base model takes (1, 2, 4, 8, 16)",
        {PIPELINE: "adapter_size is for Gemini tuning; the code-bison pipeline has none"},
    ),
    Parameter(
        "learning_rate_multiplier",
        _number,
        _BOTH,
        Scope.DATASET,
        "1",
        {
            PIPELINE: "`parameterValues.learning_rate_multiplier`",
            GEMINI: "`supervisedTuningSpec.hyperParameters.learningRateMultiplier`",
        },
        "greater than 0 (S-16)",
    ),
    Parameter(
        "evaluation_data_uri",
        _text,
        _BOTH,
        Scope.DATASET,
        "—",
        {
            PIPELINE: "`parameterValues.evaluation_data_uri`",
            GEMINI: "`supervisedTuningSpec.validationDatasetUri` (converted)",
        },
        "a validated `*.eval.jsonl`; code generation only for the pipeline (S-5, S-6)",
    ),
    # The evaluation after a Gemini job (docs/evaluation.md); a job without an evaluation dataset
    # has none, and a deployment with CODETUNE_EVALUATION=off evaluates nothing.
    Parameter(
        "evaluation_examples",
        _whole(0),
        _GEMINI_ONLY,
        Scope.DATASET,
        "as many as the deployment allows (`CODETUNE_EVALUATION_MAX_EXAMPLES`, 200)",
        {GEMINI: "— (the evaluation after the job)"},
        "0 to 9,223,372,036,854,775,807: how many of the evaluation dataset's first examples "
        "the tuned model and its base answer once the job succeeds, at most the deployment's "
        "`CODETUNE_EVALUATION_MAX_EXAMPLES`; 0: no evaluation for this dataset; needs "
        "`evaluation_data_uri` (docs/evaluation.md)",
        {PIPELINE: "the evaluation after the job is for Gemini tuning only"},
    ),
    Parameter(
        "evaluation_max_output_tokens",
        _whole(1, MAX_OUTPUT_TOKENS),
        _GEMINI_ONLY,
        Scope.DATASET,
        f"{DEFAULT_MAX_OUTPUT_TOKENS:,}",
        {GEMINI: "— (each evaluation request's `generationConfig.maxOutputTokens`)"},
        f"1 to {MAX_OUTPUT_TOKENS:,} (Gemini Flash models' output limit): each evaluation "
        "answer's allowance, at which the cost estimate counts every answer; needs "
        "`evaluation_data_uri`",
        {PIPELINE: "the evaluation after the job is for Gemini tuning only"},
    ),
    Parameter(
        "evaluation_temperature",
        _temperature,
        _GEMINI_ONLY,
        Scope.DATASET,
        "0 (deterministic, as far as the service is)",
        {GEMINI: "— (each evaluation request's `generationConfig.temperature`)"},
        "0 to 2 (Google's GenerationConfig); both models answer with it; needs "
        "`evaluation_data_uri`",
        {PIPELINE: "the evaluation after the job is for Gemini tuning only"},
    ),
    Parameter(
        "language",
        _language,
        _GEMINI_ONLY,
        Scope.DATASET,
        "— (the fences' tags)",
        {GEMINI: '— (the evaluation\'s "code parses" metric)'},
        "the code's language where a reference's fence does not name one: "
        + ", ".join(f"`{lang.name}`" for lang in parsers.LANGUAGES)
        + " (or a fence tag of one: `py`); docs/evaluation.md",
        {PIPELINE: "the evaluation after the job is for Gemini tuning only"},
    ),
    Parameter(
        "evaluation_interval",
        _integer,  # at least 1: the pipeline planner's (rule S-17)
        _PIPELINE_ONLY,
        Scope.DATASET,
        "20",
        {PIPELINE: "`parameterValues.evaluation_interval`"},
        "1 to 9,223,372,036,854,775,807 steps (an int64); needs `evaluation_data_uri` (S-17)",
        {GEMINI: "Gemini evaluates on the validation dataset by itself"},
    ),
    Parameter(
        "enable_early_stopping",
        _boolean,
        _PIPELINE_ONLY,
        Scope.DATASET,
        "true",
        {PIPELINE: "`parameterValues.enable_early_stopping`"},
        "`true` needs `evaluation_data_uri`; not for chat (S-17, S-6)",
        {GEMINI: "Gemini tuning has no early stopping setting"},
    ),
    Parameter(
        "enable_checkpoint_selection",
        _checkpoint_selection,
        _PIPELINE_ONLY,
        Scope.DATASET,
        "`default`",
        {PIPELINE: "`parameterValues.enable_checkpoint_selection`"},
        "the string `true`, `false` or `default`; not for chat (S-17, S-6)",
        {GEMINI: "Gemini tuning has no checkpoint selection setting"},
    ),
    Parameter(
        "tensorboard_resource_id",
        _text,
        _PIPELINE_ONLY,
        Scope.DEPLOYMENT,
        "—",
        {PIPELINE: "`parameterValues.tensorboard_resource_id`"},
        "`projects/P/locations/L/tensorboards/T` in the pipeline's region (S-18)",
        {GEMINI: "Gemini tuning reports its metrics itself"},
    ),
    Parameter(
        "encryption_spec_key_name",
        _text,
        _BOTH,
        Scope.DEPLOYMENT,
        "—",
        {
            PIPELINE: "`parameterValues.encryption_spec_key_name`, `encryptionSpec.kmsKeyName`",
            GEMINI: "`encryptionSpec.kmsKeyName`",
        },
        "a Cloud KMS key; pipeline: in us-central1, only with `GPU` and pipeline and upload regions us-central1 (S-14); Gemini: in the job's region",
    ),
    Parameter(
        "default_context",
        _context,
        _BOTH,
        Scope.DATASET,
        "—",
        {
            PIPELINE: "`parameterValues.default_context`",
            GEMINI: "the `systemInstruction` of examples without a context",
        },
        "code chat only (S-19); at most 8,192 tokens (estimated), as it is repeated in "
        "every example",
    ),
    Parameter(
        "max_context_length",
        _choice("8k", "32k"),
        _PIPELINE_ONLY,
        Scope.DATASET,
        "—",
        {PIPELINE: "`parameterValues.max_context_length`"},
        "`8k` or `32k`, code generation only, matching the base model (S-9)",
        {GEMINI: "Gemini takes up to 131,072 tokens per example"},
    ),
    Parameter(
        "model_display_name",
        _display_name,
        _BOTH,
        Scope.DATASET,
        "`<dataset> (<base model>)`",
        {PIPELINE: "`parameterValues.model_display_name`", GEMINI: "`tunedModelDisplayName`"},
        "at most 128 characters (S-20), none a control character (NUL, ESC, CR, LF...) or a "
        "bidirectional control (U+202E...)",
    ),
    Parameter(
        "display_name",
        _display_name,
        _BOTH,
        Scope.DATASET,
        "`codetune <dataset>`",
        {PIPELINE: "`displayName`", GEMINI: "`description`"},
        "at most 128 characters (S-20), none a control character (NUL, ESC, CR, LF...) or a "
        "bidirectional control (U+202E...)",
    ),
    Parameter(
        "service_account",
        _text,
        _BOTH,
        Scope.DEPLOYMENT,
        "—",
        {PIPELINE: "`serviceAccount`", GEMINI: "`serviceAccount`"},
        "the service account the job runs as",
    ),
    Parameter(
        "labels",
        _labels,
        _BOTH,
        Scope.DATASET,
        "—",
        {PIPELINE: "`labels`", GEMINI: "`labels`"},
        "`key=value,key=value` (or a JSON object); keys and values wholly of lowercase letters, "
        "digits, `_`, `-` (a trailing newline included), up to 63 characters; `codetune-*` keys "
        "are the system's own",
    ),
    # The budget: checked by tune before any job (rule `budget`), never sent.
    Parameter(
        "training_price",
        _positive,
        _BOTH,
        Scope.DEPLOYMENT,
        "— (no cost estimate)",
        {PIPELINE: "— (the cost estimate)", GEMINI: "— (the cost estimate)"},
        "USD per 1M training tokens for every base model, over the list prices "
        "(training tokens = the tokens of the converted dataset x epochs)",
    ),
    Parameter(
        "training_prices",
        _prices,
        _BOTH,
        Scope.DEPLOYMENT,
        'Google\'s list prices (docs/parameters.md, "Prices")',
        {PIPELINE: "— (the cost estimate)", GEMINI: "— (the cost estimate)"},
        "`model=price,...`: USD per 1M training tokens for those models (a contract price), over "
        "`training_price` and the list prices",
    ),
    Parameter(
        "max_training_tokens",
        _positive_integer,
        _BOTH,
        Scope.DEPLOYMENT,
        "— (no limit)",
        {PIPELINE: "— (checked before the job)", GEMINI: "— (checked before the job)"},
        "1 to 9,223,372,036,854,775,807; a job that would train on more tokens (the dataset's "
        "tokens x epochs) is refused, rule `budget`",
    ),
    Parameter(
        "max_cost",
        _positive,
        _BOTH,
        Scope.DEPLOYMENT,
        "— (no limit)",
        {PIPELINE: "— (checked before the job)", GEMINI: "— (checked before the job)"},
        "USD; a job whose estimated cost (training tokens x the model's price, and its "
        "evaluation's) is higher is refused, rule `budget`, as is one whose model, or whose "
        "evaluation's model, has no known price",
    ),
    Parameter(
        "inference_prices",
        _inference_prices,
        _GEMINI_ONLY,
        Scope.DEPLOYMENT,
        'none shipped (docs/evaluation.md, "What it costs")',
        {GEMINI: "— (the evaluation's cost estimate)"},
        "`model=INPUT/OUTPUT,...`: USD per 1M input / output tokens of those base models (a "
        "model without one has no known evaluation cost); a tuned Gemini 3 endpoint bills 1.5 "
        "times its base's",
    ),
    Parameter(
        "tuned_inference_prices",
        _inference_prices,
        _GEMINI_ONLY,
        Scope.DEPLOYMENT,
        "the base model's price x its tuned rate (1.5 from Gemini 3)",
        {GEMINI: "— (the evaluation's cost estimate)"},
        "`model=INPUT/OUTPUT,...`: USD per 1M input / output tokens of the tuned endpoints of "
        "those base models, over the tuned rate (a contract price, or a 2.x model)",
    ),
)
BY_NAME = {parameter.name: parameter for parameter in PARAMETERS}
PARSERS: dict[str, Callable[[object], Any]] = {p.name: p.parse for p in PARAMETERS}
NAMES = tuple(PARSERS)


def refused(parameters: TuningParameters, backend: str) -> list[Problem]:
    """The parameters that are set and that `backend` refuses, each with why."""
    return [
        Problem(
            name,
            REFUSAL_RULE[backend],
            f"not for {backend} tuning: {BY_NAME[name].refused_by[backend]}",
        )
        for name in parameters.set_values()
        if backend in BY_NAME[name].refused_by
    ]


def markdown_table() -> str:
    """The documentation's parameter table (docs/parameters.md), from PARAMETERS."""
    rows = [
        "| parameter | backends | set by | default | rules | in the request |",
        "|---|---|---|---|---|---|",
    ]
    for p in PARAMETERS:
        lands = "; ".join(f"{b}: {where}" for b, where in p.lands.items())
        who = "the deployment" if p.scope is Scope.DEPLOYMENT else "the deployment or the dataset"
        rows.append(
            f"| `{p.name}` | {', '.join(sorted(p.backends))} | {who} | {p.default} | {p.rules} | {lands} |"
        )
    return "\n".join(rows) + "\n"


# Other names of a parameter: `region` reads better for a Gemini job than the pipeline's name.
ALIASES = {"region": "pipeline_region"}


def normalise_name(name: str) -> str:
    """`Train-Steps` and `train_steps` name the same parameter, as `region` and
    `pipeline_region` do."""
    name = name.strip().lower().replace("-", "_")
    return ALIASES.get(name, name)


def parse_layer(values: Mapping[str, object], origin: str) -> tuple[dict[str, Any], list[Problem]]:
    """Typed values of one source, and the problems of the values that could not be read."""
    parsed: dict[str, Any] = {}
    problems: list[Problem] = []
    for raw_name, raw_value in values.items():
        name = normalise_name(raw_name)
        parser = PARSERS.get(name)
        if name in parsed:
            problems.append(
                Problem(name, "duplicate-key", f"{origin}: {name} is given twice ({raw_name})")
            )
            continue
        if parser is None:
            # An uploader's name, shown cut: it may be anything, a token included.
            problems.append(
                Problem(
                    shown_key(str(raw_name)),
                    "unknown-parameter",
                    f"{origin}: no such parameter; known: {', '.join(NAMES)}",
                )
            )
            continue
        if origin in DATASET_SOURCES and BY_NAME[name].scope is Scope.DEPLOYMENT:
            problems.append(
                Problem(name, "deployment-only", f"{origin}: only the deployment sets {name}")
            )
            continue
        try:
            parsed[name] = parser(raw_value)
        except ValueError as fault:
            problems.append(Problem(name, getattr(fault, "rule", "type"), f"{origin}: {fault}"))
    return parsed, problems


def resolve(
    layers: Iterable[tuple[str, Mapping[str, object]]],
) -> tuple[TuningParameters, list[Problem]]:
    """Merge the layers, lowest precedence first, into one set of parameters.

    Labels merge key by key; every other parameter is replaced by a later layer.
    """
    merged: dict[str, Any] = {}
    labels: dict[str, str] = {}
    problems: list[Problem] = []
    for origin, values in layers:
        parsed, layer_problems = parse_layer(values, origin)
        problems += layer_problems
        labels.update(parsed.pop("labels", {}))
        merged.update(parsed)
    return TuningParameters(**merged, labels=labels), problems


def from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """Deployment defaults: `CODETUNE_TRAIN_STEPS=500` sets train_steps."""
    found = {
        normalise_name(key[len(ENV_PREFIX) :]): value
        for key, value in sorted(environ.items())
        if key.startswith(ENV_PREFIX) and value != ""
    }
    return {name: value for name, value in found.items() if name in PARSERS}


def from_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Per-dataset settings in an object's custom metadata: `codetune-train_steps: 500`."""
    return {
        key[len(METADATA_PREFIX) :]: value
        for key, value in (metadata or {}).items()
        if key.lower().startswith(METADATA_PREFIX)
    }


def from_assignments(assignments: Iterable[str]) -> tuple[dict[str, str], list[Problem]]:
    """`--set name=value` arguments."""
    values: dict[str, str] = {}
    problems = []
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep or not name.strip():
            problems.append(Problem(assignment, "syntax", "--set takes name=value"))
        else:
            values[name.strip()] = value
    return values, problems


if __name__ == "__main__":  # python -m codetune.tuning.parameters > the table for the docs
    print(markdown_table(), end="")
