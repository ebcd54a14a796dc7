"""Decoding for pair tasks: `<s> source` in, target tokens out until `</s>`.

Sources are grouped by length, so a batch needs no padding and every row's prompt ends at the same
position; each batch is prefilled once and then decoded one position per step with the model's
cache (keys and values for a transformer, the state for an LSTM).
- greedy: the likeliest token at each step; a row that emits `</s>` leaves the batch, so the
  remaining rows no longer pay for it.
- sampled (temperature > 0): like greedy, but each token is drawn from the tempered distribution
  with a seeded torch.Generator, so one seed repeats the same predictions.
- beam search of width k: k hypotheses per source scored by their summed log-probability; a
  finished hypothesis keeps its score and competes with the open ones until every beam of the
  source has finished (no length normalisation: targets here are deterministic).
Oracle lengths (`target_lengths`, Lake & Baroni 2018's protocol) hold every row to its reference's
length in all three: `</s>` is suppressed (logit -inf) until the row has that many tokens, and then
forced, so only the choice of actions is scored, not the end-of-sequence decision.
"""

from __future__ import annotations

from collections import defaultdict

import torch
import torch.nn.functional as F

from lmlab.data.seq2seq import segment_ids
from lmlab.errors import LmlabError
from lmlab.generation.sampling import sample_next
from lmlab.models.base import require_causal
from lmlab.tokenizers.word import WordTokenizer


