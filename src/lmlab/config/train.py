"""TrainConfig: optimisation, evaluation and bookkeeping of one training run."""

from __future__ import annotations

from dataclasses import dataclass, fields

from lmlab.config.validation import require

LR_DECAYS = ("cosine", "linear", "constant", "wsd", "cosine_floor")
LOSS_AVERAGES = ("token", "sequence")
OPTIMIZERS = ("adamw", "muon")  # muon: Muon for hidden matrices, AdamW for the rest (training.muon)
GRAD_FILTERS = ("none", "ema", "ma")  # Grokfast (lmlab.training.grad_filter)
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16")
# the short names people type; config.json keeps the long one
DTYPE_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
MAX_THREADS = 1024  # torch.set_num_threads allocates per thread; no CPU has more cores


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, evaluation and bookkeeping of one training run."""

    max_steps: int = 5000
    # pair tasks and data.windows=all: train this many epochs (passes over the train split); max_steps
    # is then derived from the data's epoch size (lmlab.training.epochs) and saved in config.json.
    # 0: train max_steps
    max_epochs: int = 0
    # sequences per micro-batch in each process; an optimizer step sees the global batch of
    # batch_size x grad_accum_steps x processes (torchrun's world size; 1 without torchrun)
    batch_size: int = 64
    grad_accum_steps: int = 1
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    lr_decay: str = "cosine"
    # lr_decay=wsd (warm-up, stable, decay): constant lr, then a linear cool-down to min_lr over the
    # last cooldown_steps steps, or the last cooldown_fraction of max_steps (it follows a shortened run)
    cooldown_steps: int = 0
    cooldown_fraction: float = 0.0
    weight_decay: float = 0.1
    decay_embeddings: bool = False
    decay_all: bool = False  # weight decay on every parameter, biases and norm gains too (assignment 002)
    beta1: float = 0.9
    beta2: float = 0.99
    # muon: Muon (momentum, orthogonalised by Newton-Schulz) for the hidden weight matrices, AdamW with
    # lr, beta1, beta2, weight_decay for embeddings, output head, norms and biases; the schedule scales
    # both lrs alike. The muon_ keys apply to train.optimizer=muon only
    optimizer: str = "adamw"
    muon_lr: float = 0.02
    muon_momentum: float = 0.95
    muon_weight_decay: float = 0.0
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_interval_epochs: int = 0  # evaluate on the step that ends every K epochs instead (as max_epochs)
    snapshot_interval: int = 0  # keep the weights every K steps in checkpoints/step-N (0: never)
    snapshot_interval_epochs: int = 0  # keep them every K epochs instead (0: by steps; as max_epochs)
    eval_steps: int = 200
    log_interval: int = 10
    seed: int = 1337
    device: str = "auto"
    # torch threads while training; 0 picks by model size (lmlab.training.threads, bench/threads.py)
    threads: int = 0
    # auto: bfloat16 autocast on GPUs that have it, float16 with loss scaling on those that do not (T4,
    # V100), float32 on CPU and MPS; float16 always scales the loss (torch.amp.GradScaler)
    dtype: str = "auto"
    compile: bool = False
    # pair tasks: "token" averages the loss over every counted target; "sequence" averages each
    # sequence's own mean over the batch (assignment 002, problem 3), so short and long targets weigh the same
    loss_average: str = "token"
    # Grokfast (Lee et al. 2024): add lambda x the slow part of the gradients (their exponential moving
    # average with decay alpha, or their mean over the last window steps) to the gradients, every step
    grad_filter: str = "none"
    grad_filter_alpha: float = 0.98  # ema only
    grad_filter_lambda: float = 2.0
    grad_filter_window: int = 100  # ma only

    def __post_init__(self) -> None:
        for name in (
            "max_steps",
            "batch_size",
            "grad_accum_steps",
            "eval_interval",
            "eval_steps",
            "log_interval",
        ):
            require(getattr(self, name) >= 1, f"train.{name}={getattr(self, name)} must be at least 1")
        for name in ("max_epochs", "eval_interval_epochs", "snapshot_interval_epochs"):
            value = getattr(self, name)
            require(value >= 0, f"train.{name}={value} must be >= 0 (0 counts steps instead)")
        require(
            0 <= self.threads <= MAX_THREADS,
            f"train.threads={self.threads} must be in [0, {MAX_THREADS}] (0 picks by model size)",
        )
        require(
            self.snapshot_interval >= 0,
            f"train.snapshot_interval={self.snapshot_interval} must be >= 0 (0 keeps no snapshots)",
        )
        require(self.warmup_steps >= 0, f"train.warmup_steps={self.warmup_steps} must be >= 0")
        require(self.lr > 0, f"train.lr={self.lr} must be positive")
        require(
            0 <= self.cooldown_steps <= self.max_steps,
            f"train.cooldown_steps={self.cooldown_steps} must be in [0, train.max_steps={self.max_steps}]",
        )
        require(
            0 <= self.cooldown_fraction <= 1,
            f"train.cooldown_fraction={self.cooldown_fraction} must be in [0, 1] (a share of max_steps)",
        )
        require(
            not (self.cooldown_steps and self.cooldown_fraction),
            "give train.cooldown_steps or train.cooldown_fraction, not both (set the other to 0)",
        )
        require(0 <= self.min_lr <= self.lr, f"train.min_lr={self.min_lr} must be in [0, train.lr={self.lr}]")
        require(self.weight_decay >= 0, f"train.weight_decay={self.weight_decay} must be >= 0")
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            require(0 <= value < 1, f"train.{name}={value} must be in [0, 1) (AdamW's decay rate, e.g. 0.9)")
        require(0 <= self.seed < 2**32, f"train.seed={self.seed} must be in [0, 2**32), e.g. 1337")
        require(self.grad_clip >= 0, f"train.grad_clip={self.grad_clip} must be >= 0 (0 turns clipping off)")
        require(
            self.lr_decay in LR_DECAYS,
            f"train.lr_decay={self.lr_decay!r} is unknown; choose one of {LR_DECAYS}",
        )
        require(self.device in DEVICES, f"train.device={self.device!r} is unknown; choose one of {DEVICES}")
        object.__setattr__(self, "dtype", DTYPE_ALIASES.get(self.dtype, self.dtype))
        require(
            self.dtype in DTYPES,
            f"train.dtype={self.dtype!r} is unknown; choose one of {DTYPES} (or fp32, bf16, fp16)",
        )
        require(
            self.loss_average in LOSS_AVERAGES,
            f"train.loss_average={self.loss_average!r} is unknown; choose one of {LOSS_AVERAGES}",
        )
        self._check_cooldown()
        self._check_optimizer()
        self._check_grad_filter()

    def _check_cooldown(self) -> None:
        for name in ("cooldown_steps", "cooldown_fraction"):  # only wsd reads them; their default is 0
            value = getattr(self, name)
            require(
                self.lr_decay == "wsd" or not value,
                f"train.{name}={value} applies to train.lr_decay=wsd, not {self.lr_decay}; set it to 0 "
                "or use train.lr_decay=wsd",
            )

    def _check_grad_filter(self) -> None:
        kind = self.grad_filter
        require(kind in GRAD_FILTERS, f"train.grad_filter={kind!r} is unknown; choose one of {GRAD_FILTERS}")
        defaults = {f.name: f.default for f in fields(self)}
        for name, kinds in (("alpha", ("ema",)), ("lambda", ("ema", "ma")), ("window", ("ma",))):
            value = getattr(self, f"grad_filter_{name}")
            require(
                kind in kinds or value == defaults[f"grad_filter_{name}"],
                f"train.grad_filter_{name}={value} applies to train.grad_filter={'|'.join(kinds)}, not "
                f"{kind}; drop it or set train.grad_filter={kinds[0]}",
            )
        require(
            0 <= self.grad_filter_alpha < 1,
            f"train.grad_filter_alpha={self.grad_filter_alpha} must be in [0, 1)",
        )
        require(
            self.grad_filter_lambda >= 0, f"train.grad_filter_lambda={self.grad_filter_lambda} must be >= 0"
        )
        require(
            self.grad_filter_window >= 1, f"train.grad_filter_window={self.grad_filter_window} must be >= 1"
        )

    def _check_optimizer(self) -> None:
        require(
            self.optimizer in OPTIMIZERS,
            f"train.optimizer={self.optimizer!r} is unknown; choose one of {OPTIMIZERS}",
        )
        defaults = {f.name: f.default for f in fields(self)}
        for name in ("muon_lr", "muon_momentum", "muon_weight_decay"):
            value = getattr(self, name)
            require(
                self.optimizer == "muon" or value == defaults[name],
                f"train.{name}={value} applies to train.optimizer=muon, not {self.optimizer}; drop it or "
                "set train.optimizer=muon",
            )
        require(self.muon_lr > 0, f"train.muon_lr={self.muon_lr} must be positive")
        require(
            0 <= self.muon_momentum < 1,
            f"train.muon_momentum={self.muon_momentum} must be in [0, 1) (e.g. 0.95)",
        )
        require(self.muon_weight_decay >= 0, f"train.muon_weight_decay={self.muon_weight_decay} must be >= 0")

    @property
    def cooldown_length(self) -> int:
        """Steps of the wsd cool-down: cooldown_steps, or cooldown_fraction of max_steps."""
        return self.cooldown_steps or round(self.cooldown_fraction * self.max_steps)

    @property
    def counts_epochs(self) -> bool:
        """Whether any length or interval is given in epochs (pair tasks and data.windows=all have them)."""
        return bool(self.max_epochs or self.eval_interval_epochs or self.snapshot_interval_epochs)

    @property
    def sequences_per_step(self) -> int:
        """Sequences per optimizer step in one process: batch_size x grad_accum_steps (x block_size for
        tokens); under torchrun the global batch is this times the number of processes."""
        return self.batch_size * self.grad_accum_steps
