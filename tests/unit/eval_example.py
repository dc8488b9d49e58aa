"""A realistic evaluated version for the evaluation page's tests and the docs' screenshot: 36
Python tasks in a team's conventions (its `acme` helpers), answered by a base model (generic
code in a Markdown fence, with prose) and by its tuned model (the team's style; but on some
examples only a function's body, as a few training examples were, which does not parse).
Every score is codetune's metric and the verdict is the verdict's function, nothing typed in.
"""

from __future__ import annotations

from codetune.evaluation.cost import estimate, parse_prices, prompt_tokens
from codetune.evaluation.metrics import score
from codetune.evaluation.plan import (
    Answer,
    Evaluation,
    EvaluationPlan,
    EvaluationState,
    ExampleResult,
    Usage,
)
from codetune.evaluation.verdict import ExampleScores, verdict
from codetune.state.records import Record, Stage, Step, TunedModel
from tests.unit.test_run_page import ended

MODEL = "gemini-3.5-flash"
TUNED = "projects/acme-ml/locations/us-central1/models/9@1"
ENTITIES = (
    "invoice",
    "order",
    "customer",
    "shipment",
    "refund",
    "product",
    "payment",
    "supplier",
    "warehouse",
    "coupon",
    "subscription",
    "ticket",
)
BODY_ONLY = {4, 9, 13, 17, 22, 26, 31}  # the tuned model answers with the body alone
TERSE = {
    20: "return sum(w.amount_cents for w in warehouses)",
    34: ("return json_response(load_subscription(db(), subscription_id).to_json())"),
}  # and here with one line that drops what the reference does


def _load(e: str, t: str) -> tuple[str, str, str]:
    prompt = (
        f"Write `load_{e}(conn, {e}_id)`: fetch one {e} by id with `acme.db.fetch_one` and "
        f"return it as a `{t}`; raise `acme.errors.NotFound` when there is none."
    )
    reference = (
        f"def load_{e}(conn: Connection, {e}_id: int) -> {t}:\n"
        f'    row = fetch_one(conn, "SELECT * FROM {e}s WHERE id = %s", ({e}_id,))\n'
        "    if row is None:\n"
        f'        raise NotFound(f"{e} {{{e}_id}}")\n'
        f"    return {t}.from_row(row)\n"
    )
    base = (
        f"Here is a function that loads a {e} from the database:\n\n```python\n"
        f"def load_{e}(conn, {e}_id):\n"
        "    cursor = conn.cursor()\n"
        f'    cursor.execute("SELECT * FROM {e}s WHERE id = ?", ({e}_id,))\n'
        "    row = cursor.fetchone()\n"
        "    if row is None:\n"
        "        return None\n"
        f"    return {t}(*row)\n```\n\nIt returns `None` when no {e} is found."
    )
    return prompt, reference, base


def _summary(e: str, t: str) -> tuple[str, str, str]:
    prompt = (
        f"Write `{e}_summary({e}s)`: log how many there are with `acme.log.info` and return "
        "their total `amount_cents` as an int."
    )
    reference = (
        f"def {e}_summary({e}s: Sequence[{t}]) -> int:\n"
        f"    total = sum(item.amount_cents for item in {e}s)\n"
        f'    log.info("{e} summary", count=len({e}s), total_cents=total)\n'
        "    return total\n"
    )
    base = (
        "```python\n"
        f"def {e}_summary({e}s):\n"
        "    total = 0\n"
        f"    for item in {e}s:\n"
        "        total += item.amount_cents\n"
        f'    print(f"{{len({e}s)}} {e}s, total {{total}}")\n'
        "    return int(total)\n```"
    )
    return prompt, reference, base


def _route(e: str, t: str) -> tuple[str, str, str]:
    prompt = (
        f"Add the route `GET /{e}s/<id>` to the blueprint `bp`: the {e} as JSON with "
        "`acme.http.json_response`, or `acme.http.not_found` when there is none."
    )
    reference = (
        f'@bp.get("/{e}s/<int:{e}_id>")\n'
        f"def get_{e}({e}_id: int) -> Response:\n"
        "    try:\n"
        f"        found = load_{e}(db(), {e}_id)\n"
        "    except NotFound:\n"
        f'        return not_found("{e}")\n'
        "    return json_response(found.to_json())\n"
    )
    base = (
        "You can add the route like this:\n\n```python\n"
        "from flask import jsonify, abort\n\n"
        f'@bp.route("/{e}s/<int:{e}_id>", methods=["GET"])\n'
        f"def get_{e}({e}_id):\n"
        f"    {e} = {t}.query.get({e}_id)\n"
        f"    if {e} is None:\n"
        "        abort(404)\n"
        f"    return jsonify({e}.to_dict())\n```"
    )
    return prompt, reference, base


