"""ModelConfig: the architecture of the network, and which keys each model family reads."""

from __future__ import annotations

import math
from dataclasses import dataclass

from lmlab.config.validation import require

MODEL_KINDS = ("bigram", "bigram_embed", "attention", "gpt", "lstm")
ATTENTION_KINDS = ("attention", "gpt")  # the kinds that split n_embd into n_head heads
NORMS = ("layernorm", "rmsnorm", "none")  # none: identity, as Nanda et al. 2023's grokking model
# none: no position signal (the BPE assignment); relative: T5's learned bias per head and distance bucket;
# alibi: Press et al.'s fixed linear bias (both on the attention scores, lmlab.models.position_bias)
POSITIONS = ("learned", "sinusoidal", "rotary", "none", "relative", "alibi")
ACTIVATIONS = ("gelu", "relu", "relu2")  # relu2: ReLU(x)² (So et al. 2021; modded-nanogpt)
# gpt2: N(0, init_std) with GPT-2's smaller residual projections; normal: N(0, init_std) everywhere (the
# minGPT/nanoGPT notebooks); pytorch: each layer's own default (nn.Linear, nn.Embedding), a notebook's start
INITS = ("gpt2", "normal", "pytorch")
DEFAULT_INIT_STD = 0.02
# no machine holds a model with a dimension this large; the cap keeps size arithmetic within floats
MAX_DIMENSION = 2**40
SIZE_KEYS = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "attention_window", "hidden_size")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the network. `vocab_size` is filled in from the tokenizer when a run starts.

    Not every family reads every key: MODEL_KEY_KINDS lists which read which, and `--set` refuses a
    key that model.kind does not read.
    """

    kind: str = "gpt"
    vocab_size: int = 0
    block_size: int = 256
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    dropout: float = 0.2
    # None: model.dropout; a number: the attention weights' dropout alone, so the residual stream can
    # be regularised without the costly dropout inside the fused attention kernel (0: off there)
    attention_dropout: float | None = None
    bias: bool = False
    # None: follow model.bias (the output layer: no bias, as GPT-2's); true/false: this layer only
    # (the arithmetic assignment: attention with bias, a bias-free MLP; assignment 004's output layer)
    attention_bias: bool | None = None
    qkv_bias: bool | None = None  # None: follow attention_bias (assignment 004: q, k, v without bias)
    mlp_bias: bool | None = None
    lm_head_bias: bool | None = None  # None: GPT's output layer has none (GPT-2's), an LSTM's follows bias
    # false: the heads' outputs go on without the C x C projection (assignment 004's single head)
    attention_out_proj: bool = True
    tie_weights: bool = True
    norm: str = "layernorm"
    norm_eps: float = 0.0  # added to the variance; 0: the norm's usual 1e-5 (LayerNorm), 1e-6 (RMSNorm)
    position: str = "learned"
    activation: str = "gelu"
    mlp_ratio: float = 4.0
    attention_window: int = 0  # 0: see every earlier token; w: only the last w (w=2 is a trigram model)
    causal: bool = True  # false: every position sees every other, future included (it cannot generate)
    hidden_size: int = 0  # LSTM hidden width; 0 means n_embd
    segment_embeddings: bool = False  # GPT on (source, target) pairs: a learned vector per segment
    # true: segment 1's vector at every position, a learned bias (the SCAN assignment's starter code)
    segments_constant: bool = False
    # GPT: std of the initial weights (GPT-2's 0.02; larger starts memorise faster); bigram: of the table
    # (1.0 is nn.Embedding's N(0, 1), assignment 004's untrained loss of 4.66)
    init_std: float = DEFAULT_INIT_STD
    init: str = "gpt2"  # INITS; attention, bigram and bigram_embed have no residual: gpt2 = normal there
    # GPT: keep only each block's input during training and recompute the block in the backward pass:
    # activation memory of one block instead of n_layer, for about a third more compute
    checkpoint_activations: bool = False
    # modded-nanogpt / nanochat tricks, each off by default (docs/models.md, GPT variants):
    qk_norm: bool = False  # RMS-normalise each head's queries and keys (no weight) before the scores
    zero_init_proj: bool = False  # GPT: attn.out_proj and mlp.out_proj of every block start at zero
    # GPT: before block i, x <- a_i x + b_i x0 (x0 the embedding output), a_i = 1, b_i = 0 at the start
    x0_skip: bool = False
    # GPT: a token table per layer whose row for each input token is added to the values, v <- v + λ_i
    # ve_i(idx), λ_i a learned scalar starting at 0 (so the model starts as the plain one)
    value_embeddings: bool = False

    def __post_init__(self) -> None:
        require(self.kind in MODEL_KINDS, f"model.kind={self.kind!r} is unknown; choose one of {MODEL_KINDS}")
        require(self.vocab_size >= 0, "model.vocab_size must be >= 0 (0 means: take it from the tokenizer)")
        require(self.block_size >= 1, f"model.block_size={self.block_size} must be at least 1")
        require(self.n_layer >= 1, f"model.n_layer={self.n_layer} must be at least 1")
        require(self.n_head >= 1, f"model.n_head={self.n_head} must be at least 1")
        require(self.n_embd >= 1, f"model.n_embd={self.n_embd} must be at least 1")
        for key in SIZE_KEYS:
            require(
                getattr(self, key) <= MAX_DIMENSION,
                f"model.{key}={getattr(self, key)} is larger than any machine holds; keep it below 2**40",
            )
        require(
            self.kind not in ATTENTION_KINDS or self.n_embd % self.n_head == 0,
            f"model.n_embd={self.n_embd} is not divisible by model.n_head={self.n_head}; "
            "pick n_embd as a multiple of n_head",
        )
        require(0.0 <= self.dropout < 1.0, f"model.dropout={self.dropout} must be in [0, 1)")
        require(
            self.attention_dropout is None or 0.0 <= self.attention_dropout < 1.0,
            f"model.attention_dropout={self.attention_dropout} must be in [0, 1), or none to follow "
            "model.dropout",
        )
        require(0 <= self.norm_eps < 1, f"model.norm_eps={self.norm_eps} must be in [0, 1) (0: the usual)")
        require(self.norm in NORMS, f"model.norm={self.norm!r} is unknown; choose one of {NORMS}")
        require(
            self.position in POSITIONS,
            f"model.position={self.position!r} is unknown; choose one of {POSITIONS}",
        )
        require(
            self.activation in ACTIVATIONS,
            f"model.activation={self.activation!r} is unknown; choose one of {ACTIVATIONS}",
        )
        require(
            self.kind != "attention" or self.position == "learned",
            "model.kind=attention uses learned positions (the bigram-to-transformer assignment), "
            f"not model.position={self.position!r}; "
            "use model.kind=gpt for other position encodings",
        )
        require(
            0 < self.mlp_ratio and self.mlp_ratio * self.n_embd <= MAX_DIMENSION,
            f"model.mlp_ratio={self.mlp_ratio} must be positive and mlp_ratio·n_embd below 2**40 (e.g. 4)",
        )
        require(0 < self.init_std < math.inf, f"model.init_std={self.init_std} must be positive and finite")
        require(self.init in INITS, f"model.init={self.init!r} is unknown; choose one of {INITS}")
        require(
            self.init != "pytorch" or self.init_std == DEFAULT_INIT_STD,
            f"model.init_std={self.init_std} does not apply to model.init=pytorch (each layer's own "
            "default); drop it or use model.init=normal",
        )
        require(self.attention_window >= 0, f"model.attention_window={self.attention_window} must be >= 0")
        require(
            self.causal or self.attention_window == 0,
            "model.attention_window needs model.causal=true; set model.attention_window=0",
        )
        require(self.hidden_size >= 0, f"model.hidden_size={self.hidden_size} must be >= 0 (0 means n_embd)")
        require(
            not self.segment_embeddings or self.kind == "gpt",
            f"model.segment_embeddings needs model.kind=gpt, not {self.kind!r}",
        )
        require(
            not self.segments_constant or self.segment_embeddings,
            "model.segments_constant needs model.segment_embeddings=true",
        )
        for key in ("zero_init_proj", "x0_skip", "value_embeddings"):
            require(
                not getattr(self, key) or self.kind == "gpt",
                f"model.{key} needs model.kind=gpt, not {self.kind!r}",
            )
        require(
            self.position != "rotary" or self.kind not in ATTENTION_KINDS or self.head_size % 2 == 0,
            f"model.position=rotary needs an even head size, got n_embd/n_head={self.head_size}",
        )

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    @property
    def attention_has_bias(self) -> bool:
        return self.bias if self.attention_bias is None else self.attention_bias

    @property
    def qkv_has_bias(self) -> bool:
        return self.attention_has_bias if self.qkv_bias is None else self.qkv_bias

    @property
    def mlp_has_bias(self) -> bool:
        return self.bias if self.mlp_bias is None else self.mlp_bias

    @property
    def lm_head_has_bias(self) -> bool:
        if self.lm_head_bias is None:  # GPT: none, as GPT-2's; LSTM: as its gates (assignment 002's tables)
            return self.bias and self.kind == "lstm"
        return self.lm_head_bias

    @property
    def mlp_hidden(self) -> int:
        return int(round(self.mlp_ratio * self.n_embd))

    @property
    def attention_dropout_p(self) -> float:
        return self.dropout if self.attention_dropout is None else self.attention_dropout

    @property
    def lstm_hidden(self) -> int:
        return self.hidden_size or self.n_embd


# Which families read each model key (lmlab.models; block_size also sets the training windows, so
# every family uses it). `--set model.KEY=...` is refused when model.kind is not listed.
MODEL_KEY_KINDS: dict[str, tuple[str, ...]] = {
    "kind": MODEL_KINDS,
    "vocab_size": MODEL_KINDS,
    "block_size": MODEL_KINDS,
    "n_layer": ("gpt", "lstm"),  # attention: one layer; bigrams: none
    "n_head": ATTENTION_KINDS,
    "n_embd": ("bigram_embed", "attention", "gpt", "lstm"),  # bigram: a V x V table
    "dropout": ("attention", "gpt", "lstm"),
    "attention_dropout": ATTENTION_KINDS,
    "bias": ("attention", "gpt", "lstm"),  # bigram_embed's readout always has a bias
    "attention_bias": ATTENTION_KINDS,
    "qkv_bias": ATTENTION_KINDS,
    "attention_out_proj": ATTENTION_KINDS,
    "mlp_bias": ("gpt",),
    "lm_head_bias": ("gpt", "lstm"),  # attention and bigram_embed readouts always have a bias
    "tie_weights": ("gpt",),
    "norm": ("gpt",),
    "norm_eps": ("gpt",),
    "position": ATTENTION_KINDS,  # attention: learned only
    "activation": ("gpt",),
    "mlp_ratio": ("gpt",),
    "attention_window": ATTENTION_KINDS,
    "causal": ATTENTION_KINDS,
    "hidden_size": ("lstm",),
    "segment_embeddings": ("gpt",),
    "segments_constant": ("gpt",),
    "init_std": ("gpt", "attention", "bigram", "bigram_embed"),  # the LSTM starts as torch's LSTM
    "init": ("gpt", "attention", "bigram", "bigram_embed"),
    "checkpoint_activations": ("gpt",),
    "qk_norm": ATTENTION_KINDS,  # in CausalSelfAttention, which the attention family uses too
    "zero_init_proj": ("gpt",),
    "x0_skip": ("gpt",),
    "value_embeddings": ("gpt",),
}
