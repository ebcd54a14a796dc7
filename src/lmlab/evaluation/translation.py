"""Scores of a pair-task model: exact match, token accuracy, and both by sequence length.

- exact match: the whole predicted action sequence equals the reference (SCAN's measure).
- token accuracy: position-wise agreement, counted over the longer of prediction and reference,
  so a missing or an extra token is an error too.
Breakdowns group the test pairs by the reference's length in actions and by the command's length
in words, the two axes along which SCAN's length split fails; the wrong predictions are sorted by
their error (`error_kind`): stopped early, went on, or a wrong action.
- oracle length (Lake & Baroni 2018): the decoder is held to each reference's length, so the
  end-of-sequence decision is taken out of the score; the report says so (`oracle_length`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from lmlab.data.scan import Pair
from lmlab.generation.translate import translate

STOPPED_EARLY = "stopped early"  # the prediction is a proper prefix of the reference
WENT_ON = "went on"  # the reference is a proper prefix of the prediction
WRONG_ACTION = "wrong action"  # they differ at a position within the shorter length
ERROR_KINDS = (STOPPED_EARLY, WENT_ON, WRONG_ACTION)


def error_kind(prediction: list[str], reference: list[str]) -> str | None:
    """What kind of error `prediction` is (one of ERROR_KINDS), or None when it equals `reference`."""
    if prediction == reference:
        return None
    shorter = min(len(prediction), len(reference))
    if prediction[:shorter] != reference[:shorter]:
        return WRONG_ACTION
    return STOPPED_EARLY if len(prediction) < len(reference) else WENT_ON


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

    @property
    def error(self) -> str | None:
        """None when correct, else one of ERROR_KINDS."""
        return error_kind(self.prediction.split(), self.reference.split())

    @property
    def right_length(self) -> bool:
        return len(self.prediction.split()) == len(self.reference.split())


@dataclass(frozen=True)
class LengthBucket:
    length: int
    count: int
    correct: int

    @property
    def exact_match(self) -> float:
        return self.correct / self.count


@dataclass(frozen=True)
class ErrorCount:
    kind: str  # one of ERROR_KINDS
    count: int
    share: float  # of the wrong predictions (0 when none is wrong)


@dataclass(frozen=True)
class TranslationReport:
    split: str
    decoding: str  # "greedy", "beam 4" or "sampled (temperature 0.5, seed 1)"; ", oracle length" added
    examples: list[Example]
    seconds: float  # decoding time
    oracle_length: bool = False  # each target was held to its reference's length

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

    def errors(self) -> list[ErrorCount]:
        """The wrong predictions by kind of error, every kind listed (count 0 included)."""
        kinds = [e.error for e in self.wrong]
        return [ErrorCount(k, kinds.count(k), kinds.count(k) / max(1, len(kinds))) for k in ERROR_KINDS]

    @property
    def wrong_with_right_length(self) -> int:
        """Wrong predictions as long as their reference (all of them under the oracle)."""
        return sum(e.right_length for e in self.wrong)


def evaluate_translation(
    model,
    tokenizer,
    pairs: list[Pair],
    split: str,
    beam_width: int = 1,
    batch_size: int = 512,
    temperature: float = 0.0,
    seed: int | None = None,
    oracle_length: bool = False,
) -> TranslationReport:
    """Decode every source of `pairs` (greedy, beam, or sampled at temperature > 0) and compare;
    `oracle_length`: each prediction is held to its reference's length in tokens."""
    start = time.perf_counter()
    sources = [s for s, _ in pairs]
    lengths = [len(tokenizer.encode(t)) for _, t in pairs] if oracle_length else None
    predictions = translate(
        model,
        tokenizer,
        sources,
        beam_width,
        batch_size,
        temperature=temperature,
        seed=seed,
        target_lengths=lengths,
    )
    seconds = time.perf_counter() - start
    examples = [Example(s, t, p) for (s, t), p in zip(pairs, predictions, strict=True)]
    decoding = "greedy" if beam_width == 1 else f"beam {beam_width}"
    if temperature > 0:
        decoding = f"sampled (temperature {temperature:g}" + (f", seed {seed})" if seed is not None else ")")
    if oracle_length:
        decoding += ", oracle length"
    return TranslationReport(split, decoding, examples, seconds, oracle_length)
