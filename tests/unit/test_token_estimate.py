"""Without a tokenizer the estimate must never count fewer tokens than the job bills. Held here
against a SentencePiece tokenizer (BPE with byte fallback, as Gemini's family uses) trained on
this repository's own code and prose, a CJK sample and emoji (docs/parameters.md has the
ratios this measures)."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
import sentencepiece

from codetune.dataset.rules import estimate_tokens, token_weight

ROOT = Path(__file__).resolve().parents[2]


def _blocks(paths: list[Path], skip: tuple[str, ...] = ()) -> list[str]:
    blocks = (block for path in paths for block in path.read_text().split("\n\n"))
    return [b for b in blocks if b.strip() and not b.lstrip().startswith(skip)]


@pytest.fixture(scope="module")
def samples() -> dict[str, list[str]]:
    rng = random.Random(3)
    emoji = [*range(0x1F300, 0x1F5FF), *range(0x1F600, 0x1F64F), *range(0x1F680, 0x1F6C5)]
    return {
        "code": _blocks(sorted((ROOT / "shared" / "codetune").rglob("*.py"))),
        "prose": _blocks(
            [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"], ("|", "<", "```")
        ),
        "cjk": (ROOT / "tests" / "fixtures" / "cjk-prose.txt").read_text().splitlines(),
        "emoji": [
            "".join(chr(rng.choice(emoji)) + (" " if rng.random() < 0.3 else "") for _ in range(40))
            for _ in range(200)
        ],
    }


@pytest.fixture(scope="module")
def tokenizer(samples: dict[str, list[str]]) -> sentencepiece.SentencePieceProcessor:
    written = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter([text for texts in samples.values() for text in texts]),
        model_writer=written,
        vocab_size=8000,
        model_type="bpe",
        byte_fallback=True,
        hard_vocab_limit=False,
        max_sentence_length=1 << 20,
        minloglevel=2,
    )
    return sentencepiece.SentencePieceProcessor(model_proto=written.getvalue())


@pytest.mark.parametrize("script", ["code", "prose", "cjk", "emoji"])
def test_the_estimate_never_counts_fewer_tokens_than_a_tokenizer(
    samples: dict[str, list[str]], tokenizer: sentencepiece.SentencePieceProcessor, script: str
) -> None:
    texts = samples[script]
    counted = sum(len(tokenizer.encode(text)) for text in texts)
    estimated = sum(estimate_tokens(token_weight(text)) for text in texts)
    assert estimated >= counted, f"{script}: {estimated / counted:.2f} of the tokenizer's count"


def test_characters_over_4_alone_undercounts_cjk_and_emoji(
    samples: dict[str, list[str]], tokenizer: sentencepiece.SentencePieceProcessor
) -> None:
    """What the estimate was before: a quarter token per character, whatever the script."""
    for script in ("cjk", "emoji"):
        texts = samples[script]
        counted = sum(len(tokenizer.encode(text)) for text in texts)
        assert sum(estimate_tokens(len(text)) for text in texts) < counted / 2, script


def test_outside_ascii_every_byte_is_a_token_at_most_one() -> None:
    """The bound that makes CJK and emoji safe with any byte-fallback tokenizer: a text costs
    no more than one token per UTF-8 byte of its non-ASCII characters (plus its ASCII)."""
    for text in ("代码风格", "🙂🚀", "café", "naïve résumé 123", "x" * 7):
        ascii_chars = len(text.encode("ascii", "ignore"))
        non_ascii_bytes = len(text.encode()) - ascii_chars
        assert estimate_tokens(token_weight(text)) == -(-ascii_chars // 4) + non_ascii_bytes
