"""Submit a Gemini tuning job exactly once: convert the datasets, claim the request, create.

Tuning jobs take no client-chosen id, so a repeat cannot be refused by Vertex AI as a
duplicate. Instead the plan's request digest is claimed in Cloud Storage with a
create-only precondition (`_codetune/claims/<digest>.json`): the delivery that wins creates the
job and writes its name into the claim; a later delivery reads the name from the claim. A
claim whose creator died before naming a job is resolved by asking Vertex AI for a job
labelled with the digest, and taken over once it is older than CLAIM_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import time
from typing import Any

from codetune.dataset import DatasetKind, DatasetRole
from codetune.dataset.lines import read_lines
from codetune.dataset.rules import MAX_LINE_BYTES
from codetune.exceptions import PlanRejected, RetryableVertexError
from codetune.gemini.check import convert_and_check
from codetune.gemini.plan import REQUEST_LABEL, TuningJobPlan
from codetune.storage import Storage
from codetune.tuning import DatasetRef, Problem
from codetune.vertex import VertexClient

CLAIM_TIMEOUT_SECONDS = 600


def convert(
    storage: Storage, source: DatasetRef, target_uri: str, kind: DatasetKind, role: DatasetRole,
    default_context: str | None,
) -> None:  # fmt: skip
    """Stream `source` into Gemini's format at `target_uri`; PlanRejected if Gemini would refuse it."""
    target = DatasetRef.parse(target_uri)
    with (
        storage.open_dataset(source.bucket, source.name, source.generation) as reader,
        storage.writer(target.bucket, target.name) as writer,
    ):
        lines = (line for _, line in read_lines(reader, MAX_LINE_BYTES) if line is not None)
        result = convert_and_check(lines, writer.write, kind, role, default_context)
    if not result.valid:
        raise PlanRejected([
            Problem("dataset" if role is DatasetRole.TRAINING else "evaluation_data_uri", str(f.rule),
                    f"{'line ' + str(f.line) + ': ' if f.line else ''}{f.message} (converted for Gemini)")
            for f in result.errors.listed
        ])  # fmt: skip


def submit(
    storage: Storage, vertex: VertexClient, plan: TuningJobPlan, bucket: str, system_prefix: str
) -> tuple[dict[str, Any], bool]:
    """The tuning job for this plan, and whether this call created it."""
    claim = f"{system_prefix}claims/{plan.request_id}.json"
    document, generation = storage.read_json(bucket, claim)
    if document and document.get("job"):
        return vertex.get_tuning_job(document["job"]), False
    won = storage.write_json(
        bucket, claim, {"request": plan.request_id, "since": time.time()}, if_generation_match=0
    )
    if not won:
        document, generation = storage.read_json(bucket, claim)
        if document and document.get("job"):
            return vertex.get_tuning_job(document["job"]), False
    existing = vertex.find_tuning_jobs(plan.project, plan.region, (REQUEST_LABEL, plan.request_id))
    if existing:  # created by a delivery that died before naming it in the claim
        job = existing[0]
    elif not won and time.time() - float((document or {}).get("since", 0)) < CLAIM_TIMEOUT_SECONDS:
        raise RetryableVertexError(
            f"another delivery is creating tuning job {plan.request_id}; try again later"
        )
    else:
        job = vertex.create_tuning_job(plan)
    _, generation = storage.read_json(bucket, claim)
    storage.write_json(
        bucket,
        claim,
        {"request": plan.request_id, "job": job["name"]},
        if_generation_match=generation,
    )
    return job, not existing
