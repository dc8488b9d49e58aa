"""Reading a finished PipelineJob the way the Vertex AI SDK does (FACTS: get_tuned_model)."""

from __future__ import annotations

from typing import Any

UPLOAD_TASKS = ("upload-llm-model", "upload-model")  # older and newer tuning pipelines
MODEL_OUTPUT = "output:model_resource_name"
ENDPOINT_OUTPUT = "output:endpoint_resource_name"


def tuned_model_name(job: dict[str, Any]) -> str | None:
    """The tuned model's resource name: the upload task's `output:model_resource_name`, or,
    failing that, that of the single task whose execution is a `system.Run`."""
    tasks = (job.get("jobDetail") or {}).get("taskDetails") or []
    chosen = [t for t in tasks if t.get("taskName") in UPLOAD_TASKS]
    if not chosen:
        runs = [t for t in tasks if (t.get("execution") or {}).get("schemaTitle") == "system.Run"]
        chosen = runs if len(runs) == 1 else []
    for task in chosen:
        name = ((task.get("execution") or {}).get("metadata") or {}).get(MODEL_OUTPUT)
        if isinstance(name, str) and name.strip():
            return name.strip()
    return None


def tuned_endpoint_name(job: dict[str, Any]) -> str | None:
    """The endpoint the pipeline deployed the model to, when its root task reports one."""
    for task in (job.get("jobDetail") or {}).get("taskDetails") or []:
        name = ((task.get("execution") or {}).get("metadata") or {}).get(ENDPOINT_OUTPUT)
        if isinstance(name, str) and name.strip():
            return name.strip()
    return None


def job_error(job: dict[str, Any]) -> dict[str, Any] | None:
    """Google's error of a failed or cancelled job (google.rpc.Status: code, message)."""
    error = job.get("error")
    if not isinstance(error, dict) or not error:
        return None
    return {"code": error.get("code"), "message": error.get("message") or "(no message)"}
