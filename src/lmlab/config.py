"""Typed, frozen configuration: one dataclass per concern, validated on construction.

Every choice is a string or a number so a config round-trips through JSON. Changes go through
`dataclasses.replace` (or `apply_overrides` for `key=value` strings from the command line).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmlab.errors import LmlabError


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise LmlabError(message)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the network. `vocab_size` is filled in from the tokenizer when a run starts."""

    kind: str = "gpt"
    vocab_size: int = 0
    block_size: int = 256
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    dropout: float = 0.2
    bias: bool = False
    tie_weights: bool = True
    norm: str = "layernorm"
    position: str = "learned"
    activation: str = "gelu"
    mlp_ratio: float = 4.0
    attention_window: int = 0  # 0: see every earlier token; w: only the last w (w=2 is a trigram model)
    hidden_size: int = 0  # LSTM hidden width; 0 means n_embd
    segment_embeddings: bool = False  # GPT on (source, target) pairs: a learned vector per segment
    init_std: float = 0.02  # GPT: std of the initial weights (GPT-2's 0.02; larger starts memorise faster)
    # GPT: keep only each block's input during training and recompute the block in the backward pass:
    # activation memory of one block instead of n_layer, for about a third more compute
    checkpoint_activations: bool = False

    def __post_init__(self) -> None:
        _require(
            self.kind in MODEL_KINDS, f"model.kind={self.kind!r} is unknown; choose one of {MODEL_KINDS}"
        )
        _require(self.vocab_size >= 0, "model.vocab_size must be >= 0 (0 means: take it from the tokenizer)")
        _require(self.block_size >= 1, f"model.block_size={self.block_size} must be at least 1")
        _require(self.n_layer >= 1, f"model.n_layer={self.n_layer} must be at least 1")
        _require(self.n_head >= 1, f"model.n_head={self.n_head} must be at least 1")
        _require(self.n_embd >= 1, f"model.n_embd={self.n_embd} must be at least 1")
        _require(
            self.kind not in ATTENTION_KINDS or self.n_embd % self.n_head == 0,
            f"model.n_embd={self.n_embd} is not divisible by model.n_head={self.n_head}; "
            "pick n_embd as a multiple of n_head",
        )
        _require(0.0 <= self.dropout < 1.0, f"model.dropout={self.dropout} must be in [0, 1)")
        _require(self.norm in NORMS, f"model.norm={self.norm!r} is unknown; choose one of {NORMS}")
        _require(
            self.position in POSITIONS,
            f"model.position={self.position!r} is unknown; choose one of {POSITIONS}",
        )
        _require(
            self.activation in ACTIVATIONS,
            f"model.activation={self.activation!r} is unknown; choose one of {ACTIVATIONS}",
        )
        _require(
            self.kind != "attention" or self.position == "learned",
            f"model.kind=attention uses learned positions (seed 004), not model.position={self.position!r}; "
            "use model.kind=gpt for other position encodings",
        )
        _require(self.mlp_ratio > 0, f"model.mlp_ratio={self.mlp_ratio} must be positive")
        _require(self.init_std > 0, f"model.init_std={self.init_std} must be positive")
        _require(self.attention_window >= 0, f"model.attention_window={self.attention_window} must be >= 0")
        _require(self.hidden_size >= 0, f"model.hidden_size={self.hidden_size} must be >= 0 (0 means n_embd)")
        _require(
            not self.segment_embeddings or self.kind == "gpt",
            f"model.segment_embeddings needs model.kind=gpt, not {self.kind!r}",
        )
        _require(
            self.position != "rotary" or self.kind not in ATTENTION_KINDS or self.head_size % 2 == 0,
            f"model.position=rotary needs an even head size, got n_embd/n_head={self.head_size}",
        )

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    @property
    def mlp_hidden(self) -> int:
        return int(round(self.mlp_ratio * self.n_embd))

    @property
    def lstm_hidden(self) -> int:
        return self.hidden_size or self.n_embd


MODEL_KINDS = ("bigram", "bigram_embed", "attention", "gpt", "lstm")
ATTENTION_KINDS = ("attention", "gpt")  # the kinds that split n_embd into n_head heads
NORMS = ("layernorm", "rmsnorm", "none")  # none: identity, as Nanda et al. 2023's grokking model
POSITIONS = ("learned", "sinusoidal", "rotary")
ACTIVATIONS = ("gelu", "relu")


