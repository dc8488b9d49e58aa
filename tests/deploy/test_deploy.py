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
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest

from codetune.config import Settings
from tests.support import DEPLOYED_ENV

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
    # Project-wide Vertex AI and Cloud Build roles: custom roles hold what each identity uses.
    "roles/aiplatform.user",
    "roles/aiplatform.viewer",
    "roles/cloudbuild.builds.builder",
}
ROLE_TABLE = ROOT / "docs" / "deploy.md"
UPLOAD_OBJECTS = "projects/_/buckets/acme-tuning-drop/objects/"
BUCKETS = ("gs://acme-tuning-drop", "gs://acme-tuning-drop-state", "gs://acme-tuning-drop-pipeline")
FUNCTIONS = ("validate", "tune", "status", "sweep", "evaluate")
UPLOADERS = ("user:alice@acme.example", "group:ml-team@acme.example")


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


def condition(command: list[str]) -> tuple[str, str] | None:
    """A binding's condition as (title, expression); None for a binding without one."""
    if "--condition" not in command or command[command.index("--condition") + 1] == "None":
        return None
    value = command[command.index("--condition") + 1]
    assert value.startswith("^;^"), value  # expressions hold commas: gcloud's escape
    fields = dict(field.split("=", 1) for field in value[3:].split(";"))
    assert set(fields) == {"expression", "title"}, fields
    return fields["title"], fields["expression"]


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
            line.split()[0] in {"gcloud", "rm", "mkdir", "cp", "find", "python3", "#"}
            for line in lines
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
        "gcloud pubsub topics create codetune-evaluate --project",
        "gcloud pubsub topics create codetune-evaluate-dead-letter",
        "gcloud functions deploy codetune-evaluate",
        "--dead-letter-topic codetune-evaluate-dead-letter --max-delivery-attempts 10",
    ]:
        assert expected in text, expected
    for account in FUNCTIONS:
        assert f"--service-account codetune-{account}@acme-ml.iam.gserviceaccount.com" in text


def test_each_function_source_holds_its_entry_point_and_codetune_without_development_parts(
    deploy_lines: list[str], tmp_path: Path
) -> None:
    """The build steps of the dry run, run for real into a scratch folder: every function's
    source imports its entry point with nothing but that folder and the runtime libraries."""
    build = str(ROOT / "deploy" / "build")
    steps = [
        line.replace(build, str(tmp_path))
        for line in deploy_lines
        if line.split()[0] not in ("gcloud", "#")
    ]
    for step in steps:
        subprocess.run(shlex.split(step), check=True, cwd=ROOT)
    deployed = [c[3].removeprefix("codetune-") for c in gcloud_lines(deploy_lines)
                if c[1:3] == ["functions", "deploy"]]  # fmt: skip
    assert sorted(deployed) == sorted(FUNCTIONS)
    for function in deployed:
        source = tmp_path / function
        assert (source / "main.py").read_text() == (
            ROOT / "functions" / f"{function}.py"
        ).read_text()
        assert not (source / "codetune" / "local").exists()
        assert not (source / "codetune" / "cli").exists()
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
            [sys.executable, "-I", "-c", probe],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**os.environ, **DEPLOYED_ENV},
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
    if member.split(":")[0] in ("user", "group", "domain"):
        return "an uploader"
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
        role = role.replace("projects/acme-ml/roles/", "projects/PROJECT/roles/")
        title = (condition(command) or ("—", ""))[0]
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
                "of validate's Eventarc trigger" if "TRIGGER_SUBSCRIPTION" in target else target
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
    """Every optional grant: CMEK, and uploaders from the file and a flag."""
    settings = tmp_path_factory.mktemp("cmek") / "settings.env"
    key = "projects/acme-ml/locations/us-central1/keyRings/r/cryptoKeys/k"
    settings.write_text(
        SETTINGS.read_text()
        + f"CODETUNE_ENCRYPTION_SPEC_KEY_NAME={key}\nUPLOADERS={UPLOADERS[0]}\n"
    )
    return dry_run("deploy.sh", "--settings", str(settings), "--uploader", UPLOADERS[1])


def test_every_grant_is_in_the_role_table_and_the_table_holds_nothing_else(
    cmek_lines: list[str],
) -> None:
    """docs/deploy.md is the list of what the deployment may grant, each with its reason."""
    made, documented = sorted(granted(cmek_lines)), sorted(role_table())
    # Once each; an uploader's rows once per uploader.
    assert Counter(made) == {g: len(UPLOADERS) if g[0] == "an uploader" else 1 for g in made}, (
        "a grant is made twice"
    )
    assert [g for g in made if g not in documented] == [], "granted but not in docs/deploy.md"
    assert [g for g in documented if g not in made] == [], "in docs/deploy.md but not granted"


