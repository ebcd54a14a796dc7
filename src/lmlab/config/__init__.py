"""Typed, frozen configuration: one dataclass per concern, validated on construction.

Every choice is a string or a number so a config round-trips through JSON. Changes go through
`dataclasses.replace` (or `apply_overrides` for `key=value` strings from the command line).

- model.py: ModelConfig, its choices, and MODEL_KEY_KINDS (which family reads which key)
- data.py: DataConfig, its choices, and DATA_KEY_SCOPES (which key applies to which dataset/tokenizer)
- train.py: TrainConfig and its choices
- run.py: RunConfig (the three together, from and to JSON) and load_config_file
- overrides.py: `--set` strings parsed, applied and checked; config_keys for `lmlab info --keys`
- values.py, validation.py: typed values from JSON or strings; the one-line check every section uses
"""

from lmlab.config.data import (
    BPE_BACKENDS,
    DATA_KEY_SCOPES,
    DATASET_TOKENIZERS,
    DATASETS,
    OPERATORS,
    SCAN_SOURCES,
    SCAN_SPLITS,
    TOKENIZERS,
    WINDOWS,
    DataConfig,
)
from lmlab.config.model import (
    ACTIVATIONS,
    ATTENTION_KINDS,
    MODEL_KEY_KINDS,
    MODEL_KINDS,
    NORMS,
    POSITIONS,
    ModelConfig,
)
from lmlab.config.overrides import apply_overrides, check_shared, config_keys, key_applies
from lmlab.config.run import RunConfig, load_config_file
from lmlab.config.train import DEVICES, DTYPES, LOSS_AVERAGES, LR_DECAYS, TrainConfig

__all__ = [
    "ACTIVATIONS",
    "ATTENTION_KINDS",
    "BPE_BACKENDS",
    "DATASETS",
    "DATASET_TOKENIZERS",
    "DATA_KEY_SCOPES",
    "DEVICES",
    "DTYPES",
    "LOSS_AVERAGES",
    "LR_DECAYS",
    "MODEL_KEY_KINDS",
    "MODEL_KINDS",
    "NORMS",
    "OPERATORS",
    "POSITIONS",
    "SCAN_SOURCES",
    "SCAN_SPLITS",
    "TOKENIZERS",
    "WINDOWS",
    "DataConfig",
    "ModelConfig",
    "RunConfig",
    "TrainConfig",
    "apply_overrides",
    "check_shared",
    "config_keys",
    "key_applies",
    "load_config_file",
]
