"""Publishing to Pub/Sub (the emulator, when PUBSUB_EMULATOR_HOST is set)."""

from __future__ import annotations

from google.cloud import pubsub_v1

from codetune.exceptions import PublishError

PUBLISH_TIMEOUT_SECONDS = 60


class Publisher:
    def __init__(self, client: pubsub_v1.PublisherClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> pubsub_v1.PublisherClient:
        if self._client is None:
            self._client = pubsub_v1.PublisherClient()
        return self._client

    def publish(self, topic: str, data: bytes, attributes: dict[str, str]) -> str:
        """Publish and wait until Pub/Sub has the message; returns its id.

        Every message carries attributes: a push without them cannot be turned into a
        CloudEvent by functions-framework.
        """
        if not attributes:
            raise PublishError(f"{topic}: publish with at least one attribute")
        future = self.client.publish(topic, data, **attributes)
        message_id: str = future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
        return message_id
