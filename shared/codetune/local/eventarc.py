"""A local stand-in for Eventarc's Cloud Storage trigger.

In the cloud, Eventarc turns a bucket's `OBJECT_FINALIZE` notification into a CloudEvent of
type `google.cloud.storage.object.v1.finalized` and POSTs it to the function. Locally,
fake-gcs-server publishes the bucket's notifications to a Pub/Sub emulator topic whose push
subscription ends here; this server turns each into the same CloudEvent (binary content
mode, the headers Eventarc sends) and POSTs it to the validate function. It answers Pub/Sub
with the function's own status, so a failed function call is redelivered, as with Eventarc.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
import requests

from codetune.local.http import LocalEndpoint

FINALIZED = "google.cloud.storage.object.v1.finalized"


def percent_encoded(value: str) -> str:
    """A header value as the CloudEvents HTTP binding (1.0.2, 3.1.3.2) requires: space, '"',
    '%' and every character outside printable ASCII percent-encoded from its UTF-8 bytes."""
    return "".join(
        c if "\x21" <= c <= "\x7e" and c not in '"%' else "".join(f"%{b:02X}" for b in c.encode())
        for c in value
    )


def storage_cloudevent(message: dict[str, Any]) -> tuple[dict[str, str], bytes] | None:
    """The CloudEvent (headers, body) for one GCS notification, None for other event types."""
    attributes = message.get("attributes") or {}
    if attributes.get("eventType") != "OBJECT_FINALIZE":
        return None
    data = base64.b64decode(message.get("data") or b"")
    resource = orjson.loads(data)
    headers = {
        "ce-specversion": "1.0",
        "ce-id": str(message.get("messageId") or message.get("message_id") or ""),
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{attributes['bucketId']}",
        "ce-type": FINALIZED,
        "ce-subject": percent_encoded(f"objects/{attributes['objectId']}"),
        "ce-time": attributes.get("eventTime") or resource.get("updated", ""),
        "Content-Type": "application/json",
    }
    return headers, data


class EventarcStandIn(LocalEndpoint):
    """A trigger on one bucket (the upload bucket), as deploy.sh's trigger filters by
    `bucket=`: notifications of any other bucket (the state bucket) start nothing."""

    def __init__(
        self, target_url: str, host: str = "127.0.0.1", port: int = 0, bucket: str | None = None
    ) -> None:
        super().__init__(host, port)
        self.target_url = target_url
        self.bucket = bucket
        self.delivered: list[dict[str, str]] = []
        self.notifications: list[dict[str, Any]] = []  # the bucket's notifications, as received

    def post(self, body: bytes, headers: dict[str, str]) -> int:
        push = orjson.loads(body or b"{}")
        self.notifications.append(push.get("message") or {})
        message = push.get("message") or {}
        event = storage_cloudevent(message)
        if event is None or (
            self.bucket is not None
            and (message.get("attributes") or {}).get("bucketId") != self.bucket
        ):
            return 204
        event_headers, data = event
        try:
            status = requests.post(
                self.target_url, data=data, headers=event_headers, timeout=600
            ).status_code
        except requests.RequestException:
            status = 503
        if status < 300:
            self.delivered.append(event_headers)
        return status if status >= 300 else 204
