"""Tuning parameters, their rules, and the Vertex AI request built from them."""

from codetune.tuning.manifest import Manifest, manifest_name, parse_manifest
from codetune.tuning.parameters import Problem, TuningParameters, resolve
from codetune.tuning.plan import DatasetRef, PipelineJobPlan, plan_from_sources, plan_pipeline_job

__all__ = [
    "DatasetRef",
    "Manifest",
    "PipelineJobPlan",
    "Problem",
    "TuningParameters",
    "manifest_name",
    "parse_manifest",
    "plan_from_sources",
    "plan_pipeline_job",
    "resolve",
]
