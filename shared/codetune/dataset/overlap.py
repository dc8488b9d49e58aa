"""Train/evaluation overlap (rule `overlap`): an evaluation example that is also a training
example, exactly or once white space is normalised.

A model scored on examples it was tuned on looks better than it is, and no tuning service
checks for it. The evaluation dataset is small (Gemini: at most 5,000 examples; code-bison:
250), so its fingerprints are held in memory while the training dataset streams past: memory
is bounded by the evaluation dataset's limit, whatever the training dataset's size.
"""

from __future__ import annotations

from typing import Any

import msgspec

from codetune.dataset.checks import Findings, Texts, TimeShare
from codetune.dataset.lines import ByteStream
from codetune.dataset.near import METHOD, NearIndex, signature
from codetune.dataset.report import Finding, ValidationReport
from codetune.dataset.rules import DatasetFormat, DatasetRole, Rule, RuleSet, SecretSeverity
from codetune.dataset.validator import validate_stream

# Fingerprints an index keeps: twice the largest evaluation dataset a base model takes (Gemini's
# 5,000 validation examples, codetune.gemini.models); a larger one is rejected by its own
# validation anyway.
MAX_INDEXED = 10_000
_LINES_SHOWN = 20


def normalised(texts: Texts) -> tuple[str, ...]:
    """An example's texts with every run of white space made one space, ends trimmed."""
    return tuple(" ".join(text.split()) for text in texts if text is not None)


def _exact(texts: Texts) -> tuple[str, ...]:
    return tuple(text for text in texts if text is not None)


class EvaluationIndex(msgspec.Struct):
    """The fingerprints of an evaluation dataset's examples, built while it is validated.

    An example's fingerprint covers all its texts (prompt and response, or every turn), so the
    same prompt with another answer is not an overlap. A conversation without a system text
    and a code-generation example with the same texts are the same example.
    """

    dataset: str  # the evaluation dataset, as findings name it
    name: str = "evaluation_index"
    lines: dict[int, int] = msgspec.field(default_factory=dict)  # normalised fingerprint -> line
    # line -> fingerprint of the raw texts
    exact: dict[int, int] = msgspec.field(default_factory=dict)
    examples: int = 0
    near: NearIndex | None = None  # signatures for near-overlap (opt-in, codetune.dataset.near)

    def example(self, line: int, texts: Texts, findings: Findings) -> None:
        self.examples += 1
        if len(self.lines) < MAX_INDEXED:
            key = hash(normalised(texts))
            if key not in self.lines:
                self.lines[key] = line
                self.exact[line] = hash(_exact(texts))
                if self.near is not None:
                    self.near.add(line, signature(texts))

    def finish(self, findings: Findings) -> dict[str, Any]:
        return {}  # the evaluation dataset's own report says nothing of it


class TrainingOverlap(msgspec.Struct):
    """Checks each training example against an evaluation dataset's index. The near-overlap
    search (opt-in) stops when its `near_time` is spent; the exact check never does."""

    index: EvaluationIndex
    name: str = "overlap"
    found: int = 0
    whitespace_only: int = 0
    nearly: int = 0
    evaluation_lines: set[int] = msgspec.field(default_factory=set)
    near_time: TimeShare = msgspec.field(default_factory=TimeShare)

    def example(self, line: int, texts: Texts, findings: Findings) -> None:
        evaluation_line = self.index.lines.get(hash(normalised(texts)))
        if evaluation_line is None:
            if self.index.near is not None and not self.near_time.out(line):
                self._near(line, texts, self.index.near, findings)
            return
        self.found += 1
        self.evaluation_lines.add(evaluation_line)
        exact = self.index.exact[evaluation_line] == hash(_exact(texts))
        if not exact:
            self.whitespace_only += 1
        how = "" if exact else ", once white space is normalised"
        findings.error(
            Rule.OVERLAP,
            f"example is also line {evaluation_line} of the evaluation dataset "
            f"{self.index.dataset}{how}; a model scored on what it trained on looks better than "
            "it is: remove it from one of them",
            line,
        )

    def _near(self, line: int, texts: Texts, near: NearIndex, findings: Findings) -> None:
        match = near.nearest(signature(texts))
        if match is None:
            return
        evaluation_line, similarity = match
        self.nearly += 1
        findings.warn(
            Rule.NEAR_OVERLAP,
            f"example is about {similarity:.0%} similar to line {evaluation_line} of the "
            f"evaluation dataset {self.index.dataset} (word 3-grams): the evaluation may "
            "overstate the tuned model",
            line,
        )

    def finish(self, findings: Findings) -> dict[str, Any]:
        near = {}
        if self.index.near is not None:
            near = {
                "training_examples_nearly_in_evaluation": self.nearly,
                "near_method": METHOD,
                "near_stopped_at_line": self.near_time.stopped_at,
            }
            if self.near_time.stopped_at is not None:
                findings.warn(
                    Rule.NEAR_OVERLAP,
                    f"the near-overlap search stopped at training line {self.near_time.stopped_at:,}: "
                    f"its {self.near_time.seconds:g} seconds were spent; later training examples "
                    "were not compared",
                    None,
                )
        return {
            **near,
            "evaluation_dataset": self.index.dataset,
            "evaluation_examples": self.index.examples,
            "training_examples_in_evaluation": self.found,
            "of_which_only_after_normalising_white_space": self.whitespace_only,
            "evaluation_lines": sorted(self.evaluation_lines)[:_LINES_SHOWN],
        }


def index_evaluation(
    stream: ByteStream,
    dataset: str,
    *,
    rules: RuleSet,
    format: DatasetFormat | None = None,
    secrets: SecretSeverity = SecretSeverity.ERROR,
    near: bool = False,
) -> tuple[ValidationReport, EvaluationIndex]:
    """Validate an evaluation dataset and index its examples in the same pass (and their
    signatures, for near-overlap, if `near`)."""
    index = EvaluationIndex(dataset, near=NearIndex(limit=MAX_INDEXED) if near else None)
    report = validate_stream(
        stream,
        dataset,
        role=DatasetRole.EVALUATION,
        rules=rules,
        format=format,
        checks=[index],
        secrets=secrets,
    )
    return report, index


def find_overlap(
    training: ByteStream,
    evaluation: ByteStream,
    evaluation_name: str,
    *,
    rules: RuleSet,
    training_format: DatasetFormat | None = None,
    evaluation_format: DatasetFormat | None = None,
    near: bool = False,
    near_time_limit: float | None = None,
) -> Overlap:
    """The training examples that are evaluation examples (and, if `near`, nearly, for at most
    `near_time_limit` seconds), for a pair that was each validated before (tune's last look
    before it pays for a job)."""
    off = SecretSeverity.OFF  # both were scanned when they were validated
    _, index = index_evaluation(
        evaluation, evaluation_name, rules=rules, format=evaluation_format, secrets=off, near=near
    )
    report = validate_stream(
        training,
        "training",
        rules=rules,
        format=training_format,
        checks=[TrainingOverlap(index, near_time=TimeShare(near_time_limit))],
        secrets=off,
    )
    return Overlap(
        report.errors.counts[str(Rule.OVERLAP)],
        [finding for finding in report.errors.listed if finding.rule is Rule.OVERLAP],
        report.warnings.counts[str(Rule.NEAR_OVERLAP)],
        [finding for finding in report.warnings.listed if finding.rule is Rule.NEAR_OVERLAP],
    )


class Overlap(msgspec.Struct, frozen=True):
    """What `find_overlap` found: counts, and the first findings of each."""

    exact: int
    exact_listed: list[Finding]
    near: int
    near_listed: list[Finding]
