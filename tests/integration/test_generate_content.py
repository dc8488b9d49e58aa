"""A dataset dropped on the local stack ends with a tuned Gemini model; its endpoint answers
through the client, held to the stack's deployment, better than its base model on a prompt like
its training data (which the stand-in reads from the storage emulator, where tune converted
it) and no better on an unlike one, with throttling retried on the way."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from codetune.config import Settings
from codetune.evaluation.answers import parse_answer, publisher_model
from codetune.evaluation.metrics import chrf
from codetune.local.generate_standin import GenerateFaults
from codetune.local.stack import LocalStack, StackConfig
from codetune.vertex import VertexClient
from tests.integration.test_e2e import finished, running
from tests.support import dataset, generation_dataset


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    faults = GenerateFaults(throttled=0.3, retry_after_seconds=1, seed=7)
    config = StackConfig(
        step_seconds=0.5, log_dir=tmp_path_factory.mktemp("stack-logs"), generate_faults=faults
    )
    yield from running(config)


def test_a_tuned_models_endpoint_answers_better_where_it_learnt(stack: LocalStack) -> None:
    generation = stack.upload(dataset(generation_dataset(20)), "incoming/helpers.jsonl")
    record = finished(stack, "helpers.jsonl", generation)
    assert record["state"] == "SUCCEEDED", record
    endpoint = record["tuned_model"]["endpoint"]
    assert endpoint.startswith("projects/local-project/locations/us/endpoints/")
    # The functions' own settings, as the stack gives them: the deployment decides the host.
    settings = Settings.from_environment(
        {"CODETUNE_PROJECT": "local-project", "CODETUNE_REGION": "us-central1",
         "CODETUNE_VERTEX_ENDPOINT": stack.vertex.url if stack.vertex else ""}
    )  # fmt: skip
    vertex = VertexClient(settings.vertex, sleep=lambda seconds: None)
    base = publisher_model(endpoint, "gemini-3.5-flash")

    def answer(model: str, prompt: str) -> str:
        request = {
            "contents": [{"role": "user", "parts": [{"text": prompt}]}],
            "generationConfig": {"temperature": 0, "maxOutputTokens": 256},
        }
        return parse_answer(vertex.generate_content(model, request, max_attempts=10)).text

    like = "Write the code in Python: return 42 plus the argument."
    reference = "```python\ndef add_42(x: int) -> int:\n    return x + 42\n```"
    assert chrf(answer(endpoint, like), reference) > chrf(answer(base, like), reference) + 20
    unlike = "Explain in one sentence what a TCP handshake is for."
    assert answer(endpoint, unlike) == answer(base, unlike)
    assert stack.vertex is not None and stack.vertex.generate.refused.get(429, 0) > 0
