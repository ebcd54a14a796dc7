"""lmlab: a laboratory for building small language models from scratch and studying them.

`import lmlab` is cheap and changes nothing global: the notebook API (`lmlab.train`, `lmlab.load`,
`lmlab.compare`, `lmlab.sweep`, `lmlab.Run`) is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

API = ("Comparison", "Run", "Sweep", "compare", "load", "sweep", "train")
__all__ = ["__version__", *API]

if TYPE_CHECKING:
    from lmlab.api import Comparison, Run, Sweep, compare, load, sweep, train  # noqa: F401


def __getattr__(name: str) -> Any:
    """`lmlab.train` and the rest of the API, imported (torch, matplotlib) only when first asked for."""
    if name in API:
        import lmlab.api

        return getattr(lmlab.api, name)
    raise AttributeError(f"module 'lmlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *API])
