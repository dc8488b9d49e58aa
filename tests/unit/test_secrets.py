"""Rule `secret`: credentials in any field are found, reported with line, field and kind, never
the value; code that merely looks secret-like is not (the false positives a user would hit).

The secrets are synthetic, made here from seeded random characters in each provider's format.
"""

from __future__ import annotations

import base64
import json
import random
import string

import orjson
import pytest

from codetune.dataset import DatasetFormat
from codetune.dataset.keys import shown_key
from codetune.dataset.secrets import DETECTORS, PreFilter, SecretSeverity, entropy, find
from codetune.tuning.backends import rules_for
from tests.support import chat, dataset, generation, generation_dataset, validate

RANDOM = random.Random(20261129)
ALNUM = string.ascii_letters + string.digits


def chars(count: int, alphabet: str = ALNUM) -> str:
    return "".join(RANDOM.choice(alphabet) for _ in range(count))


def b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


SERVICE_ACCOUNT_KEY = json.dumps(
    {
        "type": "service_account",
        "project_id": "demo-project",
        "private_key_id": chars(40, "0123456789abcdef"),
        "private_key": "-----BEGIN PRIVATE KEY-----\n"
        + chars(64)
        + "\n-----END PRIVATE KEY-----\n",
        "client_email": "bot@demo-project.iam.gserviceaccount.com",
    },
    indent=2,
)

# One secret of each kind the scan finds, inside the code a dataset would carry.
SECRETS: dict[str, str] = {
    "AWS access key": f'aws_access_key_id = "AKIA{chars(16, string.ascii_uppercase + string.digits)}"',
    "AWS secret access key": f'AWS_SECRET_ACCESS_KEY = "{chars(40, ALNUM + "/+")}"',
    "private key": "key = '''-----BEGIN RSA PRIVATE KEY-----\nMIIEow" + chars(60) + "\n'''",
    "Google API key": f'const key = "AIza{chars(35, ALNUM + "_-")}";',
    "GitHub token": f"GITHUB_TOKEN=ghp_{chars(36)}",
    "GitLab token": f'curl --header "PRIVATE-TOKEN: glpat-{chars(20, ALNUM + "_-")}" https://gitlab.com',
    "Slack token": f'client = WebClient(token="xoxb-{chars(12, string.digits)}-{chars(13, string.digits)}-{chars(24, string.ascii_lowercase + string.digits)}")',
    "Stripe key": f"stripe.api_key = 'sk_live_{chars(24)}'",
    "OpenAI key": f'OPENAI_API_KEY="sk-proj-{chars(20)}T3BlbkFJ{chars(20)}"',
    "JSON web token": "Authorization: Bearer "
    + ".".join(
        (b64url({"alg": "HS256", "typ": "JWT"}), b64url({"sub": "42"}), chars(43, ALNUM + "_-"))
    ),
    "npm token": f"//registry.npmjs.org/:_authToken=npm_{chars(36)}",
    "PyPI token": f"password = pypi-AgEIcHlwaS5vcmc{chars(80, ALNUM + '_-')}",
    "SendGrid key": f"sg = SendGridAPIClient('SG.{chars(22, ALNUM + '_-')}.{chars(43, ALNUM + '_-')}')",
    "Square OAuth secret": f"SQUARE_SECRET = 'sq0csp-{chars(43, ALNUM + '_-')}'",
    "Azure storage key": "DefaultEndpointsProtocol=https;AccountName=demo;AccountKey="
    + chars(86, ALNUM + "+/")
    + "==;EndpointSuffix=core.windows.net",
    "password in a URL": f'engine = create_engine("postgresql://admin:{chars(16)}@db.internal:5432/app")',
    "secret assigned to a name": f'DB_PASSWORD = "{chars(18)}"',
    "token assigned to a name": f"const apiToken = '{chars(32)}';",
}

