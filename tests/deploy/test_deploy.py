"""deploy/deploy.sh and deploy/teardown.sh: the dry runs print every command, the real gcloud
parses every one of them, and no broad role can creep in."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest

from codetune.config import Settings

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--project", "acme-ml", "--region", "us-central1", "--bucket", "acme-tuning-drop"]
SETTINGS = ROOT / "deploy" / "settings.example.env"
GCLOUD = shutil.which("gcloud")

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
ROLE_TABLE = ROOT / "docs" / "deploy.md"
UPLOAD_OBJECTS = "projects/_/buckets/acme-tuning-drop/objects/"


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


def function_env(lines: list[str], function: str) -> dict[str, str]:
    """The environment a dry run deploys `function` with (gcloud's ^|^ escape undone)."""
    [deploy] = [
        c for c in gcloud_lines(lines) if c[1:4] == ["functions", "deploy", f"codetune-{function}"]
    ]
    env = deploy[deploy.index("--set-env-vars") + 1]
    assert env.startswith("^|^")
    return dict(item.split("=", 1) for item in env[3:].split("|"))


def refused(settings: Path) -> subprocess.CompletedProcess[str]:
    """A dry run of deploy.sh with these settings, expected to refuse them."""
    return subprocess.run(
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
            line.split()[0] in {"gcloud", "rm", "mkdir", "cp", "find", "python3"} for line in lines
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
        # Bytecode for every module, used without the source: a source that were read would
        # now raise. (PEP 552: flags 0b01, a hash-based .pyc whose source is not checked.)
        modules = sorted(source.rglob("*.py"))
        for module in modules:
            cached = Path(importlib.util.cache_from_source(str(module)))
            assert cached.read_bytes()[4:8] == b"\x01\x00\x00\x00", cached
            module.write_text("raise RuntimeError('the source was read')\n")
        assert len(list(source.rglob("*.pyc"))) == len(modules)
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
    values = function_env(deploy_lines, "tune")
    assert values["CODETUNE_LARGE_MODEL_REFERENCE"] == "gemini-3.5-flash"
    assert values["CODETUNE_EPOCH_COUNT"] == "3"
    assert values["CODETUNE_PIPELINE_REGION"] == "us-central1"
    assert values["CODETUNE_SERVICE_ACCOUNT"] == "codetune-pipeline@acme-ml.iam.gserviceaccount.com"


def _who(member: str) -> str:
    account = member.removeprefix("serviceAccount:")
    for marker, name in (
        ("SINK_WRITER_IDENTITY", "log sink writer"),
        ("gcp-sa-pubsub", "Pub/Sub service agent"),
        ("gs-project-accounts", "Cloud Storage service agent"),
        ("gcp-sa-aiplatform", "Vertex AI service agent"),
    ):
        if marker in account:
            return name
    return account.partition("@")[0]


def granted(lines: list[str]) -> list[tuple[str, str, str, str]]:
    """Every grant of a dry run as (who, role, on, condition title or "—")."""
    rows = []
    for command in gcloud_lines(lines):
        verb = next((w for w in command if w.endswith("-policy-binding")), None)
        if verb not in ("add-iam-policy-binding", "add-invoker-policy-binding"):
            continue
        target = command[command.index(verb) + 1]
        role = command[command.index("--role") + 1] if "--role" in command else "roles/run.invoker"
        condition = command[command.index("--condition") + 1] if "--condition" in command else ""
        title = condition.rpartition(",title=")[2] if condition.startswith("expression=") else "—"
        group = command[1:3]
        on = {
            ("projects", "add-iam-policy-binding"): "project",
            ("kms", "keys"): "the CMEK key",
        }.get((group[0], group[1]), "")
        if group[0] == "storage":
            on = target.replace("gs://acme-tuning-drop", "gs://BUCKET")
        elif group == ["pubsub", "topics"]:
            on = f"topic {target}"
        elif group == ["pubsub", "subscriptions"]:
            on = "subscription " + (
                "of validate's Eventarc trigger" if "eventarc" in target else target
            )
        elif group == ["iam", "service-accounts"]:
            on = f"account {_who(target)}"
        elif group[0] == "functions":
            on = f"function {target}"
        rows.append((_who(command[command.index("--member") + 1]), role, on, title))
    return rows


def role_table() -> list[tuple[str, str, str, str]]:
    """The rows of docs/deploy.md's role table, as (who, role, on, condition title)."""
    text = ROLE_TABLE.read_text()
    table = text[text.index("| who | role | on | condition | why |") :].split("\n\n")[0]
    rows = []
    for line in table.splitlines()[2:]:
        who, role, on, condition, _why = (c.strip() for c in line.strip("|").split("|"))
        title = condition.split(":")[0].strip("`")
        rows.append((who.strip("`"), role.strip("`"), on, title))
    return rows


@pytest.fixture(scope="module")
def cmek_lines(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    settings = tmp_path_factory.mktemp("cmek") / "settings.env"
    key = "projects/acme-ml/locations/us-central1/keyRings/r/cryptoKeys/k"
    settings.write_text(SETTINGS.read_text() + f"CODETUNE_ENCRYPTION_SPEC_KEY_NAME={key}\n")
    return dry_run("deploy.sh", "--settings", str(settings))


def test_every_grant_is_in_the_role_table_and_the_table_holds_nothing_else(
    cmek_lines: list[str],
) -> None:
    """docs/deploy.md is the list of what the deployment may grant, each with its reason."""
    made, documented = sorted(granted(cmek_lines)), sorted(role_table())
    assert len(made) == len(set(made)), "a grant is made twice"
    assert [g for g in made if g not in documented] == [], "granted but not in docs/deploy.md"
    assert [g for g in documented if g not in made] == [], "in docs/deploy.md but not granted"


def test_no_role_is_broad(cmek_lines: list[str]) -> None:
    assert not {role for _, role, _, _ in granted(cmek_lines)} & BROAD_ROLES


def test_every_grant_on_the_upload_bucket_is_limited_to_prefixes(cmek_lines: list[str]) -> None:
    """Each storage grant on the upload bucket carries a condition naming object prefixes of
    that bucket (or the bucket resource alone, for listing); none reaches the whole bucket."""
    grants = [
        c
        for c in gcloud_lines(cmek_lines)
        if c[1:4] == ["storage", "buckets", "add-iam-policy-binding"]
        and c[4] == "gs://acme-tuning-drop"
    ]
    assert grants
    for grant in grants:
        assert "--condition" in grant, shlex.join(grant)
        expression = grant[grant.index("--condition") + 1].removeprefix("expression=")
        expression = expression.rpartition(",title=")[0]
        clauses = re.split(r" \|\| ", expression)
        for clause in clauses:
            prefix = re.fullmatch(r'resource\.name\.startsWith\("([^"]+)"\)', clause)
            report = re.fullmatch(
                r'resource\.name\.startsWith\("([^"]+)"\) && '
                r'resource\.name\.endsWith\("\.report\.(json|html)"\)',
                clause,
            )
            found = prefix or report
            if found:
                assert found[1].startswith(UPLOAD_OBJECTS) and found[1] != UPLOAD_OBJECTS, clause
                assert found[1].endswith("/"), clause
            else:
                assert clause == 'resource.type == "storage.googleapis.com/Bucket"', clause
                assert grant[grant.index("--role") + 1] == "roles/storage.objectViewer"


def test_only_the_pipeline_writes_its_output_bucket_and_no_agent_reads_the_data(
    cmek_lines: list[str],
) -> None:
    rows = granted(cmek_lines)
    assert {who for who, _, on, _ in rows if on == "gs://BUCKET-pipeline"} == {"codetune-pipeline"}
    assert not [r for r in rows if r[2].startswith("gs://") and "agent" in r[0]]
    [tune] = [
        c for c in gcloud_lines(cmek_lines) if c[1:4] == ["functions", "deploy", "codetune-tune"]
    ]
    env = tune[tune.index("--set-env-vars") + 1]
    assert "CODETUNE_OUTPUT_DIR=gs://acme-tuning-drop-pipeline/pipeline" in env


def test_every_function_takes_internal_calls_only(deploy_lines: list[str]) -> None:
    """Eventarc, Pub/Sub push and Cloud Scheduler of the project reach internal-only ingress."""
    deploys = [c for c in gcloud_lines(deploy_lines) if c[1:3] == ["functions", "deploy"]]
    assert len(deploys) == 4
    for command in deploys:
        assert command[command.index("--ingress-settings") + 1] == "internal-only", command[3]
        assert "--no-allow-unauthenticated" in command
        account = command[command.index("--build-service-account") + 1]
        assert (
            account
            == "projects/acme-ml/serviceAccounts/codetune-build@acme-ml.iam.gserviceaccount.com"
        )


def test_both_buckets_prevent_public_access(deploy_lines: list[str]) -> None:
    for bucket in ("gs://acme-tuning-drop", "gs://acme-tuning-drop-pipeline"):
        for verb in ("create", "update"):
            [command] = [
                c
                for c in gcloud_lines(deploy_lines)
                if c[1:4] == ["storage", "buckets", verb] and c[4] == bucket
            ]
            assert "--public-access-prevention" in command
            assert "--uniform-bucket-level-access" in command


def test_tokens_name_the_functions_run_app_url(deploy_lines: list[str]) -> None:
    commands = gcloud_lines(deploy_lines)
    pushes = [c for c in commands if c[1:4] == ["pubsub", "subscriptions", "update"]]
    jobs = [c for c in commands if c[1:3] == ["scheduler", "jobs"]]
    checked = 0
    for command in pushes + jobs:
        endpoint = "--push-endpoint" if "--push-endpoint" in command else "--uri"
        audience = (
            "--push-auth-token-audience"
            if "--push-auth-token-audience" in command
            else "--oidc-token-audience"
        )
        if endpoint not in command:
            continue  # the Eventarc subscription's dead-letter update
        url, token = command[command.index(endpoint) + 1], command[command.index(audience) + 1]
        assert url == token and re.fullmatch(r"https://codetune-[a-z]+-[^/]+\.a\.run\.app", url)
        assert "cloudfunctions.net" not in url
        checked += 1
    assert checked == 4  # tune, status; the sweep's job, created then updated


def _made(lines: list[str]) -> set[tuple[str, str]]:
    """What a dry run creates, as (kind, name): buckets, topics, subscriptions, functions,
    service accounts, the sink, the scheduler job."""
    made = set()
    for c in gcloud_lines(lines):
        if c[1:4] == ["storage", "buckets", "create"]:
            made.add(("bucket", c[4]))
        elif c[1:3] in (["pubsub", "topics"], ["pubsub", "subscriptions"]) and c[3] == "create":
            made.add((c[2], c[4]))
        elif c[1:3] == ["functions", "deploy"]:
            made.add(("function", c[3]))
        elif c[1:4] == ["iam", "service-accounts", "create"]:
            made.add(("account", f"{c[4]}@acme-ml.iam.gserviceaccount.com"))
        elif c[1:4] == ["logging", "sinks", "create"]:
            made.add(("sink", c[4]))
        elif c[1:4] == ["scheduler", "jobs", "create"]:
            made.add(("scheduler", c[5]))
        elif c[1:4] == ["logging", "metrics", "create"]:
            made.add(("metric", c[4]))
    return made


def _removed(lines: list[str]) -> set[tuple[str, str]]:
    removed = set()
    kinds = {
        ("pubsub", "topics"): "topics",
        ("pubsub", "subscriptions"): "subscriptions",
        ("functions", "delete"): "function",
        ("iam", "service-accounts"): "account",
        ("logging", "sinks"): "sink",
        ("scheduler", "jobs"): "scheduler",
        ("logging", "metrics"): "metric",
    }
    for c in gcloud_lines(lines):
        if c[1:3] == ["storage", "rm"]:
            removed.add(("bucket", c[4]))
        elif "delete" in c[2:4] and (kind := kinds.get((c[1], c[2]))):
            removed.add((kind, c[3] if c[2] == "delete" else c[4]))
    return removed


def test_teardown_removes_what_deploy_made_and_the_buckets_only_when_told(
    deploy_lines: list[str],
) -> None:
    made = _made(deploy_lines)
    assert {kind for kind, _ in made} == {
        "bucket", "topics", "subscriptions", "function", "account", "sink", "scheduler", "metric"
    }  # fmt: skip
    kept = _removed(dry_run("teardown.sh"))
    assert sorted(made - kept) == [
        ("bucket", "gs://acme-tuning-drop"),
        ("bucket", "gs://acme-tuning-drop-pipeline"),
    ]
    assert made - _removed(dry_run("teardown.sh", "--delete-data")) == set()
    # Grants go before the accounts, so that none lingers as deleted:serviceAccount.
    down = dry_run("teardown.sh")
    first_delete = next(i for i, line in enumerate(down) if "service-accounts delete" in line)
    assert all(
        i < first_delete for i, line in enumerate(down) if "remove-iam-policy-binding" in line
    )


FAKE_GCLOUD = """#!/bin/sh
# A Google Cloud that has everything already (every create fails) and answers describes.
echo "$*" >> "$CALLS"
case "$*" in
  *"functions describe"*serviceConfig.uri*) echo "https://$3-q7x2k9a4mb-uc.a.run.app" ;;
  *"functions describe"*eventTrigger.trigger*)
    echo "projects/acme-ml/locations/us-central1/triggers/codetune-validate-914702" ;;
  *"eventarc triggers describe codetune-validate-914702"*)
    echo "projects/acme-ml/subscriptions/eventarc-us-central1-codetune-validate-914702-sub-318" ;;
  *"projects describe"*) echo 123456789012 ;;
  *"storage service-agent"*) echo service-123456789012@gs-project-accounts.iam.gserviceaccount.com ;;
  *"sinks describe"*) echo serviceAccount:service-123456789012@gcp-sa-logging.iam.gserviceaccount.com ;;
  *"services identity create"*) ;;  # returns the agent, whether new or not
  *"monitoring policies list"*) echo projects/acme-ml/alertPolicies/111 ;;
  *"monitoring dashboards list"*) echo projects/acme-ml/dashboards/222 ;;
  *"monitoring policies create"*|*"monitoring dashboards create"*) ;;  # no ids to collide on
  *" create "*) echo "ERROR: already exists" >&2; exit 1 ;;
esac
exit 0
"""


def test_a_second_run_fails_nothing_and_names_the_urls_google_gives(tmp_path: Path) -> None:
    """deploy.sh for real against a project where everything exists: every create fails as
    ALREADY_EXISTS, the script carries on, applies its settings with updates, and the push
    endpoints, audiences and the Eventarc subscription are the ones Google Cloud describes."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "gcloud").write_text(FAKE_GCLOUD)
    (fake / "gcloud").chmod(0o755)
    calls = tmp_path / "calls"
    try:
        result = subprocess.run(
            ["bash", str(ROOT / "deploy" / "deploy.sh"), *ARGS, "--settings", str(SETTINGS)],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "CALLS": str(calls)},
        )
    finally:
        shutil.rmtree(ROOT / "deploy" / "build", ignore_errors=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "gcloud storage cp train.jsonl gs://acme-tuning-drop/incoming/" in result.stderr
    made = [line.split() for line in calls.read_text().splitlines()]
    tune_url = "https://codetune-tune-q7x2k9a4mb-uc.a.run.app"
    [push] = [
        c for c in made if c[:3] == ["pubsub", "subscriptions", "update"] and "codetune-tune" in c
    ]
    assert push[push.index("--push-endpoint") + 1] == tune_url
    assert push[push.index("--push-auth-token-audience") + 1] == tune_url
    [dead] = [
        c for c in made if c[:3] == ["pubsub", "subscriptions", "update"] and "eventarc" in c[3]
    ]
    assert dead[3].endswith("eventarc-us-central1-codetune-validate-914702-sub-318")
    assert dead[dead.index("--dead-letter-topic") + 1] == "codetune-storage-events-dead-letter"
    assert any(c[:4] == ["scheduler", "jobs", "update", "http"] for c in made)
    # Monitoring converges: the old policies and dashboard go before the new ones come.
    joined = [" ".join(c) for c in made]
    old_policy = joined.index(
        "alpha monitoring policies delete projects/acme-ml/alertPolicies/111 --project acme-ml --quiet"
    )
    assert old_policy < next(
        i for i, c in enumerate(joined) if c.startswith("alpha monitoring policies create")
    )
    assert (
        "monitoring dashboards delete projects/acme-ml/dashboards/222 --project acme-ml --quiet"
        in joined
    )


def test_tune_has_time_for_its_worst_case_and_no_more_than_its_ack_deadline(
    deploy_lines: list[str],
) -> None:
    """A tune delivery that outlives its function is cut half way; one that outlives the ack
    deadline is delivered again meanwhile. Its worst case: Vertex AI reads retried at the
    client's defaults."""
    from codetune.vertex import VertexConfig

    config = VertexConfig()
    backoff = sum(
        min(config.max_backoff_seconds, config.first_backoff_seconds * 2**attempt)
        for attempt in range(config.max_attempts - 1)
    )
    worst = config.max_attempts * config.timeout_seconds + backoff
    [tune] = [
        c for c in gcloud_lines(deploy_lines) if c[1:4] == ["functions", "deploy", "codetune-tune"]
    ]
    timeout = int(tune[tune.index("--timeout") + 1].removesuffix("s"))
    [push] = [
        c
        for c in gcloud_lines(deploy_lines)
        if c[1:4] == ["pubsub", "subscriptions", "update"] and c[4] == "codetune-tune"
    ]
    assert worst < timeout == int(push[push.index("--ack-deadline") + 1])


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
    commands = gcloud_lines(deploy_lines) + gcloud_lines(dry_run("teardown.sh", "--delete-data"))
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
    env = function_env(deploy_lines, "tune")
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
    result = refused(settings)
    assert result.returncode == 2 and "SWEEP_INTERVAL_MINUTES" in result.stderr


@pytest.mark.parametrize("value", ["error", "warning"])
def test_the_secrets_setting_reaches_the_validate_function(tmp_path: Path, value: str) -> None:
    settings = tmp_path / "settings.env"
    settings.write_text(SETTINGS.read_text().replace("SECRETS=error", f"SECRETS={value}"))
    values = function_env(dry_run("deploy.sh", "--settings", str(settings)), "validate")
    assert values["CODETUNE_SECRETS"] == value
    assert Settings.from_environment(values).secrets == value


def test_secrets_cannot_be_turned_off_by_a_deployment(tmp_path: Path) -> None:
    settings = tmp_path / "settings.env"
    settings.write_text(SETTINGS.read_text().replace("SECRETS=error", "SECRETS=off"))
    result = refused(settings)
    assert result.returncode == 2 and "SECRETS must be error or warning" in result.stderr
    with pytest.raises(ValueError, match="CODETUNE_SECRETS"):
        Settings.from_environment({"CODETUNE_SECRETS": "off"})


@pytest.mark.parametrize(("setting", "env"), [(None, "off"), ("on", "on"), ("off", "off")])
def test_near_duplicates_is_the_deployments_choice(
    tmp_path: Path, setting: str | None, env: str
) -> None:
    settings = tmp_path / "settings.env"
    text = SETTINGS.read_text()
    if setting is None:
        text = text.replace("NEAR_DUPLICATES=off\n", "")
    else:
        text = text.replace("NEAR_DUPLICATES=off", f"NEAR_DUPLICATES={setting}")
    settings.write_text(text)
    lines = dry_run("deploy.sh", "--settings", str(settings))
    # validate searches a training dataset; tune compares it with its evaluation dataset.
    for function in ("validate", "tune"):
        values = function_env(lines, function)
        assert values["CODETUNE_NEAR_DUPLICATES"] == env, function
        assert Settings.from_environment(values).near_duplicates is (env == "on")
    with pytest.raises(ValueError, match="CODETUNE_NEAR_DUPLICATES"):
        Settings.from_environment({"CODETUNE_NEAR_DUPLICATES": "yes"})


def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


@pytest.mark.parametrize(
    ("seconds", "validate_timeout", "sweep_timeout"),
    [("420", "540s", "600s"), ("120", "240s", "300s")],
)
def test_the_validation_time_sets_both_functions_timeouts(
    tmp_path: Path, seconds: str, validate_timeout: str, sweep_timeout: str
) -> None:
    """Rule time-limit: a validation stops reading in time to write its report before the
    function's timeout; the sweep gives a missed upload the same time on the same CPU, one
    sweep at a time, and Cloud Scheduler waits for it."""
    settings = tmp_path / "settings.env"
    settings.write_text(
        SETTINGS.read_text().replace("VALIDATION_SECONDS=420", f"VALIDATION_SECONDS={seconds}")
    )
    lines = dry_run("deploy.sh", "--settings", str(settings))
    deploys = {c[3]: c for c in gcloud_lines(lines) if c[1:3] == ["functions", "deploy"]}
    validate, sweep = deploys["codetune-validate"], deploys["codetune-sweep"]
    assert flag(validate, "--timeout") == validate_timeout
    assert flag(sweep, "--timeout") == sweep_timeout
    assert flag(sweep, "--memory") == flag(validate, "--memory")
    assert flag(sweep, "--max-instances") == "1"
    [job] = [c for c in gcloud_lines(lines) if c[1:5] == ["scheduler", "jobs", "create", "http"]]
    assert flag(job, "--attempt-deadline") == sweep_timeout
    for function in ("validate", "sweep"):
        values = Settings.from_environment(function_env(lines, function))
        assert values.validation_seconds == float(seconds)
    sweep_settings = Settings.from_environment(function_env(lines, "sweep"))
    assert sweep_settings.sweep_seconds == float(seconds) + 60
    # Both leave time after the reading: validate to write the report, the sweep after its
    # last validation may start.
    assert int(validate_timeout[:-1]) - float(seconds) >= 120
    assert int(sweep_timeout[:-1]) - sweep_settings.sweep_seconds >= 120


@pytest.mark.parametrize("seconds", ["421", "59", "five", "-1"])
def test_a_validation_time_that_cannot_fit_an_event_function_is_refused(
    tmp_path: Path, seconds: str
) -> None:
    settings = tmp_path / "settings.env"
    settings.write_text(
        SETTINGS.read_text().replace("VALIDATION_SECONDS=420", f"VALIDATION_SECONDS={seconds}")
    )
    result = refused(settings)
    assert result.returncode == 2 and "VALIDATION_SECONDS must be 60 to 420" in result.stderr
    with pytest.raises(ValueError, match="CODETUNE_VALIDATION_SECONDS"):
        Settings.from_environment({"CODETUNE_VALIDATION_SECONDS": "five"})


def test_a_tokenizer_model_ships_with_the_validate_function(tmp_path: Path) -> None:
    model = tmp_path / "gemma.model"
    model.write_bytes(b"model")
    settings = tmp_path / "settings.env"
    settings.write_text(SETTINGS.read_text() + f"TOKENIZER_MODEL={model}\n")
    lines = dry_run("deploy.sh", "--settings", str(settings))
    assert any(
        line.startswith(f"cp {model} ") and line.endswith("/validate/tokenizer.model")
        for line in lines
    )
    assert function_env(lines, "validate")["CODETUNE_TOKENIZER_MODEL"] == "tokenizer.model"
    settings.write_text(SETTINGS.read_text() + f"TOKENIZER_MODEL={tmp_path / 'missing.model'}\n")
    result = refused(settings)
    assert result.returncode == 2 and "TOKENIZER_MODEL: no file" in result.stderr


def test_monitoring_is_created_from_its_files_and_removed(deploy_lines: list[str]) -> None:
    """Issue 15: every metric, alert policy and the dashboard of deploy/monitoring/ is created
    (or brought to its file), and teardown removes them."""
    from codetune import monitoring

    commands = gcloud_lines(deploy_lines)
    metrics = {c[4] for c in commands if c[1:4] == ["logging", "metrics", "update"]}
    assert metrics == {m.name for m in monitoring.METRICS}
    policies = [c for c in commands if c[1:5] == ["alpha", "monitoring", "policies", "create"]]
    assert len(policies) == len(monitoring.alert_policies())
    for command in policies:
        body = orjson.loads(Path(command[command.index("--policy-from-file") + 1]).read_bytes())
        assert body in monitoring.alert_policies()
    [board] = [c for c in commands if c[1:4] == ["monitoring", "dashboards", "create"]]
    assert orjson.loads(Path(board[board.index("--config-from-file") + 1]).read_bytes()) == (
        monitoring.dashboard()
    )
    down = gcloud_lines(dry_run("teardown.sh"))
    assert any(c[1:5] == ["alpha", "monitoring", "policies", "delete"] for c in down)
    assert any(c[1:4] == ["monitoring", "dashboards", "delete"] for c in down)
