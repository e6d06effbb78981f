"""The court's colour and area in broadcast frames: what shot classification and player
detection agree the court is.

A broadcast's main camera shows the playing surface as a large area of one saturated
colour (green on badminton mats, green or blue on hard courts). The court colour is
found per video as the dominant saturated hue in the lower centre of sampled frames (the
main view dominates a broadcast) or given, with a brightness floor relative to the
court's own brightness; the court mask of a frame is the pixels of that colour, with the
white lines closed over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

# Where the court sits in a main-view frame (fractions of height and width): the hue
# vote only looks there, so crowd and ad boards above the court weigh little.
_VOTE_ROWS = (0.35, 1.0)
_VOTE_COLS = (0.15, 0.85)
_HUE_UNITS_PER_DEG = 0.5  # OpenCV stores 8-bit hue as degrees / 2


@dataclass(frozen=True)
class CourtColour:
    """The court's colour: a hue with a tolerance, and the least saturation and brightness."""

    hue_deg: float
    """Court hue in degrees (0..360): about 150-170 on green badminton mats."""
    tolerance_deg: float = 20.0
    """Largest hue difference, in degrees, that still counts as court."""
    min_saturation: float = 0.25
    """Least saturation (0..1): greys, whites and skin tones are never court."""
    min_value: float = 0.25
    """Least brightness (0..1): dark arena floors and shadows are never court."""

    def __post_init__(self) -> None:
        if not 0 <= self.hue_deg < 360:
            raise ValueError(f"hue_deg must be in [0, 360), got {self.hue_deg}")
        if not 0 < self.tolerance_deg <= 90:
            raise ValueError(f"tolerance_deg must be in (0, 90], got {self.tolerance_deg}")
        for name in ("min_saturation", "min_value"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")

    def pixels(self, hsv: np.ndarray) -> np.ndarray:
        """(H, W) bool: pixels of an OpenCV 8-bit HSV image (H, W, 3) that have the court colour."""
        hue = hsv[..., 0].astype(np.int16)
        centre = int(round(self.hue_deg * _HUE_UNITS_PER_DEG)) % 180
        distance = np.abs(hue - centre)
        distance = np.minimum(distance, 180 - distance)
        return (
            (distance <= self.tolerance_deg * _HUE_UNITS_PER_DEG)
            & (hsv[..., 1] >= self.min_saturation * 255)
            & (hsv[..., 2] >= self.min_value * 255)
        )


def to_hsv(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W, 3) uint8 OpenCV HSV (hue in degrees / 2)."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2HSV)


def find_court_colour(
    hsv_images: Sequence[np.ndarray],
    weights: Sequence[float] | None = None,
    tolerance_deg: float = 20.0,
    hue_deg: float | None = None,
) -> CourtColour | None:
    """The court colour of a video from sample frames, or None when nothing is saturated.

    The hue is the most common saturated hue in the lower centre of the frames (or
    `hue_deg` when given). Its brightness floor is 60% of the median brightness of the
    pixels of that hue: a darker floor of the same hue around the court is not court.

    Args:
        hsv_images: OpenCV 8-bit HSV images (H, W, 3), any sizes.
        weights: one weight per image (e.g. the frames its shot lasts); None weighs all 1.
        tolerance_deg: hue tolerance of the result.
        hue_deg: the court hue when known; None finds it.
    """
    weights = [1.0] * len(hsv_images) if weights is None else list(weights)
    regions = [_vote_region(hsv) for hsv in hsv_images]
    floor = CourtColour(0.0, tolerance_deg)
    if hue_deg is None:
        votes = np.zeros(180, dtype=np.float64)
        for region, weight in zip(regions, weights, strict=True):
            keep = (region[..., 1] >= floor.min_saturation * 255) & (region[..., 2] >= floor.min_value * 255)
            counts = np.bincount(region[..., 0][keep].ravel(), minlength=180)[:180]
            votes += weight * counts / max(region[..., 0].size, 1)
        if not votes.any():
            return None
        # Smooth circularly over +-2 bins (+-4 degrees), so a hue straddling bins still wins.
        smoothed = np.convolve(np.concatenate([votes[-2:], votes, votes[:2]]), np.ones(5), mode="valid")
        hue_deg = float(np.argmax(smoothed)) / _HUE_UNITS_PER_DEG
    candidate = CourtColour(hue_deg, tolerance_deg)
    values = [region[..., 2][candidate.pixels(region)] for region in regions]
    values = np.concatenate([v for v in values if v.size]) if any(v.size for v in values) else None
    if values is None:
        return candidate
    min_value = max(candidate.min_value, 0.6 * float(np.median(values)) / 255)
    return CourtColour(hue_deg, tolerance_deg, candidate.min_saturation, min(min_value, 0.95))


def _vote_region(hsv: np.ndarray) -> np.ndarray:
    h, w = hsv.shape[:2]
    return hsv[int(h * _VOTE_ROWS[0]) : int(h * _VOTE_ROWS[1]), int(w * _VOTE_COLS[0]) : int(w * _VOTE_COLS[1])]


def court_mask(hsv: np.ndarray, colour: CourtColour) -> np.ndarray:
    """(H, W) bool court area of one HSV frame: court-coloured pixels, lines and specks closed over.

    The closing fills the white court lines (a few pixels wide at any broadcast
    resolution), so the mask is the playing surface rather than the paint between lines.
    """
    mask = colour.pixels(hsv).astype(np.uint8)
    size = _odd(max(3, round(hsv.shape[1] / 80)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    return mask.astype(bool)


def court_region(mask: np.ndarray, margin_px: int = 0) -> np.ndarray:
    """(H, W) bool: the convex hull of the mask's largest connected area, grown by `margin_px`.

    Players stand on the court, and step a little beyond it; everyone else (umpires,
    line judges, coaches, crowd) is outside this region.
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    region = np.zeros(mask.shape, np.uint8)
    if count <= 1:
        return region.astype(bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    points = cv2.findNonZero((labels == largest).astype(np.uint8))
    cv2.fillConvexPoly(region, cv2.convexHull(points), 1)
    if margin_px > 0:
        size = 2 * margin_px + 1
        region = cv2.dilate(region, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    return region.astype(bool)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two same-shape bool masks (0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def _odd(n: int) -> int:
    return n if n % 2 else n + 1