TASKS = (_load, _summary, _route)


def _tuned(index: int, reference: str) -> Answer:
    lines = reference.splitlines()
    if index in TERSE:
        text = TERSE[index]
    elif index in BODY_ONLY:
        text = "\n".join(line for line in lines if line.startswith(" "))
    elif index % 5 == 1:
        text = reference.replace(" -> ", " ->  ").replace(": int", ":int")  # spacing only
    elif index % 7 == 3:
        text = "\n".join(lines[:-1]) + "\n    return row\n"  # forgets the conversion
    else:
        text = reference
    return Answer(index + 1, text, "STOP", 0, len(text) // 4 + 1)


def examples() -> list[ExampleResult]:
    found = []
    for index in range(len(ENTITIES) * len(TASKS)):
        entity = ENTITIES[index % len(ENTITIES)]
        task = TASKS[index // len(ENTITIES)]
        prompt, reference, base_text = task(entity, entity.capitalize())
        line = index + 1
        base = Answer(line, base_text, "STOP", 0, len(base_text) // 4 + 1)
        tuned = _tuned(index, reference)
        scores = ExampleScores(
            line, score(base.text, reference, "python"), score(tuned.text, reference, "python")
        )
        found.append(ExampleResult(line, prompt, reference, base, tuned, scores))
    return found


def hostile(results: list[ExampleResult], text: str) -> list[ExampleResult]:
    """The same results with `text` in the first example's tuned answer (and scored so)."""
    first = results[0]
    tuned = Answer(first.line, text, "STOP")
    scores = ExampleScores(first.line, first.scores.base, score(text, first.reference, "python"))
    return [
        ExampleResult(first.line, first.prompt, first.reference, first.base, tuned, scores),
        *results[1:],
    ]


def _usage(answers: list[Answer], prompts: list[int]) -> Usage:
    return Usage(len(answers), sum(prompts), sum(a.output_tokens for a in answers))


def evaluated(results: list[ExampleResult] | None = None, **changes: object) -> Record:
    """The version's record once its verdict is in."""
    results = examples() if results is None else results
    prompts = [prompt_tokens([r.prompt]) for r in results]
    cost = estimate(MODEL, prompts, 1024, parse_prices(f"{MODEL}=0.30/2.50"))
    plan = EvaluationPlan(
        dataset="gs://drop/incoming/train.eval.jsonl",
        pinned="gs://drop-state/_codetune/pinned/incoming/train.eval.jsonl/18.jsonl",
        format="gemini",
        examples=len(results),
        available=len(results),
        generation="18",
        language="python",
        estimated_tokens=cost.tokens,
        estimated_cost_usd=cost.cost,
    )
    found = verdict([r.scores for r in results])
    fields: dict[str, object] = {
        "plan": plan,
        "state": EvaluationState.DONE,
        "attempts": 1,
        "answered": len(results),
        "base_model": MODEL,
        "tuned_model": TUNED,
        "base_usage": _usage([r.base for r in results], prompts),
        "tuned_usage": _usage([r.tuned for r in results], prompts),
        "verdict": found,
        "worse": tuple(found.worse),
        "finished": "2026-12-01T10:06:40+00:00",
    }
    fields.update(changes)
    return ended(
        base_model=MODEL,
        tuned_model=TunedModel(TUNED, "projects/acme-ml/locations/us-central1/endpoints/9"),
        evaluation=Evaluation(**fields),  # type: ignore[arg-type]
        history=(
            Step(Stage.VALIDATED, "2026-12-01T09:00:00+00:00", "validate"),
            Step(Stage.SUBMITTED, "2026-12-01T09:00:05+00:00", "tune"),
            Step(Stage.RUNNING, "2026-12-01T09:02:00+00:00", "sweep"),
            Step(Stage.EVALUATING, "2026-12-01T09:58:00+00:00", "status"),
            Step(Stage.SUCCEEDED, "2026-12-01T10:06:41+00:00", "evaluate"),
        ),
    )
