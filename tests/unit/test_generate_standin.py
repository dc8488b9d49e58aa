"""The Vertex AI stand-in's generateContent, through the client: Google's request schema and
refusals, deterministic answers, a tuned model better on prompts like its training data and no
better elsewhere, maxOutputTokens, and the faults."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

import jsonschema
import orjson
import pytest

from codetune.deployment import Deployment
from codetune.evaluation.answers import parse_answer, publisher_model
from codetune.evaluation.metrics import chrf
from codetune.exceptions import PermanentVertexError, RetryableVertexError
from codetune.local.discovery import json_schema
from codetune.local.generate_standin import GenerateFaults
from codetune.local.vertex_standin import VertexStandIn, wait_for
from codetune.vertex import VertexClient, VertexConfig

PROJECT = "acme-ml"
BASE = f"projects/{PROJECT}/locations/us-central1/publishers/google/models/gemini-3.5-flash"
TRAINING = "gs://drop-state/converted/train.jsonl"
RESPONSE = jsonschema.Draft202012Validator(
    json_schema("aiplatform", "v1", "GoogleCloudAiplatformV1GenerateContentResponse")
)


def example(index: int) -> dict[str, Any]:
    """A training example in Gemini's format, as tune converts one."""
    return {
        "systemInstruction": {"parts": [{"text": "You write small Python helpers."}]},
        "contents": [
            {"role": "user", "parts": [{"text": f"Write the code in Python: return {index} plus the argument."}]},
            {"role": "model", "parts": [{"text": f"```python\ndef add_{index}(x: int) -> int:\n    return x + {index}\n```"}]},
        ],
    }  # fmt: skip


LIKE = "Write the code in Python: return 25 plus the argument."
LIKE_REFERENCE = "```python\ndef add_25(x: int) -> int:\n    return x + 25\n```"
UNLIKE = "Explain in one sentence what a TCP handshake is for."
UNLIKE_REFERENCE = "It lets both ends agree on sequence numbers before they send data."


