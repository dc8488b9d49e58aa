"""Rule `duplicate-key`: a key written twice in one object of a line is an error naming the line,
the key and where it is; the test that decides it is exact (no line holding a key twice passes,
none holding each once is refused), in every format and layout. And keys as reports show them:
a format's whole, any other cut, field paths bounded."""

from __future__ import annotations

import json
import random

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codetune.dataset import DatasetFormat
from codetune.dataset.keys import (
    CANONICAL_TRIES,
    MAX_FIELD_CHARS,
    SHOWN_KEY_CHARS,
    duplicate_keys,
    shown_key,
)
from codetune.tuning.backends import rules_for
from tests.support import chat, dataset, generation, generation_dataset, validate

GEMINI = rules_for("gemini-2.5-flash")
assert GEMINI is not None


def repeats(report: dict) -> list[tuple[int | None, str | None]]:  # type: ignore[type-arg]
    return [(e["line"], e["field"]) for e in report["errors"] if e["rule"] == "duplicate-key"]


def spaced(line: bytes) -> bytes:
    """The line as Python's json.dumps writes it (", " and ": ", non-ASCII escaped)."""
    return json.dumps(orjson.loads(line)).encode()


def openai(index: int) -> bytes:
    return orjson.dumps(
        {
            "messages": [
                {"role": "system", "content": "You write Python."},
                {"role": "user", "content": f"Write the code in Python: return {index}."},
                {"role": "assistant", "content": f"def f():\n    return {index}"},
            ]
        }
    )


def gemini(index: int) -> bytes:
    return orjson.dumps(
        {
            "systemInstruction": {"parts": [{"text": "You write Python."}]},
            "contents": [
                {"role": "user", "parts": [{"text": f"Write the code in Python: return {index}."}]},
                {"role": "model", "parts": [{"text": f"def f():\n    return {index}"}]},
            ],
        }
    )


# Each: valid lines of a format, a line of it with a key written twice, the field named.
CASES = {
    "generation": (
        [generation(i) for i in range(40)],
        b'{"input_text": "", "output_text": "x = 1", "input_text": "Write the code in Python: '
        b'set x."}',
        "input_text",
    ),
    "generation, the second key": (
        [generation(i) for i in range(40)],
        b'{"input_text":"Write the code in Python: set x.","output_text":"x = 1",'
        b'"output_text":"x = 2"}',
        "output_text",
    ),
    "generation, a field outside the format": (
        [generation(i) for i in range(40)],
        b'{"input_text":"Write the code in Python: set x.","output_text":"x = 1",'
        b'"notes":{"source":"a","source":"b"}}',
        "notes.source",
    ),
    "chat, a message": (
        [chat(i) for i in range(40)],
        b'{"messages":[{"author":"user","content":"Write the code in Python: set x."},'
        b'{"author":"assistant","content":"x = 1","author":"user"}]}',
        "messages[1].author",
    ),
    "chat, the conversation": (
        [chat(i) for i in range(40)],
        b'{"context":"","messages":[{"author":"user","content":"Write the code in Python: '
        b'set x."},{"author":"assistant","content":"x = 1"}],"context":"Be brief."}',
        "context",
    ),
    "openai": (
        [openai(i) for i in range(40)],
        b'{"messages":[{"role":"user","content":"Write the code in Python: set x."},'
        b'{"role":"assistant","content":"x = 1","content":"x = 2"}]}',
        "messages[1].content",
    ),
    "gemini": (
        [gemini(i) for i in range(40)],
        b'{"contents":[{"role":"user","parts":[{"text":"Write the code in Python: set x."}]},'
        b'{"role":"model","parts":[{"text":"x = 1","text":"x = 2"}]}]}',
        "contents[1].parts[0].text",
    ),
}


def check(lines: list[bytes], name: str) -> dict:  # type: ignore[type-arg]
    if name.startswith(("openai", "gemini")):
        form = DatasetFormat.OPENAI if name.startswith("openai") else DatasetFormat.GEMINI
        return validate(dataset(lines), rules=GEMINI, format=form)
    return validate(dataset(lines))


