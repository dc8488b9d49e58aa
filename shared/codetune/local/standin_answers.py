"""What the Vertex AI stand-in's models say: deterministic answers that make a tuned model
better on prompts like its training data and no better elsewhere.

- A base model answers something plausible and generic: a short reply with a code block that
  parses, picked from the prompt's words and a hash of (model, prompt). The same prompt to the
  same model always gets the same answer.
- A tuned model answers from the training example whose prompt (its last user turn) is
  nearest the request's last user turn, when that example is at least `threshold` alike (the
  Sørensen-Dice coefficient of their character trigrams, ties to the earliest line): the
  example's model turn, with what the request says differently put in place of what the
  example's prompt said (`adapted`: the training answer's form, the request's names). Anything
  less alike gets the base model's answer. What a tuned model learnt, it applies; it learnt
  nothing else.
"""

from __future__ import annotations

import hashlib
import keyword
import re
from collections.abc import Iterable
from difflib import SequenceMatcher
from typing import Any

import msgspec
import orjson

DEFAULT_THRESHOLD = 0.5


class Example(msgspec.Struct, frozen=True):
    """A training example as the tuned model remembers it."""

    prompt: str  # its last user turn before its last model turn
    answer: str  # that model turn
    grams: frozenset[str]


def turn_text(content: Any) -> str:
    """The text of one Content (its text parts, joined)."""
    parts = content.get("parts") if isinstance(content, dict) else None
    return "".join(
        p["text"] for p in parts or [] if isinstance(p, dict) and isinstance(p.get("text"), str)
    )


def last_user_turn(contents: Iterable[Any]) -> str:
    """The text of the last turn that is the user's (no role means the user's)."""
    user = [c for c in contents if isinstance(c, dict) and c.get("role", "user") == "user"]
    return turn_text(user[-1]) if user else ""


def grams(text: str) -> frozenset[str]:
    """Character trigrams of the text, lowercased, each run of white space one space."""
    flat = " ".join(text.lower().split())
    return frozenset(flat[i : i + 3] for i in range(max(1, len(flat) - 2)))


def alike(a: frozenset[str], b: frozenset[str]) -> float:
    """Sørensen-Dice: 2|A∩B| / (|A|+|B|), 0 to 1."""
    return 2 * len(a & b) / (len(a) + len(b)) if a or b else 1.0


def training_examples(data: bytes) -> tuple[Example, ...]:
    """The examples of a Gemini tuning dataset (JSONL) that end with a model turn; lines that
    are not such examples are skipped (the job's own check fails a dataset with any)."""
    found = []
    for line in data.splitlines():
        try:
            contents = orjson.loads(line).get("contents") or []
        except (orjson.JSONDecodeError, AttributeError):
            continue
        last = max((i for i, c in enumerate(contents) if c.get("role") == "model"), default=None)
        if last is None:
            continue
        prompt = last_user_turn(contents[:last])
        found.append(Example(prompt, turn_text(contents[last]), grams(prompt)))
    return tuple(found)


def nearest(
    examples: tuple[Example, ...], prompt: str, threshold: float = DEFAULT_THRESHOLD
) -> Example | None:
    """The example whose prompt is most alike, if at least `threshold` alike."""
    wanted = grams(prompt)
    best, score = None, threshold
    for example in examples:
        similarity = alike(wanted, example.grams)
        if similarity > score or (best is None and similarity == score):
            best, score = example, similarity
    return best


_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
# Words that make a poor function name.
# fmt: off
_COMMON = frozenset((
    "a", "an", "and", "the", "to", "of", "in", "on", "for", "with", "that", "this", "is", "are",
    "be", "it", "as", "by", "or", "from", "write", "code", "function", "python", "return",
    "returns", "please", "using", "use", "make", "create", "give", "me", "can", "you", "how",
    "what",
))
_JS_RESERVED = frozenset((
    "class", "const", "let", "var", "new", "delete", "typeof", "switch", "case", "default", "this",
))
# fmt: on
_OPENERS = (
    "Here is a straightforward way to do it:",
    "One way to write this:",
    "A simple version:",
)
_CLOSERS = (
    "Adjust the names and the edge cases to your code.",
    "This covers the common case; add error handling as you need it.",
    "Try it on a few inputs before you rely on it.",
)


def generic_answer(model: str, prompt: str) -> str:
    """A base model's plausible, generic answer: the same for the same model and prompt."""
    digest = hashlib.sha256(f"{model}\n{prompt}".encode()).digest()
    words = [w.lower() for w in _WORD.findall(prompt) if w.lower() not in _COMMON][:2]
    name = "_".join(words) or "solve"
    name += "_" if keyword.iskeyword(name) or name in _JS_RESERVED else ""
    summary = " ".join(prompt.split())[:60] or "the task"
    if re.search(r"\b(javascript|typescript|node)\b", prompt, re.IGNORECASE):
        code = f"```javascript\nfunction {name}(value) {{\n  // {summary}\n  return value;\n}}\n```"
    else:
        code = f"```python\ndef {name}(value):\n    # {summary}\n    return value\n```"
    return f"{_OPENERS[digest[0] % 3]}\n\n{code}\n\n{_CLOSERS[digest[1] % 3]}"


_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def adapted(example: Example, prompt: str) -> str:
    """The example's answer to the request's prompt: each stretch of the example's prompt the
    request replaces (word by word, difflib's alignment) replaced in the answer the same way,
    longest first. Deterministic; nothing in the answer that the prompts share changes."""
    learnt, asked = list(_TOKEN.finditer(example.prompt)), list(_TOKEN.finditer(prompt))
    matcher = SequenceMatcher(
        a=[m.group() for m in learnt], b=[m.group() for m in asked], autojunk=False
    )
    swaps: dict[str, str] = {}
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if tag != "replace":
            # With a token of context on each side, so that what was only added or left out
            # (`f()` asked as `f(x, y)`) has a place in the answer to go.
            i1, j1 = max(0, i1 - 1), max(0, j1 - 1)
            i2, j2 = min(len(learnt), i2 + 1), min(len(asked), j2 + 1)
        if i1 == i2 or j1 == j2:
            continue
        old = example.prompt[learnt[i1].start() : learnt[i2 - 1].end()]
        swaps.setdefault(old, prompt[asked[j1].start() : asked[j2 - 1].end()])
    answer = example.answer
    for old in sorted(swaps, key=len, reverse=True):
        if len(old) > 1:  # a lone character would rewrite the answer's punctuation
            answer = answer.replace(old, swaps[old])
    return answer
