"""deploy/deploy.sh and deploy/teardown.sh: the dry runs print every command, the real gcloud
parses every one of them, and no broad role can creep in."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--project", "acme-ml", "--region", "us-central1", "--bucket", "acme-tuning-drop"]
SETTINGS = ROOT / "deploy" / "settings.example.env"
GCLOUD = shutil.which("gcloud")

# Every role the deployment grants, and where. Anything else is a test failure.
EXPECTED_ROLES = {
    "roles/storage.objectUser",  # the bucket only
    "roles/storage.objectViewer",  # Vertex AI's agent reads the converted datasets, the bucket only
    "roles/pubsub.publisher",  # one topic each; the storage agent at project level (Eventarc)
    "roles/pubsub.subscriber",  # the Pub/Sub agent, on the two push subscriptions (dead letters)
    "roles/eventarc.eventReceiver",  # validate's trigger
    "roles/aiplatform.user",  # tune creates jobs; the pipeline runs them
    "roles/aiplatform.viewer",  # status reads jobs
    "roles/iam.serviceAccountUser",  # tune acts as the pipeline account, on that account only
    "roles/iam.serviceAccountTokenCreator",  # the Pub/Sub agent signs pushes, on the pusher only
    "roles/cloudkms.cryptoKeyEncrypterDecrypter",  # Vertex AI's agent, on the CMEK key only
}
BROAD_ROLES = {
    "roles/owner",
    "roles/editor",
    "roles/viewer",
    "roles/storage.admin",
    "roles/storage.objectAdmin",
    "roles/pubsub.admin",
    "roles/pubsub.editor",
    "roles/aiplatform.admin",
    "roles/iam.serviceAccountAdmin",
    "roles/resourcemanager.projectIamAdmin",
    "roles/cloudfunctions.admin",
    "roles/run.admin",
}


def dry_run(script: str, *extra: str, fake_bin: Path | None = None) -> list[str]:
    env = dict(os.environ)
    if fake_bin is not None:
        env["PATH"] = f"{fake_bin}:{env['PATH']}"
    result = subprocess.run(
        ["bash", str(ROOT / "deploy" / script), *ARGS, *extra, "--dry-run"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def gcloud_lines(lines: list[str]) -> list[list[str]]:
    return [shlex.split(line) for line in lines if line.startswith("gcloud ")]


@pytest.fixture(scope="module")
def deploy_lines() -> list[str]:
    return dry_run("deploy.sh", "--settings", str(SETTINGS))


def test_dry_runs_print_one_command_a_line_and_touch_nothing(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "gcloud").write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit 1\n')
    (fake / "gcloud").chmod(0o755)
    for script in ("deploy.sh", "teardown.sh"):
        lines = dry_run(script, "--settings", str(SETTINGS), fake_bin=fake)
        assert lines and all(
            line.split()[0] in {"gcloud", "rm", "mkdir", "cp", "find"} for line in lines
        )
    assert not calls.exists()  # not one real gcloud call, not even a read
    assert not (ROOT / "deploy" / "build").exists()


def test_the_deployment_covers_the_whole_system(deploy_lines: list[str]) -> None:
    text = "\n".join(deploy_lines)
    for expected in [
        "gcloud storage buckets create gs://acme-tuning-drop",
        "gcloud pubsub topics create codetune-dataset-validated --project",
        "gcloud pubsub topics create codetune-dataset-validated-dead-letter",
        "gcloud pubsub topics create codetune-job-events --project",
        "gcloud pubsub topics create codetune-job-events-dead-letter",
        "gcloud functions deploy codetune-validate --gen2 --runtime python311",
        "--trigger-event-filters type=google.cloud.storage.object.v1.finalized",
        "--trigger-event-filters bucket=acme-tuning-drop",
        "gcloud functions deploy codetune-tune",
        "gcloud functions deploy codetune-status",
        "--dead-letter-topic codetune-dataset-validated-dead-letter --max-delivery-attempts 10",
        "--dead-letter-topic codetune-job-events-dead-letter --max-delivery-attempts 10",
        "--min-retry-delay 10s --max-retry-delay 600s",
        "gcloud logging sinks create codetune-job-events pubsub.googleapis.com/projects/acme-ml/topics/codetune-job-events",
        "gcloud functions deploy codetune-sweep",
        "gcloud scheduler jobs create http codetune-sweep",
    ]:
        assert expected in text, expected
    for account in ("validate", "tune", "status", "sweep"):
        assert f"--service-account codetune-{account}@acme-ml.iam.gserviceaccount.com" in text


def test_each_function_source_holds_its_entry_point_and_codetune_without_development_parts(
    deploy_lines: list[str], tmp_path: Path
) -> None:
    """The build steps of the dry run, run for real into a scratch folder: every function's
    source imports its entry point with nothing but that folder and the runtime libraries."""
    build = str(ROOT / "deploy" / "build")
    steps = [
        line.replace(build, str(tmp_path)) for line in deploy_lines if line.split()[0] != "gcloud"
    ]
    for step in steps:
        subprocess.run(shlex.split(step), check=True, cwd=ROOT)
    for function in ("validate", "tune", "status", "sweep"):
        source = tmp_path / function
        assert (source / "main.py").read_text() == (
            ROOT / "functions" / f"{function}.py"
        ).read_text()
        assert not (source / "codetune" / "local").exists()
        assert not (source / "codetune" / "cli.py").exists()
        assert not list(source.rglob("__pycache__"))
        probe = (
            # Without the development install's finder, as in the cloud.
            "import sys, importlib.util; "
            "sys.meta_path = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]; "
            f"sys.path.insert(0, {str(source)!r}); import main; "
            f"assert callable(main.{function}); "
            "assert main.__file__.startswith(sys.path[0]) and 'codetune' in sys.modules; "
            "assert sys.modules['codetune'].__file__.startswith(sys.path[0]), sys.modules['codetune'].__file__; "
            "assert importlib.util.find_spec('codetune.local') is None"
        )
        result = subprocess.run(
            [sys.executable, "-I", "-c", probe], capture_output=True, text=True, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr


def test_the_sink_filter_is_the_pipeline_job_events_filter(deploy_lines: list[str]) -> None:
    [sink] = [c for c in gcloud_lines(deploy_lines) if c[1:4] == ["logging", "sinks", "create"]]
    log_filter = sink[sink.index("--log-filter") + 1]
    assert log_filter == (
        'resource.type="aiplatform.googleapis.com/PipelineJob" AND jsonPayload.state=('
        '"PIPELINE_STATE_SUCCEEDED" OR "PIPELINE_STATE_FAILED" OR "PIPELINE_STATE_CANCELLED")'
    )
    grants = [
        c
        for c in gcloud_lines(deploy_lines)
        if "codetune-job-events" in c and "add-iam-policy-binding" in c
    ]
    assert any(c[c.index("--member") + 1] == "serviceAccount:SINK_WRITER_IDENTITY" for c in grants)


def test_settings_reach_the_tune_function(deploy_lines: list[str]) -> None:
    [tune] = [
        c for c in gcloud_lines(deploy_lines) if c[1:4] == ["functions", "deploy", "codetune-tune"]
    ]
    env = tune[tune.index("--set-env-vars") + 1]
    assert env.startswith("^|^")
    values = dict(item.split("=", 1) for item in env[3:].split("|"))
    assert values["CODETUNE_LARGE_MODEL_REFERENCE"] == "gemini-3.5-flash"
    assert values["CODETUNE_EPOCH_COUNT"] == "3"
    assert values["CODETUNE_PIPELINE_REGION"] == "us-central1"
    assert values["CODETUNE_SERVICE_ACCOUNT"] == "codetune-pipeline@acme-ml.iam.gserviceaccount.com"


def test_roles_are_few_and_none_is_broad(tmp_path: Path) -> None:
    settings = tmp_path / "settings.env"
    key = "projects/acme-ml/locations/us-central1/keyRings/r/cryptoKeys/k"
    settings.write_text(SETTINGS.read_text() + f"CODETUNE_ENCRYPTION_SPEC_KEY_NAME={key}\n")
    commands = gcloud_lines(dry_run("deploy.sh", "--settings", str(settings)))
    grants = [c for c in commands if "add-iam-policy-binding" in c]
    roles = {c[c.index("--role") + 1] for c in grants}
    assert roles == EXPECTED_ROLES
    assert not roles & BROAD_ROLES
    project_grants = {
        (c[c.index("--member") + 1], c[c.index("--role") + 1]) for c in grants if c[1] == "projects"
    }
    assert project_grants == {
        (
            "serviceAccount:codetune-validate@acme-ml.iam.gserviceaccount.com",
            "roles/eventarc.eventReceiver",
        ),
        ("serviceAccount:codetune-tune@acme-ml.iam.gserviceaccount.com", "roles/aiplatform.user"),
        (
            "serviceAccount:codetune-pipeline@acme-ml.iam.gserviceaccount.com",
            "roles/aiplatform.user",
        ),
        (
            "serviceAccount:codetune-status@acme-ml.iam.gserviceaccount.com",
            "roles/aiplatform.viewer",
        ),
        (
            "serviceAccount:codetune-sweep@acme-ml.iam.gserviceaccount.com",
            "roles/aiplatform.viewer",
        ),
        (
            "serviceAccount:service-PROJECT_NUMBER@gs-project-accounts.iam.gserviceaccount.com",
            "roles/pubsub.publisher",
        ),
    }
    bucket_grants = [c for c in grants if c[1] == "storage"]
    assert all(c[4] == "gs://acme-tuning-drop" for c in bucket_grants)
    viewers = [
        c[c.index("--member") + 1]
        for c in bucket_grants
        if c[c.index("--role") + 1] == "roles/storage.objectViewer"
    ]
    assert viewers == [
        "serviceAccount:service-PROJECT_NUMBER@gcp-sa-aiplatform.iam.gserviceaccount.com"
    ]
    [kms] = [c for c in grants if c[1] == "kms"]
    assert kms[4] == key


def test_teardown_removes_what_deploy_made_and_keeps_the_bucket(deploy_lines: list[str]) -> None:
    down = "\n".join(dry_run("teardown.sh"))
    for removed in [
        "functions delete codetune-validate",
        "functions delete codetune-tune",
        "functions delete codetune-status",
        "pubsub topics delete codetune-job-events-dead-letter",
        "logging sinks delete codetune-job-events",
        "iam service-accounts delete codetune-pusher@acme-ml.iam.gserviceaccount.com",
    ]:
        assert removed in down, removed
    assert "storage rm" not in down
    assert "gcloud storage rm --recursive gs://acme-tuning-drop" in "\n".join(
        dry_run("teardown.sh", "--delete-bucket")
    )


@pytest.mark.parametrize("script", ["deploy.sh", "teardown.sh"])
def test_wrong_arguments_exit_2(script: str) -> None:
    for args in ([], ["--project", "p"], [*ARGS, "--bogus"], [*ARGS, "--settings", "/nonexistent"]):
        result = subprocess.run(
            ["bash", str(ROOT / "deploy" / script), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PATH": "/usr/bin:/bin"},
        )
        assert result.returncode == 2, (args, result.stderr)


def test_every_gcloud_command_gets_past_gcloud_parsing(
    deploy_lines: list[str], tmp_path: Path
) -> None:
    """The real gcloud parses a command's arguments before it asks for credentials: with no
    account configured, a well-formed command fails on the missing account (exit 1), a
    malformed one on its arguments (exit 2)."""
    assert GCLOUD, "the Google Cloud CLI (gcloud) must be installed for this test"
    commands = gcloud_lines(deploy_lines) + gcloud_lines(dry_run("teardown.sh", "--delete-bucket"))
    env = {**os.environ, "CLOUDSDK_CONFIG": str(tmp_path), "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
    for key in ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CORE_ACCOUNT", "CLOUDSDK_CORE_PROJECT"):
        env.pop(key, None)
    source = ROOT / "deploy" / "build"

    def check(command: list[str]) -> str | None:
        # --source must be a folder that exists for gcloud to accept it.
        args = [str(tmp_path) if a.startswith(str(source)) else a for a in command[1:]]
        result = subprocess.run(
            [GCLOUD, *args], capture_output=True, text=True, timeout=120, env=env
        )
        if result.returncode == 1 and "do not currently have an active account" in result.stderr:
            return None
        return (
            f"{shlex.join(command)}\n  -> exit {result.returncode}: {result.stderr.strip()[:400]}"
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = [f for f in pool.map(check, commands) if f]
    assert failures == [], "\n".join(failures)
    assert all(re.match(r"^[a-z]", c[1]) for c in commands)


def test_the_example_settings_plan_a_job_for_the_default_model(deploy_lines: list[str]) -> None:
    """Exactly what deploy.sh gives the tune function from settings.example.env plans a job."""
    [tune] = [
        c for c in gcloud_lines(deploy_lines) if c[1:4] == ["functions", "deploy", "codetune-tune"]
    ]
    pairs = tune[tune.index("--set-env-vars") + 1].removeprefix("^|^").split("|")
    env = {k: v for k, _, v in (pair.partition("=") for pair in pairs)}
    assert env["CODETUNE_LARGE_MODEL_REFERENCE"] == "gemini-3.5-flash"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CODETUNE_")}
    for kind in ("generation", "chat"):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "codetune.cli",
                "plan",
                "gs://acme-tuning-drop/incoming/train.jsonl#1",
                "--kind",
                kind,
                "--examples",
                "200",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={**clean, **env},
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert '"baseModel": "gemini-3.5-flash"' in result.stdout


@pytest.mark.parametrize(("minutes", "schedule"), [("1", "* * * * *"), ("15", "*/15 * * * *")])
def test_the_sweep_runs_at_the_configured_interval(
    tmp_path: Path, minutes: str, schedule: str
) -> None:
    settings = tmp_path / "settings.env"
    settings.write_text(
        SETTINGS.read_text().replace(
            "SWEEP_INTERVAL_MINUTES=1", f"SWEEP_INTERVAL_MINUTES={minutes}"
        )
    )
    [job] = [
        c
        for c in gcloud_lines(dry_run("deploy.sh", "--settings", str(settings)))
        if c[1:5] == ["scheduler", "jobs", "create", "http"]
    ]
    assert job[job.index("--schedule") + 1] == schedule


def test_a_sweep_interval_outside_an_hour_is_refused(tmp_path: Path) -> None:
    settings = tmp_path / "settings.env"
    settings.write_text(
        SETTINGS.read_text().replace("SWEEP_INTERVAL_MINUTES=1", "SWEEP_INTERVAL_MINUTES=90")
    )
    result = subprocess.run(
        [
            "bash",
            str(ROOT / "deploy" / "deploy.sh"),
            *ARGS,
            "--settings",
            str(settings),
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "SWEEP_INTERVAL_MINUTES" in result.stderr
