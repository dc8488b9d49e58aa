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
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import requests

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


class EventarcStandIn:
    def __init__(self, target_url: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.target_url = target_url
        self.delivered: list[dict[str, str]] = []
        self.notifications: list[dict[str, Any]] = []  # the bucket's notifications, as received
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                push = orjson.loads(self.rfile.read(length) or b"{}")
                standin.notifications.append(push.get("message") or {})
                event = storage_cloudevent(push.get("message") or {})
                status = 204
                if event is not None:
                    headers, body = event
                    try:
                        answer = requests.post(
                            standin.target_url, data=body, headers=headers, timeout=600
                        )
                        status = answer.status_code
                    except requests.RequestException:
                        status = 503
                    if status < 300:
                        standin.delivered.append(headers)
                self.send_response(status if status >= 300 else 204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> EventarcStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