def test_no_role_is_broad(cmek_lines: list[str]) -> None:
    assert not {role for _, role, _, _ in granted(cmek_lines)} & BROAD_ROLES


def test_every_grant_on_the_upload_bucket_is_limited_to_the_upload_prefix(
    cmek_lines: list[str],
) -> None:
    """Each grant on the upload bucket carries a condition naming objects under the upload
    prefix (or reports there, or a listing of it); none reaches the whole bucket, and none
    the state an older version kept there. What each condition admits: test_conditions.py."""
    grants = [
        c
        for c in gcloud_lines(cmek_lines)
        if c[1:4] == ["storage", "buckets", "add-iam-policy-binding"]
        and c[4] == "gs://acme-tuning-drop"
    ]
    assert grants
    uploads = f'resource.name.startsWith("{UPLOAD_OBJECTS}incoming/")'
    listing = (
        'resource.type == "storage.googleapis.com/Bucket" && api.getAttribute('
        '"storage.googleapis.com/objectListPrefix", "").startsWith("incoming/")'
    )
    for grant in grants:
        found = condition(grant)
        assert found, shlex.join(grant)
        for clause in found[1].split(" || "):
            assert clause in (
                uploads,
                f'{uploads} && resource.name.endsWith(".report.json")',
                f'{uploads} && resource.name.endsWith(".report.html")',
                f'{uploads} && resource.name.endsWith(".run.html")',
                listing,
            ), clause
            if clause == listing:
                assert grant[grant.index("--role") + 1] == "roles/storage.objectViewer"


def test_the_state_bucket_is_the_functions_own(cmek_lines: list[str]) -> None:
    """The four functions read and write it whole, the job account reads pinned copies and
    conversions, and no one else (no uploader, no agent) has any grant there."""
    rows = [r for r in granted(cmek_lines) if r[2] == "gs://BUCKET-state"]
    assert sorted(rows) == sorted(
        [(f"codetune-{f}", "roles/storage.objectUser", "gs://BUCKET-state", "—")
         for f in FUNCTIONS]
        + [("codetune-pipeline", "roles/storage.objectViewer", "gs://BUCKET-state",
            "pipeline-reads-datasets")]
    )  # fmt: skip
    uploaders = [r for r in granted(cmek_lines) if r[0] == "an uploader"]
    assert {on for _, _, on, _ in uploaders} == {"gs://BUCKET"}
    assert sorted(role for _, role, _, _ in uploaders) == sorted(
        ["roles/storage.objectCreator", "roles/storage.objectViewer"] * len(UPLOADERS)
    )
    for env in (function_env(cmek_lines, f) for f in FUNCTIONS):
        assert env["CODETUNE_STATE_BUCKET"] == "acme-tuning-drop-state"
        assert env["CODETUNE_BUCKET"] == "acme-tuning-drop"


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
    assert len(deploys) == len(FUNCTIONS)
    for command in deploys:
        assert command[command.index("--ingress-settings") + 1] == "internal-only", command[3]
        assert "--no-allow-unauthenticated" in command
        account = command[command.index("--build-service-account") + 1]
        assert (
            account
            == "projects/acme-ml/serviceAccounts/codetune-build@acme-ml.iam.gserviceaccount.com"
        )


def test_every_bucket_prevents_public_access(deploy_lines: list[str]) -> None:
    for bucket in BUCKETS:
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
    assert checked == 5  # tune, status, evaluate; the sweep's job, created then updated


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
    assert sorted(made - kept) == sorted(("bucket", bucket) for bucket in BUCKETS)
    assert made - _removed(dry_run("teardown.sh", "--delete-data")) == set()
    # Grants go before the accounts, so that none lingers as deleted:serviceAccount.
    down = dry_run("teardown.sh")
    first_delete = next(i for i, line in enumerate(down) if "service-accounts delete" in line)
    assert all(
        i < first_delete for i, line in enumerate(down) if "remove-iam-policy-binding" in line
    )


