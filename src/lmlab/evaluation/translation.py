"""Scores of a pair-task model: exact match, token accuracy, and both by sequence length.

- exact match: the whole predicted action sequence equals the reference (SCAN's measure).
- token accuracy: position-wise agreement, counted over the longer of prediction and reference,
  so a missing or an extra token is an error too.
Breakdowns group the test pairs by the reference's length in actions and by the command's length
in words, the two axes along which SCAN's length split fails.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from lmlab.data.scan import Pair
from lmlab.generation.translate import translate


@dataclass(frozen=True)
class Example:
    source: str
    reference: str
    prediction: str

    @property
    def correct(self) -> bool:
        return self.prediction == self.reference

    def token_matches(self) -> tuple[int, int]:
        """(positions that agree, positions counted = the longer of the two sequences)."""
        predicted, reference = self.prediction.split(), self.reference.split()
        agree = sum(p == r for p, r in zip(predicted, reference, strict=False))
        return agree, max(len(predicted), len(reference))


@dataclass(frozen=True)
class LengthBucket:
    length: int
    count: int
    correct: int

    @property
    def exact_match(self) -> float:
        return self.correct / self.count


@dataclass(frozen=True)
class TranslationReport:
    split: str
    decoding: str  # "greedy", "beam 4" or "sampled (temperature 0.5, seed 1)"
    examples: list[Example]
    seconds: float  # decoding time

    @property
    def exact_match(self) -> float:
        return sum(e.correct for e in self.examples) / len(self.examples)

    @property
    def token_accuracy(self) -> float:
        matches = [e.token_matches() for e in self.examples]
        return sum(m for m, _ in matches) / max(1, sum(n for _, n in matches))

    def by_length(self, of: str) -> list[LengthBucket]:
        """Exact match per length of the reference ("target", in actions) or the command ("source")."""
        assert of in ("target", "source"), of
        groups: dict[int, list[bool]] = defaultdict(list)
        for e in self.examples:
            text = e.reference if of == "target" else e.source
            groups[len(text.split())].append(e.correct)
        return [LengthBucket(n, len(v), sum(v)) for n, v in sorted(groups.items())]

    @property
    def wrong(self) -> list[Example]:
        return [e for e in self.examples if not e.correct]


def evaluate_translation(
    model,
    tokenizer,
    pairs: list[Pair],
    split: str,
    beam_width: int = 1,
    batch_size: int = 512,
    temperature: float = 0.0,
    seed: int | None = None,
) -> TranslationReport:
    """Decode every source of `pairs` (greedy, beam, or sampled at temperature > 0) and compare."""
    start = time.perf_counter()
    sources = [s for s, _ in pairs]
    predictions = translate(
        model, tokenizer, sources, beam_width, batch_size, temperature=temperature, seed=seed
    )
    seconds = time.perf_counter() - start
    examples = [Example(s, t, p) for (s, t), p in zip(pairs, predictions, strict=True)]
    decoding = "greedy" if beam_width == 1 else f"beam {beam_width}"
    if temperature > 0:
        decoding = f"sampled (temperature {temperature:g}" + (f", seed {seed})" if seed is not None else ")")
    return TranslationReport(split, decoding, examples, seconds)
