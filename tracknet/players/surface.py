"""A player detector for moving cameras and still players: whatever stands on the playing surface.

No learned weights and no background image. Tennis broadcasts pan and zoom with the play,
and a receiver waiting for a serve hardly moves through a short shot, so differences
against a shot's background miss players and box the crowd. This detector looks at each
frame alone: the playing surface is the court's colour, the colour of the run-off around
it (the second most common saturated colour of the region players' feet may be in, when
there is one: hard courts often have two) and the white or light-grey paint on them
(lines, logos), shadows included. Per frame:

1. foreground = pixels of the region where feet may be, and a player's height above it,
   that are not surface;
2. rows where foreground spans most of the region's width are cleared: the net, and the
   boards at the back of the run-off, which people stand in front of;
3. a 3x3 closing fills the gaps a shirt of the court's colour leaves (an opening would
   erase far players, a few pixels wide); pieces a few pixels apart vertically (a body cut
   by the net tape) join into one blob; blobs at least `min_height_fraction` of the frame
   tall, filled enough to be a body and not much wider than tall, are candidates, boxed
   tightly.

Umpires, ball kids and the net posts stand on the surface too: the court logic in
`selection` keeps the players (feet in the region, person-shaped, the height model).
"""

from __future__ import annotations

import cv2
import numpy as np

from tracknet.court import CourtColour, paint_mask, to_hsv
from tracknet.players.base import Candidate, ShotContext
from tracknet.players.background import _row_extents

_SHADOW_VALUE = 0.8  # a surface colour in shadow keeps its hue, at this share of the lit floor's brightness (darker is clothing)
_RUN_OFF_MIN_SHARE = 0.3  # a second colour is the run-off when it covers this much of the non-court region
_WIDE_ROW_SHARE = 0.5  # a row this much foreground (of the region's width) is the net or a board
_MAX_WIDTH_PER_HEIGHT = 1.5  # even a player lunging sideways is not much wider than tall
_MIN_FILL = 0.2  # a body fills at least this much of its box (of a box at least a person's width)
_MIN_WIDTH_PER_HEIGHT = 0.25
_HEAD_ROOM = 0.12  # rows above the region's top examined, as a fraction of the frame height


