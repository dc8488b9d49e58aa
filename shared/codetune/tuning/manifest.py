"""The tuning manifest: a small JSON file dropped beside a training dataset.

`train.jsonl` is paired with `train.tuning.json` in the same folder:

    {
      "evaluation": "train.eval.jsonl",
      "parameters": {"train_steps": 500, "learning_rate_multiplier": 0.5}
    }

`evaluation` (optional) is a path relative to the manifest's folder, or a `gs://` URI; it
becomes `evaluation_data_uri`. `parameters` takes every tuning parameter by name.
"""

from __future__ import annotations

import posixpath
from typing import Any

import msgspec
import orjson

from codetune.dataset.keys import KNOWN_KEYS, duplicate_keys, shown_key
from codetune.tuning.parameters import NAMES, Problem

MANIFEST_SUFFIX = ".tuning.json"
MAX_MANIFEST_BYTES = 64 * 1024  # a manifest names a file and a few parameters
EVALUATION_SUFFIX = ".eval.jsonl"
DATASET_SUFFIX = ".jsonl"
_KEYS = {"evaluation", "parameters"}
_SHOWN = KNOWN_KEYS | frozenset(NAMES)  # keys a problem names whole; others are cut


class Manifest(msgspec.Struct, frozen=True):
    evaluation: str | None = None
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)


def manifest_name(dataset_object: str) -> str:
    """The manifest's object name for a training dataset: `a/train.jsonl` → `a/train.tuning.json`
    (the extension in any case: `a/TRAIN.JSONL` → `a/TRAIN.tuning.json`)."""
    stem = (
        dataset_object[: -len(DATASET_SUFFIX)]
        if dataset_object.lower().endswith(DATASET_SUFFIX)
        else dataset_object
    )
    return stem + MANIFEST_SUFFIX


def training_name(dataset_object: str) -> str:
    """The training dataset an evaluation dataset pairs with: `a/t.eval.jsonl` → `a/t.jsonl`."""
    if dataset_object.lower().endswith(EVALUATION_SUFFIX):
        return dataset_object[: -len(EVALUATION_SUFFIX)] + DATASET_SUFFIX
    return dataset_object


def parse_manifest(data: bytes, dataset_uri: str) -> tuple[Manifest, list[Problem]]:
    """Read a manifest for the dataset at `dataset_uri` (for relative evaluation paths)."""
    if len(data) > MAX_MANIFEST_BYTES:
        return Manifest(), [
            Problem(
                "manifest",
                "size",
                f"{len(data):,} bytes; a manifest holds at most {MAX_MANIFEST_BYTES:,}",
            )
        ]
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as fault:
        return Manifest(), [
            Problem("manifest", "json", f"not valid JSON: {fault.msg} (line {fault.lineno})")
        ]
    if not isinstance(document, dict):
        return Manifest(), [Problem("manifest", "format", "must be a JSON object")]
    # orjson keeps a repeated key's last value, another reader may keep the first: refused, as
    # in a dataset's lines (rule duplicate-key, codetune.dataset.keys).
    problems = [
        Problem(
            "manifest",
            "duplicate-key",
            f"manifest: {field} is written more than once; parsers disagree on which value "
            "counts (RFC 8259): keep one",
        )
        for field, _ in duplicate_keys(data, _SHOWN) or ()
    ]
    problems += [
        Problem(
            "manifest",
            "format",
            f"unknown key {shown_key(str(key))!r}; a manifest holds {sorted(_KEYS)}",
        )
        for key in sorted(document.keys() - _KEYS)
    ]
    parameters = document.get("parameters", {})
    if not isinstance(parameters, dict):
        problems.append(Problem("manifest", "format", "parameters must be a JSON object"))
        parameters = {}
    evaluation = document.get("evaluation")
    if evaluation is not None:
        if not isinstance(evaluation, str) or not evaluation.strip():
            problems.append(
                Problem(
                    "evaluation_data_uri",
                    "format",
                    "manifest: evaluation must be a path or gs:// URI",
                )
            )
            evaluation = None
        elif not evaluation.startswith("gs://"):
            path = dataset_uri.removeprefix("gs://")
            bucket = path.partition("/")[0]
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), evaluation))
            if not resolved.startswith(bucket + "/"):
                problems.append(
                    Problem(
                        "evaluation_data_uri",
                        "format",
                        "manifest: evaluation leaves the dataset's bucket",
                    )
                )
                evaluation = None
            else:
                evaluation = "gs://" + resolved
    return Manifest(evaluation, parameters), problems
