"""`section.key=value` strings (`--set`): parsed into typed values, applied, and refused where the key
does not apply to the config they make (a model key its family does not read, a data key of another
dataset or tokenizer)."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Sequence
from typing import Any

from lmlab.config.data import DATA_KEY_SCOPES, DATASETS, TOKENIZERS
from lmlab.config.model import MODEL_KEY_KINDS, MODEL_KINDS
from lmlab.config.run import SECTION_TYPES, RunConfig
from lmlab.config.validation import require
from lmlab.config.values import coerce, field_type
from lmlab.errors import LmlabError

# section -> key -> (the key that decides, the values the key applies to); train keys apply everywhere
KEY_SCOPES: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "model": {name: ("kind", kinds) for name, kinds in MODEL_KEY_KINDS.items()},
    "data": DATA_KEY_SCOPES,
}
_CHOICES = {"model.kind": MODEL_KINDS, "data.dataset": DATASETS, "data.tokenizer": TOKENIZERS}


def apply_overrides(config: RunConfig, overrides: Sequence[str], shared: Sequence[str] = ()) -> RunConfig:
    """Apply `section.key=value` strings, e.g. `model.n_layer=4`, returning a new validated config.

    Each model or data key of `overrides` must apply to the config after all of them: `data.p` only
    with data.dataset=arithmetic, `model.hidden_size` only with model.kind=lstm. `shared` strings are
    applied first and not refused: the settings common to the runs of a sweep or a comparison, which
    may mix model families and datasets.
    """
    changes: dict[str, dict[str, Any]] = {}
    for item in [*shared, *overrides]:
        section, name, value = _parse(item)
        changes.setdefault(section, {})[name] = value
    for section, values in changes.items():
        config = dataclasses.replace(
            config, **{section: dataclasses.replace(getattr(config, section), **values)}
        )
    for item in overrides:
        problem = _scope_problem(config, item.partition("=")[0].strip())
        require(problem is None, str(problem))
    return config


def key_applies(config: RunConfig, key: str) -> bool:
    """Whether `section.name` applies to `config`: its model family reads it, or its dataset or
    tokenizer uses it (keys of other sections always apply)."""
    return _scope_problem(config, key) is None


def check_shared(configs: Sequence[RunConfig], shared: Sequence[str]) -> None:
    """Refuse a setting shared by several runs (a sweep's or a comparison's `--set`) that applies to
    none of them: it would change nothing, so it is most likely a typo or the wrong family's key."""
    for item in shared:
        key = item.partition("=")[0].strip()
        problems = [_scope_problem(config, key) for config in configs]
        require(not (problems and all(problems)), f"--set {key} applies to none of the runs ({problems[0]})")


def config_keys() -> list[str]:
    """Every key `--set` accepts, with its type, default and where it applies."""
    lines = []
    for section, section_type in SECTION_TYPES.items():
        for f in dataclasses.fields(section_type):
            default = f.default if f.default is not dataclasses.MISSING else None
            hint = field_type(section_type, f.name)
            line = f"{section}.{f.name} ({getattr(hint, '__name__', hint)}) = {default}"
            decider, values = KEY_SCOPES.get(section, {}).get(f.name, ("", ()))
            if decider and set(values) != set(_CHOICES[f"{section}.{decider}"]):
                line += f"  [only with {section}.{decider}={'|'.join(values)}]"
            lines.append(line)
    return lines


def _parse(item: str) -> tuple[str, str, Any]:
    """`model.n_layer=4` -> ("model", "n_layer", 4); unknown keys are refused with the closest known one."""
    key, sep, value = item.partition("=")
    key = key.strip()
    require(bool(sep) and bool(key), f"--set {item!r} is not key=value; write e.g. --set model.n_layer=4")
    section, dot, name = key.partition(".")
    section_type = SECTION_TYPES.get(section)
    if section_type is None or not dot or name not in {f.name for f in dataclasses.fields(section_type)}:
        known = [f"{s}.{f.name}" for s, t in SECTION_TYPES.items() for f in dataclasses.fields(t)]
        close = difflib.get_close_matches(key, known, n=1) or [k for k in known if k.endswith("." + name)]
        hint = f"did you mean {close[0]}?" if close else "run `lmlab info --keys` to list them"
        raise LmlabError(f"unknown config key {key!r}; {hint}")
    return section, name, coerce(key, value.strip(), field_type(section_type, name))


def _scope_problem(config: RunConfig, key: str) -> str | None:
    """None if `key` applies to `config`, else the one-line reason and fix."""
    section, _, name = key.partition(".")
    if section not in KEY_SCOPES:
        return None
    decider, values = KEY_SCOPES[section][name]
    actual = getattr(getattr(config, section), decider)
    if actual in values:
        return None
    where = f"{section}.{decider}"
    fix = f"{where}={values[0]}" if len(values) == 1 else f"{where} to one of {', '.join(values)}"
    return f"{key} applies to {where}={'|'.join(values)}, not {actual}; drop it or set {fix}"
