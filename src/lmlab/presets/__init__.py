"""Presets: named run configurations shipped as JSON files in this folder.

A preset may cover only part of a config (the model-* presets hold just a model size); presets join
with "+", later ones overriding earlier ones key by key: `scan-length+model-6x8x64`.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from lmlab.config import RunConfig
from lmlab.errors import LmlabError


def preset_names() -> list[str]:
    """Names of every shipped preset, sorted."""
    files = resources.files(__package__).iterdir()
    return sorted(f.name.removesuffix(".json") for f in files if f.name.endswith(".json"))


def load_preset(name: str) -> RunConfig:
    """The config of a preset, or of presets joined by "+", with `preset` set to the name."""
    merged: dict[str, dict[str, Any]] = {}
    for part in name.split("+"):
        for section, values in _raw(part.strip()).items():
            merged.setdefault(section, {}).update(values)
    return RunConfig.from_dict({"preset": name, **merged}, source=f"preset {name}")


def _raw(name: str) -> dict[str, dict[str, Any]]:
    if name not in preset_names():
        raise LmlabError(f"unknown preset {name!r}; choose one of: {', '.join(preset_names())}")
    return json.loads(resources.files(__package__).joinpath(f"{name}.json").read_text())
