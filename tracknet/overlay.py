"""Overlay drawing: the ball and a short fading trail, and the players' boxes and feet, on
source-resolution frames."""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

_BALL_RGB = (255, 40, 40)
_TRAIL_RGB = (255, 210, 0)
_PLAYER_RGB = ((0, 200, 255), (255, 0, 200))  # near, far
_FEET_RGB = (255, 255, 0)


class OverlayRenderer:
    """Draws frames of one video in order; remembers the last positions for the trail."""

    def __init__(self, trail_frames: int = 8, radius_px: int | None = None) -> None:
        if trail_frames < 0:
            raise ValueError(f"trail_frames must be >= 0, got {trail_frames}")
        self.trail_frames = trail_frames
        self.radius_px = radius_px
        self._trail: deque[tuple[int, float, float]] = deque()

    def draw(
        self,
        image: np.ndarray,
        frame: int,
        visible: bool,
        x: float,
        y: float,
        players: np.ndarray | None = None,
    ) -> np.ndarray:
        """Return a copy of `image` ((H, W, 3) uint8 RGB) with ball and trail drawn.

        `players` is (2, >=4) near/far boxes (x0, y0, x1, y1, ...) in image pixels, x1/y1
        one past the last pixel, NaN rows for players not found: each is drawn as a
        rectangle with a dot on its feet (bottom centre).
        """
        radius = self.radius_px or max(3, image.shape[0] // 120)
        while self._trail and frame - self._trail[0][0] > self.trail_frames:
            self._trail.popleft()
        out = image.copy()
        if players is not None:
            _draw_players(out, players, max(1, image.shape[0] // 360))
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


def _draw_players(image: np.ndarray, players: np.ndarray, thickness: int) -> None:
    """Rectangles and feet dots for the players found, in place."""
    for box, colour in zip(players, _PLAYER_RGB):
        if np.isnan(box[0]):
            continue
        x0, y0, x1, y1 = (int(round(v)) for v in box[:4])
        cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), colour, thickness, cv2.LINE_AA)
        cv2.circle(image, ((x0 + x1) // 2, y1 - 1), 2 * thickness + 2, _FEET_RGB, -1, cv2.LINE_AA)


def _point(x: float, y: float) -> tuple[int, int]:
    return int(round(x)), int(round(y))
