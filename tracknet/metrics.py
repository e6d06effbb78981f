"""The TrackNet evaluation protocol: per-frame TP / FP1 / FP2 / FN / TN.

- TP: ball predicted and labelled, within the tolerance;
- FP1: ball predicted and labelled, too far away;
- FP2: ball predicted, none labelled;
- FN: no ball predicted, one labelled;
- TN: neither.
The distance is measured after scaling positions to a stated evaluation
resolution (default 512x288), so the tolerance means the same for any source.
precision = TP / (TP + FP1 + FP2), recall = TP / (TP + FN).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum

import numpy as np

DEFAULT_TOLERANCE_PX = 4.0
DEFAULT_EVAL_SIZE = (512, 288)


class Outcome(IntEnum):
    """One frame's result under the protocol."""

    TP = 0
    FP1 = 1
    FP2 = 2
    FN = 3
    TN = 4


@dataclass(frozen=True)
class Confusion:
    """Confusion counts with the protocol's derived scores (0.0 when undefined)."""

    tp: int = 0
    fp1: int = 0
    fp2: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def frames(self) -> int:
        return self.tp + self.fp1 + self.fp2 + self.fn + self.tn

    @property
    def precision(self) -> float:
        predicted = self.tp + self.fp1 + self.fp2
        return self.tp / predicted if predicted else 0.0

    @property
    def recall(self) -> float:
        labelled = self.tp + self.fn
        return self.tp / labelled if labelled else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / self.frames if self.frames else 0.0

    def as_dict(self) -> dict[str, float]:
        counts = {f.name: getattr(self, f.name) for f in fields(self)}
        return counts | {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "accuracy": self.accuracy,
        }

    @classmethod
    def from_outcomes(cls, outcomes: np.ndarray) -> Confusion:
        counts = np.bincount(np.asarray(outcomes, dtype=np.int64), minlength=len(Outcome))
        return cls(*(int(counts[o]) for o in Outcome))


def classify_frames(
    pred_visible: np.ndarray,
    pred_xy: np.ndarray,
    true_visible: np.ndarray,
    true_xy: np.ndarray,
    source_size: tuple[int, int],
    tolerance_px: float = DEFAULT_TOLERANCE_PX,
    eval_size: tuple[int, int] = DEFAULT_EVAL_SIZE,
) -> np.ndarray:
    """Each frame's Outcome.

    Args:
        pred_visible, true_visible: (N,) bool/int.
        pred_xy, true_xy: (N, 2) float positions in source pixels (ignored where not visible).
        source_size: (width, height) of the source video.
        tolerance_px: maximum distance for a TP, in pixels at eval_size.
        eval_size: (width, height) at which the distance is measured.

    Returns:
        (N,) int64 array of Outcome values.
    """
    pred_visible = np.asarray(pred_visible).astype(bool)
    true_visible = np.asarray(true_visible).astype(bool)
    if pred_visible.shape != true_visible.shape:
        raise ValueError(f"prediction and label frame counts differ: {pred_visible.shape} vs {true_visible.shape}")
    scale = np.array([eval_size[0] / source_size[0], eval_size[1] / source_size[1]])
    pred = np.nan_to_num(np.asarray(pred_xy, dtype=np.float64).reshape(-1, 2)) * scale
    true = np.nan_to_num(np.asarray(true_xy, dtype=np.float64).reshape(-1, 2)) * scale
    close = np.hypot(*(pred - true).T) <= tolerance_px

    outcomes = np.full(pred_visible.shape, Outcome.TN, dtype=np.int64)
    both = pred_visible & true_visible
    outcomes[both & close] = Outcome.TP
    outcomes[both & ~close] = Outcome.FP1
    outcomes[pred_visible & ~true_visible] = Outcome.FP2
    outcomes[~pred_visible & true_visible] = Outcome.FN
    return outcomes


def confusion(
    pred_visible: np.ndarray,
    pred_xy: np.ndarray,
    true_visible: np.ndarray,
    true_xy: np.ndarray,
    source_size: tuple[int, int],
    tolerance_px: float = DEFAULT_TOLERANCE_PX,
    eval_size: tuple[int, int] = DEFAULT_EVAL_SIZE,
) -> Confusion:
    """Confusion counts over frames; arguments as in classify_frames."""
    return Confusion.from_outcomes(
        classify_frames(pred_visible, pred_xy, true_visible, true_xy, source_size, tolerance_px, eval_size)
    )
