"""Property-based tests: whatever bytes a file holds, the validator returns a well-formed report."""

from __future__ import annotations

import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codetune.dataset import DatasetKind, DatasetRole
from codetune.dataset.lines import read_lines
from tests.support import generation, validate

KINDS = st.sampled_from([None, DatasetKind.GENERATION, DatasetKind.CHAT])
ROLES = st.sampled_from(list(DatasetRole))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
# Examples that look like the real thing, with any value in any field.
near_examples = st.fixed_dictionaries(
    {},
    optional={
        "input_text": json_values,
        "output_text": json_values,
        "context": json_values,
        "messages": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "author": st.sampled_from(["user", "assistant", "bot"]) | json_values,
                    "content": json_values,
                },
            )
            | json_values,
            max_size=4,
        )
        | json_values,
    },
)


def _dumps(value: object) -> bytes:
    # The standard library's encoder writes integers of any size, Infinity and lone surrogates.
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def check_well_formed(data: bytes, report: dict) -> None:  # type: ignore[type-arg]
    # validate() already held the report against its JSON schema.
    assert report["valid"] is (not report["errors"])
    assert report["stats"]["bytes"] == len(data)
    assert report["stats"]["lines"] == len(data.split(b"\n")) - (
        1 if data.endswith(b"\n") or not data else 0
    )
    for finding in report["errors"] + report["warnings"]:
        assert finding["line"] is None or 1 <= finding["line"] <= report["stats"]["lines"]
    counts = report["stats"]["findings"]
    assert sum(counts["errors"].values()) == len(report["errors"]) + counts["errors_not_listed"]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=2_000), kind=KINDS, role=ROLES)
def test_arbitrary_bytes_give_a_well_formed_report(
    data: bytes, kind: DatasetKind | None, role: DatasetRole
) -> None:
    check_well_formed(data, validate(data, kind, role))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(
        st.one_of(near_examples.map(_dumps), json_values.map(_dumps), st.binary(max_size=40)),
        max_size=20,
    ),
    line_end=st.sampled_from([b"\n", b"\r\n"]),
    kind=KINDS,
    role=ROLES,
)
def test_arbitrary_json_lines_give_a_well_formed_report(
    lines: list[bytes], line_end: bytes, kind: DatasetKind | None, role: DatasetRole
) -> None:
    data = b"".join(line.replace(b"\n", b" ") + line_end for line in lines)
    check_well_formed(data, validate(data, kind, role))


@given(examples=st.lists(st.sampled_from(range(1000)), min_size=10, max_size=30, unique=True))
def test_valid_examples_are_always_valid(examples: list[int]) -> None:
    data = b"".join(generation(i) + b"\n" for i in examples)
    report = validate(data)
    assert report["valid"] is True and report["examples"] == len(examples)


@given(data=st.binary(max_size=300), chunk=st.integers(1, 17), limit=st.integers(1, 40))
def test_line_reader_matches_split_in_any_chunking(data: bytes, chunk: int, limit: int) -> None:
    expected = data.split(b"\n")
    if expected[-1] == b"":
        expected.pop()
    got = list(read_lines(io.BytesIO(data), limit, chunk_bytes=chunk))
    assert [n for n, _ in got] == list(range(1, len(expected) + 1))
    assert [line for _, line in got] == [line if len(line) <= limit else None for line in expected]
