"""`lmlab info`: parameter counts of a run or preset; n-gram table sizes; config keys, presets, recipes."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from lmlab.cli.flags import add_overrides
from lmlab.config import ModelConfig, apply_overrides, config_keys, key_applies
from lmlab.config.model import MAX_DIMENSION
from lmlab.data import known_vocab_size
from lmlab.errors import LmlabError
from lmlab.inspect.ngram import MAX_LOG10_ENTRIES, log10_entries, ngram_tables
from lmlab.models import build_model
from lmlab.models.params import count_parameters
from lmlab.presets import load_preset, preset_names
from lmlab.recipes import recipe_names
from lmlab.runs.run_dir import open_run

HEADER_KEYS = ("n_layer", "n_head", "n_embd", "hidden_size", "block_size", "vocab_size")
SWITCH_KEYS = (
    "position",
    "causal",
    "bias",
    "attention_bias",
    "qkv_bias",
    "attention_out_proj",
    "mlp_bias",
    "lm_head_bias",
    "init",
    "init_std",
    "activation",
    "qk_norm",
    "zero_init_proj",
    "x0_skip",
    "value_embeddings",
)
SHOWN_WHEN_ON = ("qk_norm", "zero_init_proj", "x0_skip", "value_embeddings")  # modded-nanogpt's tricks


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "info", help="parameter counts of a run or preset; n-gram table sizes; config keys; presets"
    )
    parser.add_argument(
        "target", nargs="?", help="run directory, preset name, or ngram (with --vocab and --n)"
    )
    add_overrides(parser)
    parser.add_argument("--keys", action="store_true", help="list every config key with its type and default")
    parser.add_argument("--presets", action="store_true", help="list the shipped presets")
    parser.add_argument("--recipes", action="store_true", help="list the shipped sweep recipes")
    parser.add_argument("--vocab", type=int, help="ngram: vocabulary size |V|")
    parser.add_argument("--n", type=int, default=3, help="ngram: largest order n (default 3)")
    parser.add_argument(
        "--model",
        default="shakespeare-char",
        help="ngram: the GPT preset to compare (default shakespeare-char)",
    )
    parser.set_defaults(handler=info)


def info(args: argparse.Namespace) -> int:
    if args.keys:
        print("\n".join(config_keys()))
        return 0
    if args.recipes:
        print("\n".join(recipe_names()))
        return 0
    if args.presets or not args.target:
        print("\n".join(preset_names()))
        return 0
    if args.target == "ngram":
        return _ngram_table_size(args)
    target = Path(args.target)
    if target.is_dir():
        config = apply_overrides(open_run(target).config(), args.overrides)
    else:
        config = apply_overrides(load_preset(args.target), args.overrides)
        config = dataclasses.replace(
            config, model=dataclasses.replace(config.model, vocab_size=known_vocab_size(config.data))
        )
    report = count_parameters(build_model(config.model))
    model = config.model
    # only the sizes this family reads (a bigram has no n_head, an LSTM no heads)
    sizes = [f"{k}={getattr(model, k)}" for k in HEADER_KEYS if key_applies(config, f"model.{k}")]
    print(f"{args.target}: {model.kind}, {', '.join(sizes)}")
    if config.data.windows == "all":  # a text corpus read in epochs, as the BPE assignment reads it
        print(f"  data.windows=all: every stride-1 window of {model.block_size} tokens once an epoch")
    switches = [f"{k}={_switch(model, k)}" for k in SWITCH_KEYS if _shows(config, k)]
    if switches:
        print(f"  {', '.join(switches)}")
    for component, count in report.by_component.items():
        note = " (embedding)" if component in report.embedding_components else ""
        print(f"  {component:<20} {count:>12,}{note}")
    for name, target_name in report.tied.items():
        print(f"  {name} is tied to {target_name}")
    print(f"  {'total':<20} {report.total:>12,}")
    print(f"  {'non-embedding':<20} {report.non_embedding:>12,}")
    return 0


def _shows(config, key: str) -> bool:
    """Whether `lmlab info` prints switch `key`: the family reads it (init_std: not under init=pytorch;
    the tricks off by default: only when on)."""
    if key in SHOWN_WHEN_ON and not getattr(config.model, key):
        return False
    return key_applies(config, f"model.{key}") and not (key == "init_std" and config.model.init == "pytorch")


def _switch(model: ModelConfig, key: str) -> str:
    """A switch as the model is built: per-layer biases resolved (model.bias when left unset)."""
    resolved = key.replace("_bias", "_has_bias") if key.endswith("_bias") else key
    value = getattr(model, resolved)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _ngram_table_size(args: argparse.Namespace) -> int:
    """Free entries of full conditional probability tables beside a GPT's parameters.

    Assignment 000 (the SCAN assignment), question 1.
    """
    if args.vocab is None or args.vocab < 2 or args.n < 1:
        raise LmlabError("give the vocabulary size and the order, e.g. `lmlab info ngram --vocab 65 --n 3`")
    exponent = log10_entries(args.vocab, args.n)
    if args.vocab > MAX_DIMENSION or exponent > MAX_LOG10_ENTRIES:
        raise LmlabError(
            f"--vocab {args.vocab} with --n {args.n} makes tables of about 10^{exponent:.0f} entries, more "
            f"than this table prints (10^{MAX_LOG10_ENTRIES}; --vocab up to 2**40); lower --n or --vocab"
        )
    tables = ngram_tables(args.vocab, args.n, args.model)
    print(
        f"a table P(x_n | x_1 … x_(n-1)) over {args.vocab:,} tokens has |V|^(n-1)·(|V|-1) free entries "
        f"(each context's row sums to 1)"
    )
    print(f"{'n':>3}  {'entries':>32}  {'≈':>9}  {'entries / GPT parameters':>25}")
    for row in tables.rows:
        print(f"{row.n:>3}  {row.entries:>32,}  {row.entries:>9.2e}  {row.per_parameter:>25.3g}")
    print(
        f"{args.model} with this vocabulary: {tables.gpt_parameters:,} parameters for every n up to its "
        f"context of {tables.context} tokens, where a table would need about "
        f"10^{tables.context_exponent:.0f} entries"
    )
    return 0