@dataclass(frozen=True)
class DataConfig:
    """Which corpus or task, how it is tokenized and split.

    Text corpora (shakespeare) are split by position: the first `train_fraction` is train. Pair tasks
    (scan) read a train and a test set; `train_fraction` of the train pairs, drawn with `split_seed`,
    train the model and the rest is the validation set that picks the best checkpoint.
    """

    dataset: str = "shakespeare"
    tokenizer: str = "char"
    train_fraction: float = 0.9
    split: str = "simple"  # scan: a named split (SCAN_SPLITS)
    source: str = "auto"  # scan: auto, generated (from the grammar) or official (the published files)
    train_file: str = ""  # scan: any file of 'IN: ... OUT: ...' lines, instead of a named split
    test_file: str = ""
    split_seed: int = 0  # draws the validation pairs (and the generated simple split)
    p: int = 31  # arithmetic: the modulus, equations over Z_p
    operator: str = "+"  # arithmetic: + - * / (division by the modular inverse; p must be prime)
    operation_orders: str = "2"  # arithmetic: "2" (a+b=r), "3" (a+b+c=r) or "2,3" (both, padded)
    r_train: float = 0.5  # arithmetic: share of the equations (of each order) that train; the rest validate
    data_file: str = ""  # dataset=text: a text file, a folder of .txt files, or a glob (--data-file)
    encoding: str = "utf-8"  # dataset=text: how the files' bytes are read
    bpe_vocab_size: int = 500  # tokenizer=bpe: 256 bytes + merges, learned on the train split only
    bpe_backend: str = "lmlab"  # lmlab (own trainer) or hf (Hugging Face tokenizers; pip install lmlab[hf])

    def __post_init__(self) -> None:
        _require(
            self.dataset in DATASETS, f"data.dataset={self.dataset!r} is unknown; choose one of {DATASETS}"
        )
        _require(
            self.tokenizer in TOKENIZERS,
            f"data.tokenizer={self.tokenizer!r} is unknown; choose one of {TOKENIZERS}",
        )
        expected = DATASET_TOKENIZERS[self.dataset]
        _require(
            self.tokenizer in expected,
            f"data.dataset={self.dataset} works with data.tokenizer={'|'.join(expected)}, "
            f"not {self.tokenizer!r}",
        )
        _require(
            0.0 < self.train_fraction < 1.0, f"data.train_fraction={self.train_fraction} must be in (0, 1)"
        )
        _require(
            self.split in SCAN_SPLITS, f"data.split={self.split!r} is unknown; choose one of {SCAN_SPLITS}"
        )
        _require(
            self.source in SCAN_SOURCES,
            f"data.source={self.source!r} is unknown; choose one of {SCAN_SOURCES}",
        )
        _require(
            not self.test_file or bool(self.train_file),
            "data.test_file needs data.train_file too (--train-file PATH)",
        )
        _require(self.p >= 2, f"data.p={self.p} must be at least 2")
        _require(
            self.operator in OPERATORS,
            f"data.operator={self.operator!r} is unknown; choose one of {' '.join(OPERATORS)}",
        )
        _require(
            self.operator != "/" or _is_prime(self.p),
            f"data.operator=/ needs a prime modulus for inverses; data.p={self.p} is not prime",
        )
        _require(
            bool(self.orders) and set(self.orders) <= {2, 3} and len(set(self.orders)) == len(self.orders),
            f"data.operation_orders={self.operation_orders!r} must be 2, 3 or 2,3",
        )
        _require(0.0 < self.r_train < 1.0, f"data.r_train={self.r_train} must be in (0, 1)")
        _require(
            self.bpe_vocab_size >= 257,
            f"data.bpe_vocab_size={self.bpe_vocab_size} must be at least 257 (256 bytes and one merge)",
        )
        _require(
            self.bpe_backend in BPE_BACKENDS,
            f"data.bpe_backend={self.bpe_backend!r} is unknown; choose one of {BPE_BACKENDS}",
        )

    @property
    def is_pair_task(self) -> bool:
        """Sequence-to-sequence pairs (conditional language modelling) rather than running text."""
        return self.dataset in ("scan", "arithmetic")

    @property
    def orders(self) -> tuple[int, ...]:
        """data.operation_orders as numbers: "2,3" -> (2, 3); an unparsable string gives ()."""
        parts = [part.strip() for part in str(self.operation_orders).split(",")]
        return tuple(int(part) for part in parts) if all(part.isdigit() for part in parts) else ()


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))


