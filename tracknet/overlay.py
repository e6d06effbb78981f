"""Overlay drawing: the ball and a short fading trail on source-resolution frames."""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

_BALL_RGB = (255, 40, 40)
_TRAIL_RGB = (255, 210, 0)


class OverlayRenderer:
    """Draws frames of one video in order; remembers the last positions for the trail."""

    def __init__(self, trail_frames: int = 8, radius_px: int | None = None) -> None:
        if trail_frames < 0:
            raise ValueError(f"trail_frames must be >= 0, got {trail_frames}")
        self.trail_frames = trail_frames
        self.radius_px = radius_px
        self._trail: deque[tuple[int, float, float]] = deque()

    def draw(self, image: np.ndarray, frame: int, visible: bool, x: float, y: float) -> np.ndarray:
        """Return a copy of `image` ((H, W, 3) uint8 RGB) with ball and trail drawn."""
        radius = self.radius_px or max(3, image.shape[0] // 120)
        while self._trail and frame - self._trail[0][0] > self.trail_frames:
            self._trail.popleft()
        out = image.copy()
        trail = list(self._trail)
        # Older segments fade: blend each one into the frame with a smaller weight.
        for (f0, x0, y0), (f1, x1, y1) in zip(trail, trail[1:] + ([(frame, x, y)] if visible else [])):
            age = frame - f1
            alpha = 1.0 - age / (self.trail_frames + 1)
            layer = out.copy()
            cv2.line(layer, _point(x0, y0), _point(x1, y1), _TRAIL_RGB, max(1, radius // 2), cv2.LINE_AA)
            cv2.addWeighted(layer, alpha, out, 1.0 - alpha, 0, dst=out)
        if visible:
            cv2.circle(out, _point(x, y), radius, _BALL_RGB, thickness=-1, lineType=cv2.LINE_AA)
            cv2.circle(out, _point(x, y), radius + 1, (255, 255, 255), thickness=1, lineType=cv2.LINE_AA)
            self._trail.append((frame, x, y))
        return out


def _point(x: float, y: float) -> tuple[int, int]:
    return int(round(x)), int(round(y))
