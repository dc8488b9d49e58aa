"""The REST publisher: its request is Pub/Sub's PublishRequest (discovery document), transient
failures are retried, refusals are not, and a message always carries attributes."""

from __future__ import annotations

import base64
from typing import Any

import jsonschema
import pytest
import requests

from codetune.exceptions import PublishError
from codetune.local.discovery import json_schema
from codetune.pubsub import Publisher, publish_request

pytestmark = pytest.mark.unit
TOPIC = "projects/acme-ml/topics/codetune-dataset-validated"


def answer(status: int, body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = status, body
    return response


class Session:
    def __init__(self, *answers: requests.Response | Exception) -> None:
        self.answers = list(answers)
        self.posts: list[tuple[str, Any]] = []

    def post(self, url: str, json: Any, timeout: float) -> requests.Response:
        self.posts.append((url, json))
        reply = self.answers.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def publisher(session: Session) -> Publisher:
    return Publisher(session, "https://pubsub.googleapis.com", sleep=lambda s: None)  # type: ignore[arg-type]


def test_the_request_is_googles_publish_request() -> None:
    body = publish_request(b'{"dataset": 1}', {"eventType": "DATASET_VALIDATED"})
    jsonschema.Draft202012Validator(
        json_schema("pubsub", "v1", "PublishRequest", request=True)
    ).validate(body)
    assert base64.b64decode(body["messages"][0]["data"]) == b'{"dataset": 1}'


def test_publish_posts_to_the_topic_and_returns_the_message_id() -> None:
    session = Session(answer(200, b'{"messageIds": ["4711"]}'))
    assert publisher(session).publish(TOPIC, b"x", {"a": "b"}) == "4711"
    [(url, _)] = session.posts
    assert url == f"https://pubsub.googleapis.com/v1/{TOPIC}:publish"


def test_transient_failures_are_retried() -> None:
    session = Session(
        answer(503, b'{"error": {"status": "UNAVAILABLE"}}'),
        requests.ConnectionError("reset"),
        answer(200, b'{"messageIds": ["1"]}'),
    )
    assert publisher(session).publish(TOPIC, b"x", {"a": "b"}) == "1"
    assert len(session.posts) == 3


def test_a_refusal_is_not_retried_and_names_the_topic() -> None:
    session = Session(answer(403, b'{"error": {"status": "PERMISSION_DENIED"}}'))
    with pytest.raises(PublishError, match=r"codetune-dataset-validated.*403"):
        publisher(session).publish(TOPIC, b"x", {"a": "b"})
    assert len(session.posts) == 1


def test_a_message_without_attributes_is_refused_before_sending() -> None:
    session = Session()
    with pytest.raises(PublishError, match="attribute"):
        publisher(session).publish(TOPIC, b"x", {})
    assert session.posts == []