@pytest.mark.parametrize("layout", ["compact", "spaced", "crlf"])
@pytest.mark.parametrize(
    "where", [2, CANONICAL_TRIES + 10]
)  # before and after a file's writing is known
@pytest.mark.parametrize("name", sorted(CASES))
def test_a_key_written_twice_is_an_error_naming_line_and_field(
    name: str, where: int, layout: str
) -> None:
    valid, repeated, field = CASES[name]
    lines = [spaced(line) for line in valid] if layout == "spaced" else list(valid)
    lines[where] = repeated
    if layout == "crlf":
        lines = [line + b"\r" for line in lines]
    report = check(lines, name)
    assert report["valid"] is False
    assert repeats(report) == [(where + 1, field)]
    [error] = [e for e in report["errors"] if e["rule"] == "duplicate-key"]
    key = field.rpartition(".")[2].partition("[")[0]
    assert f"key '{key}' is written more than once" in error["message"]
    assert "RFC 8259" in error["message"]
    assert repeats(check(lines[:where] + lines[where + 1 :], name)) == []


def test_a_key_spelled_with_escapes_is_the_same_key() -> None:
    """`\\u005f` is `_`: orjson reads both as input_text and keeps the last."""
    lines = generation_dataset(12)
    lines[3] = (
        b'{"input_text":"Write the code in Python: set x.","output_text":"x = 1",'
        b'"output\\u005ftext":"x = 2"}'
    )
    lines[5] = (
        b'{"\\u0069nput_text":"","input_text":"Write the code in Python: set x.",'
        b'"output_text":"x = 1"}'
    )
    assert repeats(validate(dataset(lines))) == [(4, "output_text"), (6, "input_text")]


def test_a_key_named_in_a_value_is_no_repeat() -> None:
    """Text that reads like a key (a value ending in \\"input_text) sends the line to the second
    reading, which finds nothing: no error."""
    lines = generation_dataset(12)
    lines[1] = generation(
        1, output_text='row = {"input_text": 1, "output_text": 2}\nrow["input_text'
    )
    lines[2] = chat(2, messages=[
        {"author": "user", "content": 'Write the code in Python: read the field "author'},
        {"author": "assistant", "content": 'message["author"]; message["content'},
    ])  # fmt: skip
    assert (
        b'"input_text"' in lines[1].partition(b'"output_text"')[2]
    )  # written twice, so read again
    assert repeats(validate(dataset(lines))) == []
    assert repeats(validate(dataset([chat(i) for i in range(12)] + [lines[2]]))) == []


def test_every_repeated_key_of_a_line_is_named_once() -> None:
    line = (
        b'{"input_text":"a","input_text":"b","input_text":"Write the code in Python: c",'
        b'"output_text":"x","notes":{"k":1,"k":2},"output_text":"y"}'
    )
    lines = generation_dataset(12)
    lines[0] = line
    assert repeats(validate(dataset(lines))) == [
        (1, "input_text"),
        (1, "output_text"),
        (1, "notes.k"),
    ]


def test_a_repeat_deep_in_a_line_is_found_and_its_field_bounded() -> None:
    depth = 1_000  # orjson reads 1,023 levels of nesting
    inner = b'{"k":1,"k":2}'
    nested = b'{"a":' * depth + inner + b"}" * depth
    lines = generation_dataset(12)
    lines[0] = (
        b'{"input_text":"Write the code in Python: a","output_text":"b","deep":' + nested + b"}"
    )
    [(line, field)] = repeats(validate(dataset(lines)))
    assert line == 1 and field is not None and field.startswith("deep.a.a.")
    assert field.endswith("a.a.k") and len(field) <= MAX_FIELD_CHARS


# --- the test is exact: property ----------------------------------------------------------------
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)  # no lone surrogates
keys = st.sampled_from(["input_text", "output_text", "messages", "author", "content", "k"]) | texts
leaves = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | texts
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.lists(st.tuples(keys, inner), max_size=4),
    max_leaves=10,
)


def write(value: object, rng: random.Random, layout: str) -> str:
    """JSON text of a value whose objects are lists of pairs (so a key may repeat), in a layout,
    keys sometimes spelled with \\u escapes."""
    if isinstance(value, list) and all(isinstance(p, tuple) for p in value) and value:
        pairs = []
        for key, inner in value:
            text = json.dumps(key)
            if layout == "escaped" and key and rng.random() < 0.5:
                text = '"' + "".join(f"\\u{ord(c):04x}" if c.isascii() else c for c in key) + '"'
            pairs.append(f"{text}{':' if layout == 'compact' else ': '}{write(inner, rng, layout)}")
        return "{" + ("," if layout == "compact" else ", ").join(pairs) + "}"
    if isinstance(value, list):
        return "[" + ",".join(write(v, rng, layout) for v in value) + "]"
    return json.dumps(value)


