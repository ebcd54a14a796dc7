"""The training progress bar: a notebook bar in Jupyter, tqdm's bar on a terminal, and plain lines at
most every PLAIN_INTERVAL seconds when standard error is a file or a pipe (`lmlab train ... > log 2>&1`),
so a log holds a readable line now and then instead of one carriage-return update per step."""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol, TextIO

from tqdm.auto import tqdm as auto_tqdm

PLAIN_INTERVAL = 10.0  # seconds between two plain lines


class Progress(Protocol):
    def update(self, n: int = 1) -> Any: ...
    def set_postfix(self, refresh: bool = True, **values: Any) -> Any: ...
    def close(self) -> Any: ...


def progress_bar(total: int, initial: int, enabled: bool, stream: TextIO | None = None) -> Progress:
    """The bar for steps `initial`..`total`; disabled (`--quiet`): one that prints nothing."""
    stream = stream or sys.stderr
    if not enabled or in_notebook() or _is_terminal(stream):
        return auto_tqdm(total=total, initial=initial, disable=not enabled, unit="step", dynamic_ncols=True)
    return PlainProgress(total, initial, stream)


class PlainProgress:
    """`step 120/2000 (6%), 0:00:31 elapsed, 0:08:10 left, loss=2.1, ...`: a whole line, at most once every
    `interval` seconds and once at the end."""

    def __init__(self, total: int, initial: int, stream: TextIO, interval: float = PLAIN_INTERVAL) -> None:
        self.total, self.step, self.first, self.stream, self.interval = (
            total,
            initial,
            initial,
            stream,
            interval,
        )
        self.postfix: dict[str, Any] = {}
        self.started = self.last_line = time.monotonic()
        self.printed_step = -1

    def update(self, n: int = 1) -> None:
        self.step += n
        if time.monotonic() - self.last_line >= self.interval:
            self._line()

    def set_postfix(self, refresh: bool = True, **values: Any) -> None:
        self.postfix = values

    def close(self) -> None:
        if self.printed_step != self.step:
            self._line()

    def _line(self) -> None:
        now = time.monotonic()
        self.last_line, self.printed_step = now, self.step
        elapsed = now - self.started
        done = self.step - self.first
        left = elapsed / done * (self.total - self.step) if done > 0 else None
        parts = [f"step {self.step}/{self.total} ({100 * self.step / max(self.total, 1):.0f}%)"]
        parts.append(f"{_clock(elapsed)} elapsed" + (f", {_clock(left)} left" if left is not None else ""))
        parts += [f"{key}={value}" for key, value in self.postfix.items()]
        self.stream.write(", ".join(parts) + "\n")
        self.stream.flush()


def in_notebook() -> bool:
    """Whether tqdm.auto found a Jupyter kernel with widgets (its bar is then the notebook's)."""
    return any(cls.__module__ == "tqdm.notebook" for cls in auto_tqdm.__mro__)


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
