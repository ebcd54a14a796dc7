"""Presets: named run configurations shipped as JSON files in this folder."""

from __future__ import annotations

import json
from importlib import resources

from lmlab.config import RunConfig
from lmlab.errors import LmlabError


def preset_names() -> list[str]:
    """Names of every shipped preset, sorted."""
    files = resources.files(__package__).iterdir()
    return sorted(f.name.removesuffix(".json") for f in files if f.name.endswith(".json"))


def load_preset(name: str) -> RunConfig:
    """The preset's config, with `preset` set to its name."""
    if name not in preset_names():
        raise LmlabError(f"unknown preset {name!r}; choose one of: {', '.join(preset_names())}")
    raw = json.loads(resources.files(__package__).joinpath(f"{name}.json").read_text())
    return RunConfig.from_dict({"preset": name, **raw}, source=f"preset {name}")
