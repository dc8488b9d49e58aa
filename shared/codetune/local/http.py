"""An HTTP endpoint of the local stack: a server on a loopback port, serving POSTs in a daemon
thread, silent in the logs. The Eventarc stand-in and the push relay are two."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LocalEndpoint:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status = endpoint.post(self.rfile.read(length), dict(self.headers.items()))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def post(self, body: bytes, headers: dict[str, str]) -> int:
        """Handle one POST; the status to answer."""
        raise NotImplementedError

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
