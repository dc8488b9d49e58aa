"""Publishing to Pub/Sub over its REST API (`topics.publish`), with google-auth credentials; to
the emulator when PUBSUB_EMULATOR_HOST is set (it serves the same REST API).

Why not the gRPC client: validate and the sweep publish one small message per dataset, and
importing `google.cloud.pubsub_v1` costs each cold start about 110 ms on top of the libraries
the functions already load (requests and google-auth come with google-cloud-storage); the
request below is one HTTPS call. Figures: benchmarks/README.md ("Cold start").
"""

from __future__ import annotations

import base64
import os
import random
import time
from collections.abc import Callable
from typing import Any

import requests

from codetune.exceptions import PublishError

PUBSUB_SCOPE = "https://www.googleapis.com/auth/pubsub"
PUBLISH_TIMEOUT_SECONDS = 30
# Publishing twice is harmless (every consumer is idempotent), so transient failures are
# retried, as Google's client does, within about a minute.
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
MAX_ATTEMPTS = 5


def publish_request(data: bytes, attributes: dict[str, str]) -> dict[str, Any]:
    """The body of `projects.topics.publish` (a PublishRequest of one PubsubMessage)."""
    return {"messages": [{"data": base64.b64encode(data).decode(), "attributes": attributes}]}


class Publisher:
    def __init__(
        self,
        session: requests.Session | None = None,
        endpoint: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        emulator = os.environ.get("PUBSUB_EMULATOR_HOST")
        self.endpoint = endpoint or (
            f"http://{emulator}" if emulator else "https://pubsub.googleapis.com"
        )
        self._session = session
        self._emulator = bool(emulator) and endpoint is None
        self._sleep = sleep

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            if self._emulator:
                self._session = requests.Session()
            else:
                import google.auth
                from google.auth.transport.requests import AuthorizedSession

                credentials, _ = google.auth.default(scopes=[PUBSUB_SCOPE])
                self._session = AuthorizedSession(credentials)
        return self._session

    def publish(self, topic: str, data: bytes, attributes: dict[str, str]) -> str:
        """Publish and wait until Pub/Sub has the message; returns its id.

        Every message carries attributes: a push without them cannot be turned into a
        CloudEvent by functions-framework.
        """
        if not attributes:
            raise PublishError(f"{topic}: publish with at least one attribute")
        url = f"{self.endpoint}/v1/{topic}:publish"
        body = publish_request(data, attributes)
        failure = ""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                answer = self.session.post(url, json=body, timeout=PUBLISH_TIMEOUT_SECONDS)
            except (requests.Timeout, requests.ConnectionError) as fault:
                failure = f"{type(fault).__name__}: {fault}"
            else:
                if answer.status_code < 300:
                    ids = answer.json().get("messageIds") or []
                    if len(ids) != 1:
                        raise PublishError(f"{topic}: Pub/Sub answered {answer.text[:200]}")
                    return str(ids[0])
                failure = f"{answer.status_code} {answer.text[:300]}"
                if answer.status_code not in RETRYABLE_STATUS:
                    raise PublishError(f"{topic}: publish refused: {failure}")
            if attempt < MAX_ATTEMPTS:
                self._sleep(min(16.0, 2.0 ** (attempt - 1)) * (0.5 + random.random() / 2))
        raise PublishError(f"{topic}: publish failed after {MAX_ATTEMPTS} attempts: {failure}")
