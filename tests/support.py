"""Helpers for dataset tests: valid examples to build faulty datasets around, and the report."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import orjson

from codetune.dataset import (
    DatasetFormat,
    DatasetKind,
    DatasetRole,
    RuleSet,
    code_bison,
    validate_stream,
)
from codetune.dataset.checks import ExampleCheck
from codetune.dataset.tokens import TokenCounter

# The rules of Google's "Tune code models" page (S-1..S-9), which most dataset tests hold.
LEGACY_RULES = code_bison("code-bison@002")


def generation(index: int, **fields: Any) -> bytes:
    """A valid, distinct code-generation example, with `fields` overriding its own."""
    example = {
        "input_text": f"Write the code in Python: return {index} plus the argument.",
        "output_text": f"```python\ndef add_{index}(x: int) -> int:\n    return x + {index}\n```",
    }
    example.update(fields)
    return orjson.dumps(example)


def chat_messages(index: int) -> list[dict[str, str]]:
    return [
        {"author": "user", "content": f"Write a Python function that returns {index} squared."},
        {
            "author": "assistant",
            "content": f"```python\ndef square_{index}():\n    return {index} ** 2\n```",
        },
    ]


def chat(index: int, **fields: Any) -> bytes:
    """A valid, distinct code-chat example, with `fields` overriding its own."""
    example: dict[str, Any] = {"messages": chat_messages(index)}
    example.update(fields)
    return orjson.dumps(example)


def dataset(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def generation_dataset(count: int) -> list[bytes]:
    return [generation(i) for i in range(count)]


def chat_dataset(count: int) -> list[bytes]:
    return [chat(i) for i in range(count)]


def validate(
    data: bytes,
    kind: DatasetKind | None = None,
    role: DatasetRole = DatasetRole.TRAINING,
    rules: RuleSet | None = None,
    format: DatasetFormat | None = None,
    checks: Sequence[ExampleCheck] = (),
    tokenizer: TokenCounter | None = None,
) -> dict[str, Any]:
    """The JSON report of `data` (by the seed's code-bison rules unless `rules` says otherwise),
    checked against the report's published schema."""
    rules = rules or LEGACY_RULES
    report = validate_stream(
        io.BytesIO(data),
        "gs://bucket/data.jsonl",
        kind,
        role,
        rules=rules,
        format=format,
        checks=checks,
        tokenizer=tokenizer,
    ).to_dict()
    jsonschema.validate(report, report_schema())
    # The report must survive a JSON round trip unchanged: it is written to Cloud Storage.
    assert json.loads(orjson.dumps(report)) == report
    return report


@cache
def report_schema() -> dict[str, Any]:
    text = resources.files("codetune.dataset").joinpath("report.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def faults(report: dict[str, Any]) -> list[tuple[str, int | None, str | None]]:
    """(rule, line, field) of every error, in report order."""
    return [(e["rule"], e["line"], e["field"]) for e in report["errors"]]


def warning_rules(report: dict[str, Any]) -> list[str]:
    return [w["rule"] for w in report["warnings"]]


# What a deployed function starts with (deploy/deploy.sh sets these): a function refuses to
# start without them.
DEPLOYED_ENV = {
    "CODETUNE_BUCKET": "acme-tuning-drop",
    "CODETUNE_PROJECT": "acme-ml",
    "CODETUNE_PROJECT_NUMBER": "123456789012",
    "CODETUNE_PIPELINE_REGION": "us-central1",
}
