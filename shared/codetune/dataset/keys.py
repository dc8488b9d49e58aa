"""JSON keys: a key twice in one object (rule `duplicate-key`), and how keys and field paths are
shown in reports.

RFC 8259, section 4: "The names within an object SHOULD be unique. ... When the names within an
object are not unique, the behavior of software that receives such an object is unpredictable.
Many implementations report the last name/value pair only. Other implementations report an
error or fail to parse the object, and some implementations report all of the name/value pairs."
orjson (the validator's parser) and Python's json keep the last value; the code-bison pipeline
hands the raw line to Vertex AI, whose parser may keep the other one. A shadowed empty prompt or a
shadowed credential would go unseen, so a repeated key is an error.

The test must be exact and cost little: orjson says nothing of what it dropped, and a Python
pass over a line's bytes (`bytes.count`) costs about as much as parsing it. Two exact tests,
each where it is the cheaper (benchmarks/README.md has the figures):

- Scanned (`LineScan`, in the one Hyperscan pass a line the secret pre-filter makes anyway). A
  decoded line holds each key a known number of times (`key_counts`, or known at once on the
  validator's fast paths); the raw line writes it at least as often, more only if it repeats.
  The scan finds where each format key is written as is (`"input_text"`): a line that writes
  each key as often as it holds it, and spells no ASCII character as a `\\u00XX` escape (the only
  other way to write a key of letters, digits, `_` and `-`), holds none twice. For generation
  lines (a pattern of a key written twice costs the scan next to nothing) and long turns.
- As written (`as_written`): a line that is, byte for byte, orjson's writing of its decoded
  value holds no key twice. For conversations (about 1 us for 1.5 KB: less than a call back
  into Python for each of their keys), while their file is written so.

The lines neither clears (a key written twice, a plausible escape, an unknown key of other
characters) are parsed again with `json.loads(object_pairs_hook=...)`, which names each repeated
key and where it is.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from functools import cache
from typing import Any, Protocol

import orjson

from codetune.dataset.rules import (
    CHAT_FIELDS,
    CHAT_MESSAGE_FIELDS,
    GEMINI_CONTENT_FIELDS,
    GEMINI_FIELDS,
    GENERATION_FIELDS,
    OPENAI_FIELDS,
    OPENAI_MESSAGE_FIELDS,
)


class Detector(Protocol):
    """A secret detector's pre-filter, as the scan needs it (codetune.dataset.secrets)."""

    @property
    def prefilter(self) -> str: ...

    @property
    def caseless(self) -> bool: ...


# Keys of the formats, shown whole in reports; any other key is shown cut (`shown_key`).
KNOWN_KEYS = frozenset(
    GENERATION_FIELDS
    | CHAT_FIELDS
    | CHAT_MESSAGE_FIELDS
    | OPENAI_FIELDS
    | OPENAI_MESSAGE_FIELDS
    | GEMINI_FIELDS
    | GEMINI_CONTENT_FIELDS
    | {"text", "fileData", "evaluation", "parameters"}  # Gemini's parts; the manifest's keys
)
# An unknown key is shown by its first characters, and when longer by a digest: a token used as a
# key is never echoed whole (8 of a 40-character token's characters say little of it).
SHOWN_KEY_CHARS = 8
KEY_DIGEST_CHARS = 8
# The longest field path a report shows (a nested line's path grows with its depth).
MAX_FIELD_CHARS = 160

# Known keys that a decoded example holds at most once: the scan tells whether one is written at
# least twice. The others are counted, one report per place they are written.
_ONCE = ("input_text", "output_text", "messages", "context", "contents", "systemInstruction")
_MANY = ("author", "content", "role", "parts", "text", "name", "weight", "fileData")
# `\u0020`..`\u007f`: an escape that may spell a key's character (letters, digits, `_`, `-`).
_ASCII_ESCAPE = rb"\\u00[2-7]"
# Keys that the raw line can be searched for as written (no escapes needed, none possible).
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_SEARCHED_KEYS = 8  # unknown keys searched for one by one; more: parsed again instead
# A conversation whose line is written as orjson writes it holds no key twice (`as_written`);
# past this many lines in a row that are not, a file's conversations are counted instead. And a
# line of over LONG_TURN_BYTES a turn is counted: its few keys cost less than writing it again.
CANONICAL_TRIES = 16
LONG_TURN_BYTES = 2048


def shown_key(key: str, known: Collection[str] = KNOWN_KEYS) -> str:
    """How a report names a key: a `known` one (a format's own) whole; another by its first
    characters (never a control or bidi character), and, when it is longer, '…' and a digest
    of the whole key."""
    if key in known:
        return key
    head = "".join(c if c.isprintable() else "\ufffd" for c in key[:SHOWN_KEY_CHARS])
    if len(key) <= SHOWN_KEY_CHARS:
        return head
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{head}…{digest[:KEY_DIGEST_CHARS]}"


