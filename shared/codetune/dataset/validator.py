"""The dataset validator: one pass over a JSONL byte stream, every rule of S-1 to S-9.

`validate_stream` reads the stream line by line and keeps only counters and a bounded table of
example fingerprints (for duplicates), so memory does not grow with the file. Nothing a file
contains raises: every fault becomes a finding with its line, field and rule.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeGuard

import msgspec
import orjson

from codetune.dataset import prompts
from codetune.dataset.checks import ExampleCheck, Texts, TimeShare
from codetune.dataset.keys import (
    CANONICAL_TRIES,
    LONG_TURN_BYTES,
    MAX_FIELD_CHARS,
    LineScan,
    as_written,
    bounded_field,
    duplicate_keys,
    key_counts,
    shown_key,
)
from codetune.dataset.lines import ByteStream, read_lines
from codetune.dataset.report import Finding, Findings, Summary, ValidationReport
from codetune.dataset.rules import (
    CHARS_PER_TOKEN,
    CHAT_AUTHORS,
    CHAT_FIELDS,
    CHAT_FIRST_AUTHOR,
    CHAT_LAST_AUTHOR,
    CHAT_MESSAGE_FIELDS,
    GEMINI_CONTENT_FIELDS,
    GEMINI_FIELDS,
    GEMINI_ROLES,
    GENERATION_FIELDS,
    LIMITS_8K,
    MAX_CHAT_AUTHOR_FIELDS,
    MAX_GENERATION_EXAMPLES,
    MAX_LINE_BYTES,
    OPENAI_FIELDS,
    OPENAI_MESSAGE_FIELDS,
    OPENAI_ROLES,
    DatasetFormat,
    DatasetKind,
    DatasetRole,
    Rule,
    RuleSet,
    SecretSeverity,
    estimate_tokens,
    token_weight,
)
from codetune.dataset.secrets import SecretScan, line_scan
from codetune.dataset.tokens import Estimate, TokenCounter, TokenStats

_BOM = b"\xef\xbb\xbf"
# Fingerprints kept for duplicate detection: twice the largest valid dataset, so memory stays
# bounded on files far over the limits (their later duplicates simply go unreported).
_MAX_FINGERPRINTS = 2 * MAX_GENERATION_EXAMPLES
_MAX_LAYOUTS = 50  # distinct prompt layouts tracked; further ones are counted as "other"
_FOLD_EVERY = 4096  # examples' lengths held before they join the statistics
_FIRST_LINES_SHOWN = 5
# The fewest bytes an example takes in Gemini's format besides its texts: two turns of one text
# part each, and its newline. Every text then adds at least its characters, so the texts'
# characters plus this per example is a floor on a converted file's size.
_GEMINI_EXAMPLE_BYTES = (
    len(
        orjson.dumps(
            {"contents": [{"role": r, "parts": [{"text": ""}]} for r in ("user", "model")]}
        )
    )
    + 1
)
# The most characters whose token estimate fits the 8k models (S-9).
_FITS_8K_PROMPT_CHARS = LIMITS_8K["input"] * CHARS_PER_TOKEN
_FITS_8K_RESPONSE_CHARS = LIMITS_8K["output"] * CHARS_PER_TOKEN

_JSON_TYPES: dict[type, str] = {
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
    list: "an array",
    dict: "an object",
}


def _is_text(value: object) -> TypeGuard[str]:
    """A non-empty string that is not only white space (the S-1 rule for every text field)."""
    return type(value) is str and bool(value) and not value.isspace()


def json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


class _Layout(msgspec.Struct):
    examples: int = 0
    first_line: int = 0


class _Validation(msgspec.Struct):
    """The state of one pass over a dataset."""

    kind: DatasetKind | None
    role: DatasetRole
    rules: RuleSet
    format: DatasetFormat | None = None  # None: detected from the first example
    format_line: int | None = None  # where the format was detected; None when it was given
    kind_line: int | None = None  # where the kind was detected; None when it was given
    errors: Findings = msgspec.field(default_factory=Findings)
    warnings: Findings = msgspec.field(default_factory=Findings)
    lines: int = 0
    examples: int = 0
    bytes_read: int = 0
    crlf_lines: int = 0
    author_fields: int = 0
    authors: Counter[str] = msgspec.field(default_factory=Counter)
    messages_per_example: Summary = msgspec.field(default_factory=Summary)
    prompt_chars: Summary = msgspec.field(default_factory=Summary)
    response_chars: Summary = msgspec.field(default_factory=Summary)
    # Lengths not yet in those summaries (and the token estimates): folded a block at a time,
    # in C, which costs a tenth of one summary update an example (benchmarks/README.md).
    pending_prompt_chars: list[int] = msgspec.field(default_factory=list)
    pending_response_chars: list[int] = msgspec.field(default_factory=list)
    # The same lengths for the token estimate (rules.token_weight): beyond ASCII a character
    # weighs its UTF-8 bytes, so CJK and emoji are not counted at a quarter token.
    pending_prompt_weight: list[int] = msgspec.field(default_factory=list)
    pending_response_weight: list[int] = msgspec.field(default_factory=list)
    over_8k: int = 0
    over_32k: int = 0
    over_model_limit: int = 0  # Gemini: examples over the model's tokens per example
    count_marks: tuple[int, int] = (0, 0)  # example counts at which a size limit is crossed
    max_example_chars: int = 0  # Gemini: the characters whose token estimate fits
    without_instruction: int = 0
    without_instruction_lines: list[int] = msgspec.field(default_factory=list)
    layouts: dict[tuple[str, ...], _Layout] = msgspec.field(default_factory=dict)
    other_layouts: int = 0
    fingerprints: dict[int, int] = msgspec.field(default_factory=dict)
    duplicates: int = 0
    checks: Sequence[ExampleCheck] = ()
    check_stats: dict[str, Any] = msgspec.field(default_factory=dict)
    secrets: SecretScan | None = None
    # One Hyperscan pass a line: the secret pre-filter and the duplicate-key test (keys.py).
    scan: LineScan | None = None
    canonical_misses: int = 0  # conversations in a row not written as orjson writes them
    tokens: TokenStats = msgspec.field(default_factory=TokenStats)
    time: TimeShare = msgspec.field(default_factory=TimeShare)  # of the whole pass

    def __post_init__(self) -> None:
        self.count_marks = (
            self.rules.evaluation_examples[1] + 1,
            self.rules.max_training_examples + 1,
        )
        if self.rules.max_tokens_per_example is not None:
            self.max_example_chars = self.rules.max_tokens_per_example * CHARS_PER_TOKEN

    # --- findings ---------------------------------------------------------------------------
    def error(self, rule: Rule, message: str, line: int | None, field: str | None = None) -> None:
        if field is not None and len(field) > MAX_FIELD_CHARS:
            field = bounded_field(field)
        self.errors.add(Finding(rule, message, line, field))

    def warn(self, rule: Rule, message: str, line: int | None, field: str | None = None) -> None:
        if field is not None and len(field) > MAX_FIELD_CHARS:
            field = bounded_field(field)
        self.warnings.add(Finding(rule, message, line, field))

    def field_of(self, index: int, texts: Texts) -> str:
        """The field `texts[index]` came from, in the file's format (see codetune.dataset.checks)."""
        if self.kind is DatasetKind.GENERATION:
            return ("input_text", "output_text")[index]
        if self.format is DatasetFormat.GEMINI:
            return "systemInstruction.parts" if index == 0 else f"contents[{index - 1}].parts"
        if self.format is DatasetFormat.OPENAI:
            offset = 0 if texts[0] is None else 1
            return (
                "messages[0].content" if index == 0 else f"messages[{index - 1 + offset}].content"
            )
        return "context" if index == 0 else f"messages[{index - 1}].content"

    # --- one line ---------------------------------------------------------------------------
    def check_line(self, number: int, data: bytes | memoryview | None) -> None:
        self.lines = number
        if data is None:
            self.error(Rule.LINE_LENGTH, f"line is longer than {MAX_LINE_BYTES:,} bytes", number)
            return
        if number == 1 and data[:3] == _BOM:
            self.error(
                Rule.BOM,
                "file starts with a UTF-8 byte-order mark; save it as UTF-8 without BOM",
                number,
            )
            data = data[len(_BOM) :]
        if data[-1:] == b"\r":
            self.crlf_lines += 1
        try:
            example = orjson.loads(data)
        except orjson.JSONDecodeError as fault:
            self._json_fault(number, bytes(data), fault)
            return
        if type(example) is not dict:
            self.error(
                Rule.NOT_OBJECT,
                f"line holds {json_type(example)}, not an object with the example's fields",
                number,
            )
            return
        self.examples += 1
        if self.examples in self.count_marks:
            self._check_counts(number)
        scan = self.scan
        assert scan is not None
        if self.kind is DatasetKind.GENERATION and self.format is not None and len(example) == 2:
            # The fast path, for the well-formed examples that make up most datasets (once the
            # first example has set the file's format, even when the kind was given).
            prompt, response = example.get("input_text"), example.get("output_text")
            if _is_text(prompt) and _is_text(response):
                hits = scan.scan(data)
                if hits:  # most lines: no secret to look for, no key written twice
                    self._scanned(number, data, example, hits, _GENERATION_KEYS)
                self._measure_generation(number, prompt, response)
                return
        elif (
            self.kind is DatasetKind.CHAT
            and self.format is DatasetFormat.SEED
            and self._chat_fast_path(number, example)
        ):
            # Likewise (the detailed path below is _check_chat); a well-formed seed
            # conversation is of no other format, so its format need not be asked.
            self._conversation_scanned(number, data, example, len(example["messages"]))
            return
        if self.format is DatasetFormat.OPENAI or self.format is DatasetFormat.GEMINI:
            turns = example.get("messages" if self.format is DatasetFormat.OPENAI else "contents")
            self._conversation_scanned(
                number, data, example, len(turns) if type(turns) is list else 1, seed=False
            )
        else:
            self._scanned(number, data, example, scan.scan(data), key_counts(example))
        form = self.format if self.format is not None else self._detect_format(number, example)
        if form is not DatasetFormat.SEED:
            if self._format_of(number, example) is form:
                if form is DatasetFormat.OPENAI:
                    self._check_openai(number, example)
                else:
                    self._check_gemini(number, example)
            return
        if not _FOREIGN_KEYS.isdisjoint(example) and self._format_of(number, example) is not form:
            return
        kind = self._kind_of(number, example)
        if kind is DatasetKind.GENERATION:
            self._check_generation(number, example)
        elif kind is DatasetKind.CHAT:
            self._check_chat(number, example)

    def _scanned(
        self,
        number: int,
        data: bytes | memoryview,
        example: dict[str, Any],
        hits: list[int],
        counts: dict[str, int],
    ) -> None:
        """What the line's scan found: strings worth the secret detectors, a key that may be
        written twice (`counts`: how often the decoded line holds each key)."""
        assert self.scan is not None
        if self.secrets is not None and self.scan.secret(hits):
            self.secrets.examine(number, example, self)
        if self.scan.may_repeat(hits, data, counts):
            self._duplicate_keys(number, data)

    def _conversation_scanned(
        self,
        number: int,
        data: bytes | memoryview,
        example: dict[str, Any],
        turns: int,
        seed: bool = True,
    ) -> None:
        """A conversation's scan (LineScan): compared with orjson's writing of it while the file
        is written so, else (and when its turns are long) its keys counted. `seed`: a
        well-formed seed conversation of `turns` messages, whose keys are known."""
        assert self.scan is not None
        if self.canonical_misses < CANONICAL_TRIES and len(data) <= LONG_TURN_BYTES * turns:
            secrets_only = self.scan.secrets_only
            if secrets_only is not None:
                hits = secrets_only(data)
                if hits and self.secrets is not None:
                    self.secrets.examine(number, example, self)
            if as_written(example, data):
                self.canonical_misses = 0
                return
            self.canonical_misses += 1
            hits = self.scan.scan(data)
            checked = True  # its secrets were looked for
        else:
            hits = self.scan.scan(data)
            checked = False
        if seed and self.scan.conversation_hits(hits, turns):
            return
        if not checked and self.secrets is not None and self.scan.secret(hits):
            self.secrets.examine(number, example, self)
        if seed:
            counts = {"messages": 1, "author": turns, "content": turns}
            if "context" in example:
                counts["context"] = 1
        else:
            counts = key_counts(example)
        if self.scan.may_repeat(hits, data, counts):
            self._duplicate_keys(number, data)

    def _duplicate_keys(self, number: int, data: bytes | memoryview) -> None:
        found = duplicate_keys(data)
        if found is None:  # json cannot read what orjson read: never seen, but never valid
            found = [("", "")]
        for field, key in found:
            named = f"key {shown_key(key)!r}" if field else "a key"
            self.error(
                Rule.DUPLICATE_KEY,
                f"{named} is written more than once in this object; parsers disagree on which "
                "value counts (RFC 8259: 'the behavior of software that receives such an object "
                "is unpredictable'): keep one",
                number,
                field or None,
            )

    def _json_fault(self, number: int, data: bytes, fault: orjson.JSONDecodeError) -> None:
        if not data.strip():  # checked only here: a blank line is not JSON either
            self.error(
                Rule.BLANK_LINE,
                "line is blank; every line must hold one example: delete it",
                number,
            )
            return
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            self.error(
                Rule.ENCODING,
                f"byte {bad.start + 1} of the line is not UTF-8 ({bad.reason}); "
                "save the file as UTF-8",
                number,
            )
            return
        self.error(Rule.JSON, f"not valid JSON: {fault.msg} (column {fault.colno})", number)

    def _check_counts(self, number: int) -> None:
        """Limits that a line can cross as it is read (S-3, S-5's upper bound, Gemini's sizes)."""
        rules = self.rules
        if self.role is DatasetRole.EVALUATION:
            if self.examples == self.count_marks[0]:
                self.error(
                    rules.evaluation_rule,
                    f"example {self.examples:,} is over the {rules.evaluation_examples[1]:,} "
                    f"examples an evaluation dataset for {rules.base_model} may hold",
                    number,
                )
        elif self.examples == self.count_marks[1] and (
            not rules.legacy or self.kind is not DatasetKind.CHAT
        ):
            self.error(
                rules.size_rule,
                f"example {self.examples:,} is over the {rules.max_training_examples:,} examples "
                f"a training dataset for {rules.base_model} may hold",
                number,
            )

    # --- formats -----------------------------------------------------------------------------
    def _detect_format(self, number: int, example: dict[str, Any]) -> DatasetFormat:
        """The first example's format is the file's."""
        self.format, self.format_line = _format(example), number
        if self.format is not DatasetFormat.SEED:
            self.kind, self.kind_line = DatasetKind.CHAT, number  # conversations
            self._check_kind_for_role()
        return self.format

    def _format_of(self, number: int, example: dict[str, Any]) -> DatasetFormat | None:
        """The example's format if it is the file's; otherwise report it and return None."""
        found = _format(example)
        if found is self.format:
            return found
        where = f"detected on line {self.format_line}" if self.format_line else "as given"
        self.error(
            Rule.FORMAT,
            f"an example in the {found} format in a file of the {self.format} format ({where}); "
            "a file holds one format",
            number,
        )
        return None

    def _kind_of(self, number: int, example: dict[str, Any]) -> DatasetKind | None:
        """The example's kind if it matches the dataset's; the first example sets the kind."""
        is_chat = "messages" in example
        is_generation = "input_text" in example or "output_text" in example
        if is_chat and is_generation:
            self.error(
                Rule.FORMAT,
                "example mixes code-generation fields (input_text/output_text) with chat "
                "messages; use one kind",
                number,
            )
            return None
        if not (is_chat or is_generation):
            self.error(
                Rule.FORMAT,
                "example has neither input_text/output_text (code generation) nor messages "
                "(code chat)",
                number,
            )
            return None
        kind = DatasetKind.CHAT if is_chat else DatasetKind.GENERATION
        if self.kind is None:
            self.kind, self.kind_line = kind, number
            self._check_kind_for_role()
        elif kind is not self.kind:
            where = f"detected on line {self.kind_line}" if self.kind_line else "as given"
            self.error(
                Rule.FORMAT,
                f"a {kind} example in a {self.kind} dataset ({where}); a file holds one kind",
                number,
            )
            return None
        return kind

    def _check_kind_for_role(self) -> None:
        if (
            self.role is DatasetRole.EVALUATION
            and self.kind is DatasetKind.CHAT
            and not self.rules.evaluation_chat
        ):
            self.error(
                Rule.EVALUATION_CHAT,
                "code chat takes no evaluation dataset; evaluation data must be code generation",
                None,
            )

    # --- code generation ---------------------------------------------------------------------
    def _check_generation(self, number: int, example: dict[str, Any]) -> None:
        prompt = self._text_field(number, example, "input_text", "input_text")
        response = self._text_field(number, example, "output_text", "output_text")
        if len(example) != 2 or prompt is None or response is None:
            self._unknown_fields(number, example, GENERATION_FIELDS, "")
        if prompt is not None and response is not None:
            self._measure_generation(number, prompt, response)

    def _measure_generation(self, number: int, prompt: str, response: str) -> None:
        opening = prompts.opening(prompt)
        self._measure(
            number,
            len(prompt),
            response,
            prompts.has_instruction(opening),
            prompts.prompt_layout(opening),
            (prompt, response),
        )

    # --- code chat ---------------------------------------------------------------------------
    def _check_chat(self, number: int, example: dict[str, Any]) -> None:
        messages = example["messages"]
        self._unknown_fields(number, example, CHAT_FIELDS, "")
        context = None
        if "context" in example:
            context = self._text_field(number, example, "context", "context")
        if not isinstance(messages, list):
            self.error(
                Rule.FORMAT,
                f"messages is {json_type(messages)}; it must be an array of "
                '{"author", "content"} objects',
                number,
                "messages",
            )
            return
        if not messages:
            self.error(
                Rule.FORMAT,
                "messages is empty; an example needs a user turn and the assistant's answer",
                number,
                "messages",
            )
            return
        authors: list[str] = []
        contents: list[str] = []
        for index, message in enumerate(messages):
            where = f"messages[{index}]"
            if not isinstance(message, dict):
                self.error(
                    Rule.FORMAT,
                    f"message is {json_type(message)}; it must be an object with author and "
                    "content",
                    number,
                    where,
                )
                continue
            if "author" in message:
                self._count_author_field(number)
            if len(message) != 2:
                self._unknown_fields(number, message, CHAT_MESSAGE_FIELDS, where + ".")
            author = self._text_field(number, message, "author", where + ".author")
            content = self._text_field(number, message, "content", where + ".content")
            if author is not None:
                if author in CHAT_AUTHORS:
                    authors.append(author)
                    self.authors[author] += 1
                else:
                    self.error(
                        Rule.CHAT_AUTHOR,
                        "author must be 'user' or 'assistant'",
                        number,
                        where + ".author",
                    )
            if content is not None:
                contents.append(content)
        self.messages_per_example.add(len(messages))
        if len(authors) != len(messages) or len(contents) != len(messages):
            return  # faults already reported; the turn order is not meaningful
        if not self._check_turns(number, authors) or ("context" in example and context is None):
            return
        self._measure_turns(number, context, contents)

    def _chat_fast_path(self, number: int, example: dict[str, Any]) -> bool:
        """True when a well-formed chat was checked whole here; False hands the example to the
        detailed path, which reports every fault with its field (and re-does this work)."""
        messages = example.get("messages")
        if type(messages) is not list or not messages:
            return False
        context = example.get("context")
        if "context" in example:
            if len(example) != 2 or not _is_text(context):
                return False
        elif len(example) != 1:
            return False
        limit = self.rules.max_chat_author_fields
        if (
            limit is not None
            and self.role is DatasetRole.TRAINING
            and self.author_fields + len(messages) > limit
        ):
            return False  # the detailed path reports the field where the limit is crossed
        authors: list[str] = []
        contents: list[str] = []
        for message in messages:
            if type(message) is not dict or len(message) != 2:
                return False
            author, content = message.get("author"), message.get("content")
            if type(author) is not str or author not in CHAT_AUTHORS or not _is_text(content):
                return False
            authors.append(author)
            contents.append(content)
        self.author_fields += len(messages)
        self.authors.update(authors)
        self.messages_per_example.add(len(messages))
        if self._check_turns(number, authors):
            self._measure_turns(number, context, contents)
        return True

    def _count_author_field(self, number: int) -> None:
        self.author_fields += 1
        limit = self.rules.max_chat_author_fields
        if (
            self.role is DatasetRole.TRAINING
            and limit is not None
            and self.author_fields == limit + 1
        ):
            self.error(
                Rule.MAX_AUTHOR_FIELDS,
                f"author field {self.author_fields:,} is over the {MAX_CHAT_AUTHOR_FIELDS:,} "
                "author fields a code-chat dataset may hold (summed over all messages)",
                number,
            )

    def _check_turns(
        self,
        number: int,
        authors: list[str],
        first: str = CHAT_FIRST_AUTHOR,
        last: str = CHAT_LAST_AUTHOR,
        where: Callable[[int], str] = lambda index: f"messages[{index}].author",
    ) -> bool:
        """Turns alternate, open with the user and close with the answer the model learns from
        (Google's format; OpenAI's and Gemini's the same with their role names)."""
        if authors[0] != first:
            self.error(
                Rule.CHAT_TURNS,
                f"the conversation must open with a '{first}' turn",
                number,
                where(0),
            )
            return False
        for index in range(1, len(authors)):
            if authors[index] == authors[index - 1]:
                self.error(
                    Rule.CHAT_TURNS,
                    f"two '{authors[index]}' turns in a row; turns alternate between '{first}' "
                    f"and '{last}'",
                    number,
                    where(index),
                )
                return False
        if authors[-1] != last:
            self.error(
                Rule.CHAT_TURNS,
                f"the conversation must end with the '{last}' turn the model learns from",
                number,
                where(len(authors) - 1),
            )
            return False
        return True

    # --- OpenAI's chat format ----------------------------------------------------------------
    def _check_openai(self, number: int, example: dict[str, Any]) -> None:
        self._unknown_fields(number, example, OPENAI_FIELDS, "")
        messages = self._turn_list(number, example, "messages")
        if messages is None:
            return
        system: str | None = None
        roles: list[str] = []
        contents: list[str] = []
        for index, message in enumerate(messages):
            where = f"messages[{index}]"
            if not self._turn_object(number, message, where, "message", OPENAI_MESSAGE_FIELDS):
                continue
            role = self._text_field(number, message, "role", where + ".role")
            content = self._text_field(number, message, "content", where + ".content")
            if role is None or content is None:
                continue
            if role not in OPENAI_ROLES:
                self.error(
                    Rule.CHAT_AUTHOR,
                    "role must be 'system', 'user' or 'assistant'",
                    number,
                    where + ".role",
                )
            elif role == "system":
                if index != 0:
                    self.error(
                        Rule.CHAT_TURNS,
                        "a system message may only come first",
                        number,
                        where + ".role",
                    )
                system = content
            else:
                self._count_author_field(number)
                self.authors[role] += 1
                roles.append(role)
                contents.append(content)
        self.messages_per_example.add(len(messages))
        offset = 1 if system is not None else 0
        if len(roles) + offset != len(messages) or not roles:
            if not roles and len(messages) == offset:
                self.error(
                    Rule.CHAT_TURNS,
                    "the conversation has no user and assistant turns",
                    number,
                    "messages",
                )
            return
        if self._check_turns(
            number, roles, "user", "assistant", lambda i: f"messages[{i + offset}].role"
        ):
            self._measure_turns(number, system, contents)

    # --- Gemini's format ---------------------------------------------------------------------
    def _check_gemini(self, number: int, example: dict[str, Any]) -> None:
        self._unknown_fields(number, example, GEMINI_FIELDS, "")
        system: str | None = None
        if "systemInstruction" in example:
            instruction = example["systemInstruction"]
            parts = instruction.get("parts") if isinstance(instruction, dict) else None
            texts = self._text_parts(number, parts, "systemInstruction.parts")
            if texts is None:
                return
            system = "".join(texts)
        contents = self._turn_list(number, example, "contents")
        if contents is None:
            return
        roles: list[str] = []
        texts_of_turns: list[str] = []
        for index, turn in enumerate(contents):
            where = f"contents[{index}]"
            if not self._turn_object(number, turn, where, "turn", GEMINI_CONTENT_FIELDS):
                continue
            role = self._text_field(number, turn, "role", where + ".role")
            texts = self._text_parts(number, turn.get("parts"), where + ".parts")
            if role is None or texts is None:
                continue
            if role not in GEMINI_ROLES:
                self.error(
                    Rule.CHAT_AUTHOR, "role must be 'user' or 'model'", number, where + ".role"
                )
                continue
            self._count_author_field(number)
            self.authors[role] += 1
            roles.append(role)
            texts_of_turns.append("".join(texts))
        self.messages_per_example.add(len(contents))
        if len(roles) != len(contents):
            return
        if self._check_turns(number, roles, "user", "model", lambda i: f"contents[{i}].role"):
            self._measure_turns(number, system, texts_of_turns)

    def _turn_object(
        self, number: int, turn: object, where: str, noun: str, known: frozenset[str]
    ) -> bool:
        """Whether a turn is an object (reported if not); its unknown fields are warned about."""
        if not isinstance(turn, dict):
            fields = " and ".join(sorted(known & {"role", "content", "parts"}))
            self.error(
                Rule.FORMAT,
                f"{noun} is {json_type(turn)}; it must be an object with {fields}",
                number,
                where,
            )
            return False
        self._unknown_fields(number, turn, known, where + ".")
        return True

    def _turn_list(self, number: int, example: dict[str, Any], key: str) -> list[Any] | None:
        turns = example.get(key)
        if not isinstance(turns, list) or not turns:
            problem = (
                "is missing"
                if key not in example
                else ("is empty" if isinstance(turns, list) else f"is {json_type(turns)}")
            )
            self.error(
                Rule.FORMAT, f"{key} {problem}; it must be a non-empty array of turns", number, key
            )
            return None
        return turns

    def _text_parts(self, number: int, parts: Any, where: str) -> list[str] | None:
        """The texts of a Gemini turn's parts; None (reported) if any is not a text part."""
        if not isinstance(parts, list) or not parts:
            self.error(Rule.FORMAT, "parts must be a non-empty array of text parts", number, where)
            return None
        texts = []
        for index, part in enumerate(parts):
            place = f"{where}[{index}]"
            if isinstance(part, dict) and "fileData" in part:
                self.error(
                    Rule.FORMAT,
                    "a fileData part: codetune tunes text parts only",
                    number,
                    place + ".fileData",
                )
                return None
            text = part.get("text") if isinstance(part, dict) else None
            if not _is_text(text):
                self.error(Rule.FORMAT, "a part holds a non-empty text", number, place + ".text")
                return None
            texts.append(text)
        return texts

    def _measure_turns(self, number: int, system: str | None, contents: list[str]) -> None:
        """A well-formed conversation: everything before the last turn is the prompt, and the
        instruction may sit in the system text (context) or the opening user turn (S-7). The
        turns alternate from the user, so their texts alone identify a duplicate."""
        prompt_chars = len(system or "") + sum(map(len, contents[:-1]))
        opening = prompts.opening(contents[0])
        self._measure(
            number,
            prompt_chars,
            contents[-1],
            prompts.has_instruction(opening)
            or (system is not None and prompts.has_instruction(prompts.opening(system))),
            prompts.prompt_layout(opening),
            (system, *contents),
        )

    # --- shared by both kinds ----------------------------------------------------------------
    def _text_field(self, number: int, holder: dict[str, Any], key: str, where: str) -> str | None:
        """The field's text if it is a non-empty string; otherwise report it and return None."""
        value = holder.get(key)
        if _is_text(value):
            return value
        if key not in holder:
            problem = "is missing"
        elif isinstance(value, str):
            problem = "is empty"
        else:
            problem = f"is {json_type(value)}; it must be a string"
        self.error(Rule.FORMAT, f"{key} {problem}", number, where)
        return None

    def _unknown_fields(
        self, number: int, holder: dict[str, Any], known: frozenset[str], prefix: str
    ) -> None:
        for key in holder.keys() - known:
            self.warn(
                Rule.UNKNOWN_FIELD,
                "field is not part of the format; tuning ignores or rejects it",
                number,
                prefix + shown_key(key),
            )

    def _measure(
        self,
        number: int,
        prompt_chars: int,
        response: str,
        instructed: bool,
        layout: tuple[str, ...],
        texts: Texts,
    ) -> None:
        """Statistics and warnings of a well-formed example (S-7, S-8, S-9, duplicates), then
        the checks of its texts.

        The prompt is everything the model reads before the answer: the input text, or the
        chat's context and every turn before the last.
        """
        response_chars = len(response)
        if all(text is None or text.isascii() for text in texts):  # O(1) a text in CPython
            prompt_weight, response_weight = prompt_chars, response_chars
        else:
            prompt_weight = sum(token_weight(text) for text in texts[:-1] if text)
            response_weight = token_weight(response)
        self.pending_prompt_chars.append(prompt_chars)
        self.pending_response_chars.append(response_chars)
        self.pending_prompt_weight.append(prompt_weight)
        self.pending_response_weight.append(response_weight)
        if len(self.pending_prompt_chars) == _FOLD_EVERY:
            self._fold_lengths()
        if self.tokens.counter.exact:
            self.tokens.count(texts)
        if self.max_example_chars:  # Gemini: input and output together
            if prompt_weight + response_weight > self.max_example_chars:
                self._over_model_limit(number, prompt_weight + response_weight)
        # Most examples fit the 8k models: decided here without estimating tokens.
        elif prompt_chars > _FITS_8K_PROMPT_CHARS or response_chars > _FITS_8K_RESPONSE_CHARS:
            self._check_tokens(number, prompt_chars, response_chars)
        if not instructed:
            self.without_instruction += 1
            if len(self.without_instruction_lines) < _FIRST_LINES_SHOWN:
                self.without_instruction_lines.append(number)
        seen = self.layouts.get(layout)
        if seen is not None:
            seen.examples += 1
        else:
            self._new_layout(number, layout)
        fingerprint = hash(texts)
        first = self.fingerprints.get(fingerprint)
        if first is not None:
            self.duplicates += 1
            self.warn(Rule.DUPLICATE, f"example repeats line {first} exactly", number)
        elif len(self.fingerprints) < _MAX_FINGERPRINTS:
            self.fingerprints[fingerprint] = number
        for check in self.checks:
            check.example(number, texts, self)

    def _fold_lengths(self) -> None:
        prompt, response = self.pending_prompt_chars, self.pending_response_chars
        self.prompt_chars.extend(prompt)
        self.response_chars.extend(response)
        if not self.tokens.counter.exact:
            self.tokens.estimate(self.pending_prompt_weight, self.pending_response_weight)
        self.pending_prompt_chars, self.pending_response_chars = [], []
        self.pending_prompt_weight, self.pending_response_weight = [], []

    def _over_model_limit(self, number: int, chars: int) -> None:
        self.over_model_limit += 1
        limit = self.rules.max_tokens_per_example or 0
        self.warn(
            Rule.GEMINI_TOKENS,
            f"about {estimate_tokens(chars):,} tokens (estimated); {self.rules.base_model} "
            f"takes {limit:,} per example and drops longer ones from training",
            number,
        )

    def _check_tokens(self, number: int, prompt_chars: int, response_chars: int) -> None:
        input_tokens = estimate_tokens(prompt_chars)
        output_tokens = estimate_tokens(response_chars)
        warning = prompts.token_limit_warning(input_tokens, output_tokens)
        if warning is None:
            return
        self.over_8k += 1
        if "every" in warning:
            self.over_32k += 1
        self.warn(Rule.TOKEN_LIMIT, warning, number)

    def _new_layout(self, number: int, layout: tuple[str, ...]) -> None:
        if len(self.layouts) >= _MAX_LAYOUTS:
            self.other_layouts += 1
        else:
            self.layouts[layout] = _Layout(examples=1, first_line=number)

    # --- the whole file ----------------------------------------------------------------------
    def stop(self) -> None:
        """The time limit has passed: the lines not yet read are never checked."""
        self.error(
            Rule.TIME_LIMIT,
            f"validation stopped here, {self.time.seconds:g} seconds in (the deployment's limit), with "
            f"{self.bytes_read:,} bytes read: this line and those after it were not checked, and "
            "no job runs on data that was not; make the file smaller, or ask the deployment's "
            "operators for a longer limit (CODETUNE_VALIDATION_SECONDS)",
            self.time.stopped_at,
        )

    def finish(self) -> None:
        """Rules about the whole file, checked once every line has been read (none when the
        time limit stopped the pass: they would describe part of it)."""
        self._fold_lengths()
        if self.time.stopped_at is None:
            self._whole_file_rules()
        for check in self.checks:
            stats = check.finish(self)
            if stats:
                self.check_stats[check.name] = stats
        if self.secrets is not None:
            self.check_stats[self.secrets.name] = self.secrets.stats()

    def _whole_file_rules(self) -> None:
        rules = self.rules
        if self.role is DatasetRole.EVALUATION:
            low, high = rules.evaluation_examples
            if self.examples < low:
                self.error(
                    rules.evaluation_rule,
                    f"{_count(self.examples, 'example')}; an evaluation dataset for "
                    f"{rules.base_model} needs {low:,} to {high:,}",
                    None,
                )
        elif self.examples < rules.min_training_examples:
            self.error(
                Rule.MIN_EXAMPLES,
                f"{_count(self.examples, 'example')}; a training dataset needs at least "
                f"{rules.min_training_examples}",
                None,
            )
        elif self.examples < rules.recommended_training_examples:
            self.warn(
                Rule.MIN_EXAMPLES,
                f"{_count(self.examples, 'example')}; {rules.recommended_training_examples} or "
                f"more give better results with {rules.base_model}",
                None,
            )
        if self.role is DatasetRole.TRAINING and rules.max_training_file_bytes is not None:
            self._check_converted_size(rules.max_training_file_bytes)
        if self.examples and self.over_model_limit == self.examples:
            self.error(
                Rule.GEMINI_TOKENS,
                f"every example is over the {rules.max_tokens_per_example:,} tokens "
                f"{rules.base_model} takes: Google would drop them all",
                None,
            )
        if self.without_instruction:
            lines = ", ".join(map(str, self.without_instruction_lines))
            self.warn(
                Rule.INSTRUCTION,
                f"{_count(self.without_instruction, 'example')} without an instruction (from "
                f"line {lines}); open each prompt with one, e.g. 'Write the code in Python: ...'",
                None,
            )
        if len(self.layouts) + (self.other_layouts > 0) > 1:
            ranked = sorted(self.layouts.items(), key=lambda item: -item[1].examples)
            shown = "; ".join(
                f"{_layout_name(layout)}: {seen.examples:,} (first on line {seen.first_line})"
                for layout, seen in ranked[:3]
            )
            self.warn(
                Rule.PROMPT_LAYOUT,
                f"prompts use {len(self.layouts) + (self.other_layouts > 0)} layouts ({shown}); "
                "use the one layout production prompts will have",
                None,
            )

    def _check_converted_size(self, limit: int) -> None:
        """Gemini's file limit, judged here rather than by tune's conversion hours later: a
        file surely over it (its floor, from the texts' characters) never reaches tune."""
        texts = self.prompt_chars.total + self.response_chars.total
        floor = texts + self.examples * _GEMINI_EXAMPLE_BYTES
        if floor > limit:
            self.error(
                Rule.GEMINI_SIZE,
                f"at least {floor:,} bytes once converted to Gemini's format ({texts:,} "
                f"characters of text in {_count(self.examples, 'example')}); "
                f"{self.rules.base_model} takes a training file of at most {limit:,} bytes",
                None,
            )

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = {
            "lines": self.lines,
            "bytes": self.bytes_read,
            "complete": self.time.stopped_at is None,
            "crlf_lines": self.crlf_lines,
            "kind_detected_on_line": self.kind_line,
            "prompt_chars": self.prompt_chars.to_dict(),
            "response_chars": self.response_chars.to_dict(),
            "estimated_tokens": {
                "method": f"estimate: characters / {CHARS_PER_TOKEN}",
                "prompt": _tokens(self.prompt_chars),
                "response": _tokens(self.response_chars),
                "examples_over_8k_limits": self.over_8k,
                "examples_over_32k_limits": self.over_32k,
                "examples_over_model_limit": self.over_model_limit,
            },
            "tokens": self.tokens.to_dict(),
            "examples_without_instruction": self.without_instruction,
            "prompt_layouts": [
                {"labels": list(layout), "examples": seen.examples, "first_line": seen.first_line}
                for layout, seen in sorted(self.layouts.items(), key=lambda i: -i[1].examples)
            ],
            "duplicate_examples": self.duplicates,
            **self.check_stats,
        }
        if self.kind is DatasetKind.CHAT:
            stats["author_fields"] = self.author_fields
            stats["authors"] = dict(sorted(self.authors.items()))
            stats["messages_per_example"] = self.messages_per_example.to_dict()
        return stats