# Code that looks secret-like and holds none: what a user's dataset is full of.
LOOKALIKES = (
    'password = os.environ["DB_PASSWORD"]',
    "token = get_token(request)",
    "tokens = text.split()",
    'tokenizer = AutoTokenizer.from_pretrained("bert-base-uncased")',
    'api_key = "YOUR_API_KEY"',
    'password = "<password>"',
    'secret = "${SECRET}"',
    'password = "changeme"',
    'password = "password123"',
    'password = "hunter2"',
    'POSTGRES_PASSWORD = "postgrespostgres"',
    'aws_access_key_id = "AKIAIOSFODNN7EXAMPLE"',  # AWS's documentation key
    'aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
    'DATABASE_URL = "postgres://user:password@localhost:5432/app"',
    'url = f"https://{user}:{password}@{host}/"',
    'key = "name"',
    "secret_key = settings.SECRET_KEY",
    "-----BEGIN PUBLIC KEY-----",
    "-----BEGIN CERTIFICATE-----",
    'token_type = "Bearer"',
    'password_hash = "$2b$12$KIXQJ9eZ1Qz7mYfO0xg2UuQ3kW5fQ5H1b2d8j6s9T0a1b2c3d4e5f"',
    'request_token = "123e4567-e89b-12d3-a456-426614174000"',
    'if password == "":',
    'headers = {"Authorization": f"Bearer {token}"}',
    'API_KEY = os.getenv("API_KEY", "")',
    'jwt.decode(token, key="secret", algorithms=["HS256"])',
    'session["csrf_token"] = secrets.token_hex(16)',
    'assert config["password"] == "********"',
    "def check_password(password: str, hashed: str) -> bool:",
    "private_key = load_pem_private_key(data, password=None)",
    'const token = localStorage.getItem("token");',
)


def test_every_detector_of_the_table_has_a_synthetic_secret() -> None:
    assert {d.kind for d in DETECTORS} == set(SECRETS)


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_a_secret_of_each_kind_is_found_with_its_line_field_and_kind(kind: str) -> None:
    code = f"import os\n\n{SECRETS[kind]}\nprint('done')\n"
    lines = generation_dataset(12)
    lines[4] = generation(4, output_text=f"```\n{code}```")
    report = validate(dataset(lines))
    assert report["valid"] is False
    [error] = [e for e in report["errors"] if e["rule"] == "secret"]
    assert (error["line"], error["field"]) == (5, "output_text")
    assert error["message"].startswith(f"{kind} on line 4 of the text")
    assert report["stats"]["secrets"]["by_kind"] == {kind: 1}


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_the_value_is_never_in_the_report(kind: str) -> None:
    lines = generation_dataset(12)
    lines[0] = generation(0, input_text=f"Fix this Python code:\n{SECRETS[kind]}")
    text = orjson.dumps(validate(dataset(lines))).decode()
    secret_parts = [part for part in _tokens(SECRETS[kind]) if len(part) >= 12]
    assert secret_parts and not any(part in text for part in secret_parts)


def _tokens(code: str) -> list[str]:
    for mark in "\"'=:;,()\n @/":
        code = code.replace(mark, " ")
    return code.split()


def test_a_service_account_key_is_found() -> None:
    lines = generation_dataset(12)
    lines[7] = generation(7, output_text=f"Save this as key.json:\n{SERVICE_ACCOUNT_KEY}")
    [error] = [e for e in validate(dataset(lines))["errors"] if e["rule"] == "secret"]
    assert error["line"] == 8 and error["message"].startswith("private key on line 6")


@pytest.mark.parametrize("code", LOOKALIKES)
def test_code_that_only_looks_secret_like_is_not_reported(code: str) -> None:
    assert find({"output_text": code}) == []


def test_the_false_positive_rate_on_lookalikes_is_zero_and_on_secrets_recall_is_full() -> None:
    """The rate the docs quote: lookalikes flagged / lookalikes; secrets found / secrets."""
    false_positives = [code for code in LOOKALIKES if find({"t": code})]
    found = [kind for kind, code in SECRETS.items() if find({"t": code})]
    assert (len(false_positives), len(found)) == (0, len(SECRETS))


