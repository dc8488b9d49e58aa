"""What every part of one validation pass shares: its rules, the file's kind and format, and
the findings (the `Findings` a check and the secret scan report through)."""

from __future__ import annotations

import msgspec

from codetune.dataset.checks import Texts
from codetune.dataset.keys import MAX_FIELD_CHARS, bounded_field
from codetune.dataset.report import Finding, Findings
from codetune.dataset.rules import DatasetFormat, DatasetKind, DatasetRole, Rule, RuleSet


class PassState(msgspec.Struct):
    """The state of one pass that is not any one part's."""

    kind: DatasetKind | None
    role: DatasetRole
    rules: RuleSet
    format: DatasetFormat | None = None  # None: detected from the first example
    format_line: int | None = None  # where the format was detected; None when it was given
    kind_line: int | None = None  # where the kind was detected; None when it was given
    errors: Findings = msgspec.field(default_factory=Findings)
    warnings: Findings = msgspec.field(default_factory=Findings)

    def error(self, rule: Rule, message: str, line: int | None, field: str | None = None) -> None:
        if field is not None and len(field) > MAX_FIELD_CHARS:
            field = bounded_field(field)
        self.errors.add(Finding(rule, message, line, field))

    def warn(self, rule: Rule, message: str, line: int | None, field: str | None = None) -> None:
        if field is not None and len(field) > MAX_FIELD_CHARS:
            field = bounded_field(field)
        self.warnings.add(Finding(rule, message, line, field))

    def field_of(self, index: int, texts: Texts) -> str:
        """The field `texts[index]` came from, in the file's format (see codetune.dataset.checks)."""
        if self.kind is DatasetKind.GENERATION:
            return ("input_text", "output_text")[index]
        if self.format is DatasetFormat.GEMINI:
            return "systemInstruction.parts" if index == 0 else f"contents[{index - 1}].parts"
        if self.format is DatasetFormat.OPENAI:
            offset = 0 if texts[0] is None else 1
            return (
                "messages[0].content" if index == 0 else f"messages[{index - 1 + offset}].content"
            )
        return "context" if index == 0 else f"messages[{index - 1}].content"

    def detected_kind(self, kind: DatasetKind, line: int) -> None:
        """The first example set the file's kind."""
        self.kind, self.kind_line = kind, line
        self.check_kind_for_role()

    def check_kind_for_role(self) -> None:
        if (
            self.role is DatasetRole.EVALUATION
            and self.kind is DatasetKind.CHAT
            and not self.rules.evaluation_chat
        ):
            self.error(
                Rule.EVALUATION_CHAT,
                "code chat takes no evaluation dataset; evaluation data must be code generation",
                None,
            )