def holds_a_repeat(text: str) -> bool:
    found = False

    def pairs(items: list[tuple[str, object]]) -> dict[str, object]:
        nonlocal found
        found |= len({k for k, _ in items}) != len(items)
        return dict(items)

    json.loads(text, object_pairs_hook=pairs)
    return found


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    extra=st.lists(st.tuples(keys, values), max_size=4),
    layout=st.sampled_from(["compact", "spaced", "escaped"]),
    kind=st.sampled_from(["generation", "chat"]),
    seed=st.integers(0, 1_000),
)
def test_a_line_is_refused_exactly_when_an_object_of_it_repeats_a_key(
    extra: list[tuple[str, object]], layout: str, kind: str, seed: int
) -> None:
    """Well-formed examples with any fields beside (a key repeated, or not, at any depth,
    spelled plainly or with escapes, compact or spaced): the rule fires when, and only when,
    Python's own reading finds a repeat."""
    rng = random.Random(seed)
    if kind == "generation":
        base: list[tuple[str, object]] = [
            ("input_text", "Write the code in Python: add one."),
            ("output_text", "def f(x):\n    return x + 1"),
        ]
    else:
        base = [
            ("messages", [
                [("author", "user"), ("content", "Write the code in Python: add one.")],
                [("author", "assistant"), ("content", "def f(x):\n    return x + 1")],
            ]),
        ]  # fmt: skip
    fields = base + extra
    rng.shuffle(fields)
    text = write(fields, rng, layout)
    expected = holds_a_repeat(text)
    line = text.encode("utf-8", "surrogatepass")
    valid = (
        [generation(i) for i in range(12)] if kind == "generation" else [chat(i) for i in range(12)]
    )
    report = validate(dataset([*valid, line]))
    assert bool(repeats(report)) is expected, text
    assert all(number == 13 for number, _ in repeats(report))


def test_duplicate_keys_names_every_repeat_and_reads_what_json_reads() -> None:
    assert duplicate_keys(b'{"a":{"b":1,"b":2},"c":[{"d":1},{"d":1,"d":2}]}') == [
        ("a.b", "b"),
        ("c[1].d", "d"),
    ]
    assert duplicate_keys(b'{"a":1,"b":2}') == []
    assert duplicate_keys(b"{") is None


# --- how a report names keys ----------------------------------------------------------------
def test_a_format_key_is_shown_whole_any_other_cut_with_a_digest() -> None:
    assert shown_key("systemInstruction") == "systemInstruction"
    assert shown_key("notes") == "notes"  # no longer than SHOWN_KEY_CHARS: nothing to cut
    token = "ghp_" + "a1B2c3D4" * 5
    shown = shown_key(token)
    assert shown.startswith(token[:SHOWN_KEY_CHARS] + "…") and len(shown) == SHOWN_KEY_CHARS + 9
    assert token not in shown and shown_key(token) == shown  # the same key, the same digest
    assert shown_key("a\x1b[31m\u202eb") == "a\ufffd[31m\ufffdb"


def test_unknown_keys_are_never_echoed_whole_in_a_report() -> None:
    token = "sk_live_" + "Q7w9E2r4T6y8" * 3
    lines = generation_dataset(12)
    lines[0] = generation(0, **{token: "x"})
    lines[1] = generation(1, notes={token: {token: 1}})
    text = orjson.dumps(validate(dataset(lines))).decode()
    assert token not in text and token[:SHOWN_KEY_CHARS] in text


def test_field_paths_are_bounded() -> None:
    nested: object = "export GITHUB_TOKEN=ghp_" + "a1B2c3D4e5" * 4
    for _ in range(300):
        nested = {"level": nested}
    line = orjson.loads(generation(0))
    line["deep"] = [nested]
    lines = generation_dataset(12)
    lines[0] = json.dumps(line).encode()  # orjson writes 254 levels at most
    report = validate(dataset(lines))
    [secret] = [e for e in report["errors"] if e["rule"] == "secret"]
    assert secret["field"].startswith("deep[0].level.level.")
    assert secret["field"].endswith(".level.level") and len(secret["field"]) <= MAX_FIELD_CHARS
