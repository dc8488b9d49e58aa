"""Every IAM condition deploy.sh writes, parsed by a CEL implementation and evaluated against
sample requests: what each admits is exactly what its holder needs, so a condition that grants
too much, too little, or does not parse fails here rather than on a real project."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import celpy
import pytest
from celpy import celtypes

from tests.deploy.test_deploy import SETTINGS, UPLOADERS, condition, dry_run, flag, gcloud_lines

UPLOAD = "acme-tuning-drop"
STATE = "acme-tuning-drop-state"
OBJECT = "storage.googleapis.com/Object"
BUCKET = "storage.googleapis.com/Bucket"
LIST_PREFIX = "storage.googleapis.com/objectListPrefix"


def an_object(bucket: str, name: str) -> dict[str, Any]:
    return {"resource": {"name": f"projects/_/buckets/{bucket}/objects/{name}", "type": OBJECT}}


def a_listing(bucket: str, prefix: str | None) -> dict[str, Any]:
    """storage.objects.list is checked on the bucket; its prefix is a request attribute (absent
    when the listing names none)."""
    return {
        "resource": {"name": f"projects/_/buckets/{bucket}", "type": BUCKET},
        "attributes": {} if prefix is None else {LIST_PREFIX: prefix},
    }


SAMPLES = {
    "an upload": an_object(UPLOAD, "incoming/train.jsonl"),
    "a manifest": an_object(UPLOAD, "incoming/train.tuning.json"),
    "an upload in a folder": an_object(UPLOAD, "incoming/team/train.jsonl"),
    "a report": an_object(UPLOAD, "incoming/train.jsonl.report.json"),
    "a report page": an_object(UPLOAD, "incoming/train.jsonl.report.html"),
    "a run page": an_object(UPLOAD, "incoming/train.jsonl.run.html"),
    "an object outside the upload prefix": an_object(UPLOAD, "staging/train.jsonl"),
    "an object under a longer prefix": an_object(UPLOAD, "incoming-old/train.jsonl"),
    "a report name outside the upload prefix": an_object(UPLOAD, "staging/x.report.html"),
    "state forged in the upload bucket": an_object(UPLOAD, "_codetune/records/x.json"),
    "a pinned copy forged in the upload bucket": an_object(UPLOAD, "_codetune/pinned/x.jsonl"),
    "an upload of another bucket": an_object(UPLOAD + "-old", "incoming/train.jsonl"),
    "a record": an_object(STATE, "_codetune/records/x.json"),
    "a claim": an_object(STATE, "_codetune/claims/x.json"),
    "a long report": an_object(STATE, "_codetune/reports/long/x.report.html"),
    "a pinned copy": an_object(STATE, "_codetune/pinned/x.jsonl"),
    "a conversion": an_object(STATE, "_codetune/converted/x.jsonl"),
    "a stored answer": an_object(STATE, "_codetune/evaluations/x.jsonl/1/tuned/3.json"),
    "an evaluation page": an_object(STATE, "_codetune/evaluations/x.jsonl/1/page.eval.html"),
    # Evaluation pages live in the state bucket: no reader of pages beside uploads reaches one.
    "an upload named like an evaluation page": an_object(UPLOAD, "incoming/x.jsonl.eval.html"),
    "a listing of the uploads": a_listing(UPLOAD, "incoming/"),
    "a listing of a folder of uploads": a_listing(UPLOAD, "incoming/team/"),
    "a listing without a prefix": a_listing(UPLOAD, None),
    "a listing with an empty prefix": a_listing(UPLOAD, ""),
    "a listing of the old state": a_listing(UPLOAD, "_codetune/"),
    "a listing of pinned copies": a_listing(STATE, "_codetune/pinned/"),
}
UPLOADS = {
    "an upload",
    "a manifest",
    "an upload in a folder",
    "a report",
    "a report page",
    "a run page",
    "an upload named like an evaluation page",
}
REPORTS = {"a report", "a report page"}
# What each condition of a deployment admits, by its title.
EXPECTED = {
    "validate-reads-uploads": UPLOADS,
    "tune-reads-uploads": UPLOADS,
    "sweep-reads-uploads": UPLOADS,
    "uploader-creates-uploads": UPLOADS,
    "validate-writes-reports": REPORTS,
    "sweep-writes-reports": REPORTS,
    "uploader-reads-reports": REPORTS | {"a run page"},
    "status-writes-run-pages": {"a run page"},
    "sweep-writes-run-pages": {"a run page"},
    "evaluate-writes-run-pages": {"a run page"},
    "sweep-lists-uploads": {"a listing of the uploads", "a listing of a folder of uploads"},
    "pipeline-reads-datasets": {"a pinned copy", "a conversion"},
}


def cel(value: Any) -> Any:
    if isinstance(value, str):
        return celtypes.StringType(value)
    assert isinstance(value, Mapping)
    return celtypes.MapType({celtypes.StringType(k): cel(v) for k, v in value.items()})


def get_attribute(api: celtypes.MapType, key: celtypes.StringType, default: Any) -> Any:
    """The request's `api` object: only the attribute Cloud Storage conditions know here."""
    if key != LIST_PREFIX:
        raise AssertionError(f"api.getAttribute of an attribute no request has: {key}")
    return api.get(key, default)


