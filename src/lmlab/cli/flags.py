"""Flags that several commands share, each defined once."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from lmlab.device import resolve_device
from lmlab.errors import LmlabError


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """RUN_DIR, and which of its checkpoints to load on which device."""
    parser.add_argument("run", type=Path, metavar="RUN_DIR")
    parser.add_argument(
        "--checkpoint", default="best", help="best (lowest val loss), last, or step-N (a kept snapshot)"
    )
    parser.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cuda, mps or cpu")


def add_overrides(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    """--set KEY=VALUE (repeatable), collected in args.overrides."""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help
    )


def add_out(parser: argparse.ArgumentParser, help: str, required: bool = False) -> None:
    parser.add_argument("--out", type=Path, required=required, help=help)


def add_data_dir(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    parser.add_argument("--data-dir", type=Path, help=help)


def add_quiet(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    parser.add_argument("--quiet", action="store_true", help=help)


def check_device(name: str) -> None:
    """--device: auto, cpu, cuda or mps, and present on this machine; else one line naming the fix."""
    resolve_device(name, flag="--device")


def check_at_least(flag: str, value: float | None, minimum: float, note: str = "") -> None:
    """A numeric flag's value, refused in one line unless finite and >= minimum (None: not given)."""
    if value is None or (math.isfinite(value) and value >= minimum):
        return
    kind = "a whole number" if isinstance(value, int) else "a finite number"
    raise LmlabError(f"{flag} must be {kind} >= {minimum}{note}, not {value}")


def add_x_axis(parser: argparse.ArgumentParser) -> None:
    """--x: what a curve is drawn against."""
    parser.add_argument(
        "--x",
        choices=("step", "epoch", "tokens"),
        default="step",
        help="plot against optimizer steps, epochs (pair tasks only) or tokens seen (default: step)",
    )


def parse_int_list(flag: str, text: str) -> list[int]:
    """`1,10,30` -> [1, 10, 30]: whole numbers >= 0, else one line naming the flag."""
    try:
        values = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 0:
        raise LmlabError(
            f"{flag} takes whole numbers >= 0 separated by commas, e.g. {flag} 1,10,30, not {text!r}"
        )
    return values


def parse_temperatures(text: str | None, default: float | None) -> list[tuple[str, float | None]]:
    """--temperature "1.5,1.0,0.1": (label, value) per temperature, each checked >= 0; None: [default]."""
    if text is None:
        return [("default", default)]
    temperatures = []
    for label in (part.strip() for part in text.split(",")):
        try:
            value = float(label)
        except ValueError:
            raise LmlabError(
                f"--temperature must be a number or comma-separated numbers (e.g. 1.0,0.5), not {text!r}"
            ) from None
        check_at_least("--temperature", value, 0, " (0 is greedy decoding)")
        temperatures.append((label, value))
    return temperatures


def check_seed(seed: int | None) -> None:
    if seed is not None and not 0 <= seed < 2**64:
        raise LmlabError(f"--seed must be in [0, 2**64) (torch's generator seeds), not {seed}")