class SurfaceDetector:
    """Players as what stands on the playing surface, frame by frame; see the module doc."""

    uses_background = False

    def __init__(self, min_height_fraction: float = 0.04) -> None:
        if not 0 < min_height_fraction < 1:
            raise ValueError(f"min_height_fraction must be in (0, 1), got {min_height_fraction}")
        self.min_height_fraction = min_height_fraction
        self._shot: ShotContext | None = None
        self._surface_colours: list[CourtColour] | None = None

    def begin_shot(self, shot: ShotContext) -> None:
        self._shot = shot
        self._surface_colours = None  # found on the shot's first frame
        height = shot.court.shape[0]
        rows = np.nonzero(shot.court.any(axis=1))[0]
        self._top = max(0, int(rows[0]) - int(_HEAD_ROOM * height)) if len(rows) else 0
        self._bottom = int(rows[-1]) + 1 if len(rows) else 0
        # Where a candidate's pixels may be: the region, and a player's height above its far edge
        # (not above the zones cut out of it, where the umpire's chair stands).
        grow = max(3, int(_HEAD_ROOM * height)) | 1
        raised = cv2.dilate(shot.court.astype(np.uint8), np.ones((grow, 1), np.uint8), anchor=(0, grow - 1))
        raised[self._top + 2 * grow :] = 0
        self._area = shot.court | raised.astype(bool)
        self._min_height_px = max(3, int(round(self.min_height_fraction * height)))
        self._close = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
        gap = max(3, int(round(height / 45)) | 1)
        self._join = cv2.getStructuringElement(cv2.MORPH_RECT, (3, gap))

    def detect(self, image: np.ndarray) -> list[Candidate]:
        if self._shot is None:
            raise RuntimeError("begin_shot must be called before detect")
        if self._bottom <= self._top:
            return []
        hsv = to_hsv(image[self._top : self._bottom])
        if self._surface_colours is None:
            self._surface_colours = self._find_surface(hsv)
        # Far players are a few pixels wide: close the gaps a shirt of the court's colour leaves
        # instead of opening (which would erase them); specks are dropped by size below.
        mask = cv2.morphologyEx(self.foreground(hsv), cv2.MORPH_CLOSE, self._close)
        candidates: list[Candidate] = []
        for x, y, w, h, inside in _blobs(mask, cv2.dilate(mask, self._join), self._min_height_px):
            person = self._person(x, y, inside)
            if person is not None:
                candidates.append(person)
                continue
            # A sprawling blob joins a player to what stands near them (a caption, the umpire's
            # chair): its own pieces, unjoined, may still hold the player.
            piece_mask = inside.astype(np.uint8)
            for px, py, _, _, piece in _blobs(piece_mask, piece_mask, self._min_height_px):
                person = self._person(x + px, y + py, piece)
                if person is not None:
                    candidates.append(person)
        return candidates

    def _person(self, x: int, y: int, inside: np.ndarray) -> Candidate | None:
        """The candidate a blob's pixels (`inside`, its box at column x, mask row y) make, or None."""
        h, w = inside.shape
        if inside.sum() < _MIN_FILL * h * max(w, h * _MIN_WIDTH_PER_HEIGHT):
            return None  # scattered specks (crowd noise, compression) or several things joined
        if w > _MAX_WIDTH_PER_HEIGHT * h:
            return None  # a board, a caption or a painted logo, not a person
        x0, y0 = x, y + self._top
        return Candidate(x0, y0, x0 + w, y0 + h, float(inside.mean()), _row_extents(inside, x0))

    def foreground(self, hsv: np.ndarray) -> np.ndarray:
        """(h, w) uint8 0/1: pixels of rows [top, bottom) of the shot's area that are not playing surface."""
        surface = paint_mask(hsv)
        for colour in self._surface_colours or []:
            surface |= colour.pixels(hsv)
        area = self._area[self._top : self._bottom]
        mask = area & ~surface
        widths = area.sum(axis=1)
        wide = mask.sum(axis=1) >= _WIDE_ROW_SHARE * np.maximum(widths, 1)
        mask[wide] = False
        return mask.astype(np.uint8)

    def _find_surface(self, hsv: np.ndarray) -> list[CourtColour]:
        """The court colour and, when there is one, the run-off's, both with shadows allowed."""
        colour = self._shot.colour
        region = self._shot.court[self._top : self._bottom]
        colours = []
        if colour is not None:
            colours.append(_with_shadows(colour))
            region = region & ~colour.pixels(hsv)
        saturated = region & (hsv[..., 1] >= 0.25 * 255) & (hsv[..., 2] >= 0.25 * 255)
        if saturated.sum() >= _RUN_OFF_MIN_SHARE * max(region.sum(), 1):
            hues = np.bincount(hsv[..., 0][saturated], minlength=180)
            smooth = sum(np.roll(hues, shift) for shift in range(-2, 3))
            peak = int(np.argmax(smooth))
            near = np.abs(((hsv[..., 0].astype(np.int16) - peak + 90) % 180) - 90) <= 10
            if (saturated & near).sum() >= _RUN_OFF_MIN_SHARE * max(region.sum(), 1):
                values = hsv[..., 2][saturated & near]
                run_off = CourtColour(peak * 2.0, 20.0, 0.25, min(0.95, 0.6 * float(np.median(values)) / 255))
                colours.append(_with_shadows(run_off))
        return colours


def _with_shadows(colour: CourtColour) -> CourtColour:
    return CourtColour(colour.hue_deg, colour.tolerance_deg, colour.min_saturation,
                       max(0.1, _SHADOW_VALUE * colour.min_value))


def _blobs(mask: np.ndarray, grouped: np.ndarray, min_height: int) -> list[tuple[int, int, int, int, np.ndarray]]:
    """(x, y, w, h, pixels) of each group of `grouped` at least `min_height` tall, boxed tightly around
    its `mask` pixels (`pixels`: (h, w) bool)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(grouped, 8, cv2.CV_32S, cv2.CCL_GRANA)
    blobs = []
    for label in range(1, count):
        x, y, w, h = (int(v) for v in stats[label, :4])
        if h < min_height:
            continue
        inside = (labels[y : y + h, x : x + w] == label) & (mask[y : y + h, x : x + w] > 0)
        rows = np.nonzero(inside.any(axis=1))[0]
        if len(rows) == 0 or rows[-1] + 1 - rows[0] < min_height:
            continue
        cols = np.nonzero(inside.any(axis=0))[0]
        blobs.append((x + int(cols[0]), y + int(rows[0]), int(cols[-1] + 1 - cols[0]), int(rows[-1] + 1 - rows[0]),
                      inside[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]))
    return blobs
