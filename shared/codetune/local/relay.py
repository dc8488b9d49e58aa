"""A push relay: what the network between a Pub/Sub push subscription and its endpoint does on
a bad day.

The stack puts one in front of every push endpoint. By default it passes each push through and
answers Pub/Sub with the endpoint's status, so a failed delivery is redelivered as before.
`route` (codetune chaos sets it) decides, per push, the delays at which it is delivered:

- `[]`: lost. Pub/Sub is told it was delivered (204) but the endpoint never sees it: a message
  acknowledged and gone, as after a dead-letter or an expiry;
- `[0.0]`: delivered once, now (the default);
- `[0.0, 2.5]`: delivered now and again 2.5 s later (at-least-once: a duplicate);
- `[3.0]`: delivered 3 s late, so later messages overtake it (reordered).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import requests

from codetune.local.http import LocalEndpoint

_HOP_HEADERS = {"host", "content-length", "connection", "accept-encoding"}


def once(_: bytes) -> list[float]:
    return [0.0]


class PushRelay(LocalEndpoint):
    def __init__(self, target_url: str, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.target_url = target_url
        self.route: Callable[[bytes], list[float]] = once
        self.outcomes: Counter[str] = Counter()  # lost, duplicated, delayed, passed

    def post(self, body: bytes, headers: dict[str, str]) -> int:
        forwarded = {k: v for k, v in headers.items() if k.lower() not in _HOP_HEADERS}
        delays = sorted(self.route(body))
        if not delays:
            self.outcomes["lost"] += 1
            return 204
        first, *again = delays
        self.outcomes["duplicated" if again else "delayed" if first > 0 else "passed"] += 1
        for delay in again:
            threading.Thread(target=self._send, args=(body, forwarded, delay), daemon=True).start()
        return self._send(body, forwarded, first)

    def _send(self, body: bytes, headers: dict[str, str], delay: float) -> int:
        if delay:
            time.sleep(delay)
        try:
            answer = requests.post(self.target_url, data=body, headers=headers, timeout=600)
        except requests.RequestException:
            return 503
        return answer.status_code if answer.status_code >= 300 else 204
