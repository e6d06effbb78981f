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
# The zones beside the net left out of the run-off, in depth (fractions of the court's length from
# its far end): from the far service line's depth, where the umpire's raised seat appears, to the near one's.
_NET_ZONE = (0.1, 0.8)
_PAINT_MAX_SATURATION = 0.25  # white and light-grey paint (lines, logos) ...
_PAINT_MIN_VALUE = 0.55  # ... is this bright at least
_NET_ZONE_ON_COURT = 0.04  # how far (a fraction of the court's width) those zones reach inside the sidelines


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


def court_region(
    mask: np.ndarray,
    margin_px: int = 0,
    beyond_ends: float = 0.0,
    beyond_sides: float = 0.0,
) -> np.ndarray:
    """(H, W) bool: where players' feet may be. The convex hull of the mask's largest connected
    area, grown by `margin_px`; or, with `beyond_ends` / `beyond_sides`, the court extended
    by its run-off.

    Players stand on the court, and step a little beyond it; everyone else (umpires,
    line judges, coaches, crowd) is outside this region. Where players also stand well
    behind the baselines and wide of the sidelines (tennis), the court's quadrilateral is
    extended in its own perspective by `beyond_ends` of its length past each end and
    `beyond_sides` of its width past each side (`extend_quad`), less the zones beside the
    net where the umpire's chair and ball kids are; without a clear quadrilateral the grown
    hull is the region. (On clay and grass the run-off has the court's colour: the hull is
    the whole floor already, and the quadrilateral, if any, is the floor's.)
    """
    hull = court_hull(mask)
    region = np.zeros(mask.shape, np.uint8)
    if hull is None:
        return region.astype(bool)
    cv2.fillConvexPoly(region, hull, 1)
    if margin_px > 0:
        size = 2 * margin_px + 1
        region = cv2.dilate(region, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    if beyond_ends <= 0 and beyond_sides <= 0:
        return region.astype(bool)
    quad = court_quad(hull)
    if quad is None:
        return region.astype(bool)
    region[:] = 0
    cv2.fillPoly(region, [_polygon(extend_quad(quad, beyond_ends, beyond_sides))], 1)
    # Beside the net stand the umpire's chair, the net judge and ball kids, not the players
    # (whose feet are there only when they chase a ball wide at the net, rarely); the zones
    # reach a little onto the court, where the umpire's chair casts its shadow.
    for u0, u1 in ((-beyond_sides - 0.05, _NET_ZONE_ON_COURT), (1.0 - _NET_ZONE_ON_COURT, 1.0 + beyond_sides + 0.05)):
        cv2.fillPoly(region, [_polygon(quad_points(quad, u0, u1, *_NET_ZONE))], 0)
    return region.astype(bool)


def paint_mask(hsv: np.ndarray) -> np.ndarray:
    """(H, W) bool: white or light-grey pixels of an OpenCV HSV image (court lines, painted logos)."""
    return (hsv[..., 1] <= _PAINT_MAX_SATURATION * 255) & (hsv[..., 2] >= _PAINT_MIN_VALUE * 255)


def court_hull(mask: np.ndarray) -> np.ndarray | None:
    """(N, 1, 2) int32 convex hull of the mask's largest connected area, or None when it is empty."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return cv2.convexHull(cv2.findNonZero((labels == largest).astype(np.uint8)))


def court_quad(hull: np.ndarray) -> np.ndarray | None:
    """(4, 2) float64 corners of a court's convex hull: far-left, far-right, near-right, near-left.

    None unless the hull simplifies to a quadrilateral with its far edge above its near
    edge and no wider (a court seen from a broadcast camera behind one end).
    """
    perimeter = cv2.arcLength(hull, True)
    for fraction in (0.01, 0.02, 0.04, 0.06):
        approx = cv2.approxPolyDP(hull, fraction * perimeter, True)
        if len(approx) == 4:
            break
    else:
        return None
    points = approx.reshape(4, 2).astype(np.float64)
    by_row = points[np.argsort(points[:, 1])]
    far = by_row[:2][np.argsort(by_row[:2, 0])]
    near = by_row[2:][np.argsort(by_row[2:, 0])]
    quad = np.array([far[0], far[1], near[1], near[0]])
    far_width, near_width = far[1, 0] - far[0, 0], near[1, 0] - near[0, 0]
    if far_width <= 0 or near_width < 0.95 * far_width or max(far[:, 1]) >= min(near[:, 1]):
        return None
    return quad


def quad_points(quad: np.ndarray, u0: float, u1: float, v0: float, v1: float) -> np.ndarray:
    """(4, 2) image corners of the court rectangle [u0, u1] x [v0, v1] (court fractions: u across, v far to near)."""
    corners = np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]], np.float64)
    return cv2.perspectiveTransform(corners[None], _homography(quad))[0]


def _homography(quad: np.ndarray) -> np.ndarray:
    """The homography taking the unit square (u across, v far to near) onto the court quadrilateral."""
    unit = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    return cv2.getPerspectiveTransform(unit, quad.astype(np.float32)).astype(np.float64)


def _polygon(points: np.ndarray) -> np.ndarray:
    return np.rint(points).astype(np.int32)


def extend_quad(quad: np.ndarray, beyond_ends: float, beyond_sides: float) -> np.ndarray:
    """(4, 2) polygon of the court quadrilateral extended in its own perspective.

    The quad is the image of the unit square (u across, v from the far end to the near
    one) under a homography; the result is the image of [-sides, 1 + sides] x
    [-ends, 1 + ends]. Far extensions converge towards the horizon; the near one stops
    short of the ground line under the camera, beyond which the projection folds over.
    """
    g, h, i = _homography(quad)[2]
    u0, u1 = -beyond_sides, 1 + beyond_sides
    near_v = 1 + beyond_ends
    inside = g * 0.5 + h * 0.5 + i  # the projective scale's sign on the court
    if abs(h) > 1e-12:
        for u in (u0, u1):
            fold_v = -(g * u + i) / h  # where the scale reaches 0
            if fold_v > 1 and np.sign(g * u + h * near_v + i) != np.sign(inside):
                near_v = min(near_v, 1 + 0.8 * (fold_v - 1))
    return quad_points(quad, u0, u1, -beyond_ends, near_v)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two same-shape bool masks (0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def _odd(n: int) -> int:
    return n if n % 2 else n + 1
