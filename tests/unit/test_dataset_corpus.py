"""A corpus of faulty datasets: each holds one fault, and the report names exactly that fault.

Every dataset is twelve valid examples with line 5 replaced by the faulty line, so the only
error the validator may report is the one under test (rule, line and field).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import orjson
import pytest

from codetune.dataset import DatasetKind, DatasetRole
from tests.support import chat, chat_messages, dataset, faults, generation, validate

LINE = 5  # the faulty line, 1-based
SIZE = 12


@dataclass(frozen=True)
class Fault:
    name: str
    line: bytes
    rule: str
    field: str | None = None
    kind: DatasetKind = DatasetKind.GENERATION
    line_number: int | None = LINE


def _turns(*authors: str) -> bytes:
    return orjson.dumps(
        {
            "messages": [
                {"author": a, "content": f"turn {i} from {a}"} for i, a in enumerate(authors)
            ]
        }
    )


_USER, _ASSISTANT = chat_messages(99)
CHAT = DatasetKind.CHAT

CORPUS = [
    # Faults of the file itself: JSON and encoding (own rule codes).
    Fault("json-truncated-object", b'{"input_text": "Write Python code"', "json"),
    Fault("json-trailing-comma", b'{"input_text": "a in Python", "output_text": "b",}', "json"),
    Fault("json-single-quotes", b"{'input_text': 'a', 'output_text': 'b'}", "json"),
    Fault("json-nan", b'{"input_text": NaN, "output_text": "b"}', "json"),
    Fault("json-infinity-number", b'{"input_text": 1e400, "output_text": "b"}', "json"),
    Fault("json-two-objects-on-a-line", generation(50) + generation(51), "json"),
    Fault("json-raw-tab-in-string", b'{"input_text": "a\tb", "output_text": "c"}', "json"),
    Fault("json-lone-surrogate", b'{"input_text": "\\ud800", "output_text": "c"}', "json"),
    Fault("json-runaway-nesting", b'{"input_text": ' + b"[" * 2000 + b"]" * 2000 + b"}", "json"),
    Fault("json-unquoted-key", b'{input_text: "a", "output_text": "b"}', "json"),
    Fault("json-trailing-garbage", generation(52) + b" //", "json"),
    Fault("utf8-invalid-byte", b'{"input_text": "caf\xff", "output_text": "b"}', "utf-8"),
    Fault("utf8-latin1-text", b'{"input_text": "se\xf1or", "output_text": "b"}', "utf-8"),
    Fault("utf8-overlong-encoding", b'{"input_text": "\xc0\xaf", "output_text": "b"}', "utf-8"),
    Fault("utf8-truncated-sequence", b'{"input_text": "\xe2\x82", "output_text": "b"}', "utf-8"),
    Fault("blank-line", b"", "blank-line"),
    Fault("whitespace-line", b" \t \r", "blank-line"),
    Fault("not-object-array", b'[{"input_text": "a", "output_text": "b"}]', "not-object"),
    Fault("not-object-string", b'"Write the code in Python"', "not-object"),
    Fault("not-object-number", b"42", "not-object"),
    Fault("not-object-null", b"null", "not-object"),
    # S-1: code-generation examples.
    Fault("missing-output-text", b'{"input_text": "Write Python code"}', "S-1", "output_text"),
    Fault("missing-input-text", b'{"output_text": "print(1)"}', "S-1", "input_text"),
    Fault("input-text-number", generation(60, input_text=7), "S-1", "input_text"),
    Fault("output-text-null", generation(61, output_text=None), "S-1", "output_text"),
    Fault("input-text-empty", generation(62, input_text=""), "S-1", "input_text"),
    Fault("output-text-whitespace", generation(63, output_text=" \n\t"), "S-1", "output_text"),
    Fault("input-text-array", generation(64, input_text=["a", "b"]), "S-1", "input_text"),
    Fault("output-text-object", generation(65, output_text={"code": "x"}), "S-1", "output_text"),
    Fault("output-text-boolean", generation(66, output_text=True), "S-1", "output_text"),
    Fault("neither-kind", b'{"prompt": "Write Python", "completion": "x"}', "S-1"),
    Fault("both-kinds", generation(67, messages=chat_messages(1)), "S-1"),
    Fault("chat-example-in-generation-dataset", chat(68), "S-1"),
    # S-1 and Google's chat format: code-chat examples.
    Fault("generation-example-in-chat-dataset", generation(70), "S-1", kind=CHAT),
    Fault("messages-string", b'{"messages": "user: hi"}', "S-1", "messages", CHAT),
    Fault("messages-empty", b'{"messages": []}', "S-1", "messages", CHAT),
    Fault(
        "message-not-object",
        orjson.dumps({"messages": [_USER, "answer"]}),
        "S-1",
        "messages[1]",
        CHAT,
    ),
    Fault(
        "author-missing",
        orjson.dumps({"messages": [{"content": "Write Python"}, _ASSISTANT]}),
        "S-1",
        "messages[0].author",
        CHAT,
    ),
    Fault(
        "author-number",
        orjson.dumps({"messages": [_USER, {"author": 2, "content": "x"}]}),
        "S-1",
        "messages[1].author",
        CHAT,
    ),
    Fault("author-bot", _turns("user", "bot"), "chat-author", "messages[1].author", CHAT),
    Fault(
        "author-model-gemini-style",
        _turns("user", "model"),
        "chat-author",
        "messages[1].author",
        CHAT,
    ),
    Fault(
        "author-system",
        _turns("system", "user", "assistant"),
        "chat-author",
        "messages[0].author",
        CHAT,
    ),
    Fault(
        "author-capitalised", _turns("User", "assistant"), "chat-author", "messages[0].author", CHAT
    ),
    Fault(
        "content-missing",
        orjson.dumps({"messages": [_USER, {"author": "assistant"}]}),
        "S-1",
        "messages[1].content",
        CHAT,
    ),
    Fault(
        "content-empty",
        orjson.dumps({"messages": [_USER, {"author": "assistant", "content": ""}]}),
        "S-1",
        "messages[1].content",
        CHAT,
    ),
    Fault(
        "content-number",
        orjson.dumps({"messages": [{"author": "user", "content": 12}, _ASSISTANT]}),
        "S-1",
        "messages[0].content",
        CHAT,
    ),
    Fault(
        "opens-with-assistant",
        _turns("assistant", "user", "assistant"),
        "chat-turns",
        "messages[0].author",
        CHAT,
    ),
    Fault(
        "two-user-turns",
        _turns("user", "user", "assistant"),
        "chat-turns",
        "messages[1].author",
        CHAT,
    ),
    Fault(
        "two-assistant-turns",
        _turns("user", "assistant", "assistant"),
        "chat-turns",
        "messages[2].author",
        CHAT,
    ),
    Fault(
        "ends-with-user",
        _turns("user", "assistant", "user"),
        "chat-turns",
        "messages[2].author",
        CHAT,
    ),
    Fault("only-a-user-turn", _turns("user"), "chat-turns", "messages[0].author", CHAT),
    Fault("context-number", chat(80, context=3), "S-1", "context", CHAT),
    Fault("context-empty", chat(81, context=""), "S-1", "context", CHAT),
    Fault("context-null", chat(82, context=None), "S-1", "context", CHAT),
]


def _build(fault: Fault) -> bytes:
    make = chat if fault.kind is DatasetKind.CHAT else generation
    lines = [make(i) for i in range(SIZE)]
    lines[LINE - 1] = fault.line
    return dataset(lines)


def test_corpus_is_large_and_distinct() -> None:
    assert len(CORPUS) >= 40
    assert len({f.name for f in CORPUS}) == len(CORPUS)
    assert len({f.line for f in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("fault", CORPUS, ids=lambda f: f.name)
def test_each_fault_is_reported_with_its_rule_line_and_field(fault: Fault) -> None:
    report = validate(_build(fault))
    assert faults(report) == [(fault.rule, fault.line_number, fault.field)]
    assert report["valid"] is False
    assert report["kind"] == fault.kind.value


@pytest.mark.parametrize("fault", CORPUS, ids=lambda f: f.name)
def test_each_fault_is_found_when_the_kind_is_given(fault: Fault) -> None:
    report = validate(_build(fault), kind=fault.kind)
    assert faults(report) == [(fault.rule, fault.line_number, fault.field)]


def test_a_byte_order_mark_is_reported_and_the_first_line_still_checked() -> None:
    data = b"\xef\xbb\xbf" + dataset([generation(i) for i in range(SIZE)])
    assert faults(validate(data)) == [("bom", 1, None)]
    data = b"\xef\xbb\xbf" + dataset([b'{"input_text": 1}', *[generation(i) for i in range(SIZE)]])
    assert faults(validate(data)) == [
        ("bom", 1, None),
        ("S-1", 1, "input_text"),
        ("S-1", 1, "output_text"),
    ]


def test_a_line_over_the_length_limit_is_reported_and_reading_resumes() -> None:
    huge = b'{"input_text": "' + b"x" * (8 * 1024 * 1024) + b'", "output_text": "y"}'
    lines = [generation(i) for i in range(SIZE)]
    lines[LINE - 1] = huge
    lines[LINE] = b"[]"  # the line after the huge one is still read
    assert faults(validate(dataset(lines))) == [
        ("line-length", LINE, None),
        ("not-object", LINE + 1, None),
    ]


def test_a_chat_dataset_cannot_be_an_evaluation_dataset() -> None:
    data = dataset([chat(i) for i in range(SIZE)])
    assert faults(validate(data, role=DatasetRole.EVALUATION)) == [("S-6", None, None)]
    assert faults(validate(data, DatasetKind.CHAT, DatasetRole.EVALUATION)) == [("S-6", None, None)]


def test_a_given_kind_that_does_not_match_flags_every_line() -> None:
    report = validate(dataset([generation(i) for i in range(SIZE)]), kind=DatasetKind.CHAT)
    assert faults(report) == [("S-1", n, None) for n in range(1, SIZE + 1)]
    assert "as given" in report["errors"][0]["message"]


def test_faults_are_all_reported_not_just_the_first() -> None:
    lines = [generation(i) for i in range(SIZE)]
    lines[1], lines[6], lines[9] = b"{", generation(1, input_text=""), b"7"
    assert faults(validate(dataset(lines))) == [
        ("json", 2, None),
        ("S-1", 7, "input_text"),
        ("not-object", 10, None),
    ]


def test_messages_never_quote_the_dataset() -> None:
    secret = "SECRET-CODE-4711"
    lines = [
        generation(1, input_text=secret * 3, output_text=7),
        f'{{"input_text": "{secret}", '.encode(),
        orjson.dumps({"messages": [{"author": secret, "content": secret}]}),
        orjson.dumps({secret: secret}),
        generation(2, **{secret: secret}),
        generation(3, input_text=secret + "x" * 40_000, output_text=secret),
        b"\xff" + secret.encode(),
    ]
    report = validate(dataset(lines))
    text = orjson.dumps(report).decode()
    assert report["errors"] and report["warnings"]
    for finding in report["errors"] + report["warnings"]:
        assert secret not in finding["message"]
    # Field names are the format's own or cut short; values never appear.
    assert text.count(secret) <= 1


ARRAY = (
    "the file {}: that is JSON, not JSON Lines; write one example a line, each a JSON object, "
    "without the brackets around them or the commas between them"
)


def test_a_file_that_is_one_json_array_is_one_error_not_one_a_line() -> None:
    examples = [orjson.loads(generation(i)) for i in range(SIZE)]
    written = [
        orjson.dumps(examples) + b"\n\n",  # on one line (and a blank one after it)
        json.dumps(examples, indent=2).encode(),  # as json.dump(indent=2) writes it
        b"[" + b",\n".join(map(orjson.dumps, examples)) + b"]\n",  # an example a line, commas
        b"\xef\xbb\xbf[\n" + b",\n".join(map(orjson.dumps, examples)) + b"\n]\n",
    ]
    for data in written:
        report = validate(data)
        found = [(e["line"], e["field"], e["rule"], e["message"]) for e in report["errors"]]
        bom = [(1, None, "bom", report["errors"][0]["message"])] if data[:1] == b"\xef" else []
        assert found == [*bom, (1, None, "json", ARRAY.format("is one JSON array"))]
        assert report["examples"] == 0 and report["warnings"] == []
        assert report["stats"]["lines"] == data.count(b"\n") + (data[-1:] != b"\n")


def test_an_array_left_open_or_followed_by_examples_is_told_apart() -> None:
    examples = [generation(i) for i in range(SIZE)]
    unclosed = b"[\n" + b",\n".join(examples[:5]) + b",\n"  # cut short
    report = validate(unclosed)
    assert [(e["line"], e["rule"], e["message"]) for e in report["errors"]] == [
        (1, "json", ARRAY.format("opens a JSON array on line 1"))
    ]
    # A first line that is an array, in a file of examples: that line is at fault, as before.
    data = dataset([b"[1, 2]", b"", *examples])
    assert faults(validate(data)) == [("not-object", 1, None), ("blank-line", 2, None)]
