"""DataConfig: which corpus or task, how it is tokenized and split, and which keys apply to which."""

from __future__ import annotations

from dataclasses import dataclass

from lmlab.config.validation import require

DATASETS = ("shakespeare", "text", "scan", "arithmetic")
TOKENIZERS = ("char", "word", "bpe", "course_bpe")
BPE_BACKENDS = ("lmlab", "hf")
DATASET_TOKENIZERS = {
    "shakespeare": ("char", "bpe", "course_bpe"),
    "text": ("char", "bpe", "course_bpe"),
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
# Lake & Baroni's add-primitive jump split "with additional examples": num composed jump commands in
# train (and not in test), five random draws (rep) of each; fetched as official files, not generated
ADDPRIM_COMPLEX_NUMS = (1, 2, 4, 8, 16, 32)
ADDPRIM_COMPLEX_REPS = (1, 2, 3, 4, 5)
ADDPRIM_COMPLEX_SPLITS = tuple(
    f"addprim_complex_jump_num{num}_rep{rep}" for num in ADDPRIM_COMPLEX_NUMS for rep in ADDPRIM_COMPLEX_REPS
)
ADDPRIM_COMPLEX_PATTERN = "addprim_complex_jump_num{1,2,4,8,16,32}_rep{1..5}"
DEFAULT_TRAIN_FRACTION = 0.9
SCAN_SOURCES = ("auto", "generated", "official")
WINDOWS = ("random", "all")
MAX_EQUATIONS = 10**7  # arithmetic: p^order equations, about 200 bytes each in memory


@dataclass(frozen=True)
class DataConfig:
    """Which corpus or task, how it is tokenized and split.

    Text corpora (shakespeare, text) are split by position: the first `train_fraction` is train (with
    windows=all, the first train_fraction of the stride-1 windows, as the BPE assignment splits). Pair
    tasks: scan reads a train and a test set, and `train_fraction` of the train pairs, drawn with
    `split_seed`, train the model while the rest is the validation set that picks the best checkpoint
    (with `val_min_actions` = N > 0, the train pairs of N or more actions are that set instead, the
    longest held out as on the length split, and train_fraction must stay at its default: it does not
    apply, so another value is refused rather than ignored); arithmetic splits all equations into
    train and validation by `r_train`. DATA_KEY_SCOPES lists which keys apply to which dataset or
    tokenizer; `--set` refuses one that does not apply.
    """

    dataset: str = "shakespeare"
    tokenizer: str = "char"
    # shakespeare, text and scan: the share that trains (text by position, scan pairs drawn by split_seed)
    train_fraction: float = DEFAULT_TRAIN_FRACTION
    # scan and arithmetic
    split_seed: int = 0  # draws the validation pairs (and the generated simple split)
    # scan
    split: str = "simple"  # a named split (SCAN_SPLITS or ADDPRIM_COMPLEX_SPLITS)
    source: str = "auto"  # auto, generated (from the grammar) or official (the published files)
    train_file: str = ""  # any file of 'IN: ... OUT: ...' lines, instead of a named split
    test_file: str = ""
    # 0: val is a random 1 - train_fraction share of the train pairs; N > 0: val is every train pair of at
    # least N actions (the longest, as the length split's test set), train the rest
    val_min_actions: int = 0
    # with split=addprim_jump: train on Lake & Baroni's file with this many composed jump commands
    # (1, 2, 4, 8, 16, 32), the draw (rep 1-5) given by split_seed, so a sweep's seeds are the draws
    composed_examples: int = 0
    # arithmetic
    p: int = 31  # the modulus, equations over Z_p
    operator: str = "+"  # + - * / (division by the modular inverse; p must be prime)
    operation_orders: str = "2"  # "2" (a+b=r), "3" (a+b+c=r) or "2,3" (both, padded)
    r_train: float = 0.5  # share of the equations (of each order) that train; the rest validate
    # text
    data_file: str = ""  # a text file, a folder of .txt files, or a glob (--data-file)
    encoding: str = "utf-8"  # how the files' bytes are read
    # shakespeare and text: the BPE assignment's cleaning (lmlab.data.lines), before tokenizing and splitting
    drop_speaker_lines: bool = False  # the first line and the first after each run of blank lines
    drop_blank_lines: bool = False
    # shakespeare and text: "random" draws windows of block_size tokens at random; "all" reads every
    # stride-1 window once an epoch in a fresh seeded order (train.max_epochs works), as the BPE assignment
    windows: str = "random"
    # tokenizer=bpe (256 bytes + merges) or course_bpe (the BPE assignment's); merges learned on train only
    bpe_vocab_size: int = 500
    bpe_backend: str = "lmlab"  # lmlab (own trainer) or hf (Hugging Face tokenizers; pip install lmlab[hf])

    def __post_init__(self) -> None:
        require(
            self.dataset in DATASETS, f"data.dataset={self.dataset!r} is unknown; choose one of {DATASETS}"
        )
        require(
            self.tokenizer in TOKENIZERS,
            f"data.tokenizer={self.tokenizer!r} is unknown; choose one of {TOKENIZERS}",
        )
        expected = DATASET_TOKENIZERS[self.dataset]
        require(
            self.tokenizer in expected,
            f"data.dataset={self.dataset} works with data.tokenizer={'|'.join(expected)}, "
            f"not {self.tokenizer!r}",
        )
        require(
            0.0 < self.train_fraction < 1.0, f"data.train_fraction={self.train_fraction} must be in (0, 1)"
        )
        require(
            self.split in SCAN_SPLITS or self.split in ADDPRIM_COMPLEX_SPLITS,
            f"data.split={self.split!r} is unknown; choose one of {', '.join(SCAN_SPLITS)} "
            f"or {ADDPRIM_COMPLEX_PATTERN}",
        )
        require(
            self.source in SCAN_SOURCES,
            f"data.source={self.source!r} is unknown; choose one of {SCAN_SOURCES}",
        )
        require(
            not self.test_file or bool(self.train_file),
            "data.test_file needs data.train_file too (--train-file PATH)",
        )
        require(
            self.composed_examples in (0, *ADDPRIM_COMPLEX_NUMS),
            f"data.composed_examples={self.composed_examples} is not a number Lake & Baroni published; "
            f"choose one of {ADDPRIM_COMPLEX_NUMS} (0: none)",
        )
        require(
            not self.composed_examples or self.dataset != "scan" or self.split == "addprim_jump",
            f"data.composed_examples adds composed jump commands to data.split=addprim_jump, not "
            f"{self.split!r}; set data.split=addprim_jump",
        )
        require(
            not self.composed_examples or self.dataset != "scan" or self.split_seed in ADDPRIM_COMPLEX_REPS,
            f"data.composed_examples picks the draw (rep) by data.split_seed, which must be 1 to 5, "
            f"not {self.split_seed}; e.g. data.split_seed=1 (a sweep's --seeds 1,2,3)",
        )
        require(
            self.val_min_actions >= 0,
            f"data.val_min_actions={self.val_min_actions} must be 0 (a random validation share) or a "
            "positive number of actions (the train pairs at least that long validate)",
        )
        require(
            self.val_min_actions == 0 or self.train_fraction == DEFAULT_TRAIN_FRACTION,
            f"data.val_min_actions={self.val_min_actions} holds out the longest train pairs as val, so "
            f"data.train_fraction={self.train_fraction} does not apply; drop one of the two",
        )
        require(self.p >= 2, f"data.p={self.p} must be at least 2")
        require(
            self.operator in OPERATORS,
            f"data.operator={self.operator!r} is unknown; choose one of {' '.join(OPERATORS)}",
        )
        require(
            bool(self.orders) and set(self.orders) <= {2, 3} and len(set(self.orders)) == len(self.orders),
            f"data.operation_orders={self.operation_orders!r} must be 2, 3 or 2,3",
        )
        order = max(self.orders)
        require(
            self.p**order <= MAX_EQUATIONS,
            f"data.p={self.p} makes p^{order} equations, more than the {MAX_EQUATIONS:,} that fit in memory; "
            f"use data.p up to {int(MAX_EQUATIONS ** (1 / order))}",
        )
        require(
            self.operator != "/" or _is_prime(self.p),
            f"data.operator=/ needs a prime modulus for inverses; data.p={self.p} is not prime",
        )
        require(0.0 < self.r_train < 1.0, f"data.r_train={self.r_train} must be in (0, 1)")
        require(self.windows in WINDOWS, f"data.windows={self.windows!r} is unknown; choose one of {WINDOWS}")
        if self.tokenizer == "course_bpe":  # its alphabet is the corpus's characters, known when fitted
            require(self.bpe_vocab_size >= 1, f"data.bpe_vocab_size={self.bpe_vocab_size} must be positive")
        else:
            require(
                self.bpe_vocab_size >= 257,
                f"data.bpe_vocab_size={self.bpe_vocab_size} must be at least 257 (256 bytes and one merge)",
            )
        require(
            self.bpe_backend in BPE_BACKENDS,
            f"data.bpe_backend={self.bpe_backend!r} is unknown; choose one of {BPE_BACKENDS}",
        )

    @property
    def scan_split(self) -> str:
        """The split's file name part: data.split, or the composed-examples file data.composed_examples
        and data.split_seed pick."""
        if self.composed_examples:
            return f"addprim_complex_jump_num{self.composed_examples}_rep{self.split_seed}"
        return self.split

    @property
    def is_pair_task(self) -> bool:
        """Sequence-to-sequence pairs (conditional language modelling) rather than running text."""
        return self.dataset in ("scan", "arithmetic")

    @property
    def has_epochs(self) -> bool:
        """Whether training reads the data in epochs: pair tasks, and text corpora with windows=all."""
        return self.is_pair_task or self.windows == "all"

    @property
    def orders(self) -> tuple[int, ...]:
        """data.operation_orders as numbers: "2,3" -> (2, 3); an unparsable string gives ()."""
        parts = [part.strip() for part in str(self.operation_orders).split(",")]
        return tuple(int(part) for part in parts) if all(part.isdigit() for part in parts) else ()


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))