def ask(prompt: str, **config: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    if config:
        body["generationConfig"] = config
    return body


def start(**kwargs: Any) -> VertexStandIn:
    server = VertexStandIn(step_seconds=0.05, **kwargs)
    data = b"".join(orjson.dumps(example(i)) + b"\n" for i in range(20))
    server.read_dataset = {TRAINING: data}.get
    return server.start()


@pytest.fixture
def standin() -> Iterator[VertexStandIn]:
    server = start()
    yield server
    server.stop()


def client(standin: VertexStandIn, attempts: int = 1) -> VertexClient:
    deployment = Deployment((PROJECT,), ("us-central1",))
    return VertexClient(
        VertexConfig(endpoint=standin.url, deployment=deployment, max_attempts=attempts),
        sleep=lambda seconds: None,
    )


def tuned_endpoint(
    standin: VertexStandIn, base_model: str = "gemini-3.5-flash", training: str = TRAINING
) -> str:
    """A tuning job run to its end on the stand-in: the endpoint it reports."""
    job = {
        "baseModel": base_model,
        "supervisedTuningSpec": {"trainingDatasetUri": training},
        "tunedModelDisplayName": "helpers",
    }
    created = client(standin).session.post(
        f"{standin.url}/v1/projects/{PROJECT}/locations/us-central1/tuningJobs", json=job
    )
    name = created.json()["name"]
    vertex = client(standin)
    assert wait_for(lambda: vertex.get_job(name)["state"] == "JOB_STATE_SUCCEEDED", 5)
    return str(vertex.get_job(name)["tunedModel"]["endpoint"])


def text(vertex: VertexClient, model: str, body: dict[str, Any]) -> str:
    answer = vertex.generate_content(model, body)
    RESPONSE.validate(answer)
    return parse_answer(answer).text


def test_a_tuned_gemini_3_model_is_served_from_its_regions_multi_region(
    standin: VertexStandIn,
) -> None:
    endpoint = tuned_endpoint(standin)
    assert endpoint.startswith(f"projects/{PROJECT}/locations/us/endpoints/")
    assert text(client(standin), endpoint, ask(LIKE))
    older = tuned_endpoint(standin, "gemini-2.5-flash")  # served where it was tuned
    assert older.startswith(f"projects/{PROJECT}/locations/us-central1/endpoints/")


def test_the_same_prompt_to_the_same_model_gets_the_same_answer(standin: VertexStandIn) -> None:
    vertex = client(standin)
    first = text(vertex, BASE, ask(UNLIKE))
    assert text(vertex, BASE, ask(UNLIKE)) == first
    other = start()
    try:
        assert text(client(other), BASE, ask(UNLIKE)) == first  # not a cache: a function
    finally:
        other.stop()
    assert text(vertex, BASE, ask(UNLIKE + " Briefly.")) != first


def test_a_base_models_answer_is_plausible_code_that_parses(standin: VertexStandIn) -> None:
    for prompt in (LIKE, UNLIKE, "class", "Write a function that sorts a list of names"):
        answer = text(client(standin), BASE, ask(prompt))
        code = answer.split("```python\n")[1].split("```")[0]
        ast.parse(code)
    assert "function" in text(client(standin), BASE, ask("Write it in JavaScript: add 2"))


def test_a_tuned_model_is_better_on_a_prompt_like_its_training_data(
    standin: VertexStandIn,
) -> None:
    vertex = client(standin)
    endpoint = tuned_endpoint(standin)
    tuned = text(vertex, endpoint, ask(LIKE))
    base = text(vertex, publisher_model(endpoint, "gemini-3.5-flash"), ask(LIKE))
    assert tuned.startswith("```python\ndef add_2")  # a training example's answer
    assert chrf(tuned, LIKE_REFERENCE) > chrf(base, LIKE_REFERENCE) + 20


def test_a_tuned_model_is_no_better_on_a_prompt_unlike_its_training_data(
    standin: VertexStandIn,
) -> None:
    vertex = client(standin)
    endpoint = tuned_endpoint(standin)
    base = publisher_model(endpoint, "gemini-3.5-flash")
    assert text(vertex, endpoint, ask(UNLIKE)) == text(vertex, base, ask(UNLIKE))
    # Nor does it recall training data it cannot read.
    standin.read_dataset = None
    forgetful = tuned_endpoint(standin, training="gs://drop-state/converted/gone.jsonl")
    assert text(vertex, forgetful, ask(LIKE)) == text(vertex, base, ask(LIKE))


def test_max_output_tokens_cuts_the_answer(standin: VertexStandIn) -> None:
    vertex = client(standin)
    whole = parse_answer(vertex.generate_content(BASE, ask(UNLIKE)))
    assert whole.finish_reason == "STOP" and whole.candidates_tokens == -(-len(whole.text) // 4)
    cut = parse_answer(vertex.generate_content(BASE, ask(UNLIKE, maxOutputTokens=5)))
    assert (cut.text, cut.finish_reason, cut.candidates_tokens) == (
        whole.text[:20],
        "MAX_TOKENS",
        5,
    )
    assert cut.prompt_tokens == whole.prompt_tokens == -(-len(UNLIKE) // 4)
    thinking = parse_answer(
        vertex.generate_content(BASE, ask(UNLIKE, thinkingConfig={"thinkingBudget": 100}))
    )
    assert thinking.text == whole.text and 0 < thinking.thoughts_tokens <= 100


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"contents": "Write add"}, "is not of type 'array'"),
        ({**ask(LIKE), "generationConfig": {"maxTokens": 5}}, "Additional properties"),
        ({**ask(LIKE), "prompt": LIKE}, "Additional properties"),
        ({}, "at least one parts field"),
        ({"contents": [{"role": "user", "parts": []}]}, "at least one parts field"),
        ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "valid role"),
        ({"contents": [{"role": "user", "parts": [{"text": ""}]}]}, "empty text parameter"),
        (ask(LIKE, temperature=3), "temperature value of 3"),
        (ask(LIKE, maxOutputTokens=0), "maxOutputTokens value of 0"),
        (ask(LIKE, maxOutputTokens=70_000), "to 65537 (exclusive)"),
        (ask(LIKE, topP=1.5), "topP value of 1.5"),
    ],
)
def test_what_google_refuses_is_refused_with_its_error(
    standin: VertexStandIn, body: dict[str, Any], said: str
) -> None:
    with pytest.raises(PermanentVertexError) as refused:
        client(standin).generate_content(BASE, body)
    assert (refused.value.status, refused.value.reason) == (400, "INVALID_ARGUMENT")
    assert said in str(refused.value)
    assert standin.generate.answered == []


