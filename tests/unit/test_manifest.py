"""The tuning manifest dropped beside a training dataset."""

from __future__ import annotations

import orjson

from codetune.tuning.manifest import manifest_name, parse_manifest

DATASET = "gs://tuning-drop/incoming/team-a/train.jsonl"


def test_the_manifest_is_named_after_its_dataset() -> None:
    assert manifest_name("incoming/team-a/train.jsonl") == "incoming/team-a/train.tuning.json"
    assert manifest_name("data") == "data.tuning.json"


def test_a_relative_evaluation_path_resolves_beside_the_dataset() -> None:
    manifest, problems = parse_manifest(
        orjson.dumps({"evaluation": "train.eval.jsonl", "parameters": {"train_steps": 500}}),
        DATASET,
    )
    assert problems == []
    assert manifest.evaluation == "gs://tuning-drop/incoming/team-a/train.eval.jsonl"
    assert manifest.parameters == {"train_steps": 500}
    manifest, _ = parse_manifest(orjson.dumps({"evaluation": "../common/eval.jsonl"}), DATASET)
    assert manifest.evaluation == "gs://tuning-drop/incoming/common/eval.jsonl"
    manifest, _ = parse_manifest(orjson.dumps({"evaluation": "gs://other-bucket/e.jsonl"}), DATASET)
    assert manifest.evaluation == "gs://other-bucket/e.jsonl"


def test_a_relative_path_may_not_leave_the_bucket() -> None:
    manifest, problems = parse_manifest(orjson.dumps({"evaluation": "../../../x/e.jsonl"}), DATASET)
    assert manifest.evaluation is None
    assert [(p.parameter, p.rule) for p in problems] == [("evaluation_data_uri", "format")]


def test_manifest_faults_are_reported_not_raised() -> None:
    cases = {
        b"{": ("manifest", "json"),
        b"[]": ("manifest", "format"),
        b'{"parameters": 3}': ("manifest", "format"),
        b'{"evaluation": 3}': ("evaluation_data_uri", "format"),
        b'{"params": {}}': ("manifest", "format"),
    }
    for data, expected in cases.items():
        _, problems = parse_manifest(data, DATASET)
        assert [(p.parameter, p.rule) for p in problems] == [expected], data


def test_a_key_written_twice_is_refused_naming_it() -> None:
    """As in a dataset's lines (rule duplicate-key): orjson keeps the last value, another
    reader may keep the first."""
    data = b'{"parameters": {"train_steps": 500, "labels": {"team": "a", "team": "b"}, "train_steps": 5}}'
    manifest, problems = parse_manifest(data, DATASET)
    assert [(p.parameter, p.rule) for p in problems] == [("manifest", "duplicate-key")] * 2
    assert "parameters.train_steps is written more than once" in problems[0].message
    assert "parameters.labels.team is written more than once" in problems[1].message
    assert manifest.parameters["train_steps"] == 5  # what was read; the problems refuse it
    _, problems = parse_manifest(
        b'{"evaluation": "a.eval.jsonl", "evaluation": "b.eval.jsonl"}', DATASET
    )
    assert [(p.rule, "manifest: evaluation is" in p.message) for p in problems] == [
        ("duplicate-key", True)
    ]


def test_an_unknown_key_is_named_cut() -> None:
    token = "ghp_" + "Zq8xW3vB7nM2kL5pR9tY4uI6oE1aS0dF2gH7"
    _, problems = parse_manifest(orjson.dumps({token: 1}), DATASET)
    [problem] = problems
    assert token not in problem.message and token[:8] in problem.message
