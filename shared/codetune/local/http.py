"""An HTTP endpoint of the local stack: a server on a loopback port, serving POSTs in a daemon
thread, silent in the logs. The Eventarc stand-in, the push relay and the Cloud Logging
stand-in are three."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import orjson


class LocalEndpoint:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, answer = endpoint.respond(
                    self.path, self.rfile.read(length), dict(self.headers.items())
                )
                self.send_response(status)
                if answer is not None:
                    data = orjson.dumps(answer)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if answer is not None:
                    self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def post(self, body: bytes, headers: dict[str, str]) -> int:
        """Handle one POST; the status to answer."""
        raise NotImplementedError

    def respond(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        """Handle one POST to `path`: the status and a JSON answer (None: no body). An
        endpoint that answers with a status only implements `post`."""
        return self.post(body, headers), None

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