def admits(expression: str, sample: dict[str, Any]) -> bool:
    environment = celpy.Environment()
    program = environment.program(
        environment.compile(expression), functions={"getAttribute": get_attribute}
    )
    result = program.evaluate(
        {"resource": cel(sample["resource"]), "api": cel(sample.get("attributes", {}))}
    )
    assert isinstance(result, celtypes.BoolType), (expression, result)
    return bool(result)


@pytest.fixture(scope="module")
def commands() -> list[list[str]]:
    return gcloud_lines(
        dry_run(
            "deploy.sh",
            "--settings",
            str(SETTINGS),
            *(a for u in UPLOADERS for a in ("--uploader", u)),
        )
    )


def test_every_condition_parses(commands: list[list[str]]) -> None:
    """Those granted and those an older version's grants are removed by (gcloud finds a
    binding by its exact condition)."""
    written = [found for c in commands if (found := condition(c))]
    assert written
    environment = celpy.Environment()
    for title, expression in written:
        environment.compile(expression)  # CELParseError when it does not parse
        assert title and len(title) <= 100, title


def test_each_condition_admits_exactly_what_its_holder_needs(commands: list[list[str]]) -> None:
    granted = {}
    for command in commands:
        if "add-iam-policy-binding" in command and (found := condition(command)):
            title, expression = found
            granted.setdefault(title, set()).add(expression)  # once per uploader
    assert set(granted) == set(EXPECTED), "a condition with no expectation here, or one missing"
    for title, expressions in granted.items():
        [expression] = expressions
        admitted = {name for name, sample in SAMPLES.items() if admits(expression, sample)}
        assert admitted == EXPECTED[title], (title, sorted(admitted ^ EXPECTED[title]))


def test_the_uploaders_grant_is_the_upload_prefix_only(commands: list[list[str]]) -> None:
    """The issue's own case: create under incoming/, nothing under _codetune/ or staging/."""
    [creates] = {
        found[1]
        for c in commands
        if "--role" in c
        and flag(c, "--role") == "roles/storage.objectCreator"
        and (found := condition(c))
    }
    assert admits(creates, an_object(UPLOAD, "incoming/x.jsonl"))
    assert not admits(creates, an_object(UPLOAD, "_codetune/records/x.json"))
    assert not admits(creates, an_object(UPLOAD, "staging/x.jsonl"))


def test_a_listing_condition_is_never_an_object_name_condition() -> None:
    """Why the sweep's listing has a condition of its own: a name condition never admits a
    listing, whose resource is the bucket."""
    names = f'resource.name.startsWith("projects/_/buckets/{UPLOAD}/objects/incoming/")'
    assert not admits(names, a_listing(UPLOAD, "incoming/"))
    assert admits(names, an_object(UPLOAD, "incoming/x.jsonl"))
