"""The one check every config section uses: a condition, or a one-line error that names the fix."""

from __future__ import annotations

from lmlab.errors import LmlabError


def require(condition: bool, message: str) -> None:
    if not condition:
        raise LmlabError(message)
