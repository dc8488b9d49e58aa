"""The dataset rules: every limit and rule code the validator enforces, with where it comes from.

`S-n` codes are the numbered rules of Google's "Tune code models" page, restated in the
project's rule table (docs/rules.md). The other codes are this project's own, for faults of
the file itself (encoding, JSON) and for rules Google documents on other pages.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from codetune.dataset import gemini_format


class DatasetKind(StrEnum):
    """The two dataset formats of S-1."""

    GENERATION = "generation"  # code-bison: {"input_text", "output_text"}
    CHAT = "chat"  # codechat-bison: {"messages": [{"author", "content"}], "context"?}


class DatasetFormat(StrEnum):
    """How a file's examples are written; one format per file."""

    SEED = "seed"  # the code-bison formats of Google's "Tune code models" page (S-1)
    GEMINI = "gemini"  # {"systemInstruction"?, "contents": [{"role": "user"|"model", "parts"}]}
    OPENAI = "openai"  # OpenAI's chat fine-tuning: {"messages": [{"role", "content"}]}


class SecretSeverity(StrEnum):
    """What a credential in a dataset is (rule `secret`): the deployment's choice."""

    ERROR = "error"  # the default: the dataset is rejected
    WARNING = "warning"  # reported; the dataset is tuned (`CODETUNE_SECRETS=warning`)
    OFF = "off"  # not scanned: `codetune validate --secrets off`, never a deployment


class DatasetRole(StrEnum):
    """What a dataset is for: tuning (S-2..S-4) or evaluation during tuning (S-5, S-6)."""

    TRAINING = "training"
    EVALUATION = "evaluation"


# --- Limits -----------------------------------------------------------------------------------
# S-2: at least 10 training examples; fewer than 500 works but is not recommended.
MIN_TRAINING_EXAMPLES = 10
RECOMMENDED_TRAINING_EXAMPLES = 500
# S-3: at most 10,000 code-generation training examples.
MAX_GENERATION_EXAMPLES = 10_000
# S-4: at most 10,000 `author` fields, summed over every message of every chat example.
MAX_CHAT_AUTHOR_FIELDS = 10_000
# S-5: an evaluation dataset holds 10 to 250 examples.
MIN_EVALUATION_EXAMPLES = 10
MAX_EVALUATION_EXAMPLES = 250

# S-9: token limits of the base models (Google's model pages for code-bison / codechat-bison).
# The 8k models: 6,144 input + 1,024 output tokens. The 32k models: 32,768 input and output
# together, at most 8,192 of them output.
LIMITS_8K = {"input": 6_144, "output": 1_024}
LIMITS_32K = {"total": 32_768, "output": 8_192}
# Google: "a token is equivalent to about 4 characters" (Vertex AI generative AI docs, "Tokens").
# The validator has no tokenizer for the bison models: every token count it reports is this
# estimate and is labelled as one.
CHARS_PER_TOKEN = 4


