"""Near-duplicates (opt-in): examples that are nearly the same, within a training dataset (rule
`near-duplicate`) or between it and its evaluation dataset (rule `near-overlap`). Warnings.

Each example becomes a MinHash signature of its word 3-grams (`datasketch`), and a MinHash LSH
index finds the earlier examples likely to be at least `THRESHOLD` similar (Jaccard of the
3-gram sets), estimated from the signatures. About 30-60 us an example, several times the
rest of validation, so it runs only when asked: `codetune validate --near-duplicates`, or a
deployment's `CODETUNE_NEAR_DUPLICATES=on` (benchmarks/README.md gives its cost beside).

Memory is bounded: the training index holds the first `MAX_INDEXED` examples (later ones are
compared with those, not with each other), about 1.2 KB each; an evaluation dataset (at most
5,000 examples) is indexed whole. Time is bounded too, where the deployment says: the search
stops when its share of the validation's time is spent, and its warning says where.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from zlib import crc32

import msgspec

from codetune.dataset.checks import Findings, Texts, TimeShare
from codetune.dataset.rules import Rule

THRESHOLD = 0.8  # Jaccard similarity of the word 3-gram sets
NUM_PERM = 64  # MinHash permutations: the estimate's standard error is about 1/sqrt(64) = 0.125
SHINGLE = 3  # words
# LSH bands x rows: a pair with Jaccard s is a candidate with probability 1 - (1 - s^6)^10:
# 95% at 0.8, 99.9% at 0.9, 38% at 0.6 (candidates are then checked against THRESHOLD). The
# balance datasketch would choose for 0.8 misses about a third of the pairs at 0.9.
BANDS = (10, 6)
MAX_INDEXED = 50_000
METHOD = (
    f"MinHash ({NUM_PERM} permutations) of word {SHINGLE}-grams, LSH ({BANDS[0]} bands of "
    f"{BANDS[1]}) at Jaccard {THRESHOLD} (datasketch); similarities are estimates"
)
_PAIRS_SHOWN = 10
# Odd 64-bit multipliers (from SplitMix64) that mix a 3-gram's word hashes in order.
_MIX = (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9)


@cache
def _datasketch() -> Any:
    """datasketch, imported on first use (about a second, with scipy): only when asked for."""
    import datasketch

    return datasketch


def signature(texts: Texts) -> Any:
    """The MinHash of an example's word 3-grams (all its texts, case folded, split at white
    space): each word hashed once, each 3-gram's hash combined from its words' in numpy."""
    import numpy

    words = " ".join(text for text in texts if text).lower().split() or [""]
    # crc32, not hash(): the same signature in every process, so a report never changes
    # between runs (Python salts str hashes per process).
    hashes = numpy.fromiter(
        (crc32(word.encode("utf-8", "surrogatepass")) for word in words),
        dtype=numpy.uint64,
        count=len(words),
    )
    if len(hashes) >= SHINGLE:  # wrapping uint64 arithmetic: a hash of the three in order
        hashes = hashes[:-2] * _MIX[0] + hashes[1:-1] * _MIX[1] + hashes[2:]
    minhash = _datasketch().MinHash(
        num_perm=NUM_PERM, scheme="affine64", hashfunc=int, permutations=_permutations()
    )
    minhash.update_batch(numpy.unique(hashes).tolist())
    return minhash


@cache
def _permutations() -> Any:
    """The permutations every signature shares, drawn once: drawing them is most of the cost
    of a new MinHash (0.37 ms against 0.02)."""
    return _datasketch().MinHash(num_perm=NUM_PERM, scheme="affine64").permutations


def _index() -> Any:
    return _datasketch().MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM, params=BANDS)


class NearIndex(msgspec.Struct):
    """Signatures by line, and the LSH index over them."""

    limit: int = MAX_INDEXED
    lsh: Any = msgspec.field(default_factory=_index)
    signatures: dict[int, Any] = msgspec.field(default_factory=dict)

    def add(self, line: int, minhash: Any) -> bool:
        if len(self.signatures) >= self.limit:
            return False
        lean = _datasketch().LeanMinHash(minhash)
        self.lsh.insert(line, lean, check_duplication=False)
        self.signatures[line] = lean
        return True

    def nearest(self, minhash: Any) -> tuple[int, float] | None:
        """The most similar indexed line at or over the threshold, and its similarity."""
        best: tuple[int, float] | None = None
        for line in self.lsh.query(minhash):
            similarity = minhash.jaccard(self.signatures[line])
            if similarity >= THRESHOLD and (best is None or similarity > best[1]):
                best = (line, similarity)
        return best


class NearDuplicates(msgspec.Struct):
    """Training examples nearly the same as an earlier one (exact repeats are the
    `duplicate` rule's)."""

    name: str = "near_duplicates"
    index: NearIndex = msgspec.field(default_factory=NearIndex)
    exact: set[int] = msgspec.field(default_factory=set)
    examples: int = 0
    pairs: list[tuple[int, int, float]] = msgspec.field(default_factory=list)
    # Read every 64 examples, each about 0.2 ms.
    time: TimeShare = msgspec.field(default_factory=TimeShare)

    def example(self, line: int, texts: Texts, findings: Findings) -> None:
        if self.time.out(line):
            return
        key = hash(texts)
        if key in self.exact:
            return  # an exact repeat: warned about as `duplicate`
        if len(self.exact) < self.index.limit:
            self.exact.add(key)
        minhash = signature(texts)
        match = self.index.nearest(minhash)
        if match is not None:
            first, similarity = match
            self.examples += 1
            if len(self.pairs) < _PAIRS_SHOWN:
                self.pairs.append((first, line, round(similarity, 2)))
            findings.warn(
                Rule.NEAR_DUPLICATE,
                f"example is about {similarity:.0%} similar to line {first} (word 3-grams); "
                "near-copies weigh one pattern more than the others in tuning",
                line,
            )
        self.index.add(line, minhash)

    def finish(self, findings: Findings) -> dict[str, Any]:
        if self.time.stopped_at is not None:
            findings.warn(
                Rule.NEAR_DUPLICATE,
                f"the near-duplicate search stopped at line {self.time.stopped_at:,}: its "
                f"{self.time.seconds:g} seconds (the deployment's share of the validation's time) "
                "were spent; later examples were not compared",
                None,
            )
        return {
            "method": METHOD,
            "examples_nearly_repeating_an_earlier_one": self.examples,
            "first_pairs": [list(pair) for pair in self.pairs],
            "examples_indexed": len(self.index.signatures),
            "stopped_at_line": self.time.stopped_at,
        }