DATASETS = ("shakespeare", "text", "scan", "arithmetic")
TOKENIZERS = ("char", "word", "bpe")
BPE_BACKENDS = ("lmlab", "hf")
DATASET_TOKENIZERS = {
    "shakespeare": ("char", "bpe"),
    "text": ("char", "bpe"),
    "scan": ("word",),
    "arithmetic": ("word",),
}
OPERATORS = ("+", "-", "*", "/")
SCAN_SPLITS = (
    "simple",
    "length",
    "addprim_jump",
    "addprim_turn_left",
    "template_around_right",
    "template_opposite_right",
    "template_right",
    "template_jump_around_right",
)
SCAN_SOURCES = ("auto", "generated", "official")
LR_DECAYS = ("cosine", "linear", "constant", "wsd")
LOSS_AVERAGES = ("token", "sequence")
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, evaluation and bookkeeping of one training run."""

    max_steps: int = 5000
    # sequences per micro-batch in each process; an optimizer step sees the global batch of
    # batch_size x grad_accum_steps x processes (torchrun's world size; 1 without torchrun)
    batch_size: int = 64
    grad_accum_steps: int = 1
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    lr_decay: str = "cosine"
    # lr_decay=wsd (warm-up, stable, decay): constant lr, then a linear cool-down to min_lr over the
    # last cooldown_steps steps
    cooldown_steps: int = 0
    weight_decay: float = 0.1
    decay_embeddings: bool = False
    decay_all: bool = False  # weight decay on every parameter, biases and norm gains too (seed 002)
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    eval_interval: int = 250
    snapshot_interval: int = 0  # keep the weights every K steps in checkpoints/step-N (0: never)
    eval_steps: int = 200
    log_interval: int = 10
    seed: int = 1337
    device: str = "auto"
    dtype: str = "auto"
    compile: bool = False
    # pair tasks: "token" averages the loss over every counted target; "sequence" averages each
    # sequence's own mean over the batch (seed 002 problem 3), so short and long targets weigh the same
    loss_average: str = "token"

    def __post_init__(self) -> None:
        for name in (
            "max_steps",
            "batch_size",
            "grad_accum_steps",
            "eval_interval",
            "eval_steps",
            "log_interval",
        ):
            _require(getattr(self, name) >= 1, f"train.{name}={getattr(self, name)} must be at least 1")
        _require(
            self.snapshot_interval >= 0,
            f"train.snapshot_interval={self.snapshot_interval} must be >= 0 (0 keeps no snapshots)",
        )
        _require(self.warmup_steps >= 0, f"train.warmup_steps={self.warmup_steps} must be >= 0")
        _require(self.lr > 0, f"train.lr={self.lr} must be positive")
        _require(
            0 <= self.cooldown_steps <= self.max_steps,
            f"train.cooldown_steps={self.cooldown_steps} must be in [0, train.max_steps={self.max_steps}]",
        )
        _require(
            0 <= self.min_lr <= self.lr, f"train.min_lr={self.min_lr} must be in [0, train.lr={self.lr}]"
        )
        _require(self.weight_decay >= 0, f"train.weight_decay={self.weight_decay} must be >= 0")
        _require(self.grad_clip >= 0, f"train.grad_clip={self.grad_clip} must be >= 0 (0 turns clipping off)")
        _require(
            self.lr_decay in LR_DECAYS,
            f"train.lr_decay={self.lr_decay!r} is unknown; choose one of {LR_DECAYS}",
        )
        _require(self.device in DEVICES, f"train.device={self.device!r} is unknown; choose one of {DEVICES}")
        _require(self.dtype in DTYPES, f"train.dtype={self.dtype!r} is unknown; choose one of {DTYPES}")
        _require(
            self.loss_average in LOSS_AVERAGES,
            f"train.loss_average={self.loss_average!r} is unknown; choose one of {LOSS_AVERAGES}",
        )

    @property
    def sequences_per_step(self) -> int:
        """Sequences per optimizer step in one process: batch_size x grad_accum_steps (x block_size for
        tokens); under torchrun the global batch is this times the number of processes."""
        return self.batch_size * self.grad_accum_steps


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs; saved as `config.json` in the run directory."""

    preset: str = "custom"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> RunConfig:
        """Build from nested dicts; unknown sections or keys fail naming the key."""
        sections = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(raw) - set(sections)
        _require(not unknown, f"{source}: unknown section(s) {sorted(unknown)}; known: {sorted(sections)}")
        kwargs: dict[str, Any] = {}
        for name, value in raw.items():
            section_type = _SECTION_TYPES.get(name)
            if section_type is None:
                kwargs[name] = value
                continue
            known = {f.name for f in dataclasses.fields(section_type)}
            bad = set(value) - known
            _require(not bad, f"{source}: unknown key(s) {sorted(f'{name}.{k}' for k in bad)}")
            typed = {k: _coerce(f"{name}.{k}", v, _field_type(section_type, k)) for k, v in value.items()}
            kwargs[name] = section_type(**typed)
        return cls(**kwargs)