_FOREIGN_KEYS = frozenset({"contents", "systemInstruction", "messages"})
# The keys a generation example of the fast path holds, each once.
_GENERATION_KEYS = {"input_text": 1, "output_text": 1}


def _format(example: dict[str, Any]) -> DatasetFormat:
    """An example's format, from its shape: Gemini's `contents`, OpenAI's `messages` of roles,
    else the seed's (whose faults the seed checks then name)."""
    if "contents" in example or "systemInstruction" in example:
        return DatasetFormat.GEMINI
    messages = example.get("messages")
    if type(messages) is list and messages:
        first = messages[0]
        if type(first) is dict and "role" in first and "author" not in first:
            return DatasetFormat.OPENAI
    return DatasetFormat.SEED


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def _layout_name(layout: tuple[str, ...]) -> str:
    return " then ".join(f"'{label}:'" for label in layout) if layout else "no labels"


def _tokens(chars: Summary) -> dict[str, float | int]:
    """The estimated token counts of a character-count summary."""
    mean = chars.total / chars.count / CHARS_PER_TOKEN if chars.count else 0
    return {
        "min": estimate_tokens(chars.least),
        "max": estimate_tokens(chars.most),
        "mean": round(mean, 1),
    }


class _OutOfTime(Exception):
    """Raised from the reader's callback to end the pass at the time limit."""


