"""Heatmap targets for training and heatmap decoding to ball positions.

Coordinates are pixels with (0, 0) at the centre of the top-left pixel. Scaling
between source and model resolution is a plain per-axis factor (the TrackNet
convention), the same in both directions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import torch

TargetKind = Literal["disc", "gaussian"]


def render_targets(
    xy: torch.Tensor,
    visible: torch.Tensor,
    height: int,
    width: int,
    radius: float = 2.5,
    kind: TargetKind = "disc",
) -> torch.Tensor:
    """Target heatmaps for ball positions, at model resolution.

    Args:
        xy: (..., 2) float ball position (x, y) in model pixels.
        visible: (...) bool/int, 0 where there is no ball (all-zero heatmap).
        height, width: heatmap size.
        radius: disc radius in pixels; for "gaussian", its standard deviation.
        kind: "disc" (binary, the TrackNetV2 target) or "gaussian".

    Returns:
        (..., height, width) float32 in [0, 1], on xy's device.
    """
    if kind not in ("disc", "gaussian"):
        raise ValueError(f"unknown target kind {kind!r}; expected 'disc' or 'gaussian'")
    ys = torch.arange(height, device=xy.device, dtype=torch.float32).view(height, 1)
    xs = torch.arange(width, device=xy.device, dtype=torch.float32).view(1, width)
    x = xy[..., 0].float()[..., None, None]
    y = xy[..., 1].float()[..., None, None]
    dist2 = (xs - x) ** 2 + (ys - y) ** 2  # (..., H, W)
    if kind == "disc":
        heat = (dist2 <= radius**2).float()
    else:
        heat = torch.exp(-dist2 / (2 * radius**2))
    return heat * visible.float()[..., None, None].gt(0)


@dataclass(frozen=True)
class Detection:
    """A decoded ball position in the heatmap's (or source's) pixels."""

    visible: bool
    x: float
    y: float
    score: float


NO_BALL = Detection(visible=False, x=0.0, y=0.0, score=0.0)


def decode_heatmap(heatmap: np.ndarray, threshold: float = 0.5) -> Detection:
    """Ball position from one heatmap: threshold, connected components, strongest blob.

    The strongest blob is the one with the largest heat mass (sum of values); its
    position is the heat-weighted centroid and its score the peak value.

    Args:
        heatmap: (H, W) float in [0, 1].
        threshold: pixels above it form blobs.
    """
    heat = np.asarray(heatmap, dtype=np.float32)
    mask = (heat > threshold).astype(np.uint8)
    count, labels = cv2.connectedComponents(mask, connectivity=8)
    if count <= 1:
        return NO_BALL
    flat_labels = labels.ravel()
    flat_heat = heat.ravel()
    masses = np.bincount(flat_labels, weights=flat_heat, minlength=count)
    masses[0] = 0.0  # background
    best = int(np.argmax(masses))
    in_blob = flat_labels == best
    weights = flat_heat[in_blob]
    rows, cols = np.divmod(np.flatnonzero(in_blob), heat.shape[1])
    total = float(weights.sum())
    return Detection(
        visible=True,
        x=float((cols * weights).sum() / total),
        y=float((rows * weights).sum() / total),
        score=float(weights.max()),
    )


def scale_detection(
    detection: Detection, from_size: tuple[int, int], to_size: tuple[int, int]
) -> Detection:
    """Map a detection between resolutions; sizes are (width, height)."""
    if not detection.visible:
        return detection
    sx = to_size[0] / from_size[0]
    sy = to_size[1] / from_size[1]
    return Detection(True, detection.x * sx, detection.y * sy, detection.score)


def decode_to_source(
    heatmap: np.ndarray, source_size: tuple[int, int], threshold: float = 0.5
) -> Detection:
    """Decode a model-resolution heatmap and map the position to source pixels.

    Args:
        heatmap: (H, W) float in [0, 1] at model resolution.
        source_size: (width, height) of the source video.
    """
    height, width = heatmap.shape
    return scale_detection(decode_heatmap(heatmap, threshold), (width, height), source_size)
