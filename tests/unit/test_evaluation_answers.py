"""Reading an answer out of a GenerateContentResponse: the text, why it stopped, what was
counted; an empty answer with its reason when there is nothing to read; never a made-up one."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from codetune.evaluation.answers import (
    GeneratedAnswer,
    UnreadableAnswer,
    parse_answer,
    publisher_model,
)
from codetune.evaluation.plan import Answer
from codetune.local.discovery import json_schema

RESPONSE = jsonschema.Draft202012Validator(
    json_schema("aiplatform", "v1", "GoogleCloudAiplatformV1GenerateContentResponse")
)


def response(**fields: Any) -> dict[str, Any]:
    """A response as Vertex AI sends it, held to the official schema."""
    document = {"modelVersion": "gemini-3.5-flash", "responseId": "r1", **fields}
    RESPONSE.validate(document)
    return document


def test_the_text_parts_are_joined_and_thoughts_left_out() -> None:
    answer = parse_answer(
        response(
            candidates=[
                {
                    "content": {
                        "role": "model",
                        "parts": [
                            {"text": "First I consider the edge cases.", "thought": True},
                            {"text": "```python\ndef add(x, y):\n"},
                            {"text": "    return x + y\n```"},
                        ],
                    },
                    "finishReason": "STOP",
                },
                {"content": {"role": "model", "parts": [{"text": "a second candidate"}]}},
            ],
            usageMetadata={
                "promptTokenCount": 12,
                "candidatesTokenCount": 14,
                "thoughtsTokenCount": 30,
                "totalTokenCount": 56,
            },
        )
    )
    assert answer == GeneratedAnswer(
        text="```python\ndef add(x, y):\n    return x + y\n```",
        finish_reason="STOP",
        prompt_tokens=12,
        candidates_tokens=14,
        thoughts_tokens=30,
        model_version="gemini-3.5-flash",
    )
    assert answer.answer(7) == Answer(
        line=7, text=answer.text, finish_reason="STOP", prompt_tokens=12, output_tokens=44
    )


def test_an_answer_cut_at_its_token_limit_says_so() -> None:
    answer = parse_answer(
        response(
            candidates=[
                {"content": {"parts": [{"text": "def add(x,"}]}, "finishReason": "MAX_TOKENS"}
            ],
            usageMetadata={"promptTokenCount": 3, "candidatesTokenCount": 4},
        )
    )
    assert (answer.text, answer.reason, answer.candidates_tokens) == ("def add(x,", "MAX_TOKENS", 4)


def test_a_blocked_prompt_is_an_empty_answer_with_the_block_reason() -> None:
    answer = parse_answer(
        response(
            promptFeedback={"blockReason": "PROHIBITED_CONTENT", "blockReasonMessage": "no"},
            usageMetadata={"promptTokenCount": 9, "totalTokenCount": 9},
        )
    )
    assert (answer.text, answer.block_reason, answer.reason) == (
        "",
        "PROHIBITED_CONTENT",
        "BLOCKED: PROHIBITED_CONTENT",
    )
    assert answer.answer(1).finish_reason == "BLOCKED: PROHIBITED_CONTENT"
    assert answer.prompt_tokens == 9 and answer.candidates_tokens == 0


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, None),  # no candidates, no feedback, no usage
        ({"candidates": []}, None),
        ({"candidates": [{"finishReason": "SAFETY"}]}, "SAFETY"),  # stopped, no content
        ({"candidates": [{"content": {"role": "model"}, "finishReason": "STOP"}]}, "STOP"),
        ({"candidates": [{"content": {"parts": [{"thought": True, "text": "hm"}]}}]}, None),
        ({"candidates": [{"content": {"parts": [{"inlineData": {"mimeType": "x"}}]}}]}, None),
    ],
    ids=["empty", "no-candidates", "safety", "no-parts", "only-thoughts", "no-text"],
)
def test_nothing_to_read_is_an_empty_answer_not_a_crash(
    fields: dict[str, Any], reason: str | None
) -> None:
    answer = parse_answer(response(**fields))
    assert answer.text == "" and answer.reason == reason and answer.prompt_tokens == 0


@pytest.mark.parametrize(
    "document",
    [
        None,
        "text",
        [],
        {"candidates": "def add(): ..."},
        {"candidates": [{"content": {"parts": [{"text": 3}]}}]},
        {"usageMetadata": {"promptTokenCount": "many"}},
    ],
)
def test_what_is_not_a_response_is_refused_not_scored(document: Any) -> None:
    with pytest.raises(UnreadableAnswer, match="not a GenerateContentResponse"):
        parse_answer(document)


def test_the_base_model_is_named_where_the_tuned_endpoint_is_served() -> None:
    assert (
        publisher_model("projects/123/locations/us/endpoints/9", "gemini-3.5-flash")
        == "projects/123/locations/us/publishers/google/models/gemini-3.5-flash"
    )