def estimate_tokens(characters: int) -> int:
    """Estimated tokens for a text of this many characters (an estimate, not a tokenizer)."""
    return -(-characters // CHARS_PER_TOKEN)


def token_weight(text: str) -> int:
    """A text's length for the estimate: an ASCII character counts 1 (Google's 4 to a token),
    every UTF-8 byte of any other character CHARS_PER_TOKEN (a token each: the most a
    tokenizer with byte fallback, as SentencePiece and byte-level BPE have, can take). CJK,
    emoji and accented text take far more tokens per character than English or code, and
    characters / 4 alone undercounts them several times over; the ratios measured against a
    tokenizer are in docs/parameters.md."""
    if text.isascii():  # O(1) in CPython: the common case costs nothing
        return len(text)
    ascii_chars = len(text.encode("ascii", "ignore"))
    return ascii_chars + CHARS_PER_TOKEN * (len(text.encode()) - ascii_chars)


# Own limit: the longest line the validator reads. A whole example at the 32k model's limit is
# about 128 KiB of text; 8 MiB leaves room for JSON escapes and keeps memory bounded.
MAX_LINE_BYTES = 8 * 1024 * 1024

# How much of a report lists findings one by one; every finding is still counted per rule.
MAX_LISTED_FINDINGS = 100
MAX_LISTED_PER_RULE = 20

# --- Chat examples ----------------------------------------------------------------------------
# Google, "Tune text models by using supervised tuning", dataset format for chat models (the
# format codechat-bison shares with chat-bison): each example holds `messages`, "an array of
# author-content pairs"; "the author field ... is set to either user or assistant in an
# alternating manner"; `context` is optional. The model is tuned to produce the assistant's
# turns, so a conversation opens with the user and closes with the assistant's answer: a
# trailing user turn has no answer to learn from.
CHAT_AUTHORS = ("user", "assistant")
CHAT_FIRST_AUTHOR = "user"
CHAT_LAST_AUTHOR = "assistant"

# The fields each kind of example may carry (S-1).
GENERATION_FIELDS = frozenset({"input_text", "output_text"})
CHAT_FIELDS = frozenset({"messages", "context"})
CHAT_MESSAGE_FIELDS = frozenset({"author", "content"})

# OpenAI's chat fine-tuning format (platform.openai.com, "Preparing your dataset"): each line
# {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}]}; a message may carry
# "name" and, on assistant messages, "weight" (0 or 1). A system message, if any, comes first.
OPENAI_FIELDS = frozenset({"messages"})
OPENAI_MESSAGE_FIELDS = frozenset({"role", "content", "name", "weight"})
OPENAI_ROLES = ("system", "user", "assistant")
# Gemini's format (Vertex AI, "Prepare supervised fine-tuning data for Gemini models"): roles
# "user" and "model"; codetune tunes text parts (a fileData part is refused with its field).
# Described once, in codetune.dataset.gemini_format.
GEMINI_FIELDS = gemini_format.EXAMPLE_FIELDS
GEMINI_CONTENT_FIELDS = gemini_format.CONTENT_FIELDS
GEMINI_ROLES = gemini_format.ROLES


class Rule(StrEnum):
    """Every code a finding can carry. Values are what reports print."""

    FORMAT = "S-1"  # shape of an example: fields, types, empty values, one kind per file
    MIN_EXAMPLES = "S-2"
    MAX_GENERATION_EXAMPLES = "S-3"
    MAX_AUTHOR_FIELDS = "S-4"
    EVALUATION_SIZE = "S-5"
    EVALUATION_CHAT = "S-6"
    INSTRUCTION = "S-7"
    PROMPT_LAYOUT = "S-8"
    TOKEN_LIMIT = "S-9"
    # Own codes: faults of the file rather than of an example's content.
    ENCODING = "utf-8"  # bytes that are not UTF-8
    BOM = "bom"  # a byte-order mark before the first example
    JSON = "json"  # a line that is not valid JSON
    NOT_OBJECT = "not-object"  # valid JSON, but not an object
    LINE_LENGTH = "line-length"  # a line over MAX_LINE_BYTES
    BLANK_LINE = "blank-line"  # a line with no example
    # A key twice in one object. RFC 8259, section 4: "The names within an object SHOULD be
    # unique", and when they are not "the behavior of software that receives such an object is
    # unpredictable"; orjson keeps the last value, another parser may keep the first
    # (codetune.dataset.keys). Also a manifest's (codetune.tuning.manifest).
    DUPLICATE_KEY = "duplicate-key"
    # Own codes for what Google documents for chat examples (see CHAT_AUTHORS above).
    CHAT_AUTHOR = "chat-author"
    CHAT_TURNS = "chat-turns"
    # Gemini's own rules, for a dataset converted to its format (codetune.gemini).
    GEMINI_FORMAT = "gemini-format"
    GEMINI_TOKENS = "gemini-tokens"
    GEMINI_SIZE = "gemini-size"
    # Warnings of our own.
    DUPLICATE = "duplicate"
    UNKNOWN_FIELD = "unknown-field"
    # What the data would cost a team that no tuning service checks (codetune.dataset.overlap,
    # codetune.dataset.secrets, codetune.dataset.near).
    OVERLAP = "overlap"  # error: an evaluation example is also a training example
    NEAR_OVERLAP = "near-overlap"  # warning: ... nearly (opt-in)
    NEAR_DUPLICATE = "near-duplicate"  # warning: two training examples nearly the same (opt-in)
    SECRET = "secret"  # error by default: a credential in an example
    # The deployment's time limit on one validation (codetune.config, CODETUNE_VALIDATION_SECONDS).
    TIME_LIMIT = "time-limit"  # error: the file was not checked to its end
    # error: tune would refuse the job (the plan, the deployment's models, the budget); the
    # message starts with tune's own rule
    TUNING = "tuning"


RULE_SUMMARIES: dict[Rule, str] = {
    Rule.FORMAT: "each line holds one example of the dataset's kind, every field a non-empty string",
    Rule.MIN_EXAMPLES: "a training dataset holds at least 10 examples; 500 or more recommended",
    Rule.MAX_GENERATION_EXAMPLES: "a code-generation training dataset holds at most 10,000 examples",
    Rule.MAX_AUTHOR_FIELDS: "a code-chat training dataset holds at most 10,000 author fields",
    Rule.EVALUATION_SIZE: "an evaluation dataset holds 10 to 250 code-generation examples",
    Rule.EVALUATION_CHAT: "code chat supports no evaluation dataset",
    Rule.INSTRUCTION: "prompts should carry an instruction, such as 'Write the code in Python:'",
    Rule.PROMPT_LAYOUT: "prompts should share one layout, the one production traffic will use",
    Rule.TOKEN_LIMIT: "examples should fit the base model's token limits (estimated)",
    Rule.ENCODING: "the file is UTF-8",
    Rule.BOM: "the file starts without a byte-order mark",
    Rule.JSON: "each line is valid JSON",
    Rule.NOT_OBJECT: "each line is a JSON object",
    Rule.LINE_LENGTH: f"a line is at most {MAX_LINE_BYTES // (1024 * 1024)} MiB",
    Rule.BLANK_LINE: "no blank lines: every line holds an example",
    Rule.DUPLICATE_KEY: "no object writes a key twice (RFC 8259: parsers disagree on which counts)",
    Rule.CHAT_AUTHOR: "a message's author is 'user' or 'assistant'",
    Rule.CHAT_TURNS: "turns alternate, starting with 'user' and ending with 'assistant'",
    Rule.GEMINI_FORMAT: "Gemini examples: user and model turns alternating, user first, model last, text parts",
    Rule.GEMINI_TOKENS: "a Gemini training example holds at most 131,072 tokens (estimated)",
    Rule.GEMINI_SIZE: "Gemini datasets: at most 1 GB and 1M examples; validation at most 5,000",
    Rule.DUPLICATE: "no example appears twice",
    Rule.UNKNOWN_FIELD: "examples carry only the fields of their kind",
    Rule.OVERLAP: "no evaluation example is also a training example (white space normalised)",
    Rule.NEAR_OVERLAP: "no evaluation example nearly repeats a training example",
    Rule.NEAR_DUPLICATE: "no two training examples are nearly the same",
    Rule.SECRET: "no credentials in examples: keys, tokens, passwords, private keys",
    Rule.TIME_LIMIT: "the whole file is checked within the deployment's time for a validation",
    Rule.TUNING: "the job tune would plan for it passes every rule tune checks before a job: "
    "the base model, kind and parameters, the deployment's models and its budget",
}


class RuleSet(msgspec.Struct, frozen=True):
    """The limits a dataset is held to, by the family of the base model it is tuned for.

    The tuning backend of the base model builds it (codetune.tuning.backends): the pipeline's
    `CODE_BISON` below, or one per Gemini model from codetune.gemini.models.
    """

    name: str  # what the report calls it: "code-bison", "gemini"
    base_model: str
    min_training_examples: int
    recommended_training_examples: int
    max_training_examples: int  # generation examples for code-bison (S-3); all for Gemini
    max_chat_author_fields: int | None  # S-4, code-bison only
    evaluation_examples: tuple[int, int]  # inclusive range
    evaluation_chat: bool  # may an evaluation dataset be chat? (S-6: not for code-bison)
    max_tokens_per_example: int | None  # Gemini: input and output together, estimated
    size_rule: Rule
    evaluation_rule: Rule
    # Gemini: the largest training file, in bytes, once converted to Gemini's format.
    max_training_file_bytes: int | None = None
    # Gemini: past this many evaluation examples, at most this share of the training examples
    # (checked by tune, which knows both counts).
    evaluation_share: tuple[int, float] | None = None

    @property
    def legacy(self) -> bool:
        return self.max_tokens_per_example is None


def code_bison(base_model: str) -> RuleSet:
    """S-2..S-6 and S-9: the rules of Google's "Tune code models" page."""
    return RuleSet(
        name="code-bison",
        base_model=base_model,
        min_training_examples=MIN_TRAINING_EXAMPLES,
        recommended_training_examples=RECOMMENDED_TRAINING_EXAMPLES,
        max_training_examples=MAX_GENERATION_EXAMPLES,
        max_chat_author_fields=MAX_CHAT_AUTHOR_FIELDS,
        evaluation_examples=(MIN_EVALUATION_EXAMPLES, MAX_EVALUATION_EXAMPLES),
        evaluation_chat=False,
        max_tokens_per_example=None,
        size_rule=Rule.MAX_GENERATION_EXAMPLES,
        evaluation_rule=Rule.EVALUATION_SIZE,
    )


# Gemini: Google documents no minimum number of examples (an older page said 16); codetune
# keeps the seed's floor of 10 (S-2) and Google's recommendation of starting with 100.
GEMINI_MIN_TRAINING_EXAMPLES = MIN_TRAINING_EXAMPLES


def rule_summary(rule: Rule, rules: RuleSet) -> str:
    """A rule's summary in the numbers of the base model it was checked for (the table's
    code-bison figures are not a Gemini model's)."""
    if rule is Rule.MIN_EXAMPLES:
        return (
            f"a training dataset holds at least {rules.min_training_examples:,} examples; "
            f"{rules.recommended_training_examples:,} or more recommended for {rules.base_model}"
        )
    if rule is Rule.GEMINI_TOKENS and rules.max_tokens_per_example is not None:
        return (
            f"a {rules.base_model} training example holds at most "
            f"{rules.max_tokens_per_example:,} tokens (estimated)"
        )
    if rule is Rule.GEMINI_SIZE and rules.max_training_file_bytes is not None:
        low, high = rules.evaluation_examples
        return (
            f"{rules.base_model} datasets: at most {rules.max_training_file_bytes / 2**30:g} GB "
            f"and {rules.max_training_examples:,} examples; validation {low:,} to {high:,}"
        )
    return RULE_SUMMARIES.get(rule, "")
