"""Credentials in examples (rule `secret`): a model tuned on a key can repeat it to anyone.

Two stages, so that the scan is on by default within the validator's speed budget:

1. A pre-filter, one Hyperscan pass over each line as written (JSON, escapes and all), looks
   for what every secret of each kind must contain (`Detector.prefilter`). Almost no line of
   real code data matches, and that line costs about a microsecond.
2. A line that matches is decoded, and each of its strings goes through the matching
   detectors: `detect-secrets`' plugins (Yelp's maintained detector, whose patterns follow the
   token formats the providers publish), then the heuristics that keep placeholders and
   names out (`plausible`). A finding names the line, the field and the kind; never the value.

The pre-filter bounds what is found: a detector only sees lines its pre-filter matched. Text
that hides a credential behind JSON `\\u` escapes of its letters is not found.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Generator, Iterable, Iterator
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any, cast

import msgspec

from codetune.dataset.keys import strings
from codetune.dataset.rules import Rule, SecretSeverity

if TYPE_CHECKING:
    from codetune.dataset.checks import Findings
    from codetune.dataset.keys import LineScan


class Detector(msgspec.Struct, frozen=True):
    """One kind of credential: how to find a line that may hold it, and what confirms it."""

    kind: str  # what a finding calls it
    # A Hyperscan pattern over the JSON line that every secret of this kind matches: the token
    # format's fixed prefix where it has one (cheap to compile and to scan).
    prefilter: str
    plugin: str  # the detect-secrets plugin that confirms it ("module:Class"), or one of ours
    generic: bool = False  # a name or URL, not a token format: the value must look random
    pattern: int | None = None  # which of the plugin's patterns, when it has several kinds
    assignment: bool = False  # a value assigned to a name: `x = read_secret()` is no secret
    caseless: bool = False
    source: str = ""


# A quote, as written inside a JSON string (escaped) or in the decoded text the detectors read.
_Q = r"(?:\\?\"|'|`)"
# A generic finding's value must look random: at least this long, and at least this many bits
# of Shannon entropy per character (gitleaks' generic-api-key rule uses 3.5 for API keys;
# passwords chosen by people run lower, so 3.0 here).
MIN_GENERIC_LENGTH = 8
MIN_GENERIC_ENTROPY = 3.0
# A name's assignment (or comparison) to a quoted value at least MIN_GENERIC_LENGTH long.
_ASSIGNED = (
    r"\w*[\]'\"\\]{0,4}\s*(?:=>?|:=?|==?=?|!==?)\s*@?" + _Q + rf"[^\s'\"`]{{{MIN_GENERIC_LENGTH}}}"
)

# Adding a row is the whole change. Sources: the detect-secrets plugin named (its patterns and
# their references), and for the rows marked "own", the provider's published token format.
DETECTORS: tuple[Detector, ...] = (
    Detector(
        "AWS access key",
        r"A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA",
        "aws:AWSKeyDetector",
        pattern=0,
        source="detect-secrets AWSKeyDetector; AWS IAM 'Understanding unique ID prefixes'",
    ),
    Detector(
        "AWS secret access key",
        r"aws.{0,20}(?:key|pw|pass|token)",
        "aws:AWSKeyDetector",
        pattern=1,
        caseless=True,
        source="detect-secrets AWSKeyDetector",
    ),
    Detector(
        "private key",
        r"BEGIN (?:DSA |EC |OPENSSH |PGP |RSA |SSH2 ENCRYPTED )?PRIVATE KEY|PuTTY-User-Key-File-2",
        "private_key:PrivateKeyDetector",
        source="detect-secrets PrivateKeyDetector; a Google service account key's private_key",
    ),
    Detector(
        "Google API key",
        r"AIza",
        "codetune:GoogleApiKeyDetector",
        source="own: Google Cloud 'Manage API keys' (keys start AIza, 39 characters)",
    ),
    Detector(
        "GitHub token",
        r"gh[pousr]_",
        "github_token:GitHubTokenDetector",
        source="detect-secrets GitHubTokenDetector; GitHub 'Behind GitHub's new token formats'",
    ),
    Detector(
        "GitLab token",
        r"gl(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas)-|GR1348941",
        "gitlab_token:GitLabTokenDetector",
        source="detect-secrets GitLabTokenDetector; GitLab 'GitLab token overview'",
    ),
    Detector(
        "Slack token",
        r"xox[abposr]-(?:\d+-)+[a-z0-9]+|hooks\.slack\.com(?:\\?/)+services(?:\\?/)+T",
        "slack:SlackDetector",
        caseless=True,
        source="detect-secrets SlackDetector",
    ),
    Detector(
        "Stripe key",
        r"[rs]k_live_",
        "stripe:StripeDetector",
        source="detect-secrets StripeDetector",
    ),
    Detector(
        "OpenAI key",
        r"T3BlbkFJ",
        "openai:OpenAIDetector",
        source="detect-secrets OpenAIDetector",
    ),
    Detector(
        "JSON web token",
        r"eyJ[A-Za-z0-9_=\-]+\.[A-Za-z0-9_=\-]+",
        "jwt:JwtTokenDetector",
        source="detect-secrets JwtTokenDetector (RFC 7519; checked to decode)",
    ),
    Detector(
        "npm token",
        r"_authToken=\s*(?:npm_|[A-Fa-f0-9\-]{36})",
        "npm:NpmDetector",
        source="detect-secrets NpmDetector",
    ),
    Detector(
        "PyPI token",
        r"pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)",
        "pypi_token:PypiTokenDetector",
        source="detect-secrets PypiTokenDetector; PyPI token scanning",
    ),
    Detector(
        "SendGrid key",
        r"SG\.[a-zA-Z0-9_\-]{22}\.",
        "sendgrid:SendGridDetector",
        source="detect-secrets SendGridDetector",
    ),
    Detector(
        "Square OAuth secret",
        r"sq0csp-",
        "square_oauth:SquareOAuthDetector",
        source="detect-secrets SquareOAuthDetector",
    ),
    Detector(
        "Azure storage key",
        r"AccountKey=",
        "azure_storage_key:AzureStorageKeyDetector",
        source="detect-secrets AzureStorageKeyDetector",
    ),
    Detector(
        "password in a URL",
        r":(?:\\?/){2}[^\s/:@\"]+:[^\s/@\"]+@",
        "basic_auth:BasicAuthDetector",
        generic=True,
        source="detect-secrets BasicAuthDetector (RFC 3986 userinfo)",
    ),
    Detector(
        "secret assigned to a name",
        # KeywordDetector's names (api_?key, db_?pass, password, pwd, secret, contraseña...)
        # all hold one of these.
        r"(?:key|pass|pwd|secret|contrase)" + _ASSIGNED,
        "keyword:KeywordDetector",
        generic=True,
        assignment=True,
        caseless=True,
        source="detect-secrets KeywordDetector (its names, quoted values)",
    ),
    Detector(
        "token assigned to a name",
        r"token" + _ASSIGNED,
        "codetune:TokenAssignmentDetector",
        generic=True,
        assignment=True,
        caseless=True,
        source="own: KeywordDetector's quoted-value form for names with 'token'",
    ),
)

# Values that are placeholders in documentation and tutorials, whatever the detector (AWS's
# own documentation key is AKIAIOSFODNN7EXAMPLE).
PLACEHOLDER = re.compile(
    r"example|sample|dummy|placeholder|redacted|changeme|your|x{4}|\*{3}|<|>|\{|\}",
    re.IGNORECASE,
)
# A generic value that is the name again ("password": "password123") is not a secret.
NAMES_AS_VALUES = re.compile(r"pass|secret|token|key", re.IGNORECASE)


class Found(msgspec.Struct, frozen=True):
    """One credential: where, and what kind. Its value is never kept."""

    field: str
    text_line: int  # 1-based line of the field's text
    kind: str
    in_key: bool = False  # the credential is a key (the field names it cut)

    def describe(self) -> str:
        where = "in a key" if self.in_key else f"on line {self.text_line} of the text"
        return (
            f"{self.kind} {where}; remove it (and revoke it: it was shared with this file): a "
            "tuned model can repeat its training data"
        )


class PreFilter:
    """Every detector's pre-filter in one Hyperscan database: `any(line)` is the fast test of
    every line; `locate(text)` finds which text lines of a string may hold which kinds."""

    def __init__(self, detectors: tuple[Detector, ...] = DETECTORS) -> None:
        import hyperscan  # here, not at import: tune and status never scan

        self.detectors = detectors
        self._stopped = hyperscan.ScanTerminated
        self._first = self._compile(hyperscan.HS_FLAG_SINGLEMATCH).scan
        self._every: Any = None  # compiled on the first line that gets through

    def _compile(self, flag: int) -> Any:
        import hyperscan

        database = hyperscan.Database()
        database.compile(
            expressions=[d.prefilter.encode() for d in self.detectors],
            ids=list(range(len(self.detectors))),
            elements=len(self.detectors),
            flags=[
                flag | (hyperscan.HS_FLAG_CASELESS if d.caseless else 0) for d in self.detectors
            ],
        )
        return database

    def any(self, data: bytes | memoryview) -> bool:
        """Whether any detector may find something in `data`."""
        try:
            # Any buffer will do (a line is often a view of the read chunk).
            self._first(cast(bytes, data), match_event_handler=_stop)
        except self._stopped:
            return True
        return False

    def matches(self, data: bytes) -> set[int]:
        """The detectors whose pre-filter matches `data`."""
        return {detector for detectors in self.locate(data).values() for detector in detectors}

    def locate(self, data: bytes) -> dict[tuple[int, int], set[int]]:
        """The detectors that match, by the span (start, end) of the text line, split at
        newlines, where each match ends: one scan of the whole string."""
        if self._every is None:
            self._every = self._compile(0).scan
        found: dict[tuple[int, int], set[int]] = {}

        def add(detector: int, _start: int, end: int, *_: object) -> None:
            line = (data.rfind(b"\n", 0, end - 1) + 1, _line_end(data, end - 1))
            found.setdefault(line, set()).add(detector)

        self._every(data, match_event_handler=add)
        return found


def _line_end(data: bytes, index: int) -> int:
    end = data.find(b"\n", index)
    return len(data) if end < 0 else end


def _stop(*_: object) -> bool:
    return True  # stop scanning at the first match


@cache
def prefilter() -> PreFilter:
    return PreFilter()


def line_scan(secrets: bool = True) -> LineScan:
    """The validator's one Hyperscan pass a line, for one pass: with the secret pre-filter
    (`secrets`), and the duplicate-key test's patterns in any case (codetune.dataset.keys)."""
    from codetune.dataset.keys import LineScan

    return LineScan(DETECTORS if secrets else ())


