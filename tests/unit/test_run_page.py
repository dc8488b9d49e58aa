"""The run page: self-contained (no script, no fetch), every value escaped, links only to the
Google Cloud console, and what a person looks for: the stage, the loss curves, the tokens
estimated against billed, the dropped examples by line, the cost, the tuned model."""

from __future__ import annotations

from html.parser import HTMLParser

from codetune.run_html import render
from codetune.state.records import (
    Cancel,
    Curves,
    DataStats,
    Dropped,
    JobRef,
    Point,
    Record,
    Series,
    Stage,
    Step,
    Tokens,
    TunedModel,
)
from codetune.tuning.curves import downsample

HOSTILE = "<script>alert(1)</script>"


def loss(name: str, start: float, steps: int, every: int = 1) -> Series:
    points = [Point(s, start / (1 + s / 50)) for s in range(every, steps + 1, every)]
    return Series(name, downsample(points), len(points))


def ended(**changes: object) -> Record:
    fields: dict[str, object] = {
        "state": Stage.SUCCEEDED,
        "dataset": "gs://drop/incoming/train.jsonl",
        "generation": "17",
        "examples": 1200,
        "backend": "gemini",
        "base_model": "gemini-2.5-flash",
        "tokens": Tokens(400_000, "estimate: characters / 4", False),
        "derived": {
            "cost": {
                "epochs": 3,
                "training_tokens": 1_200_000,
                "price_per_million_training_tokens": 5.0,
                "price_basis": "list price, 2026-09-27",
                "estimated_cost_usd": 6.0,
            }
        },
        "job": JobRef(
            "projects/acme-ml/locations/us-central1/tuningJobs/7", "7", "JOB_STATE_SUCCEEDED"
        ),
        "tuned_model": TunedModel(
            "projects/acme-ml/locations/us-central1/models/9@1",
            "projects/acme-ml/locations/us-central1/endpoints/9",
        ),
        "data_stats": DataStats(
            billable_tokens=420_000,
            tuning_steps=450,
            dropped_examples=3,
            dropped=(Dropped(12, "too many tokens"), Dropped(300, None)),
            estimated_tokens=400_000,
            billed_to_estimate=1.05,
        ),
        "curves": Curves(
            "2026-12-01T10:00:00+00:00",
            "projects/acme-ml/locations/us-central1/metadataStores/default/contexts/e-7",
            console="https://console.cloud.google.com/vertex-ai/experiments/x",
            series=(
                loss("/train_total_loss", 2.4, 1000),
                loss("/eval_total_loss", 2.6, 1000, every=25),
                Series(
                    "/train_fraction_of_correct_next_step_preds", (Point(1, 0.2), Point(9, 0.7))
                ),
            ),
        ),
        "history": (
            Step(Stage.VALIDATED, "2026-12-01T09:00:00+00:00", "validate"),
            Step(Stage.SUBMITTED, "2026-12-01T09:00:05+00:00", "tune"),
            Step(Stage.RUNNING, "2026-12-01T09:02:00+00:00", "sweep"),
            Step(Stage.SUCCEEDED, "2026-12-01T09:58:00+00:00", "sweep"),
        ),
    }
    fields.update(changes)
    return Record(**fields)  # type: ignore[arg-type]


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(page)
    return parser.tags


def test_the_page_shows_the_run() -> None:
    page = render(ended())
    assert "id='stage'>SUCCEEDED" in page
    curves = [a for t, a in tags(page) if t == "polyline"]
    assert [a["data-series"] for a in curves] == [
        "/train_total_loss",
        "/eval_total_loss",
        "/train_fraction_of_correct_next_step_preds",
    ]
    assert len((curves[0]["points"] or "").split()) == 300  # cut evenly, as recorded
    assert "1,000 read" in page  # the cut is said
    assert "<td>12</td><td>too many tokens</td>" in page and "<td>300</td>" in page
    assert "and 1 more" in page  # 3 dropped, 2 listed
    assert "$6.00" in page and "1,260,000" in page and "$6.30" in page  # estimated, billed
    assert "1.05x codetune" in page
    assert "models/9@1" in page and "endpoints/9" in page
    assert "56 min" in page or "58 min" in page  # from upload to the end


def test_the_page_is_self_contained_and_links_only_to_the_console() -> None:
    page = render(ended())
    found = tags(page)
    assert not [t for t, _ in found if t in ("script", "link", "img", "iframe", "object")]
    assert not [a for _, a in found if "src" in a or any(k.startswith("on") for k in a)]
    links = [a["href"] for t, a in found if t == "a"]
    assert links and all((h or "").startswith("https://console.cloud.google.com/") for h in links)


def test_every_value_is_escaped_and_a_foreign_link_is_text() -> None:
    curves = Curves(
        HOSTILE,
        HOSTILE,
        console="javascript:alert(1)",
        series=(Series(HOSTILE, (Point(1, 1.0), Point(2, 0.5))),),
        note=HOSTILE,
        missing=(HOSTILE,),
    )
    record = ended(
        dataset=f"gs://drop/incoming/{HOSTILE}.jsonl",
        base_model=HOSTILE,
        job=JobRef(HOSTILE, "7", HOSTILE),
        tuned_model=TunedModel(HOSTILE, HOSTILE),
        data_stats=DataStats(dropped_examples=1, dropped=(Dropped(1, HOSTILE),)),
        curves=curves,
        cancel=Cancel(HOSTILE, HOSTILE),
        derived={"cost": {"price_basis": HOSTILE, "epochs": "3"}},
    )
    page = render(record)
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "href='javascript" not in page and not [t for t, _ in tags(page) if t == "a"]


def test_a_run_without_metrics_or_a_job_says_so() -> None:
    page = render(Record(state=Stage.RUNNING, dataset="gs://d/x.jsonl"))
    assert "No metrics were read for this run." in page and "id='stage'>RUNNING" in page
    noted = render(ended(curves=Curves("t", note="the job names no experiment")))
    assert "the job names no experiment" in noted and "<polyline" not in noted
