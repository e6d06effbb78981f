"""Choosing the frames worth labelling: per-frame uncertainty and stretches within a budget.

Labels are the expensive part of a better model, so they should go where the model is
wrong. Nothing here knows the truth; the signals are what a model's own output says
about its doubt (all from one predictions table, so a past inference run is reused):

- a raw detection whose peak heat is close to the threshold (it nearly was not found);
- visibility flicker: the cleaned track switching between ball and no ball within a few
  frames (misses and false alarms come in such bursts);
- a raw detection the trajectory clean-up rejected as an impossible jump;
- a gap the clean-up filled by interpolation (the model missed the ball there).

Training windows need consecutive labelled frames, so the unit picked is a stretch of
`stretch_frames` consecutive frames. Picks are spread over videos (each pick in a video
discounts that video's next ones) and over time (no two stretches of a video closer than
`min_gap_frames`). The random strategy picks stretches of the same length uniformly, the
baseline the uncertainty strategy must beat.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

STRATEGIES = ("uncertainty", "random")


@dataclass(frozen=True)
class Stretch:
    """Frames [start, start + length) of one video, with the mean uncertainty of its frames."""

    video_id: str
    start: int
    length: int
    score: float


def frame_uncertainty(
    visible: np.ndarray,
    raw_visible: np.ndarray,
    score: np.ndarray,
    filled: np.ndarray,
    rejected: np.ndarray,
    threshold: float,
    flicker_frames: int = 2,
) -> np.ndarray:
    """(N,) float64 in [0, 1]: how doubtful the model's answer for each frame is.

    Args:
        visible: (N,) bool, the cleaned track (ball or not per frame).
        raw_visible: (N,) bool, the raw detections.
        score: (N,) float peak heat of the raw detection (0 where none).
        filled, rejected: (N,) bool, what the clean-up did.
        threshold: the heat threshold the detections were made with.
        flicker_frames: frames on each side where a visibility switch counts.

    The largest of the signals (each in [0, 1]) is the frame's uncertainty: near
    threshold 1 - (score - threshold) / (1 - threshold) for raw detections; flicker
    1 for two or more switches around the frame, 0.5 for one; 1 for filled or rejected.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    visible = np.asarray(visible, dtype=bool)
    raw = np.asarray(raw_visible, dtype=bool)
    heat = np.nan_to_num(np.asarray(score, dtype=np.float64))
    near = np.where(raw, 1.0 - np.clip((heat - threshold) / (1.0 - threshold), 0.0, 1.0), 0.0)

    switches = np.zeros(len(visible) + 1)
    switches[1:-1] = visible[1:] != visible[:-1]  # switches[i]: between frames i-1 and i
    counts = np.concatenate([[0.0], np.cumsum(switches)])
    index = np.arange(len(visible))
    lo = np.clip(index - flicker_frames + 1, 0, len(switches))
    hi = np.clip(index + flicker_frames + 1, 0, len(switches))
    flicker = np.minimum((counts[hi] - counts[lo]) / 2.0, 1.0)

    cleanup = (np.asarray(filled, dtype=bool) | np.asarray(rejected, dtype=bool)).astype(np.float64)
    return np.maximum.reduce([near, flicker, cleanup])


def stretch_scores(uncertainty: np.ndarray, length: int) -> np.ndarray:
    """(N - length + 1,) mean uncertainty of the stretch starting at each frame (empty if N < length)."""
    sums = np.concatenate([[0.0], np.cumsum(uncertainty)])
    return (sums[length:] - sums[:-length]) / length


def pick_stretches(
    uncertainty: Mapping[str, np.ndarray],
    budget_frames: int,
    stretch_frames: int,
    min_gap_frames: int,
    strategy: str = "uncertainty",
    video_decay: float = 0.7,
    seed: int = 0,
) -> list[Stretch]:
    """Stretches of `stretch_frames` frames, at most `budget_frames` frames in all.

    Args:
        uncertainty: video_id -> (N,) per-frame uncertainty (`frame_uncertainty`); for
            `random` only the lengths matter.
        budget_frames: total frames over all stretches.
        stretch_frames: frames per stretch.
        min_gap_frames: least number of frames between two stretches of one video.
        strategy: 'uncertainty' (greedy by mean uncertainty times video_decay ** picks
            already in the video) or 'random' (uniform over the free starts, seeded).
        video_decay: in (0, 1]; smaller spreads picks over more videos.
        seed: seed of the random strategy (and of nothing else).

    Returns stretches in the order picked; fewer than the budget allows when the videos
    have no room left.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if stretch_frames < 1 or budget_frames < 0 or min_gap_frames < 0:
        raise ValueError("need stretch_frames >= 1, budget_frames >= 0 and min_gap_frames >= 0")
    if not 0.0 < video_decay <= 1.0:
        raise ValueError(f"video_decay must be in (0, 1], got {video_decay}")
    ids = sorted(uncertainty)
    scores = {v: stretch_scores(np.asarray(uncertainty[v], dtype=np.float64), stretch_frames) for v in ids}
    free = {v: np.ones(len(scores[v]), dtype=bool) for v in ids}
    picks_in = dict.fromkeys(ids, 0)
    rng = np.random.default_rng(seed)
    picked: list[Stretch] = []
    while (len(picked) + 1) * stretch_frames <= budget_frames:
        if strategy == "uncertainty":
            choice = _best(ids, scores, free, picks_in, video_decay)
        else:
            choice = _uniform(ids, free, rng)
        if choice is None:
            break
        video_id, start = choice
        picked.append(Stretch(video_id, start, stretch_frames, float(scores[video_id][start])))
        picks_in[video_id] += 1
        # No other stretch may overlap this one or come within min_gap_frames of it.
        reach = stretch_frames + min_gap_frames
        free[video_id][max(0, start - reach + 1) : start + reach] = False
    return picked


def _best(ids, scores, free, picks_in, video_decay) -> tuple[str, int] | None:
    best: tuple[float, str, int] | None = None
    for video_id in ids:
        available = np.flatnonzero(free[video_id])
        if not len(available):
            continue
        start = int(available[np.argmax(scores[video_id][available])])
        value = scores[video_id][start] * video_decay ** picks_in[video_id]
        if best is None or value > best[0]:
            best = (value, video_id, start)
    return None if best is None else (best[1], best[2])


def _uniform(ids, free, rng: np.random.Generator) -> tuple[str, int] | None:
    counts = np.array([free[v].sum() for v in ids], dtype=np.float64)
    if counts.sum() == 0:
        return None
    video_id = ids[int(rng.choice(len(ids), p=counts / counts.sum()))]
    return video_id, int(rng.choice(np.flatnonzero(free[video_id])))
