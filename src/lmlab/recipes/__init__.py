"""Sweep recipes: the arithmetic assignment's studies as JSON files here (see lmlab.experiments.sweep).

A recipe names a base preset, a grid of config values, seeds, extra overrides, and optionally
budget fractions α (summaries over the first α·T steps of each run).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from lmlab.errors import LmlabError
from lmlab.experiments.sweep import SweepSpec
from lmlab.presets import load_preset


def recipe_names() -> list[str]:
    files = resources.files(__package__).iterdir()
    return sorted(f.name.removesuffix(".json") for f in files if f.name.endswith(".json"))


def load_recipe(name: str) -> SweepSpec:
    """A shipped recipe by name, a recipe JSON file by path, or a preset (a sweep over seeds only)."""
    if name in recipe_names():
        return _parse(resources.files(__package__).joinpath(f"{name}.json").read_text(), name)
    path = Path(name)
    if path.suffix == ".json" and path.is_file():
        return _parse(path.read_text(), str(path))
    try:
        load_preset(name)
    except LmlabError:
        raise LmlabError(
            f"{name!r} is neither a recipe ({', '.join(recipe_names())}), a recipe .json file, nor a preset; "
            "see `lmlab info --presets`"
        ) from None
    return SweepSpec(preset=name)


def _parse(text: str, source: str) -> SweepSpec:
    try:
        return SweepSpec.from_dict(json.loads(text), Path(source).stem)
    except json.JSONDecodeError as error:
        raise LmlabError(f"recipe {source} is not valid JSON ({error.msg} at line {error.lineno})") from None
    except KeyError as error:
        raise LmlabError(f"recipe {source} lacks {error}; give at least a preset") from None