def test_secrets_are_found_in_every_field_of_every_format() -> None:
    token = SECRETS["GitHub token"]
    chats = [chat(i) for i in range(12)]
    chats[2] = chat(
        2,
        context=f"Our CI sets {token}",
        messages=[
            {"author": "user", "content": "Write a Python client."},
            {"author": "assistant", "content": "import requests"},
        ],
    )
    [error] = [e for e in validate(dataset(chats))["errors"] if e["rule"] == "secret"]
    assert (error["line"], error["field"]) == (3, "context")
    gemini = {
        "systemInstruction": {"parts": [{"text": "You write Go."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Deploy it"}]},
            {"role": "model", "parts": [{"text": "ok"}, {"text": f"export {token}"}]},
        ],
    }
    rules = rules_for("gemini-2.5-flash")
    assert rules is not None
    report = validate(
        dataset([orjson.dumps(gemini)] * 12), rules=rules, format=DatasetFormat.GEMINI
    )
    fields = {(e["line"], e["field"]) for e in report["errors"] if e["rule"] == "secret"}
    assert (1, "contents[1].parts[1].text") in fields
    # A field outside the format is scanned too.
    extra = generation_dataset(12)
    extra[0] = generation(0, notes={"deploy": token})
    [error] = [e for e in validate(dataset(extra))["errors"] if e["rule"] == "secret"]
    assert error["field"] == "notes.deploy"


def test_the_deployment_may_make_secrets_warnings_or_a_user_turn_them_off() -> None:
    from io import BytesIO

    from codetune.dataset import code_bison, validate_stream

    lines = generation_dataset(12)
    lines[1] = generation(1, output_text=SECRETS["Stripe key"])
    data = dataset(lines)
    rules = code_bison("code-bison@002")
    warned = validate_stream(BytesIO(data), "d", rules=rules, secrets=SecretSeverity.WARNING)
    assert warned.valid and warned.warnings.counts["secret"] == 1
    off = validate_stream(BytesIO(data), "d", rules=rules, secrets=SecretSeverity.OFF)
    assert off.valid and "secret" not in off.warnings.counts and "secrets" not in off.stats


def test_the_prefilter_is_a_necessary_condition_of_every_detector() -> None:
    """The detectors only see lines their pre-filter let through: each synthetic secret, as a
    JSON line, must pass its own detector's pre-filter."""
    prefilter = PreFilter()
    for index, detector in enumerate(DETECTORS):
        line = orjson.dumps({"output_text": SECRETS[detector.kind]})
        assert index in prefilter.matches(line), detector.kind
    assert not prefilter.any(orjson.dumps({"input_text": "Write Python: add two numbers"}))


def test_the_prefilter_reads_escaped_slashes_as_json_writers_emit_them() -> None:
    line = json.dumps({"t": SECRETS["password in a URL"]}).replace("/", "\\/").encode()
    assert PreFilter().any(line)
    assert find(orjson.loads(line))


def test_entropy() -> None:
    assert entropy("aaaa") == 0
    assert entropy("abcd") == 2


def test_a_token_used_as_a_key_is_found_and_never_shown_whole() -> None:
    token = "ghp_" + chars(36)
    lines = generation_dataset(12)
    lines[3] = generation(3, notes={token: "deploy key"})
    report = validate(dataset(lines))
    [error] = [e for e in report["errors"] if e["rule"] == "secret"]
    assert error["line"] == 4 and error["message"].startswith("GitHub token in a key")
    assert error["field"] == f"notes.{shown_key(token)}"
    assert token not in orjson.dumps(report).decode()


def test_what_is_set_beside_a_dataset_is_scanned_as_its_lines_are() -> None:
    """The manifest's values (and keys) and the object's metadata: a key in default_context
    becomes every converted example's system instruction."""
    from io import BytesIO

    from codetune.dataset import code_bison, validate_stream
    from codetune.tuning.sources import layer_findings, layer_strings

    token, key = SECRETS["GitHub token"], "AKIA" + chars(16, string.ascii_uppercase)
    layers = [
        ("deployment", {"display_name": SECRETS["Stripe key"]}),  # the deployment's: not looked at
        ("manifest", {"default_context": f"Deploy with {token}", "labels": {key: "x"}}),
        ("manifest", {"evaluation_data_uri": "gs://b/incoming/t.eval.jsonl"}),
        ("metadata", {"display_name": SECRETS["Slack token"]}),
    ]
    data = dataset(generation_dataset(12))

    def secrets(severity: SecretSeverity) -> dict[str, list[tuple[str, str]]]:
        report = validate_stream(
            BytesIO(data),
            "d",
            rules=code_bison("code-bison@002"),
            secrets=severity,
            beside=layer_strings(layers),
        ).to_dict()
        return {
            kind: [
                (f["field"], f["message"].partition(" on line")[0])
                for f in report[kind]
                if f["rule"] == "secret"
            ]
            for kind in ("errors", "warnings")
        }

    found = [
        ("manifest: parameters.default_context", "GitHub token"),
        (f"manifest: parameters.labels.{shown_key(key)}", "AWS access key in a key; remove it (and revoke it: it was shared with this file): a tuned model can repeat its training data"),
        ("metadata: codetune-display_name", "Slack token"),
    ]  # fmt: skip
    assert secrets(SecretSeverity.ERROR) == {"errors": found, "warnings": []}
    assert secrets(SecretSeverity.WARNING) == {"errors": [], "warnings": found}
    assert secrets(SecretSeverity.OFF) == {"errors": [], "warnings": []}
    assert [(f.field, f.line) for f in layer_findings(layers)] == [
        (field, None) for field, _ in found
    ]
    assert layer_findings(layers, SecretSeverity.OFF) == []
    assert all(
        token not in f.message and key not in (f.field or "") for f in layer_findings(layers)
    )
