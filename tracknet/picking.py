"""Choosing the frames worth labelling: per-frame uncertainty and stretches within a budget.

Labels are the expensive part of a better model, so they should go where the model is
wrong. Nothing here knows the truth; the signals are what a model's own output says
about its doubt (all from one predictions table, so a past inference run is reused):

- a raw detection whose peak heat is close to the threshold (it nearly was not found);
- visibility flicker: the cleaned track switching between ball and no ball within a few
  frames (misses and false alarms come in such bursts);
- a raw detection the trajectory clean-up rejected as an impossible jump;
- a gap the clean-up filled by interpolation (the model missed the ball there).

The predictions keep only what passed the threshold, after the mirrored pass's maximum; so
candidate stretches (a few times the budget) get a second look at the model's heatmaps
(`second_look`, a model pass over those frames only): the plain and the mirrored pass
disagreeing (one finds the ball, the other not, or they put it apart), and the frame's peak
heat near the threshold on either side (just below it is a likely miss, which the predictions
cannot show).

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
import torch

from tracknet.heatmap import decode_heatmap
from tracknet.inference import Predictor
from tracknet.video import VideoSource

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
    heat_margin: float = 0.25,
) -> np.ndarray:
    """(N,) float64 in [0, 1]: how doubtful the model's answer for each frame is.

    Args:
        visible: (N,) bool, the cleaned track (ball or not per frame).
        raw_visible: (N,) bool, the raw detections.
        score: (N,) float peak heat of the raw detection (0 where none).
        filled, rejected: (N,) bool, what the clean-up did.
        threshold: the heat threshold the detections were made with.
        flicker_frames: frames on each side where a visibility switch counts.
        heat_margin: how far above the threshold a detection's heat still counts as near it.

    The largest of the signals (each in [0, 1]) is the frame's uncertainty: near threshold
    1 - (score - threshold) / heat_margin for raw detections (0 beyond the margin); flicker
    1 for two or more switches around the frame, 0.5 for one; 1 for filled or rejected.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    if heat_margin <= 0:
        raise ValueError(f"heat_margin must be > 0, got {heat_margin}")
    visible = np.asarray(visible, dtype=bool)
    raw = np.asarray(raw_visible, dtype=bool)
    heat = np.nan_to_num(np.asarray(score, dtype=np.float64))
    near = np.where(raw, 1.0 - np.clip((heat - threshold) / heat_margin, 0.0, 1.0), 0.0)

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


def second_look(
    predictor: Predictor,
    source: VideoSource,
    frame_count: int,
    start: int,
    stop: int,
    heat_margin: float = 0.25,
    tolerance_px: float = 4.0,
) -> np.ndarray:
    """(stop - start,) float64 in [0, 1]: the model's doubt about frames [start, stop), from its heatmaps.

    Runs every window touching the frames twice, as is and mirrored (the predictor's own
    flip_tta must be off: the two views are compared, not merged). A frame scores 1 when the
    views disagree: one finds a ball and the other not, or their positions are more than
    `tolerance_px` model pixels apart; otherwise 1 - |peak - threshold| / heat_margin (0
    beyond the margin), where peak is the frame's highest heat in either view: just below
    the threshold is a likely miss, just above a likely false alarm. A frame in several
    windows keeps its largest score.
    """
    if predictor.flip_tta:
        raise ValueError("second_look compares the plain and mirrored views itself; build the Predictor without flip_tta")
    plan = predictor.plan(frame_count)
    threshold = predictor.threshold
    doubt = np.zeros(stop - start, dtype=np.float64)
    for chunk in predictor.iter_segment(source, frame_count, start, stop):
        t0s = plan.windows_for(chunk.own_start, chunk.own_stop)
        for first in range(0, len(t0s), predictor.batch_size):
            batch = t0s[first : first + predictor.batch_size]
            index = np.stack([plan.input_frames(int(t0)) for t0 in batch]) - chunk.first_frame  # (B, F)
            x = predictor.frames_to_input(chunk.images, index, chunk.background)  # (B, C, H, W)
            views = predictor.forward(torch.cat([x, x.flip(-1)]))  # (2B, O, H, W): plain, then mirrored
            plain, mirrored = views[: len(batch)], views[len(batch) :, :, :, ::-1]
            for i, t0 in enumerate(batch):
                for k in range(plain.shape[1]):
                    frame = int(t0) + k
                    if start <= frame < stop:
                        score = _view_doubt(plain[i, k], mirrored[i, k], threshold, heat_margin, tolerance_px)
                        doubt[frame - start] = max(doubt[frame - start], score)
    return doubt


def _view_doubt(plain: np.ndarray, mirrored: np.ndarray, threshold: float, heat_margin: float,
                tolerance_px: float) -> float:
    a, b = decode_heatmap(plain, threshold), decode_heatmap(np.ascontiguousarray(mirrored), threshold)
    if a.visible != b.visible or (a.visible and np.hypot(a.x - b.x, a.y - b.y) > tolerance_px):
        return 1.0
    peak = max(float(plain.max()), float(mirrored.max()))
    return float(np.clip(1.0 - abs(peak - threshold) / heat_margin, 0.0, 1.0))
