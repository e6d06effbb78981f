"""Trajectory clean-up: reject impossible jumps, fill short gaps by interpolation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CleanTrajectory:
    """A cleaned per-frame track; all arrays are (N,)."""

    visible: np.ndarray
    """bool: ball present after clean-up."""
    x: np.ndarray
    """float64 source pixels; NaN where not visible."""
    y: np.ndarray
    filled: np.ndarray
    """bool: position interpolated into a short gap."""
    rejected: np.ndarray
    """bool: raw detection dropped as an impossible jump."""


def clean_trajectory(
    visible: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    max_jump_px: float,
    max_gap_frames: int,
) -> CleanTrajectory:
    """Drop isolated detections that no ball could reach, then bridge short gaps.

    A detection is rejected when it has a visible neighbour within `max_gap_frames`
    on either side and is farther than `max_jump_px` per frame of separation from
    every such neighbour. Gaps of at most `max_gap_frames` frames between two
    visible frames are filled by linear interpolation.

    Args:
        visible: (N,) bool/int raw detections.
        x, y: (N,) float positions in source pixels (ignored where not visible).
        max_jump_px: largest plausible ball movement per frame, in source pixels.
        max_gap_frames: longest gap to fill (and neighbour search window); 0 disables both.
    """
    if max_jump_px <= 0:
        raise ValueError(f"max_jump_px must be > 0, got {max_jump_px}")
    if max_gap_frames < 0:
        raise ValueError(f"max_gap_frames must be >= 0, got {max_gap_frames}")
    raw = np.asarray(visible).astype(bool)
    xs = np.where(raw, np.asarray(x, dtype=np.float64), np.nan)
    ys = np.where(raw, np.asarray(y, dtype=np.float64), np.nan)
    frames = np.flatnonzero(raw)

    rejected = np.zeros(raw.shape, dtype=bool)
    for k, i in enumerate(frames):
        neighbours = [
            j for j in (frames[k - 1] if k > 0 else None, frames[k + 1] if k + 1 < len(frames) else None)
            if j is not None and abs(j - i) <= max_gap_frames
        ]
        if neighbours and all(
            np.hypot(xs[i] - xs[j], ys[i] - ys[j]) > max_jump_px * abs(j - i) for j in neighbours
        ):
            rejected[i] = True

    kept = raw & ~rejected
    xs[~kept] = np.nan
    ys[~kept] = np.nan
    filled = np.zeros(raw.shape, dtype=bool)
    anchors = np.flatnonzero(kept)
    for a, b in zip(anchors[:-1], anchors[1:]):
        if 1 < b - a <= max_gap_frames + 1:
            t = (np.arange(a + 1, b) - a) / (b - a)
            xs[a + 1 : b] = xs[a] + t * (xs[b] - xs[a])
            ys[a + 1 : b] = ys[a] + t * (ys[b] - ys[a])
            filled[a + 1 : b] = True
    return CleanTrajectory(visible=kept | filled, x=xs, y=ys, filled=filled, rejected=rejected)