class _Stepper:
    """Feeds a batch of sequences to the model position by position, with its cache when it has one.

    Every call passes the segments of `<s> source… target…` (lmlab.data.seq2seq's one rule); a model
    without segment embeddings ignores them.
    """

    def __init__(self, model, batch_size: int) -> None:
        self.model = model
        self.cache = model.new_cache(batch_size)
        self.context = model.context_size
        self.sequence: torch.Tensor | None = None  # kept only for models without a cache
        self.prompt_length = 0
        self.length = 0  # positions read so far

    def start(self, prompt: torch.Tensor) -> torch.Tensor:
        """Prompt (B, L) = `<s> source` -> logits (B, V) for the first target token."""
        self.prompt_length = self.length = prompt.size(1)
        if self.cache is None:
            self.sequence = prompt
        return self._logits(prompt, self._segments(0, prompt.size(1), prompt))

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B,), appended -> logits (B, V) for the next position."""
        tokens = tokens[:, None]
        self.length += 1
        if self.cache is None:
            self.sequence = torch.cat([self.sequence, tokens], dim=1)
            start = 0 if self.context is None else max(0, self.length - self.context)
            return self._logits(self.sequence[:, start:], self._segments(start, self.length, self.sequence))
        return self._logits(tokens, self._segments(self.length - 1, self.length, tokens))

    def select(self, rows: torch.Tensor) -> None:
        if self.cache is not None:
            self.cache.select(rows)
        else:
            self.sequence = self.sequence.index_select(0, rows)

    def _segments(self, start: int, end: int, like: torch.Tensor) -> torch.Tensor:
        """(B, end - start) segments of positions start … end - 1."""
        row = segment_ids(self.prompt_length - 1, end)[start:]
        return torch.tensor(row, device=like.device).expand(like.size(0), -1)

    def _logits(self, ids: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
        return self.model(ids, cache=self.cache, segments=segments)[:, -1].float()  # (B, V)


def check_words(tokenizer: WordTokenizer, source: str) -> None:
    """Refuse a source with words outside the vocabulary instead of reading them as <unk>."""
    unknown = tokenizer.unknown_words(source)
    if unknown:
        known = [t for t in tokenizer.tokens if not t.startswith("<")]
        raise LmlabError(
            f"unknown word(s) {', '.join(repr(w) for w in unknown)} in {source!r}; "
            f"this model knows: {' '.join(known)}"
        )
    if not source.split():
        raise LmlabError("the command is empty; give one with --prompt, e.g. --prompt 'jump twice'")


@torch.inference_mode()
def translate(
    model,
    tokenizer: WordTokenizer,
    sources: list[str],
    beam_width: int = 1,
    batch_size: int = 512,
    max_new_tokens: int | None = None,
    temperature: float = 0.0,
    seed: int | None = None,
    target_lengths: list[int] | None = None,
) -> list[str]:
    """Decode the target of every source, in the order given: greedy when beam_width is 1 and
    temperature 0, sampled at temperature > 0 (seeded by `seed`; None: a fresh seed). With
    `target_lengths` (one per source, in tokens), each target has exactly that length (the oracle;
    cut short only where the model's context has no more room, as any target is)."""
    if beam_width < 1:
        raise LmlabError(f"beam width {beam_width} must be at least 1")
    if temperature < 0 or temperature != temperature:
        raise LmlabError(f"temperature {temperature} must be >= 0 (0 is greedy decoding)")
    if temperature > 0 and beam_width > 1:
        raise LmlabError("beam search and a temperature do not mix: give --beam or --temperature, not both")
    if target_lengths is not None and len(target_lengths) != len(sources):
        raise LmlabError(
            f"{len(target_lengths)} oracle lengths for {len(sources)} sources; give one length per source"
        )
    if target_lengths is not None and min(target_lengths, default=0) < 0:
        raise LmlabError(
            f"oracle length {min(target_lengths)} is negative; lengths count target tokens (>= 0)"
        )
    require_causal(model)
    model.eval()
    device = next(model.parameters()).device
    generator = None
    if temperature > 0:
        generator = torch.Generator(device=device)
        generator.manual_seed(seed if seed is not None else torch.seed())
    by_length: dict[int, list[int]] = defaultdict(list)
    prompts = [[tokenizer.bos_id, *tokenizer.encode(s)] for s in sources]
    for i, prompt in enumerate(prompts):
        by_length[len(prompt)].append(i)
    outputs: list[list[int]] = [[] for _ in sources]
    rows_per_batch = max(1, batch_size // beam_width)
    eos, pad = tokenizer.eos_id, tokenizer.pad_id
    for length, indices in sorted(by_length.items()):
        limit = _max_new(model, length, max_new_tokens)
        for start in range(0, len(indices), rows_per_batch):
            chunk = indices[start : start + rows_per_batch]
            prompt = torch.tensor([prompts[i] for i in chunk], device=device)
            lengths = None if target_lengths is None else torch.tensor([target_lengths[i] for i in chunk])
            if temperature > 0:
                decoded = _sampled(model, prompt, eos, limit, temperature, generator, lengths)
            elif beam_width == 1:
                decoded = _greedy(model, prompt, eos, limit, lengths)
            else:
                decoded = _beam(model, prompt, eos, pad, beam_width, limit, lengths)
            for i, ids in zip(chunk, decoded, strict=True):
                outputs[i] = ids
    return [tokenizer.decode(ids) for ids in outputs]


def _max_new(model, prompt_length: int, max_new_tokens: int | None) -> int:
    context = model.context_size
    room = context - prompt_length if context is not None and context > 1 else None
    if room is not None and room < 1:
        raise LmlabError(
            f"a command of {prompt_length - 1} words fills the model's context of {context} positions; "
            "train with a larger model.block_size"
        )
    if max_new_tokens is None:
        return room if room is not None else 256
    return min(max_new_tokens, room) if room is not None else max_new_tokens


def oracle_logits(logits: torch.Tensor, eos_id: int, step: int, lengths: torch.Tensor) -> torch.Tensor:
    """logits (B, V) of the token at position `step` of each target -> the oracle's (B, V): `</s>` at
    -inf while step < the row's length (B,), and the only finite logit (0) once step reaches it."""
    lengths = lengths.to(logits.device)
    logits = logits.clone()
    logits[:, eos_id] = logits[:, eos_id].masked_fill(step < lengths, float("-inf"))
    at_end = step >= lengths  # (B,)
    logits[at_end] = float("-inf")
    logits[at_end, eos_id] = 0.0
    return logits


def _greedy(
    model, prompt: torch.Tensor, eos_id: int, max_new: int, lengths: torch.Tensor | None = None
) -> list[list[int]]:
    """Greedy targets of a batch of equal-length prompts, each row stopping at </s> (or at its oracle
    length (B,))."""
    return _decode_rows(model, prompt, eos_id, max_new, lambda logits: logits.argmax(dim=-1), lengths)


def _sampled(
    model,
    prompt: torch.Tensor,
    eos_id: int,
    max_new: int,
    temperature: float,
    generator: torch.Generator,
    lengths: torch.Tensor | None = None,
) -> list[list[int]]:
    """Sampled targets of a batch of equal-length prompts: each token drawn at `temperature`."""

    def choose(logits: torch.Tensor) -> torch.Tensor:
        return sample_next(logits, temperature, generator=generator)[0].squeeze(1)

    return _decode_rows(model, prompt, eos_id, max_new, choose, lengths)


def _decode_rows(
    model, prompt: torch.Tensor, eos_id: int, max_new: int, choose, lengths: torch.Tensor | None = None
) -> list[list[int]]:
    """Token by token, `choose(logits (B, V)) -> tokens (B,)`; a row that emits </s> leaves the batch.
    With oracle `lengths` (B,), each row's </s> comes exactly after that many tokens."""
    n = prompt.size(0)
    stepper = _Stepper(model, n)
    logits = stepper.start(prompt)
    live = torch.arange(n)  # original row of each row still decoding
    outputs: list[list[int]] = [[] for _ in range(n)]
    for step in range(max_new):
        if lengths is not None:
            logits = oracle_logits(logits, eos_id, step, lengths[live])
        tokens = choose(logits)
        done = tokens == eos_id
        for row, token, finished in zip(live.tolist(), tokens.tolist(), done.tolist(), strict=True):
            if not finished:
                outputs[row].append(token)
        if bool(done.all()) or step == max_new - 1:
            break
        if bool(done.any()):
            keep = (~done).nonzero().squeeze(1)
            stepper.select(keep.to(tokens.device))
            live, tokens = live[keep.cpu()], tokens[keep]
        logits = stepper.step(tokens)
    return outputs


def _beam(
    model,
    prompt: torch.Tensor,
    eos_id: int,
    pad_id: int,
    k: int,
    max_new: int,
    lengths: torch.Tensor | None = None,
) -> list[list[int]]:
    """Beam search of width k for a batch of equal-length prompts; the best finished beam wins. With
    oracle `lengths` (n,), every beam of a source ends exactly after that many tokens."""
    n, device = prompt.size(0), prompt.device
    stepper = _Stepper(model, n)
    logits = stepper.start(prompt)
    vocab = logits.size(-1)
    k = min(k, vocab)
    expand = torch.arange(n, device=device).repeat_interleave(k)
    stepper.select(expand)
    log_probs = F.log_softmax(logits, dim=-1).index_select(0, expand)  # (n k, V)
    scores = torch.full((n, k), float("-inf"), device=device)
    scores[:, 0] = 0.0  # the k copies are one hypothesis until the first expansion
    finished = torch.zeros(n * k, dtype=torch.bool, device=device)
    tokens = torch.empty((n * k, 0), dtype=torch.long, device=device)
    base = torch.arange(n, device=device)[:, None] * k
    beam_lengths = None if lengths is None else lengths.to(device).repeat_interleave(k)  # (n k,)
    for step in range(max_new):
        if beam_lengths is not None:  # every beam of a source is at the same step: one rule for all
            log_probs = oracle_logits(log_probs, eos_id, step, beam_lengths)
        # a finished beam may only grow by <pad> at no cost, so it keeps its score
        log_probs = log_probs.masked_fill(finished[:, None], float("-inf"))
        log_probs[finished, pad_id] = 0.0
        candidates = (scores[:, :, None] + log_probs.view(n, k, vocab)).view(n, k * vocab)
        scores, flat = candidates.topk(k, dim=-1)  # (n, k), best first
        rows = (base + flat // vocab).view(-1)
        new_tokens = (flat % vocab).view(-1)
        tokens = torch.cat([tokens.index_select(0, rows), new_tokens[:, None]], dim=1)
        finished = finished.index_select(0, rows) | (new_tokens == eos_id)
        if bool(finished.all()) or step == max_new - 1:
            break
        stepper.select(rows)
        log_probs = F.log_softmax(stepper.step(new_tokens), dim=-1)
    best = tokens.view(n, k, -1)[:, 0]  # topk sorts: beam 0 has the highest score
    outputs = []
    for row in best.tolist():
        ids = row[: row.index(eos_id)] if eos_id in row else row
        outputs.append([t for t in ids if t != pad_id])
    return outputs