def entropy(text: str) -> float:
    """Shannon entropy of the text's characters, in bits per character."""
    counts = Counter(text)
    size = len(text)
    return -sum(n / size * math.log2(n / size) for n in counts.values())


def plausible(value: str, detector: Detector, line: str) -> bool:
    """Whether a detector's match is worth an error: not a placeholder, and for a name or URL,
    a value that looks random rather than a word, a variable or a template."""
    if PLACEHOLDER.search(value):
        return False
    if not detector.generic:
        return True
    from detect_secrets.filters import heuristic

    return not (
        len(value) < MIN_GENERIC_LENGTH
        or entropy(value) < MIN_GENERIC_ENTROPY
        or NAMES_AS_VALUES.search(value)
        or heuristic.is_sequential_string(value)
        or heuristic.is_templated_secret(value)
        or heuristic.is_prefixed_with_dollar_sign(value)
        or (
            detector.assignment
            and (
                heuristic.is_indirect_reference(line) or heuristic.is_likely_id_string(value, line)
            )
        )
        or heuristic.is_potential_uuid(value)
    )


@cache
def _plugin(name: str) -> Any:
    """The detector's plugin, imported on first use: detect-secrets costs ~0.25 s to import,
    and most datasets never need it."""
    module, _, cls = name.partition(":")
    if module == "codetune":
        return _own_plugins()[cls]()
    return getattr(import_module(f"detect_secrets.plugins.{module}"), cls)()


