"""Which kept snapshots to draw when a figure shows a model through training."""

from __future__ import annotations


def pick_frames(steps: list[int], frames: int) -> list[int]:
    """Up to `frames` of the ascending `steps`, evenly spaced, first and last included.

    Fewer come back when there are fewer steps than frames; none when there are no steps or frames < 1.
    """
    if not steps or frames < 1:
        return []
    frames = min(frames, len(steps))  # more frames than steps draws every step
    return sorted({steps[round(i * (len(steps) - 1) / max(1, frames - 1))] for i in range(frames)})
