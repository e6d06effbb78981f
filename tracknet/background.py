"""The background frame of a stretch of video: its per-pixel median (TrackNetV3's extra input).

The shuttle moves and the court, lines, net, logos and crowd mostly do not, so the median
of frames sampled across a rally shows the scene without the ball. A model given it next to
its frames can tell a white shoe or a line from the shuttle by what is static. Training
(jobs.featurize) and inference (jobs.infer, jobs.serve) estimate it the same way, from the
same model-resolution frames, over the stretch of video they work on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from tracknet.errors import VideoError
from tracknet.video import VideoSource, iter_frames, source_name

BACKGROUND_SAMPLES = 64
"""Frames a background is the median of; more barely changes it and costs conversion time."""


def median_background(frames: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Per-pixel median of (N, H, W, 3) uint8 frames -> (H, W, 3) uint8 (N >= 1)."""
    stack = np.asarray(frames)
    if stack.ndim != 4 or stack.shape[0] == 0 or stack.shape[-1] != 3:
        raise ValueError(f"need (N >= 1, H, W, 3) frames, got shape {stack.shape}")
    count, middle = stack.shape[0], (stack.shape[0] - 1) // 2
    # Lower median: a real pixel value, and uint8 in, uint8 out without rounding. Selecting
    # along a contiguous axis (one row per pixel) is twice as fast as across the frames.
    per_pixel = np.ascontiguousarray(stack.reshape(count, -1).T)  # (H * W * 3, N)
    return np.partition(per_pixel, middle, axis=1)[:, middle].reshape(stack.shape[1:])


def sample_step(start: int, stop: int, samples: int = BACKGROUND_SAMPLES) -> int:
    """Frame step that spreads at most `samples` frames evenly over [start, stop)."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    return max(1, math.ceil((stop - start) / samples))


def estimate_background(
    source: VideoSource,
    start: int,
    stop: int,
    size: tuple[int, int],
    samples: int = BACKGROUND_SAMPLES,
) -> np.ndarray:
    """The median of frames sampled evenly from [start, stop), decoded at `size` (width, height).

    Returns (height, width, 3) uint8 RGB. Raises VideoError naming the source when it cannot
    be decoded, ValueError for an empty range.
    """
    if stop <= start:
        raise ValueError(f"empty frame range [{start}, {stop})")
    step = sample_step(start, stop, samples)
    frames = ((frame.index, frame.image) for frame in iter_frames(source, start, stop, size, step=step))
    return sampled_background(frames, start, stop, source_name(source), samples)


def sampled_background(
    frames: Iterable[tuple[int, np.ndarray]], start: int, stop: int, name: str, samples: int = BACKGROUND_SAMPLES
) -> np.ndarray:
    """`estimate_background` of frames already decoded: the median of those among (index, (H, W, 3)
    uint8 image) pairs that it samples from [start, stop). Raises VideoError naming `name` when none is there."""
    step = sample_step(start, stop, samples)
    picked = [image for index, image in frames if start <= index < stop and (index - start) % step == 0]
    if not picked:
        raise VideoError(name, f"no frame decoded in [{start}, {stop}) for the background")
    return median_background(picked)