@cache
def _own_plugins() -> dict[str, type]:
    from detect_secrets.plugins.base import RegexBasedDetector

    class GoogleApiKeyDetector(RegexBasedDetector):
        secret_type = "Google API Key"
        denylist = (re.compile(r"AIza[0-9A-Za-z_\-]{35}"),)

    class TokenAssignmentDetector(RegexBasedDetector):
        secret_type = "Token"
        denylist = (
            re.compile(
                r"token\w*['\"\]]{0,2}\s*(?:=>?|:=?|==?=?|!==?)\s*@?(['\"`])([^'\"`\s]+)\1",
                re.IGNORECASE,
            ),
        )

        def analyze_string(self, string: str) -> Generator[str, None, None]:
            for regex in self.denylist:
                for match in regex.finditer(string):
                    yield match.group(2)

    return {
        "GoogleApiKeyDetector": GoogleApiKeyDetector,
        "TokenAssignmentDetector": TokenAssignmentDetector,
    }


def _values(detector: Detector, line: str) -> Iterator[str]:
    """What the detector's plugin finds in a line (one of its patterns, if the row says)."""
    plugin = _plugin(detector.plugin)
    if detector.pattern is None:
        yield from plugin.analyze_string(line)
        return
    for match in plugin.denylist[detector.pattern].findall(line):
        yield from (part for part in match if part) if isinstance(match, tuple) else (match,)