def bounded_field(field: str) -> str:
    """A field path of at most MAX_FIELD_CHARS characters: its start and its end."""
    if len(field) <= MAX_FIELD_CHARS:
        return field
    return field[: MAX_FIELD_CHARS - 61] + "…" + field[-60:]


def key_path(prefix: str, key: str, known: Collection[str] = KNOWN_KEYS) -> str:
    shown = shown_key(key, known)
    return f"{prefix}.{shown}" if prefix else shown


def key_counts(value: Any) -> dict[str, int]:
    """How often each key occurs in a decoded JSON value, at any depth."""
    counts: dict[str, int] = {}
    get = counts.get
    stack = [value]
    pop, push = stack.pop, stack.append
    while stack:
        item = pop()
        if type(item) is dict:
            for key, inner in item.items():
                counts[key] = get(key, 0) + 1
                if type(inner) is dict or type(inner) is list:
                    push(inner)
        else:
            for inner in item:
                if type(inner) is dict or type(inner) is list:
                    push(inner)
    return counts


def strings(
    value: Any, path: str = "", known: Collection[str] = KNOWN_KEYS
) -> Iterator[tuple[str, str, bool]]:
    """Every string of a decoded value, keys included, with its field path
    (`messages[1].content`; a key's path ends with the key, cut unless `known`) and whether it
    is a key. In the document's order; any depth (no recursion)."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if type(item) is str:
            yield where, item, False
        elif type(item) is dict:
            inner = []
            for key, nested in item.items():
                inner_path = key_path(where, str(key), known)
                yield inner_path, str(key), True
                inner.append((inner_path, nested))
            stack += reversed(inner)
        elif type(item) is list:
            stack += reversed([(f"{where}[{index}]", nested) for index, nested in enumerate(item)])


class _Object(dict[str, Any]):
    """A decoded object that remembers the keys it held more than once."""

    __slots__ = ("repeated",)
    repeated: list[str]


def _pairs(pairs: list[tuple[str, Any]]) -> _Object:
    decoded = _Object(pairs)
    repeated: list[str] = []
    if len(decoded) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen and key not in repeated:
                repeated.append(key)
            seen.add(key)
    decoded.repeated = repeated
    return decoded


def duplicate_keys(
    data: bytes | bytearray | memoryview | str, known: Collection[str] = KNOWN_KEYS
) -> list[tuple[str, str]] | None:
    """`(field path, key)` of every key an object of this JSON text holds more than once, in
    the document's order (paths show `known` keys whole, others cut); None if the text is not
    JSON."""
    text = data if isinstance(data, str) else bytes(data).decode("utf-8", "surrogatepass")
    limit = sys.getrecursionlimit()
    try:
        # orjson reads 1,024 levels of nesting; json's decoder recurses once a level.
        sys.setrecursionlimit(max(limit, 4_000))
        document = json.loads(text, object_pairs_hook=_pairs)
    except (ValueError, RecursionError):
        return None
    finally:
        sys.setrecursionlimit(limit)
    found: list[tuple[str, str]] = []
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        prefix, value = stack.pop()
        if isinstance(value, _Object):
            found += [(bounded_field(key_path(prefix, key, known)), key) for key in value.repeated]
            inner = [(key_path(prefix, k, known), v) for k, v in value.items()]
        elif type(value) is list:
            inner = [(f"{prefix}[{i}]", v) for i, v in enumerate(value)]
        else:
            continue
        stack += [item for item in reversed(inner) if isinstance(item[1], dict | list)]
    return found


def _compile(detectors: Sequence[Detector], patterns: Sequence[tuple[bytes, bool]]) -> Any:
    """A Hyperscan database of the detectors' pre-filters (ids 0 to len(detectors) - 1) and
    `patterns` (each reported once, or, if not, at every place it matches)."""
    import hyperscan  # here, not at import: tune and status never scan

    single = hyperscan.HS_FLAG_SINGLEMATCH
    expressions = [d.prefilter.encode() for d in detectors] + [p for p, _ in patterns]
    flags = [single | (hyperscan.HS_FLAG_CASELESS if d.caseless else 0) for d in detectors] + [
        (single if once else 0) | hyperscan.HS_FLAG_DOTALL for _, once in patterns
    ]
    database = hyperscan.Database()
    database.compile(
        expressions=expressions,
        ids=list(range(len(expressions))),
        elements=len(expressions),
        flags=flags,
    )
    return database


def _scanner(database: Any) -> Callable[[bytes | memoryview], list[int]]:
    """A scan of one line with `database`, returning the ids that matched: the same list each
    call (one scanner a pass), to be read before the next."""
    hits: list[int] = []
    add = hits.append

    def matched(pattern: int, *_: object) -> None:
        add(pattern)  # None: go on scanning

    def scan(data: bytes | memoryview, _scan: Any = database.scan) -> list[int]:
        if hits:
            hits.clear()
        _scan(data, matched)
        return hits

    return scan


@cache
def _databases(detectors: tuple[Detector, ...]) -> tuple[Any, Any]:
    """The line scan's database and the pre-filter's alone, compiled once a process (about
    35 ms each with the secret detectors)."""
    lines = _compile(
        detectors,
        [(_ASCII_ESCAPE, True)]
        + [(_twice(key), True) for key in _ONCE]
        + [(_written(key), False) for key in _MANY],
    )
    return lines, (_compile(detectors, []) if detectors else None)


def _written(key: str) -> bytes:
    return b'"' + key.encode() + b'"'


def _twice(key: str, times: int = 2) -> bytes:
    """A pattern of `key` written (at least) `times` times."""
    return b".*".join([_written(key)] * times)


class LineScan:
    """One Hyperscan pass over each line for two tests: the secret pre-filter's (the detectors'
    patterns, ids below `secret_ids`) and the duplicate-key test's (the known keys as written,
    and `\\u00XX` escapes). `scan(line)` returns the ids that matched, each once but for the
    counted keys, once per place they are written: an empty list for most lines of a generation
    dataset, the `author` and `content` keys of a conversation.

    A pattern of a key written twice costs Hyperscan little, a counted key a call back into
    Python (about 0.2 us) each time it is written: a conversation of a few short turns costs less
    when its line is compared with orjson's writing of it (`as_written`), whose scan,
    `secrets_only`, has the pre-filter's patterns alone.
    """

    def __init__(self, detectors: Sequence[Detector] = ()) -> None:
        """A scan for one pass (its scanners hold the pass's hits); the databases are shared."""
        self.secret_ids = len(detectors)
        self.escape = self.secret_ids
        self.ids = {key: self.escape + 1 + i for i, key in enumerate(_ONCE + _MANY)}
        self.once = frozenset(self.ids[key] for key in _ONCE)
        self.author, self.content = self.ids["author"], self.ids["content"]
        lines, secrets = _databases(tuple(detectors))
        self.scan = _scanner(lines)
        self.secrets_only = _scanner(secrets) if secrets is not None else None

    def secret(self, hits: list[int]) -> bool:
        """Whether a detector's pre-filter matched: the line's strings are worth detecting."""
        return bool(hits) and min(hits) < self.secret_ids

    def conversation_hits(self, hits: list[int], messages: int) -> bool:
        """The common case of a seed conversation, decided at once: nothing matched but its
        messages' `author` and `content` keys, each once a message."""
        return (
            len(hits) == 2 * messages
            and hits.count(self.author) == messages
            and hits.count(self.content) == messages
        )

    def may_repeat(
        self, hits: list[int], data: bytes | memoryview, counts: Mapping[str, int]
    ) -> bool:
        """Whether the line may hold a key twice, given `scan`'s hits and how often the decoded
        line holds each key (`counts`). False is certain; True asks for `duplicate_keys`."""
        if self.escape in hits:
            return True
        unknown: list[tuple[str, int]] = []
        for key, count in counts.items():
            pattern = self.ids.get(key)
            if pattern is None:
                unknown.append((key, count))
            elif pattern in self.once:
                if pattern in hits:  # written at least twice
                    return True
            elif hits.count(pattern) > count:
                return True
        return _unknown_may_repeat(unknown, data)


def as_written(value: Any, data: bytes | memoryview) -> bool:
    """Whether the line is exactly orjson's writing of its decoded value (compact, UTF-8: what
    orjson, serde_json and JSON.stringify write): then it holds no key twice, as orjson's
    writing does not. One call in C, about 1 us for 1.5 KB."""
    raw = data if type(data) is bytes else bytes(data)
    if raw[-1:] == b"\r":  # a CRLF file's line
        raw = raw[:-1]
    try:
        return orjson.dumps(value) == raw
    except orjson.JSONEncodeError:  # e.g. an integer past 64 bits
        return False


def _unknown_may_repeat(keys: Iterable[tuple[str, int]], data: bytes | memoryview) -> bool:
    """The same test for keys of no format, searched for one by one (rare: extra fields)."""
    keys = list(keys)
    if not keys:
        return False
    if len(keys) > _MAX_SEARCHED_KEYS:
        return True
    raw = bytes(data)
    for key, count in keys:
        if _PLAIN_KEY.fullmatch(key) is None or raw.count(b'"%s"' % key.encode()) > count:
            return True
    return False
