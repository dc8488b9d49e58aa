"""The storage emulator for benchmarks that need only Cloud Storage."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator

from codetune.local.stack import fake_gcs_binary, free_port, wait_for_port


@contextlib.contextmanager
def storage_emulator() -> Iterator[None]:
    """fake-gcs-server (memory backend) on a free port, with STORAGE_EMULATOR_HOST set."""
    port = free_port()
    server = subprocess.Popen(
        [str(fake_gcs_binary()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
         "-backend", "memory", "-external-url", f"http://127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tempfile.gettempdir(),
    )  # fmt: skip
    try:
        wait_for_port(port, 30, server)
        os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{port}"
        yield
    finally:
        os.environ.pop("STORAGE_EMULATOR_HOST", None)
        server.terminate()
        server.wait(10)