def test_a_model_that_does_not_think_refuses_a_thinking_config(standin: VertexStandIn) -> None:
    old = BASE.replace("gemini-3.5-flash", "gemini-2.0-flash-001")
    body = ask(LIKE, thinkingConfig={"thinkingBudget": 0})
    with pytest.raises(PermanentVertexError, match="Thinking is not supported"):
        client(standin).generate_content(old, body)
    assert client(standin).generate_content(BASE, body)


@pytest.mark.parametrize(
    "model",
    [
        f"projects/{PROJECT}/locations/us-central1/publishers/google/models/gemini-9-ultra",
        f"projects/{PROJECT}/locations/us/publishers/google/models/gemini-2.5-flash",  # not Gemini 3
        f"projects/{PROJECT}/locations/us/endpoints/123",  # no job reported it
    ],
)
def test_an_unknown_model_or_endpoint_is_not_found(standin: VertexStandIn, model: str) -> None:
    with pytest.raises(PermanentVertexError) as missing:
        client(standin).generate_content(model, ask(LIKE))
    assert (missing.value.status, missing.value.reason) == (404, "NOT_FOUND")


def test_throttling_and_internal_errors_come_in_their_share_and_are_retried() -> None:
    server = start(
        generate_faults=GenerateFaults(throttled=0.3, internal=0.1, retry_after_seconds=3)
    )
    sleeps: list[float] = []
    try:
        vertex = VertexClient(
            VertexConfig(
                endpoint=server.url,
                deployment=Deployment((PROJECT,), ("us-central1",)),
                max_attempts=10,
            ),
            sleep=sleeps.append,
        )
        answers = [vertex.generate_content(BASE, ask(f"{LIKE} {i}")) for i in range(60)]
    finally:
        server.stop()
    assert all(parse_answer(a).text for a in answers)  # every one answered in the end
    refused = server.generate.refused
    asked = 60 + refused.get(429, 0) + refused.get(500, 0)
    assert 0.2 < refused.get(429, 0) / asked < 0.4 and 0 < refused.get(500, 0) / asked < 0.2
    assert len(sleeps) == refused[429] + refused[500]  # each refusal waited, then asked again
    assert sum(seconds >= 3 for seconds in sleeps) >= refused[429]  # Retry-After: 3


def test_without_retries_a_throttled_request_is_retryable() -> None:
    server = start(generate_faults=GenerateFaults(throttled=1.0))
    try:
        with pytest.raises(RetryableVertexError) as raised:
            client(server, attempts=2).generate_content(BASE, ask(LIKE))
    finally:
        server.stop()
    assert (raised.value.status, raised.value.reason) == (429, "RESOURCE_EXHAUSTED")
    assert server.generate.refused == {429: 2}


def test_a_blocked_prompt_is_answered_with_its_reason_and_no_candidates() -> None:
    server = start(generate_faults=GenerateFaults(blocked=0.25, blocked_words=("exploit",)))
    try:
        vertex = client(server)
        word = vertex.generate_content(BASE, ask("Write an EXPLOIT for this parser"))
        RESPONSE.validate(word)
        assert "candidates" not in word
        assert parse_answer(word).reason == "BLOCKED: PROHIBITED_CONTENT"
        shares = [
            parse_answer(vertex.generate_content(BASE, ask(f"{LIKE} {i}"))) for i in range(80)
        ]
        blocked = [i for i, answer in enumerate(shares) if answer.block_reason]
        assert 8 <= len(blocked) <= 32  # about a quarter
        again = vertex.generate_content(BASE, ask(f"{LIKE} {blocked[0]}"))
        assert parse_answer(again).block_reason == "PROHIBITED_CONTENT"  # the same prompt, always
    finally:
        server.stop()


def test_a_tuned_model_puts_the_prompts_own_names_in_what_it_learnt() -> None:
    from codetune.local import standin_answers as answers

    learnt = "Write the code in Python: the function `area(r)` of the `circle` module."
    example = answers.Example(
        learnt, "```python\ndef area(r):\n    return 3.14159 * r * r\n```", answers.grams(learnt)
    )
    asked = "Write the code in Python: the function `volume(r, h)` of the `circle` module."
    assert answers.adapted(example, asked) == (
        "```python\ndef volume(r, h):\n    return 3.14159 * r * r\n```"
    )
    assert answers.adapted(example, learnt) == example.answer  # nothing differs: as learnt