FAKE_GCLOUD = """#!/bin/sh
# A Google Cloud that has everything already (every create fails) and answers describes: an
# older deployment, whose upload bucket holds three state objects until they are moved.
echo "$*" >> "$CALLS"
case "$*" in
  *"storage ls gs://acme-tuning-drop/_codetune/**"*)
    grep -q "^storage mv" "$CALLS" && exit 0
    printf 'gs://acme-tuning-drop/_codetune/records/%s.json\\n' a b c ;;
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
    # The older deployment's state moved once, before any function is replaced, and said.
    moves = [i for i, c in enumerate(made) if c[:2] == ["storage", "mv"]]
    deploys = [i for i, c in enumerate(made) if c[:2] == ["functions", "deploy"]]
    assert len(moves) == 1 and moves[0] < deploys[0]
    assert made[moves[0]][2:] == [
        "--no-clobber",
        "gs://acme-tuning-drop/_codetune",
        "gs://acme-tuning-drop-state",
    ]
    assert "moved 3 objects of an older deployment" in result.stderr
    assert "stay in gs://acme-tuning-drop/_codetune/" not in result.stderr
    # Job names come with the project's number: every function knows it.
    for command in (made[i] for i in deploys):
        assert (
            "CODETUNE_PROJECT_NUMBER=123456789012" in command[command.index("--set-env-vars") + 1]
        )
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
    deploy_lines: list[str], cmek_lines: list[str], tmp_path: Path
) -> None:
    """The real gcloud parses a command's arguments before it asks for credentials: with no
    account configured, a well-formed command fails on the missing account (exit 1), a
    malformed one on its arguments (exit 2). The optional ones too (uploaders, CMEK)."""
    assert GCLOUD, "the Google Cloud CLI (gcloud) must be installed for this test"
    commands = gcloud_lines(deploy_lines)
    commands += [c for c in gcloud_lines(cmek_lines) if c not in commands]
    commands += gcloud_lines(
        dry_run("teardown.sh", "--delete-data", *(a for u in UPLOADERS for a in ("--uploader", u)))
    )
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
    # validate and the sweep count the dataset with it; tune the converted file the job reads.
    for function in ("validate", "sweep", "tune"):
        assert any(
            line.startswith(f"cp {model} ") and line.endswith(f"/{function}/tokenizer.model")
            for line in lines
        ), function
        assert function_env(lines, function)["CODETUNE_TOKENIZER_MODEL"] == "tokenizer.model"
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


HEADINGS = [
    "APIs and service agents",
    "buckets",
    "topics",
    "identities and roles",
    "functions",
    "deliveries: push subscriptions, the Eventarc trigger's dead letters, the log sink, the sweep's schedule",
    "monitoring",
]


LEGEND_LINE = re.compile(r"#   ([A-Z][A-Z0-9_]+) +(.+)")


@pytest.mark.parametrize("script", ["deploy.sh", "teardown.sh"])
def test_the_dry_run_says_what_each_placeholder_stands_for(script: str) -> None:
    """Every value a dry run cannot know prints as a placeholder named at its top, and the list
    names no placeholder the commands do not hold."""
    extra = ["--delete-data"] if script == "teardown.sh" else []
    lines = dry_run(script, "--settings", str(SETTINGS), *extra)
    first_command = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    said = {}
    for i, line in enumerate(lines):
        if match := LEGEND_LINE.fullmatch(line):
            assert i < first_command, line
            said[match[1]] = match[2]
    commands = "\n".join(line for line in lines if not line.startswith("#"))
    # Upper-case words of the commands, less the functions' variables and the log filter's words.
    words = re.findall(r"(?<![A-Za-z0-9_])[A-Z][A-Z0-9_]*(?![A-Za-z0-9_])", commands)
    placeholders = {
        w
        for w in words
        if len(w) > 3 and not w.startswith(("CODETUNE_", "PIPELINE_STATE_")) and w != "POST"
    }
    assert placeholders == set(said), (placeholders, said)
    if script == "deploy.sh":
        assert {"PROJECT_NUMBER", "SINK_WRITER_IDENTITY", "RUN_APP_HASH"} <= set(said)


def test_the_dry_run_prints_its_commands_under_headings(deploy_lines: list[str]) -> None:
    headings = [line.removeprefix("# --- ") for line in deploy_lines if line.startswith("# --- ")]
    assert headings == HEADINGS
    under: dict[str, list[list[str]]] = {}
    heading = None
    for line in deploy_lines:
        if line.startswith("# --- "):
            heading = line.removeprefix("# --- ")
        elif not line.startswith("#"):
            assert heading, f"a command before the first heading: {line}"
            under.setdefault(heading, []).append(shlex.split(line))
    # Each group holds what its heading says, and its kind of command is nowhere else.
    for group, kind in [
        ("buckets", ["storage", "buckets", "create"]),
        ("topics", ["pubsub", "topics", "create"]),
        ("identities and roles", ["iam", "service-accounts", "create"]),
        ("identities and roles", ["iam", "roles", "create"]),
        ("functions", ["functions", "deploy"]),
        ("monitoring", ["logging", "metrics", "create"]),
    ]:
        holding = {
            h
            for h, commands in under.items()
            if any(c[1 : 1 + len(kind)] == kind for c in commands)
        }
        assert holding == {group}, (kind, holding)
    grants = [
        c
        for c in under["identities and roles"]
        if c[0] == "gcloud" and "add-iam-policy-binding" in c
    ]
    assert any(c[1:3] == ["storage", "buckets"] for c in grants)


def custom_roles_table() -> dict[str, set[str]]:
    text = ROLE_TABLE.read_text()
    table = text[text.index("| role | permissions | why |") :].split("\n\n")[0]
    rows = {}
    for line in table.splitlines()[2:]:
        role, permissions, _why = (c.strip() for c in line.strip("|").split("|"))
        rows[role.strip("`")] = {p.strip().strip("`") for p in permissions.split(",")}
    return rows


def test_the_custom_roles_hold_the_documented_permissions_and_no_more(
    deploy_lines: list[str],
) -> None:
    """Least privilege for Vertex AI: each custom role, created and then brought to its
    permissions by an update on every run, holds what docs/deploy.md lists; tune creates,
    reads and cancels jobs, status and the sweep only read them; every granted custom role is
    one of them."""
    made: dict[str, set[str]] = {}
    for command in gcloud_lines(deploy_lines):
        if command[1:3] == ["iam", "roles"] and command[3] in ("create", "update"):
            assert flag(command, "--project") == "acme-ml" and flag(command, "--stage") == "GA"
            permissions = set(flag(command, "--permissions").split(","))
            assert made.setdefault(command[4], permissions) == permissions, command[4]
    assert made == custom_roles_table()
    assert not [
        p for ps in made.values() for p in ps if "*" in p or not p.startswith("aiplatform.")
    ]
    jobs = ("tuningJobs", "pipelineJobs")
    assert made["codetune.tuner"] == {
        f"aiplatform.{j}.{verb}" for j in jobs for verb in ("create", "get", "list", "cancel")
    }
    assert made["codetune.jobReader"] == {
        f"aiplatform.{j}.{v}" for j in jobs for v in ("get", "list")
    }
    # generateContent, on a publisher model and on an endpoint alike; no job is read.
    assert made["codetune.evaluator"] == {"aiplatform.endpoints.predict"}
    custom = {
        role.removeprefix("projects/PROJECT/roles/")
        for _, role, _, _ in granted(deploy_lines)
        if role.startswith("projects/")
    }
    assert custom == set(made)


def test_a_rerun_removes_what_older_versions_granted_and_nothing_granted_now(
    cmek_lines: list[str],
) -> None:
    """The broad project roles and the upload bucket's grants on _codetune/ go, by their exact
    condition, before any function is replaced; no removal names a grant this run makes."""
    commands = gcloud_lines(cmek_lines)

    def binding(c: list[str]) -> tuple[str, str, str, tuple[str, str] | None]:
        return (
            c[4] if c[1] == "storage" else c[3],
            flag(c, "--member"),
            flag(c, "--role"),
            condition(c),
        )

    added = {binding(c) for c in commands if "add-iam-policy-binding" in c[:5] and "--role" in c}
    removed = [
        (i, binding(c)) for i, c in enumerate(commands) if "remove-iam-policy-binding" in c[:5]
    ]
    assert removed and not {b for _, b in removed} & added
    first_deploy = next(i for i, c in enumerate(commands) if c[1:3] == ["functions", "deploy"])
    assert all(i < first_deploy for i, _ in removed)
    old_roles = {(b[1].partition("@")[0], b[2]) for _, b in removed if b[0] == "acme-ml"}
    assert old_roles == {
        ("serviceAccount:codetune-tune", "roles/aiplatform.user"),
        ("serviceAccount:codetune-pipeline", "roles/aiplatform.user"),
        ("serviceAccount:codetune-status", "roles/aiplatform.viewer"),
        ("serviceAccount:codetune-sweep", "roles/aiplatform.viewer"),
        ("serviceAccount:codetune-build", "roles/cloudbuild.builds.builder"),
    }
    on_uploads = [b for _, b in removed if b[0] == "gs://acme-tuning-drop"]
    assert len(on_uploads) == 9
    for _, _, _, found in on_uploads:
        assert found and (
            "_codetune/" in found[1]
            or found[1] == 'resource.type == "storage.googleapis.com/Bucket"'
        )


def test_every_function_knows_the_deployments_project_number_and_region(
    deploy_lines: list[str],
) -> None:
    """A job name is accepted only when it names this project (Vertex AI names jobs by the
    project's number) and a region of the deployment: every function that reads one is told."""
    for function in FUNCTIONS:
        env = function_env(deploy_lines, function)
        assert env["CODETUNE_PROJECT"] == "acme-ml"
        assert env["CODETUNE_PROJECT_NUMBER"] == "PROJECT_NUMBER"
        assert env["CODETUNE_PIPELINE_REGION"] == "us-central1"


def test_status_gets_the_model_location_the_deployment_sets(tmp_path: Path) -> None:
    settings = tmp_path / "settings.env"
    settings.write_text(
        SETTINGS.read_text()
        + "CODETUNE_LOCATION=europe-west4\nCODETUNE_PIPELINE_REGION=europe-west4\n"
    )
    lines = dry_run("deploy.sh", "--settings", str(settings))
    for function in FUNCTIONS:
        env = function_env(lines, function)
        assert env["CODETUNE_LOCATION"] == "europe-west4", function
        # Every function holds job names to the region tune creates them in.
        assert env["CODETUNE_PIPELINE_REGION"] == "europe-west4", function


@pytest.mark.parametrize(
    ("extra", "setting", "state"),
    [
        ((), "", "acme-tuning-drop-state"),
        (("--state-bucket", "acme-state"), "", "acme-state"),
        ((), "STATE_BUCKET=acme-kept-state", "acme-kept-state"),
        (("--state-bucket", "acme-state"), "STATE_BUCKET=acme-kept-state", "acme-state"),
    ],
)
def test_the_state_bucket_is_named_by_flag_or_setting(
    tmp_path: Path, extra: tuple[str, ...], setting: str, state: str
) -> None:
    settings = tmp_path / "settings.env"
    settings.write_text(SETTINGS.read_text() + setting + "\n")
    lines = dry_run("deploy.sh", "--settings", str(settings), *extra)
    for verb in ("create", "update"):
        [command] = [
            c
            for c in gcloud_lines(lines)
            if c[1:4] == ["storage", "buckets", verb] and c[4] == f"gs://{state}"
        ]
        assert (
            "--public-access-prevention" in command and "--uniform-bucket-level-access" in command
        )
    assert function_env(lines, "tune")["CODETUNE_STATE_BUCKET"] == state
    [pipeline] = [
        c for c in gcloud_lines(lines)
        if c[1:4] == ["storage", "buckets", "add-iam-policy-binding"] and c[4] == f"gs://{state}"
        and flag(c, "--member").startswith("serviceAccount:codetune-pipeline@")
    ]  # fmt: skip
    assert (
        f"projects/_/buckets/{state}/objects/_codetune/pinned/"
        in (condition(pipeline) or ("", ""))[1]
    )
    moves = [c for c in gcloud_lines(lines) if c[1:3] == ["storage", "mv"]]
    assert moves and all(c[-1] == f"gs://{state}" for c in moves)
    down = gcloud_lines(
        dry_run("teardown.sh", "--settings", str(settings), *extra, "--delete-data")
    )
    assert ["gcloud", "storage", "rm", "--recursive", f"gs://{state}"] in down


@pytest.mark.parametrize("where", ["flag", "setting"])
@pytest.mark.parametrize("bucket", ["acme-tuning-drop", "acme-tuning-drop-pipeline"])
def test_a_state_bucket_uploaders_or_jobs_can_write_is_refused(
    tmp_path: Path, where: str, bucket: str
) -> None:
    settings = tmp_path / "settings.env"
    extra = ["--state-bucket", bucket] if where == "flag" else []
    settings.write_text(
        SETTINGS.read_text() + (f"STATE_BUCKET={bucket}\n" if where == "setting" else "")
    )
    for script in ("deploy.sh", "teardown.sh"):
        result = subprocess.run(
            ["bash", str(ROOT / "deploy" / script), *ARGS, "--settings", str(settings), *extra, "--dry-run"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert (
            result.returncode == 2 and "STATE_BUCKET must be a bucket of its own" in result.stderr
        )
        assert result.stdout == ""


@pytest.mark.parametrize(
    "member",
    [
        "allUsers",
        "allAuthenticatedUsers",
        "alice@acme.example",
        "user:",
        "user:a b",
        "user:a,group:b",
    ],
)
def test_an_uploader_must_be_a_principal(tmp_path: Path, member: str) -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "deploy" / "deploy.sh"), *ARGS, "--uploader", member, "--dry-run"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "an uploader is an IAM member" in result.stderr
    if "," not in member:  # in the file, a comma separates two members
        settings = tmp_path / "settings.env"
        settings.write_text(SETTINGS.read_text() + f"UPLOADERS=group:ml@acme.example,{member}\n")
        assert refused(settings).returncode == 2


def test_uploaders_from_the_file_and_flags_are_granted_once_and_removed(tmp_path: Path) -> None:
    settings = tmp_path / "settings.env"
    settings.write_text(SETTINGS.read_text() + f"UPLOADERS={UPLOADERS[0]}, {UPLOADERS[1]}\n")
    lines = dry_run("deploy.sh", "--settings", str(settings), "--uploader", UPLOADERS[0])
    grants = [
        (flag(c, "--member"), flag(c, "--role"))
        for c in gcloud_lines(lines)
        if "add-iam-policy-binding" in c and not flag(c, "--member").startswith("serviceAccount:")
    ]
    assert sorted(grants) == sorted(
        (m, r)
        for m in UPLOADERS
        for r in ("roles/storage.objectCreator", "roles/storage.objectViewer")
    )
    down = gcloud_lines(dry_run("teardown.sh", "--settings", str(settings)))
    removed = {
        (flag(c, "--member"), flag(c, "--role"))
        for c in down
        if "remove-iam-policy-binding" in c and "--all" in c
    }
    assert set(grants) <= removed
    # Teardown reaches every grant deploy makes on a bucket, with all its conditions.
    made = {
        (c[4], flag(c, "--member"), flag(c, "--role"))
        for c in gcloud_lines(lines)
        if c[1:4] == ["storage", "buckets", "add-iam-policy-binding"]
    }
    gone = {
        (c[4], flag(c, "--member"), flag(c, "--role"))
        for c in down
        if c[1:4] == ["storage", "buckets", "remove-iam-policy-binding"]
    }
    assert made <= gone


def test_a_deployment_without_a_budget_is_warned(tmp_path: Path) -> None:
    """Any upload could otherwise start a job of any size; the shipped settings set a cap."""

    def warned(*extra: str) -> bool:
        result = subprocess.run(
            ["bash", str(ROOT / "deploy" / "deploy.sh"), *ARGS, *extra, "--dry-run"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return "WARNING: no budget is set" in result.stderr

    bare = tmp_path / "bare.env"
    bare.write_text("CODETUNE_EPOCH_COUNT=3\n")
    assert warned("--settings", str(bare))
    shipped = ROOT / "deploy" / "settings.example.env"
    assert "CODETUNE_MAX_TRAINING_TOKENS=" in shipped.read_text()
    assert not warned("--settings", str(shipped))
    assert "CODETUNE_ALLOWED_BASE_MODELS=gemini-3.5-flash" in shipped.read_text()


def test_an_operator_may_read_the_records_and_ask_cancels_nothing_else() -> None:
    """codetune status, runs and cancel: read of the state bucket, publish on the validated
    topic (tune takes cancels there); never a write of state, never the uploads."""
    member = "user:ana@acme.example"
    theirs = [line for line in dry_run("deploy.sh", "--operator", member) if member in line]
    assert len(theirs) == 2, theirs
    assert any(
        "storage buckets add-iam-policy-binding gs://" in line
        and "-state " in line
        and line.endswith("--role roles/storage.objectViewer")
        for line in theirs
    )
    assert any(
        "pubsub topics add-iam-policy-binding" in line
        and "dataset-validated" in line
        and line.endswith("--role roles/pubsub.publisher")
        for line in theirs
    )
    result = subprocess.run(
        ["bash", str(ROOT / "deploy" / "deploy.sh"), *ARGS, "--operator", "allUsers", "--dry-run"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "an operator is an IAM member" in result.stderr


@pytest.mark.parametrize(
    ("name", "setting"),
    [
        ("CODETUNE_SECRETS", "SECRETS"),
        ("CODETUNE_NEAR_DUPLICATES", "NEAR_DUPLICATES"),
        ("CODETUNE_VALIDATION_SECONDS", "VALIDATION_SECONDS"),
        ("CODETUNE_STATE_BUCKET", "STATE_BUCKET"),
        ("CODETUNE_FINISHED_TOPIC", "FINISHED_TOPIC"),
        ("CODETUNE_EVALUATION", "EVALUATION"),
        ("CODETUNE_EVALUATION_SECONDS", "EVALUATION_SECONDS"),
        ("CODETUNE_EVALUATION_ATTEMPTS", "EVALUATION_ATTEMPTS"),
        ("CODETUNE_EVALUATION_MAX_EXAMPLES", "EVALUATION_MAX_EXAMPLES"),
        ("CODETUNE_EVALUATION_CONCURRENCY", "EVALUATION_CONCURRENCY"),
        ("CODETUNE_MULTI_REGIONS", "MULTI_REGIONS"),
    ],
)
def test_a_setting_deploy_sets_itself_is_refused_as_a_tuning_default(
    tmp_path: Path, name: str, setting: str
) -> None:
    """As a CODETUNE_* line it would reach only the functions that plan jobs, and disagree with
    what the others are given: the file must use the setting's own name."""
    settings = tmp_path / "settings.env"
    settings.write_text(SETTINGS.read_text() + f"{name}=on\n")
    for script in ("deploy.sh", "teardown.sh"):
        result = subprocess.run(
            ["bash", str(ROOT / "deploy" / script), *ARGS, "--settings", str(settings), "--dry-run"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 2 and result.stdout == "", script
        assert f"{name} in {settings}" in result.stderr and f"write {setting}=on" in result.stderr
    # A tuning parameter of a similar name is still a tuning default.
    settings.write_text(SETTINGS.read_text() + "CODETUNE_EVALUATION_INTERVAL=20\n")
    tune = function_env(dry_run("deploy.sh", "--settings", str(settings)), "tune")
    assert tune["CODETUNE_EVALUATION_INTERVAL"] == "20"


EVALUATION_DEFAULTS = {
    "CODETUNE_EVALUATION": "on",
    "CODETUNE_EVALUATION_TOPIC": "codetune-evaluate",
    "CODETUNE_EVALUATION_MAX_EXAMPLES": "200",
    "CODETUNE_EVALUATION_CONCURRENCY": "4",
    "CODETUNE_EVALUATION_SECONDS": "480",
    "CODETUNE_EVALUATION_ATTEMPTS": "5",
}


def evaluation_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k in EVALUATION_DEFAULTS}


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ("", EVALUATION_DEFAULTS),
        (
            "EVALUATION=off\nEVALUATION_MAX_EXAMPLES=50\nEVALUATION_CONCURRENCY=2\n"
            "EVALUATION_SECONDS=300\nEVALUATION_ATTEMPTS=9\n",
            {
                **EVALUATION_DEFAULTS,
                "CODETUNE_EVALUATION": "off",
                "CODETUNE_EVALUATION_MAX_EXAMPLES": "50",
                "CODETUNE_EVALUATION_CONCURRENCY": "2",
                "CODETUNE_EVALUATION_SECONDS": "300",
                "CODETUNE_EVALUATION_ATTEMPTS": "9",
            },
        ),
    ],
)
def test_every_function_gets_the_same_evaluation_settings(
    tmp_path: Path, settings: str, expected: dict[str, str]
) -> None:
    """tune plans an evaluation with them (validate and the sweep plan as tune does), status and
    the sweep ask on its topic, evaluate answers: one value each, everywhere, read by the
    functions as written."""
    file = tmp_path / "settings.env"
    text = SETTINGS.read_text()
    for line in settings.splitlines():  # the example file sets each: replace its line
        key = line.partition("=")[0]
        text = re.sub(rf"(?m)^{key}=.*$", line, text)
    file.write_text(text)
    lines = dry_run("deploy.sh", "--settings", str(file))
    for function in FUNCTIONS:
        env = function_env(lines, function)
        assert evaluation_env(env) == expected, function
        read = Settings.from_environment(env)
        assert read.evaluation is (expected["CODETUNE_EVALUATION"] == "on")
        assert read.evaluation_topic_path == "projects/acme-ml/topics/codetune-evaluate"
        assert read.evaluation_max_examples == int(expected["CODETUNE_EVALUATION_MAX_EXAMPLES"])
        assert read.evaluation_concurrency == int(expected["CODETUNE_EVALUATION_CONCURRENCY"])
        assert read.evaluation_seconds == float(expected["CODETUNE_EVALUATION_SECONDS"])
        assert read.evaluation_attempts == int(expected["CODETUNE_EVALUATION_ATTEMPTS"])
    # Turned off, the function is still there to end the evaluations that were planned.
    assert any(c[1:4] == ["functions", "deploy", "codetune-evaluate"] for c in gcloud_lines(lines))


def test_the_example_settings_set_every_evaluation_setting_at_its_default() -> None:
    """The example file shows each setting with the value a deployment without it gets."""
    text = SETTINGS.read_text()
    for name, value in EVALUATION_DEFAULTS.items():
        if name != "CODETUNE_EVALUATION_TOPIC":
            assert re.search(rf"(?m)^{name.removeprefix('CODETUNE_')}={value}$", text), name
    bare = function_env(dry_run("deploy.sh"), "evaluate")
    assert evaluation_env(bare) == EVALUATION_DEFAULTS


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("EVALUATION=yes", "EVALUATION must be on or off"),
        ("EVALUATION_SECONDS=481", "EVALUATION_SECONDS must be 60 to 480"),
        ("EVALUATION_SECONDS=59", "EVALUATION_SECONDS must be 60 to 480"),
        ("EVALUATION_SECONDS=0480", "EVALUATION_SECONDS must be 60 to 480"),
        ("EVALUATION_ATTEMPTS=10", "EVALUATION_ATTEMPTS must be 1 to 9"),
        ("EVALUATION_ATTEMPTS=0", "EVALUATION_ATTEMPTS must be 1 to 9"),
        ("EVALUATION_MAX_EXAMPLES=0", "EVALUATION_MAX_EXAMPLES must be a whole number of 1"),
        ("EVALUATION_CONCURRENCY=four", "EVALUATION_CONCURRENCY must be a whole number of 1"),
        ("EVALUATION_CONCURRENCY=-2", "EVALUATION_CONCURRENCY must be a whole number of 1"),
        ("CODETUNE_EVALUATION_TOPIC=mine", "CODETUNE_EVALUATION_TOPIC in"),
        ("MULTI_REGIONS=asia", "MULTI_REGIONS must be us, eu, us,eu or none"),
    ],
)
def test_an_evaluation_setting_the_functions_cannot_run_on_is_refused(
    tmp_path: Path, line: str, error: str
) -> None:
    settings = tmp_path / "settings.env"
    settings.write_text(SETTINGS.read_text() + line + "\n")
    result = refused(settings)
    assert result.returncode == 2 and error in result.stderr, result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(("seconds", "timeout"), [("480", 540), ("120", 180)])
def test_evaluate_has_its_answering_time_and_a_minute_within_its_ack_deadline(
    tmp_path: Path, seconds: str, timeout: int
) -> None:
    """A delivery answers for EVALUATION_SECONDS, then scores and records what it has: cut off
    sooner it would record nothing; outliving the ack deadline, its request would be delivered
    again while it still runs. An event-driven function runs at most 540 s."""
    settings = tmp_path / "settings.env"
    settings.write_text(
        SETTINGS.read_text().replace("EVALUATION_SECONDS=480", f"EVALUATION_SECONDS={seconds}")
    )
    lines = dry_run("deploy.sh", "--settings", str(settings))
    commands = gcloud_lines(lines)
    [evaluate] = [c for c in commands if c[1:4] == ["functions", "deploy", "codetune-evaluate"]]
    assert flag(evaluate, "--timeout") == f"{timeout}s"
    assert "--trigger-http" in evaluate and flag(evaluate, "--entry-point") == "evaluate"
    read = Settings.from_environment(function_env(lines, "evaluate"))
    assert timeout - read.evaluation_seconds == 60 and timeout <= 540
    [push] = [
        c for c in commands
        if c[1:4] == ["pubsub", "subscriptions", "update"] and c[4] == "codetune-evaluate"
    ]  # fmt: skip
    assert timeout < int(flag(push, "--ack-deadline"))
    assert flag(push, "--dead-letter-topic") == "codetune-evaluate-dead-letter"
    # The delivery after the last attempt records the failure before Pub/Sub gives up.
    assert read.evaluation_attempts + 1 <= int(flag(push, "--max-delivery-attempts"))
    [create] = [
        c for c in commands
        if c[1:4] == ["pubsub", "subscriptions", "create"] and c[4] == "codetune-evaluate"
    ]  # fmt: skip
    assert flag(create, "--topic") == "codetune-evaluate"
    assert flag(push, "--push-auth-service-account").startswith("codetune-pusher@")


def test_only_status_and_the_sweep_ask_for_evaluations_and_evaluate_writes_only_run_pages(
    cmek_lines: list[str],
) -> None:
    rows = granted(cmek_lines)
    asking = {who for who, role, on, _ in rows if on == "topic codetune-evaluate"}
    assert asking == {"codetune-status", "codetune-sweep"}
    evaluate = sorted((role, on, title) for who, role, on, title in rows
                      if who == "codetune-evaluate")  # fmt: skip
    assert evaluate == sorted(
        [
            ("projects/PROJECT/roles/codetune.evaluator", "project", "—"),
            ("roles/storage.objectUser", "gs://BUCKET", "evaluate-writes-run-pages"),
            ("roles/storage.objectUser", "gs://BUCKET-state", "—"),
            ("roles/pubsub.publisher", "topic codetune-finished", "—"),
        ]
    )


@pytest.mark.parametrize(("value", "read"), [("us,eu", ("us", "eu")), ("none", ())])
def test_every_function_holds_tuned_models_to_the_same_multi_regions(
    tmp_path: Path, value: str, read: tuple[str, ...]
) -> None:
    """status records a tuned model's endpoint and evaluate asks it: both, and the functions
    that plan, accept the same multi-regions, or none is set and each derives them alike."""
    settings = tmp_path / "settings.env"
    settings.write_text(SETTINGS.read_text() + f"MULTI_REGIONS={value}\n")
    lines = dry_run("deploy.sh", "--settings", str(settings))
    bare = dry_run("deploy.sh", "--settings", str(SETTINGS))
    for function in FUNCTIONS:
        env = function_env(lines, function)
        assert env["CODETUNE_MULTI_REGIONS"] == value, function
        assert Settings.from_environment(env).multi_regions == read
        assert "CODETUNE_MULTI_REGIONS" not in function_env(bare, function)
