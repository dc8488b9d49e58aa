"""What an operator watches: log-based metrics, alert policies and a dashboard, from one table.

Each metric counts one log line the functions write (codetune.logs: `jsonPayload.message`,
the component label), labelled by fields of that line. The bodies are Google's: logging v2
`LogMetric`, monitoring v3 `AlertPolicy`, monitoring v1 `Dashboard`. deploy/monitoring/ holds
them as files (`python -m codetune.monitoring deploy/monitoring`), which deploy.sh creates and
teardown.sh removes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import msgspec
import orjson

from codetune.logs import COMPONENT_LABEL

PREFIX = "codetune"
USER_METRIC = "logging.googleapis.com/user/"


class Metric(msgspec.Struct, frozen=True):
    """One log-based metric: the log line it counts and what it is labelled by."""

    name: str
    description: str
    message: str  # the line's message, exactly as the functions log it
    components: tuple[str, ...]  # the functions that write it
    labels: dict[str, str] = msgspec.field(default_factory=dict)  # metric label -> payload field
    value: str | None = None  # a payload field: a distribution of it, else a count
    unit: str = "1"
    source: str = ""  # where the line is written

    @property
    def type(self) -> str:
        return USER_METRIC + self.name

    def filter(self) -> str:
        components = " OR ".join(f'"{c}"' for c in self.components)
        return (
            'resource.type="cloud_run_revision" '
            f'AND jsonPayload.message="{self.message}" '
            f'AND labels."{COMPONENT_LABEL}"=({components})'
        )

    def body(self) -> dict[str, Any]:
        """The logging v2 LogMetric."""
        descriptor: dict[str, Any] = {
            "metricKind": "DELTA",
            "valueType": "DISTRIBUTION" if self.value else "INT64",
            "unit": self.unit,
            "labels": [
                {"key": key, "valueType": "STRING", "description": f"the line's {source}"}
                for key, source in self.labels.items()
            ],
        }
        body: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "filter": self.filter(),
            "metricDescriptor": descriptor,
            "labelExtractors": {
                key: f"EXTRACT(jsonPayload.{source})" for key, source in self.labels.items()
            },
        }
        if self.value:
            body["valueExtractor"] = f"EXTRACT(jsonPayload.{self.value})"
            # 30 s to about 6 days, doubling: an upload-to-model time of any tuning job.
            body["bucketOptions"] = {
                "exponentialBuckets": {"numFiniteBuckets": 15, "growthFactor": 2, "scale": 30}
            }
        return body


METRICS: tuple[Metric, ...] = (
    Metric(
        f"{PREFIX}-datasets-validated",
        "Datasets found valid and announced to tune",
        "dataset validated",
        ("validate", "sweep"),
        {"kind": "kind"},
        source="codetune/app/validate.py",
    ),
    Metric(
        f"{PREFIX}-datasets-rejected",
        "Datasets refused by validation, by the rule most broken",
        "dataset rejected",
        ("validate", "sweep"),
        {"rule": "rule"},
        source="codetune/app/validate.py",
    ),
    Metric(
        f"{PREFIX}-jobs-submitted",
        "Tuning jobs created, by base model",
        "tuning job submitted",
        ("tune",),
        {"base_model": "base_model"},
        source="codetune/app/tune.py",
    ),
    Metric(
        f"{PREFIX}-jobs-succeeded",
        "Tuning jobs that ended with a tuned model, by base model",
        "tuned model ready",
        ("status", "sweep"),
        {"base_model": "base_model"},
        source="codetune/app/status.py",
    ),
    Metric(
        f"{PREFIX}-jobs-failed",
        "Tuning jobs that ended without a model (failed, cancelled, gone), by base model",
        "tuning job ended without a model",
        ("status", "sweep"),
        {"base_model": "base_model"},
        source="codetune/app/status.py",
    ),
    Metric(
        f"{PREFIX}-datasets-stuck",
        "Datasets the sweep found not at an end after CODETUNE_STUCK_SECONDS, by stage",
        "dataset not at an end",
        ("sweep",),
        {"stage": "stage"},
        source="codetune/app/reconcile.py",
    ),
    Metric(
        f"{PREFIX}-models-evaluated",
        "Tuned models evaluated against their base model, by base model",
        "tuned model evaluated",
        ("evaluate",),
        {"base_model": "base_model"},
        source="codetune/app/evaluate.py",
    ),
    Metric(
        f"{PREFIX}-models-worse",
        "Tuned models worse than their base beyond the confidence interval, by base model",
        "tuned model worse than its base",
        ("evaluate",),
        {"base_model": "base_model"},
        source="codetune/app/evaluate.py",
    ),
    Metric(
        f"{PREFIX}-time-to-tuned-model",
        "Seconds from a dataset's validation to its tuned model",
        "tuned model ready",
        ("status", "sweep"),
        {"base_model": "base_model"},
        value="seconds_since_upload",
        unit="s",
        source="codetune/app/status.py",
    ),
)
BY_NAME = {metric.name: metric for metric in METRICS}
# The sweep logs a stuck dataset again each CODETUNE_RECONCILE_GRACE_SECONDS (300): a window of
# three graces keeps the incident open while the dataset stays stuck (codetune.state.due).
STUCK_ALIGNMENT = "900s"


def _threshold(
    name: str, filter: str, aligner: str, duration: str, alignment: str = "60s"
) -> dict[str, Any]:
    return {
        "displayName": name,
        "conditionThreshold": {
            "filter": filter,
            "comparison": "COMPARISON_GT",
            "thresholdValue": 0,
            "duration": duration,
            "aggregations": [{"alignmentPeriod": alignment, "perSeriesAligner": aligner}],
            "trigger": {"count": 1},
        },
    }


def _metric_filter(name: str) -> str:
    return f'metric.type="{BY_NAME[name].type}" AND resource.type="cloud_run_revision"'


def alert_policies() -> list[dict[str, Any]]:
    """The monitoring v3 AlertPolicies: a job failed, a dataset stuck, dead letters waiting.
    No notification channel: add your own (the console, or `notificationChannels`)."""
    return [
        {
            "displayName": f"{PREFIX}: a tuning job failed",
            "combiner": "OR",
            "conditions": [
                _threshold(
                    "jobs failed",
                    _metric_filter(f"{PREFIX}-jobs-failed"),
                    "ALIGN_SUM",
                    "0s",
                )
            ],
            "documentation": {
                "content": "A tuning job ended without a model. `codetune status DATASET_URI` "
                "says why; `codetune logs DATASET_URI` tells its story.",
                "mimeType": "text/markdown",
            },
        },
        {
            "displayName": f"{PREFIX}: a tuned model is worse than its base",
            "combiner": "OR",
            "conditions": [
                _threshold(
                    "models worse",
                    _metric_filter(f"{PREFIX}-models-worse"),
                    "ALIGN_SUM",
                    "0s",
                )
            ],
            "documentation": {
                "content": "The evaluation found the tuned model worse than its base model "
                "beyond the confidence interval on at least one metric. `codetune status "
                "DATASET_URI` shows the verdict; the evaluation page beside the dataset "
                "(`<name>.eval.html`) shows the examples, worst first (docs/evaluation.md).",
                "mimeType": "text/markdown",
            },
        },
        {
            "displayName": f"{PREFIX}: a dataset is stuck",
            "combiner": "OR",
            "conditions": [
                _threshold(
                    "datasets stuck",
                    _metric_filter(f"{PREFIX}-datasets-stuck"),
                    "ALIGN_SUM",
                    "0s",
                    STUCK_ALIGNMENT,
                )
            ],
            "documentation": {
                "content": "The sweep found a dataset not at an end after CODETUNE_STUCK_SECONDS "
                "(3 hours by default). Its log line names the dataset and its stage.",
                "mimeType": "text/markdown",
            },
        },
        {
            "displayName": f"{PREFIX}: dead letters waiting",
            "combiner": "OR",
            "conditions": [
                _threshold(
                    "dead letters",
                    'metric.type="pubsub.googleapis.com/subscription/num_undelivered_messages" '
                    'AND resource.type="pubsub_subscription" AND resource.label.subscription_id'
                    f'=monitoring.regex.full_match("{PREFIX}-.*-dead-letter")',
                    "ALIGN_MAX",
                    "300s",
                )
            ],
            "documentation": {
                "content": "Messages a function could not handle in 10 attempts. Pull them: "
                "`gcloud pubsub subscriptions pull SUBSCRIPTION`; the sweep still brings their "
                "datasets to an end.",
                "mimeType": "text/markdown",
            },
        },
    ]


def dashboard() -> dict[str, Any]:
    """The monitoring v1 Dashboard: one chart a metric, two a row."""
    tiles = []
    for index, metric in enumerate(METRICS):
        label = next(iter(metric.labels), None)
        aggregation: dict[str, Any] = {
            "alignmentPeriod": "3600s",
            "perSeriesAligner": "ALIGN_DELTA" if metric.value else "ALIGN_SUM",
            "crossSeriesReducer": "REDUCE_SUM",
        }
        if label and not metric.value:
            aggregation["groupByFields"] = [f"metric.label.{label}"]
        tiles.append(
            {
                "xPos": (index % 2) * 6,
                "yPos": (index // 2) * 4,
                "width": 6,
                "height": 4,
                "widget": {
                    "title": metric.description,
                    "xyChart": {
                        "dataSets": [
                            {
                                "timeSeriesQuery": {
                                    "timeSeriesFilter": {
                                        "filter": _metric_filter(metric.name),
                                        "aggregation": aggregation,
                                    }
                                },
                                "plotType": "HEATMAP" if metric.value else "STACKED_BAR",
                            }
                        ]
                    },
                },
            }
        )
    return {"displayName": PREFIX, "mosaicLayout": {"columns": 12, "tiles": tiles}}


def files() -> dict[str, dict[str, Any]]:
    """Every body, by its file name under deploy/monitoring/."""
    out = {f"metrics/{metric.name}.json": metric.body() for metric in METRICS}
    for index, policy in enumerate(alert_policies(), start=1):
        out[f"policies/{index}.json"] = policy
    out["dashboard.json"] = dashboard()
    return out


def write(folder: Path) -> None:
    for name, body in files().items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n")


if __name__ == "__main__":  # python -m codetune.monitoring deploy/monitoring
    write(Path(sys.argv[1] if len(sys.argv) > 1 else "deploy/monitoring"))
