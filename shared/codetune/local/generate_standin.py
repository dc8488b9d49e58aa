"""The Vertex AI stand-in's generateContent (aiplatform v1), for the Gemini base models and for
the endpoints of the tuned models its jobs made.

- `POST /v1/projects/P/locations/L/publishers/google/models/M:generateContent`: any model of
  codetune.gemini.models; a model before Gemini 3 is not served at a multi-region (`us`, `eu`),
  as on Vertex AI (codetune.serving); anything else answers 404 NOT_FOUND.
- `POST /v1/projects/P/locations/L/endpoints/E:generateContent`: the endpoint a succeeded
  tuning job reported; an unknown one answers 404 NOT_FOUND.

Each body is held to the discovery document's GenerateContentRequest (unknown fields, wrong
types, output-only fields: 400 INVALID_ARGUMENT) and to the checks Vertex AI adds, with its
words: contents and every turn's parts present, roles `user` or `model`, no empty text,
temperature in [0, 2], topP in [0, 1], maxOutputTokens in [1, 65536], candidateCount in
[1, 8], no thinkingConfig for a model that does not think (Gemini 2.0).

Answers are deterministic (standin_answers.py). Tokens are characters / 4 (the stand-in's own
count, as for tuning data stats); an answer longer than maxOutputTokens is cut there and ends
MAX_TOKENS; a positive thinkingBudget is reported as thoughts. Faults (`GenerateFaults`):
a share of requests answered 429 RESOURCE_EXHAUSTED with Retry-After, a share answered 500
INTERNAL (both drawn from a seeded generator), and blocked prompts (a share of prompts, by a
hash of the prompt, and prompts holding a given word): 200 with `promptFeedback.blockReason`
and no candidates, as Google answers a blocked prompt.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jsonschema
import msgspec
import orjson

from codetune.gemini.models import GEMINI_MODELS
from codetune.local import standin_answers as answers
from codetune.local.discovery import json_schema
from codetune.serving import MULTI_REGIONS, served_from_multi_regions

ROUTE = re.compile(
    r"^/v1/(?P<name>projects/[^/]+/locations/(?P<location>[^/]+)/"
    r"(?:publishers/(?P<publisher>[^/]+)/models/(?P<model>[^/:]+)|endpoints/[^/:]+))"
    r":generateContent$"
)
MAX_OUTPUT_TOKENS = 65_536  # Gemini 2.5 and 3.x models' output limit
MAX_CANDIDATES = 8
_NO_PARTS = (
    "Unable to submit request because it must include at least one parts field, which "
    "describes the prompt input. Learn more: "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini"
)
_THROTTLED = (
    "Resource exhausted. Please try again later. Please refer to "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
)
Reply = tuple[int, Any, dict[str, str]]


class GenerateFaults(msgspec.Struct, frozen=True):
    """What goes wrong with generateContent, and how often."""

    throttled: float = 0.0  # share of requests answered 429 RESOURCE_EXHAUSTED
    retry_after_seconds: int = 1  # the Retry-After a 429 carries
    internal: float = 0.0  # share of requests answered 500 INTERNAL
    blocked: float = 0.0  # share of prompts blocked: the same prompt is always blocked
    blocked_words: tuple[str, ...] = ()  # a prompt holding one of these is blocked
    seed: int = 0  # the draws of 429 and 500 are reproducible for one order of requests


class TunedEndpoint(msgspec.Struct, frozen=True):
    base_model: str
    training: str | None  # the job's trainingDatasetUri


class GenerateContent:
    def __init__(
        self,
        read_dataset: Callable[[str], bytes | None],
        faults: GenerateFaults | None = None,
        threshold: float = answers.DEFAULT_THRESHOLD,
    ) -> None:
        self.read_dataset = read_dataset
        self.faults = faults or GenerateFaults()
        self.threshold = threshold
        self.endpoints: dict[str, TunedEndpoint] = {}
        self.answered: list[tuple[str, str]] = []  # (model or endpoint, prompt), in order
        self.refused: dict[int, int] = {}  # status -> requests answered with it
        self._examples: dict[str, tuple[answers.Example, ...]] = {}  # training URI -> examples
        self._lock = threading.Lock()
        self._draws = random.Random(self.faults.seed)
        self._ids = itertools.count(1)
        self._schema = jsonschema.Draft202012Validator(
            json_schema(
                "aiplatform", "v1", "GoogleCloudAiplatformV1GenerateContentRequest", request=True
            )
        )

    def tuned(self, endpoint: str, base_model: str, training: str | None) -> None:
        """A tuning job succeeded: its endpoint serves from now on."""
        with self._lock:
            self.endpoints[endpoint] = TunedEndpoint(base_model, training)

    def route(self, path: str, raw: bytes) -> Reply | None:
        """The answer to a POST of `path`, if it is a generateContent."""
        found = ROUTE.match(path)
        if found is None:
            return None
        reply = self._answer(found, raw)
        with self._lock:
            if reply[0] != 200:
                self.refused[reply[0]] = self.refused.get(reply[0], 0) + 1
        return reply

    def _answer(self, found: re.Match[str], raw: bytes) -> Reply:
        name = found["name"]
        if found["model"] is not None:
            model, tuned = found["model"], None
            multi = found["location"] in MULTI_REGIONS and not served_from_multi_regions(model)
            if found["publisher"] != "google" or model not in GEMINI_MODELS or multi:
                return _error(404, f"Publisher Model `{name}` was not found or your project "
                              "does not have access to it.")  # fmt: skip
        else:
            with self._lock:
                tuned = self.endpoints.get(name)
            if tuned is None:
                return _error(404, f"Endpoint `{name}` not found.")
            model = tuned.base_model
        body, problem = self._checked(raw, model)
        if problem is not None:
            return _error(400, problem)
        with self._lock:
            throttled = self._draws.random() < self.faults.throttled
            internal = not throttled and self._draws.random() < self.faults.internal
        if throttled:
            return _error(429, _THROTTLED, {"Retry-After": str(self.faults.retry_after_seconds)})
        if internal:
            return _error(500, "Internal error encountered.")
        prompt = answers.last_user_turn(body["contents"])
        with self._lock:
            self.answered.append((name, prompt))
        return 200, self._response(body, model, tuned, prompt), {}

    def _checked(self, raw: bytes, model: str) -> tuple[Any, str | None]:
        """The body, and what Vertex AI would refuse in it."""
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as fault:
            return None, f"Invalid JSON payload received. {fault.msg}"
        errors = [
            f"{'.'.join(map(str, e.absolute_path)) or 'body'}: {e.message}"
            for e in self._schema.iter_errors(body)
        ]
        if errors:
            return None, "Invalid GenerateContentRequest: " + "; ".join(errors[:10])
        turns = [body.get("systemInstruction") or {"parts": [{}]}, *(body.get("contents") or [])]
        if not body.get("contents") or any(not turn.get("parts") for turn in turns):
            return None, _NO_PARTS
        if any(turn.get("role", "user") not in ("user", "model") for turn in turns[1:]):
            return None, "Please use a valid role: user, model."
        if any(part.get("text") == "" for turn in turns for part in turn["parts"]):
            return None, (
                "Unable to submit request because it has an empty text parameter. Add a value "
                "to the parameter and try again."
            )
        config = body.get("generationConfig") or {}
        for field, low, high in (
            ("temperature", 0, 2.0001),
            ("topP", 0, 1.0001),
            ("maxOutputTokens", 1, MAX_OUTPUT_TOKENS + 1),
            ("candidateCount", 1, MAX_CANDIDATES + 1),
        ):
            value = config.get(field)
            if value is not None and not low <= value < high:
                return None, (
                    f"Unable to submit request because it has a {field} value of {value} but "
                    f"the supported range is from {low} (inclusive) to {high} (exclusive). "
                    "Update the value and try again."
                )
        if "thinkingConfig" in config and model.startswith("gemini-2.0"):
            return None, f"Thinking is not supported by the model {model}."
        return body, None

    def _response(
        self, body: dict[str, Any], model: str, tuned: TunedEndpoint | None, prompt: str
    ) -> dict[str, Any]:
        texts = [answers.turn_text(body.get("systemInstruction") or {})]
        texts += [answers.turn_text(turn) for turn in body["contents"]]
        prompt_tokens = _tokens("".join(texts))
        head = {
            "modelVersion": model,
            "createTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "responseId": f"standin-{next(self._ids)}",
        }
        if self._blocked(prompt):
            return {
                **head,
                "promptFeedback": {
                    "blockReason": "PROHIBITED_CONTENT",
                    "blockReasonMessage": "The prompt was blocked (a stand-in fault).",
                },
                "usageMetadata": {
                    "promptTokenCount": prompt_tokens,
                    "totalTokenCount": prompt_tokens,
                },
            }
        config = body.get("generationConfig") or {}
        text, finish = self._text(model, tuned, prompt), "STOP"
        limit = config.get("maxOutputTokens")
        if limit is not None and _tokens(text) > limit:
            text, finish = text[: limit * 4], "MAX_TOKENS"
        budget = (config.get("thinkingConfig") or {}).get("thinkingBudget") or 0
        thoughts = min(budget, 32 + prompt_tokens // 4) if budget > 0 else 0
        candidate = {
            "content": {"role": "model", "parts": [{"text": text}]},
            "finishReason": finish,
        }
        count = config.get("candidateCount") or 1
        usage = {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": _tokens(text) * count,
            "totalTokenCount": prompt_tokens + _tokens(text) * count + thoughts,
            "trafficType": "ON_DEMAND",
        }
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        candidates = [{**candidate, **({"index": i} if i else {})} for i in range(count)]
        return {**head, "candidates": candidates, "usageMetadata": usage}

    def _text(self, model: str, tuned: TunedEndpoint | None, prompt: str) -> str:
        """The tuned model's nearest training answer, adapted to the prompt, else the base
        model's own."""
        if tuned is not None and tuned.training is not None:
            example = answers.nearest(self._training(tuned.training), prompt, self.threshold)
            if example is not None:
                return answers.adapted(example, prompt)
        return answers.generic_answer(model, prompt)

    def _training(self, uri: str) -> tuple[answers.Example, ...]:
        """A job's training examples, read once."""
        with self._lock:
            known = self._examples.get(uri)
        if known is None:
            data = self.read_dataset(uri)
            known = answers.training_examples(data) if data is not None else ()
            with self._lock:
                self._examples[uri] = known
        return known

    def _blocked(self, prompt: str) -> bool:
        lowered = prompt.lower()
        if any(word.lower() in lowered for word in self.faults.blocked_words):
            return True
        digest = hashlib.sha256(b"blocked\n" + prompt.encode()).digest()
        return int.from_bytes(digest[:8]) / 2**64 < self.faults.blocked


def _tokens(text: str) -> int:
    return -(-len(text) // 4)


_STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    """Google's error body (google.rpc.Status as JSON)."""
    return (
        status,
        {"error": {"code": status, "message": message, "status": _STATUS[status]}},
        (headers or {}),
    )