def find(example: Any, filter: PreFilter | None = None) -> list[Found]:
    """The credentials in a decoded example, keys included, each once per field, text line and
    kind. A value that a token format's detector found is not found again by a generic one."""
    return find_strings(strings(example), filter)


def find_strings(
    strings: Iterable[tuple[str, str, bool]], filter: PreFilter | None = None
) -> list[Found]:
    """The credentials in `(field, text, is a key)` strings (see `find`)."""
    filter = filter or prefilter()
    found: list[Found] = []
    for path, text, in_key in strings:
        encoded = text.encode("utf-8", "surrogatepass")
        if not filter.any(encoded):
            continue
        for (start, end), matched in sorted(filter.locate(encoded).items()):
            number = encoded.count(b"\n", 0, start) + 1
            line = encoded[start:end].decode("utf-8", "surrogatepass")
            seen: set[str] = set()
            # Token formats first (the table's order), generic names and URLs last.
            for index in sorted(matched, key=lambda i: (filter.detectors[i].generic, i)):
                detector = filter.detectors[index]
                for value in _values(detector, line):
                    if (
                        value
                        and not any(value in known or known in value for known in seen)
                        and plausible(value, detector, line)
                    ):
                        seen.add(value)
                        found.append(Found(path, number, detector.kind, in_key))
                        break
    return found


class SecretScan(msgspec.Struct):
    """The validator's secret scan: the pre-filter on every line (in the validator's one scan a
    line, `line_scan`), the detectors on the few lines it lets through."""

    severity: SecretSeverity = SecretSeverity.ERROR
    name: str = "secrets"
    examples: int = 0
    kinds: Counter[str] = msgspec.field(default_factory=Counter)
    lines_checked: int = 0  # lines the pre-filter let through

    def examine(self, number: int, example: Any, findings: Findings) -> None:
        """A line the pre-filter let through: its strings go through the detectors."""
        self.lines_checked += 1
        found = find(example, prefilter())
        if not found:
            return
        self.examples += 1
        report = findings.error if self.severity is SecretSeverity.ERROR else findings.warn
        for secret in found:
            self.kinds[secret.kind] += 1
            report(Rule.SECRET, secret.describe(), number, secret.field)

    def beside(self, texts: Iterable[tuple[str, str, bool]], findings: Findings) -> None:
        """The strings set beside the dataset (its manifest's and metadata's: `(field, text, is
        a key)`, codetune.tuning.sources.layer_strings), reported as the lines' are, with no
        line."""
        report = findings.error if self.severity is SecretSeverity.ERROR else findings.warn
        for secret in find_strings(texts):
            self.kinds[secret.kind] += 1
            report(Rule.SECRET, secret.describe(), None, secret.field)

    def stats(self) -> dict[str, Any]:
        return {
            "severity": str(self.severity),
            "examples_with_secrets": self.examples,
            "by_kind": dict(sorted(self.kinds.items())),
            "lines_checked_by_detectors": self.lines_checked,
        }