# Which data keys apply where, as lmlab.data reads them: key -> (the key that decides, the values it
# applies to). `--set data.KEY=...` is refused when the config's value of the deciding key is not listed.
DATA_KEY_SCOPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "dataset": ("dataset", DATASETS),
    "tokenizer": ("dataset", DATASETS),
    "train_fraction": ("dataset", ("shakespeare", "text", "scan")),  # arithmetic splits by r_train
    "split_seed": ("dataset", ("scan", "arithmetic")),  # text corpora split by position
    "split": ("dataset", ("scan",)),
    "source": ("dataset", ("scan",)),
    "train_file": ("dataset", ("scan",)),
    "test_file": ("dataset", ("scan",)),
    "val_min_actions": ("dataset", ("scan",)),
    "composed_examples": ("dataset", ("scan",)),
    "p": ("dataset", ("arithmetic",)),
    "operator": ("dataset", ("arithmetic",)),
    "operation_orders": ("dataset", ("arithmetic",)),
    "r_train": ("dataset", ("arithmetic",)),
    "data_file": ("dataset", ("text",)),
    "encoding": ("dataset", ("text",)),
    "drop_speaker_lines": ("dataset", ("shakespeare", "text")),
    "drop_blank_lines": ("dataset", ("shakespeare", "text")),
    "windows": ("dataset", ("shakespeare", "text")),
    "bpe_vocab_size": ("tokenizer", ("bpe", "course_bpe")),
    "bpe_backend": ("tokenizer", ("bpe",)),
}
