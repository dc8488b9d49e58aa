"""What a model answered: the text, why it stopped and what it counted, read from
generateContent's GenerateContentResponse (aiplatform v1) with msgspec. Pure.

An answer with nothing in it is still an answer: a blocked prompt (`promptFeedback.blockReason`,
no candidates), a candidate stopped for safety with no content, or parts with no text read as
an empty text with the reason, so the evaluation scores it (as the worst answer) rather than
stopping. Parts marked `thought` are the model's thinking, not its answer, and are left out.
"""

from __future__ import annotations

import msgspec

from codetune.evaluation.plan import Answer


class _Part(msgspec.Struct, rename="camel"):
    text: str | None = None
    thought: bool = False


class _Content(msgspec.Struct, rename="camel"):
    parts: list[_Part] = msgspec.field(default_factory=list)


class _Candidate(msgspec.Struct, rename="camel"):
    content: _Content | None = None
    finish_reason: str | None = None


class _PromptFeedback(msgspec.Struct, rename="camel"):
    block_reason: str | None = None


class _UsageMetadata(msgspec.Struct, rename="camel"):
    prompt_token_count: int = 0
    candidates_token_count: int = 0
    thoughts_token_count: int = 0


class _Response(msgspec.Struct, rename="camel"):
    candidates: list[_Candidate] = msgspec.field(default_factory=list)
    prompt_feedback: _PromptFeedback | None = None
    usage_metadata: _UsageMetadata | None = None
    model_version: str | None = None


class UnreadableAnswer(ValueError):
    """A response that is not a GenerateContentResponse: nothing to score, nothing to store."""


class GeneratedAnswer(msgspec.Struct, frozen=True, omit_defaults=True):
    """One model's answer to one prompt."""

    text: str  # the first candidate's text parts, joined; "" when there is none
    finish_reason: str | None = None  # STOP, MAX_TOKENS, SAFETY, ... (Candidate.finishReason)
    block_reason: str | None = None  # the prompt was blocked (promptFeedback.blockReason)
    prompt_tokens: int = 0
    candidates_tokens: int = 0
    thoughts_tokens: int = 0  # billed as output, never part of the text
    model_version: str | None = None

    @property
    def reason(self) -> str | None:
        """Why the answer is what it is: the finish reason, or `BLOCKED: <reason>`."""
        if self.block_reason is not None:
            return f"BLOCKED: {self.block_reason}"
        return self.finish_reason

    def answer(self, line: int) -> Answer:
        """The record's form of it, for the example on `line`: output counts thoughts too."""
        return Answer(
            line=line,
            text=self.text,
            finish_reason=self.reason,
            prompt_tokens=self.prompt_tokens,
            output_tokens=self.candidates_tokens + self.thoughts_tokens,
        )


def parse_answer(response: object) -> GeneratedAnswer:
    """The answer in a GenerateContentResponse (as JSON: a dict); UnreadableAnswer when it is
    not one (a wrong type anywhere), never an answer made up."""
    try:
        read = msgspec.convert(response, _Response)
    except msgspec.ValidationError as fault:
        raise UnreadableAnswer(f"not a GenerateContentResponse: {fault}") from None
    usage = read.usage_metadata or _UsageMetadata()
    first = read.candidates[0] if read.candidates else None
    parts = first.content.parts if first is not None and first.content is not None else []
    block = read.prompt_feedback.block_reason if read.prompt_feedback else None
    return GeneratedAnswer(
        text="".join(part.text for part in parts if part.text and not part.thought),
        finish_reason=first.finish_reason if first is not None else None,
        block_reason=block if first is None else None,
        prompt_tokens=usage.prompt_token_count,
        candidates_tokens=usage.candidates_token_count,
        thoughts_tokens=usage.thoughts_token_count,
        model_version=read.model_version,
    )


def publisher_model(endpoint: str, base_model: str) -> str:
    """The base model's full name where the tuned model's endpoint is served (the same project
    and location), so both answer from the same place: `projects/P/locations/L/endpoints/E`
    and `gemini-3.5-flash` give `projects/P/locations/L/publishers/google/models/gemini-3.5-flash`.
    The result is held to the deployment by the client like any name."""
    parent, _, _ = endpoint.partition("/endpoints/")
    return f"{parent}/publishers/google/models/{base_model}"