def validate_stream(
    stream: ByteStream,
    dataset: str,
    kind: DatasetKind | None = None,
    role: DatasetRole = DatasetRole.TRAINING,
    on_progress: Callable[[int], None] | None = None,
    *,
    rules: RuleSet,
    format: DatasetFormat | None = None,
    checks: Sequence[ExampleCheck] = (),
    secrets: SecretSeverity = SecretSeverity.ERROR,
    tokenizer: TokenCounter | None = None,
    time_limit: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    beside: Iterable[tuple[str, str, bool]] = (),
) -> ValidationReport:
    """Validate the JSONL dataset read from `stream` (bytes), named `dataset` in the report.

    `kind` and `format` None detect them from the first example. `on_progress` is called with
    the number of bytes read so far, after each chunk. `checks` see every well-formed example
    in the same pass (codetune.dataset.checks); their stats join the report's under their names.
    Every example is scanned for credentials (codetune.dataset.secrets) unless `secrets` is off.
    Tokens are counted by `tokenizer`, else estimated (codetune.dataset.tokens).
    `beside` are the strings set beside the dataset, `(field, text, is a key)`: its manifest's
    and its metadata's (codetune.tuning.sources.layer_strings), scanned for credentials as the
    examples are; a finding names the field (`manifest: parameters.default_context`), no line.
    A pass still reading `time_limit` seconds after it began (checked as each chunk is read)
    stops there, and the report's `time-limit` error names the first line left unchecked.
    """
    if format in (DatasetFormat.GEMINI, DatasetFormat.OPENAI):
        kind = DatasetKind.CHAT  # conversations
    state = _Validation(
        kind=kind,
        role=role,
        rules=rules,
        format=format,
        checks=checks,
        secrets=None if secrets is SecretSeverity.OFF else SecretScan(secrets),
        scan=line_scan(secrets is not SecretSeverity.OFF),
        tokens=TokenStats(tokenizer or Estimate()),
        time=TimeShare(time_limit, clock, every=1),  # read as each chunk is read
    )
    if kind is not None:
        state._check_kind_for_role()

    def count(size: int) -> None:
        if state.time.out(state.lines + 1):
            raise _OutOfTime
        state.bytes_read += size
        if on_progress is not None:
            on_progress(state.bytes_read)

    check_line = state.check_line  # bound once: this loop runs for every line
    try:
        for number, data in read_lines(stream, MAX_LINE_BYTES, on_bytes=count):
            check_line(number, data)
    except _OutOfTime:
        state.stop()
    if state.secrets is not None:
        state.secrets.beside(beside, state)
    state.finish()
    return ValidationReport(
        dataset=dataset,
        kind=state.kind,
        role=role,
        examples=state.examples,
        errors=state.errors,
        warnings=state.warnings,
        stats=state.stats(),
        rules=rules,
        format=str(state.format or DatasetFormat.SEED),
    )


def validate_path(
    path: str | Path,
    kind: DatasetKind | None = None,
    role: DatasetRole = DatasetRole.TRAINING,
    on_progress: Callable[[int], None] | None = None,
    *,
    rules: RuleSet,
    format: DatasetFormat | None = None,
    checks: Sequence[ExampleCheck] = (),
    secrets: SecretSeverity = SecretSeverity.ERROR,
    tokenizer: TokenCounter | None = None,
    beside: Iterable[tuple[str, str, bool]] = (),
) -> ValidationReport:
    """Validate a local file. Raises OSError when it cannot be read."""
    with open(path, "rb") as stream:
        return validate_stream(
            stream,
            str(path),
            kind,
            role,
            on_progress,
            rules=rules,
            format=format,
            checks=checks,
            secrets=secrets,
            tokenizer=tokenizer,
            beside=beside,
        )
