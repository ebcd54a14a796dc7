"""`Run`: one run directory in a notebook — its config, metrics as DataFrames, figures, samples, scores.

Every method calls the library function the matching command calls (`lmlab plot`, `sample`, `eval`,
`next`, `attention`); a checkpoint's model is loaded once per (checkpoint, device) and kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lmlab.api.frames import data_frame
from lmlab.config import RunConfig
from lmlab.data.pairs import load_pair_task
from lmlab.errors import LmlabError
from lmlab.evaluation.text_scores import TextSplitScore, score_text_run
from lmlab.evaluation.translation import TranslationReport, evaluate_translation
from lmlab.generation.stop import generate_texts, parse_stop
from lmlab.generation.translate import check_words, translate
from lmlab.inspect.attention import attention_map
from lmlab.inspect.next_token import next_tokens
from lmlab.inspect.prompt import read_prompt, start_text
from lmlab.plots.attention import attention_grid_figure
from lmlab.plots.curves import loss_curves_figure
from lmlab.plots.figures import Figure
from lmlab.runs.run_dir import RunDir, load_model, open_run
from lmlab.tokenizers import Tokenizer

TEXT_TEMPERATURE = 0.8  # `lmlab sample`'s default for text; pair tasks decode greedily


class Run:
    """A run directory made by `lmlab train` or `lmlab.train()`; `lmlab.load(path)` opens one."""

    def __init__(self, path: str | Path) -> None:
        self._dir = open_run(Path(path))
        self._models: dict[tuple[str, str], tuple[RunConfig, Tokenizer, nn.Module]] = {}

    @property
    def path(self) -> Path:
        return self._dir.path

    @property
    def dir(self) -> RunDir:
        """The library's view of the folder (checkpoints, snapshots, file paths)."""
        return self._dir

    @property
    def config(self) -> RunConfig:
        return self._dir.config()

    @property
    def metrics(self) -> Any:
        """metrics.jsonl as a DataFrame: one row per evaluation (step, train_loss, val_loss, ...)."""
        return data_frame(self._dir.metrics())

    @property
    def train_loss(self) -> Any:
        """train_loss.jsonl as a DataFrame: the loss of every optimizer step (step, loss)."""
        return data_frame(self._dir.train_losses())

    def __repr__(self) -> str:
        records = self._dir.metrics()
        if not records:
            return f"Run({str(self.path)!r}, not evaluated yet)"
        best = min(r["val_loss"] for r in records if "val_loss" in r)
        return f"Run({str(self.path)!r}, step {records[-1]['step']}, best val loss {best:.4f})"

    def plot(self, *, x: str = "step", title: str | None = None) -> Figure:
        """Train (dashed) and val (solid) loss, and every step's loss beneath, as `lmlab plot` draws them;
        a Figure that a notebook shows inline and `.savefig(path)` writes."""
        records = self._dir.metrics()
        if not records:
            raise LmlabError(f"{self.path} has no metrics yet; train it first (written at each evaluation)")
        name = self.path.name
        return loss_curves_figure({name: records}, title, train_losses={name: self._dir.train_losses()}, x=x)

    def sample(
        self,
        prompt: str | None = None,
        *,
        temperature: float | None = None,
        max_new_tokens: int = 200,
        num_samples: int = 1,
        seed: int | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        stop: Sequence[str] = (),
        checkpoint: str = "best",
        device: str = "cpu",
    ) -> str | list[str]:
        """What `lmlab sample` prints: the prompt and its continuation (pair tasks: the command's
        actions). One string, or a list of `num_samples`. `temperature` None: 0.8 for text, greedy for
        pair tasks; `seed` makes it repeatable."""
        _at_least("num_samples", num_samples, 1)
        _at_least("max_new_tokens", max_new_tokens, 1)
        if temperature is not None:
            _at_least("temperature", temperature, 0)
        config, tokenizer, model = self._model(checkpoint, device)
        seed = seed if seed is not None else torch.seed()
        if config.data.is_pair_task:
            if prompt is None:
                raise LmlabError("a pair task translates a command: give it as prompt, e.g. 'jump twice'")
            if top_k is not None or top_p is not None or stop:
                raise LmlabError("top_k, top_p and stop are for text runs; a pair task decodes whole targets")
            command = " ".join(prompt.split())
            check_words(tokenizer, command)
            count = num_samples if temperature else 1  # greedy decoding gives one answer
            texts = translate(model, tokenizer, [command] * count, temperature=temperature or 0.0, seed=seed)
        else:
            prompt = start_text(tokenizer) if prompt is None else prompt
            on = next(model.parameters()).device
            prompt_ids, _ = read_prompt(tokenizer, prompt, False).fit(model.context_size).tensors(on)
            generator = torch.Generator(device=on).manual_seed(seed)
            stops = [parse_stop(text) for text in stop]
            continuations = generate_texts(
                model,
                tokenizer,
                prompt_ids,
                num_samples,
                max_new_tokens,
                stops,
                temperature=TEXT_TEMPERATURE if temperature is None else temperature,
                top_k=top_k,
                top_p=top_p,
                generator=generator,
            )
            texts = [prompt + text for text in continuations]
        return texts[0] if num_samples == 1 else texts

    def eval(
        self,
        split: str | None = None,
        *,
        checkpoint: str = "best",
        batch_size: int | None = None,
        data_dir: str | Path | None = None,
        device: str = "cpu",
        temperature: float | None = None,
        seed: int | None = None,
        beam: int = 1,
        oracle_length: bool = False,
    ) -> TextSplitScore | TranslationReport:
        """What `lmlab eval` reports for one split. Text (default val): exact loss, perplexity, bits per
        token and per character. Pair tasks (default the held-out split): exact match and token
        accuracy with every example (`.examples`), decoded greedily, by beam search (`beam`), or sampled
        at `temperature` with `seed` (the SCAN assignment's part D); `oracle_length` holds each
        prediction to its reference's length (`--oracle-length`), and `.errors()` sorts the wrong ones."""
        config, tokenizer, model = self._model(checkpoint, device)
        _at_least("beam", beam, 1)
        if temperature is not None:
            _at_least("temperature", temperature, 0)
            if beam != 1:
                raise LmlabError("beam and temperature do not mix: beam search is not sampled; give one")
        pair_only = temperature is not None or seed is not None or beam != 1 or oracle_length
        if not config.data.is_pair_task and pair_only:
            raise LmlabError(
                "temperature, seed, beam and oracle_length are for pair tasks (SCAN, arithmetic); "
                "a text run has none"
            )
        folder = self._dir.data_dir(Path(data_dir) if data_dir is not None else None)
        if not config.data.is_pair_task:
            split = split or "val"
            _one_of("split", split, ("train", "val"))
            return score_text_run(config, tokenizer, model, folder, [split], batch_size or 64)[split]
        task = load_pair_task(config.data, folder, tokenizer)
        split = split or task.held_out
        _one_of("split", split, ("train", "val", "test"))
        if split == "test" and task.held_out == "val":  # arithmetic has no test split
            split = "val"
        return evaluate_translation(
            model,
            tokenizer,
            task.split(split),
            split,
            beam,
            batch_size=batch_size or 512,
            temperature=temperature or 0.0,
            seed=seed,
            oracle_length=oracle_length,
        )

    def next_tokens(
        self, prompt: str, top: int = 10, *, temperature: float = 1.0, checkpoint: str = "best"
    ) -> Any:
        """The `top` likeliest next tokens after `prompt` as a DataFrame (token, id, probability)."""
        _at_least("top", top, 1)
        _at_least("temperature", temperature, 0)
        config, tokenizer, model = self._model(checkpoint, "cpu")
        ranked = next_tokens(model, tokenizer, prompt, config.data.is_pair_task, top, temperature=temperature)
        return data_frame({"token": c.text, "id": c.token_id, "probability": c.probability} for c in ranked)

    def attention(self, prompt: str, *, checkpoint: str = "best") -> Figure:
        """Every layer's and head's attention on `prompt` (`lmlab attention`), as a Figure."""
        config, tokenizer, model = self._model(checkpoint, "cpu")
        found = attention_map(model, tokenizer, prompt, config.data.is_pair_task)
        title = (
            f"{self.path.name} ({checkpoint} checkpoint): attention on {found.text!r}; "
            f"next token {found.next_token!r} (p = {found.probability:.3f})"
        )
        return attention_grid_figure(found.attentions, found.tokens, title)

    def _model(self, checkpoint: str, device: str) -> tuple[RunConfig, Tokenizer, nn.Module]:
        key = (checkpoint, device)
        if key not in self._models:
            self._models[key] = load_model(self._dir, checkpoint, device)
        return self._models[key]


def _at_least(name: str, value: float, minimum: float) -> None:
    if not value >= minimum:  # NaN too
        raise LmlabError(f"{name} must be at least {minimum}, not {value}")


def _one_of(name: str, value: str, known: tuple[str, ...]) -> None:
    if value not in known:
        raise LmlabError(f"{name}={value!r} is unknown; choose one of {', '.join(known)}")