_SECTION_TYPES: dict[str, type] = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig}


def _field_type(section_type: type, name: str) -> Any:
    return typing.get_type_hints(section_type)[name]


def _coerce(key: str, value: Any, expected: Any) -> Any:
    """Check (JSON) or parse (command-line string) one value against its annotated type."""
    if isinstance(expected, types.UnionType):
        if value is None or value == "none":
            return None
        expected = next(t for t in typing.get_args(expected) if t is not type(None))
    if isinstance(value, str) and expected is not str:
        return _parse_string(key, value, expected)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise LmlabError(f"{key} expects {_TYPE_NAMES[expected]}, got {value!r}")
    return value


_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _parse_string(key: str, text: str, expected: type) -> Any:
    try:
        if expected is bool:
            lowered = text.lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError(text)
        if expected is int:
            number = float(text)  # accept 5e3 for 5000
            if not number.is_integer():
                raise ValueError(text)
            return int(number)
        return expected(text)
    except ValueError:
        raise LmlabError(f"{key} expects {_TYPE_NAMES[expected]}, got {text!r}") from None


def apply_overrides(config: RunConfig, overrides: list[str]) -> RunConfig:
    """Apply `section.key=value` strings, e.g. `model.n_layer=4`, returning a new validated config."""
    changes: dict[str, dict[str, Any]] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip()
        _require(
            bool(sep) and bool(key), f"--set {item!r} is not key=value; write e.g. --set model.n_layer=4"
        )
        section, dot, name = key.partition(".")
        section_type = _SECTION_TYPES.get(section)
        known = [f"{s}.{f.name}" for s, t in _SECTION_TYPES.items() for f in dataclasses.fields(t)]
        if section_type is None or not dot or name not in {f.name for f in dataclasses.fields(section_type)}:
            close = difflib.get_close_matches(key, known, n=1) or [k for k in known if k.endswith("." + name)]
            hint = f"did you mean {close[0]}?" if close else "run `lmlab info --keys` to list them"
            raise LmlabError(f"unknown config key {key!r}; {hint}")
        changes.setdefault(section, {})[name] = _coerce(key, value.strip(), _field_type(section_type, name))
    for section, values in changes.items():
        config = dataclasses.replace(
            config, **{section: dataclasses.replace(getattr(config, section), **values)}
        )
    return config


def config_keys() -> list[str]:
    """Every key `--set` accepts, with its type and default."""
    lines = []
    for section, section_type in _SECTION_TYPES.items():
        hints = typing.get_type_hints(section_type)
        for f in dataclasses.fields(section_type):
            default = f.default if f.default is not dataclasses.MISSING else None
            lines.append(
                f"{section}.{f.name} ({getattr(hints[f.name], '__name__', hints[f.name])}) = {default}"
            )
    return lines


def load_config_file(path: Path) -> RunConfig:
    """Read a `config.json` written by a run (or a preset file)."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise LmlabError(
            f"no config file at {path}; is this a run directory made by `lmlab train`?"
        ) from None
    except json.JSONDecodeError as error:
        raise LmlabError(
            f"{path} is not valid JSON ({error.msg} at line {error.lineno}); fix or delete it"
        ) from None
    return RunConfig.from_dict(raw, source=str(path))
