"""How a sweep's grid keys split its results: the last key is the one a figure varies (colour bar of
curves, x axis of summaries); the others pick the figure, the line or, when numeric, a colour."""

from __future__ import annotations

from lmlab.experiments.results import PointResult
from lmlab.experiments.sweep import SweepSpec

PRESET = "preset"


def keys_of(spec: SweepSpec) -> tuple[str | None, list[str]]:
    """(the last grid key, the keys before it)."""
    keys = list(spec.grid)
    return (keys[-1], keys[:-1]) if keys else (None, [])


def group_by(results: list[PointResult], keys: list[str]) -> dict[tuple[str, ...], list[PointResult]]:
    groups: dict[tuple[str, ...], list[PointResult]] = {}
    for r in results:
        groups.setdefault(tuple(r.point[k] for k in keys), []).append(r)
    return groups


def short(key: str) -> str:
    return key.split(".")[-1]


def label(keys: list[str], values: tuple[str, ...]) -> str:
    return ", ".join(f"{short(k)}={v}" for k, v in zip(keys, values, strict=True))


def stem(kind: str, keys: list[str], values: tuple[str, ...]) -> str:
    """A figure's file stem: e.g. curves_preset=arith-gpt_n_layer=1, or `kind` alone with no keys."""
    return "_".join([kind, *(f"{short(k)}={v}" for k, v in zip(keys, values, strict=True))])
