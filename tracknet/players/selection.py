"""Court logic: which people in a shot are the two players, near and far side of the net.

Shared by every detector. For one court-view shot at a time:

1. people whose feet are outside the court region are dropped (umpire, line judges,
   coaches, crowd), and so are blobs too thin to be a person (a net post); once the height model (3.) is known, pieces stacked in one column
   whose union is no taller than a player standing there are joined first (a body cut
   in two by the net tape);
2. the net's image row splits near from far. It is learnt from the shot: in frames with
   two or more people on court the two largest are the players, the lower one near; the
   net lies between the far player's lowest and the near player's highest feet rows. With
   too few such frames, or when it agrees with them, it comes from the court region's
   perspective (where the court's width is the harmonic mean of its near and far
   widths, i.e. its middle in depth);
3. a per-shot **player-height model**, height_px = a * feet_row + b (perspective makes
   height linear in the feet row on a flat floor), is fitted on the same frames (a
   short shot borrows the model of the previous court-view shot);
4. in each frame the two largest people are the players when one stands higher in
   the image and they are not both clearly on one side of the net row; otherwise the
   largest person on each side of the net is that side's player. When the far side is
   empty and the near person is much taller than a player standing
   there, the two players overlap in the image: the blob is split with the height model
   (the near player is the bottom `height(feet)` rows, the far player the top rows down to
   where a player of that height stands).

5. a player who stands still fades into the background and shows only in pieces: while
   only a piece shows inside their nearest full box in time (or nothing, for up to half
   a second), that box is kept.

Scores say how plausible a box is: 1 when its height matches the model, falling with the
mismatch; boxes split from a merged blob score at most 0.75, held boxes 0.8 times the
box they hold; 0.5 without a model.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tracknet.players.base import Candidate

BOX_FIELDS = ("x0", "y0", "x1", "y1", "score")
_MIN_PAIRS = 5
_SPLIT_SCORE = 0.75
_MIN_WIDTH_PER_HEIGHT = 0.25  # a standing person is at least this wide for their height
_MIN_PERSON_WIDTH_PER_HEIGHT = 0.2  # anything thinner is not a person (a post, a line)
_JOIN_HEIGHT_RATIO = 1.15  # pieces whose union is at most this times a player's height are one player
_FULL_HEIGHT_RATIO = 0.8  # a box at least this times a player's height there shows the whole player
_HOLD_EMPTY_FRAMES = 15  # a still player's box is held this long with nothing of them showing
_HELD_SCORE = 0.8


@dataclass(frozen=True)
class HeightModel:
    """A player's height in pixels as a function of the image row of the feet."""

    slope: float
    intercept: float

    def __call__(self, feet_row: float) -> float:
        return self.slope * feet_row + self.intercept

    def feet_row_for_top(self, top_row: float) -> float:
        """The feet row of a player whose head is at `top_row` (solves row - height(row) = top)."""
        return (top_row + self.intercept) / (1.0 - self.slope)


def select_players(
    frames: list[list[Candidate]],
    court: np.ndarray,
    split_ratio: float = 1.25,
    prior: HeightModel | None = None,
    surface: np.ndarray | None = None,
) -> tuple[np.ndarray, HeightModel | None]:
    """The near and far player in every frame of one shot.

    Args:
        frames: each frame's candidates, in analysis pixels.
        court: (H, W) bool region of the shot where players' feet may be, analysis pixels.
        split_ratio: a near blob taller than this times the model height (with no far
            player found) holds both players.
        prior: the height model of an earlier shot of the same view, used when this
            shot has too few frames with both players apart to fit its own.
        surface: (H, W) bool court surface, whose middle in depth is the net's row when
            `court` also holds the run-off around it; None = `court`.

    Returns:
        (F, 2, 5) float64: per frame, near then far, (x0, y0, x1, y1, score) in analysis
        pixels, NaN rows where the player is not found; and the height model used.
    """
    surface = court if surface is None else surface
    size = _perspective_size(surface)
    on_court = [[c for c in found if _feet_on_court(c, court)] for found in frames]
    pairs = [_two_largest(found, size) for found in on_court if len(found) >= 2]
    net_row = _net_row(pairs, surface)
    model = _height_model(pairs) or prior
    if model is not None:
        on_court = [[c for c in _join_pieces(found, model) if _feet_on_court(c, court)] for found in frames]
    out = np.full((len(frames), 2, len(BOX_FIELDS)), np.nan)
    # How far a player's feet may seem to be on the wrong side of the estimated net row.
    margin = 0.5 * model(net_row) if model is not None else 0.05 * court.shape[0]
    for i, found in enumerate(on_court):
        near, far = _assign(found, net_row, margin, size)
        near_score = far_score = None
        if near is not None and model is not None and near.height > split_ratio * model(near.feet[1]):
            split = _split_merged(near, model, net_row)
            if split is not None:
                near, near_score = split[0], _SPLIT_SCORE
                if far is None or far.area < 0.5 * split[1].area:
                    far, far_score = split[1], _SPLIT_SCORE
        for side, (person, cap) in enumerate(((near, near_score), (far, far_score))):
            if person is not None:
                score = _plausibility(person, model)
                out[i, side] = (person.x0, person.y0, person.x1, person.y1, min(score, cap or 1.0))
    if model is not None:
        _hold_still_players(out, model)
    return out, model


def _hold_still_players(out: np.ndarray, model: HeightModel) -> None:
    """Keep a player's nearest full box while only pieces of them show inside it.

    A player who stands still is part of the background and shows only where they
    move (an arm, the head); a piece inside their last full box, or nothing at all
    for a few frames, means they are still there. Run forwards, then backwards: a
    player still at the start of a shot is boxed once they move.
    """
    frames = len(out)
    for side, order in itertools.product(range(out.shape[1]), (range(frames), range(frames - 1, -1, -1))):
        last, missing = None, 0
        for i in order:
            box = out[i, side]
            if not np.isnan(box[0]):
                full = (box[3] - box[1]) >= _FULL_HEIGHT_RATIO * model(box[3])
                if full or last is None or not _inside(box, last):
                    if full:
                        last, missing = box.copy(), 0
                    continue
            elif last is None or missing >= _HOLD_EMPTY_FRAMES:
                continue
            else:
                missing += 1
            out[i, side] = last
            out[i, side, 4] = _HELD_SCORE * last[4]


def _inside(box: np.ndarray, outer: np.ndarray, slack: float = 0.1) -> bool:
    """True when `box` (x0, y0, x1, y1, ...) lies within `outer` grown by `slack` of its size."""
    grow_x, grow_y = slack * (outer[2] - outer[0]), slack * (outer[3] - outer[1])
    return bool(
        box[0] >= outer[0] - grow_x and box[1] >= outer[1] - grow_y
        and box[2] <= outer[2] + grow_x and box[3] <= outer[3] + grow_y
    )


def _assign(
    found: list[Candidate], net_row: float, margin: float, size: Callable[[Candidate], float]
) -> tuple[Candidate | None, Candidate | None]:
    """(near, far) among one frame's people on court; `size` ranks them (`_perspective_size`)."""
    if len(found) >= 2:
        far, near = _two_largest(found, size)
        # The two largest people, one standing higher in the image, are the players unless
        # both are clearly on one side: the net row is an estimate, and a far player at the
        # net stands just behind it.
        if far.feet[1] < net_row + margin and near.feet[1] > net_row - margin:
            return near, far
    near = max((c for c in found if c.feet[1] > net_row), key=size, default=None)
    far = max((c for c in found if c.feet[1] <= net_row), key=size, default=None)
    return near, far


def _join_pieces(found: list[Candidate], model: HeightModel) -> list[Candidate]:
    """Join people stacked in one column whose union is no taller than one player standing
    there: the upper and lower body of a player cut apart by the net tape."""
    found = sorted(found, key=lambda c: c.y0)
    joined = True
    while joined:
        joined = False
        for i, upper in enumerate(found):
            for j in range(i + 1, len(found)):
                lower = found[j]
                overlap = min(upper.x1, lower.x1) - max(upper.x0, lower.x0)
                narrower = min(upper.x1 - upper.x0, lower.x1 - lower.x0)
                union_height = max(upper.y1, lower.y1) - upper.y0
                if overlap >= 0.3 * narrower and union_height <= _JOIN_HEIGHT_RATIO * model(max(upper.y1, lower.y1)):
                    found[i] = _union(upper, lower)
                    del found[j]
                    joined = True
                    break
            if joined:
                break
    return found


def _union(a: Candidate, b: Candidate) -> Candidate:
    """One person from two pieces: the enclosing box, row extents combined."""
    x0, y0, x1, y1 = min(a.x0, b.x0), min(a.y0, b.y0), max(a.x1, b.x1), max(a.y1, b.y1)
    rows = None
    if a.rows is not None and b.rows is not None:
        rows = np.zeros((int(y1) - int(y0), 2), np.int32)
        for piece in (a, b):
            part = rows[int(piece.y0) - int(y0) : int(piece.y0) - int(y0) + len(piece.rows)]
            mine = piece.rows[: len(part)]
            empty = part[:, 1] <= part[:, 0]
            part[empty] = mine[empty]
            both = ~empty & (mine[:, 1] > mine[:, 0])
            part[both, 0] = np.minimum(part[both, 0], mine[both, 0])
            part[both, 1] = np.maximum(part[both, 1], mine[both, 1])
    area_a, area_b = a.area, b.area
    score = (a.score * area_a + b.score * area_b) / max(area_a + area_b, 1e-9)
    return Candidate(x0, y0, x1, y1, score, rows)


def _feet_on_court(candidate: Candidate, court: np.ndarray) -> bool:
    """Feet on the court region, and shaped like a person (a net post is far too thin)."""
    if candidate.x1 - candidate.x0 < _MIN_PERSON_WIDTH_PER_HEIGHT * candidate.height:
        return False
    h, w = court.shape
    x, y = candidate.feet
    return bool(court[min(max(int(y) - 1, 0), h - 1), min(max(int(x), 0), w - 1)])


def _two_largest(found: list[Candidate], size: Callable[[Candidate], float]) -> tuple[Candidate, Candidate]:
    """(far, near): the two largest people of a frame by `size`, the one standing higher in the image far."""
    a, b = sorted(found, key=size, reverse=True)[:2]
    return (a, b) if a.feet[1] <= b.feet[1] else (b, a)


def _perspective_size(surface: np.ndarray) -> Callable[[Candidate], float]:
    """A person's area relative to the square of the court's image width where they stand.

    A far player covers a quarter of the pixels of the same player near the camera; raw
    areas rank a small far player below the umpire's chair beside the net. A flat court's
    width in the image is linear in the row (perspective), so a line fitted to the surface's
    row widths gives it anywhere, behind the baselines included. Raw area without a usable fit.
    """
    widths = surface.sum(axis=1).astype(np.float64)
    rows = np.nonzero(widths)[0]
    if len(rows) < 8:
        return lambda c: c.area
    # The ends of the surface are ragged (the hull's corners): fit its middle rows.
    middle = rows[len(rows) // 5 : len(rows) - len(rows) // 5]
    slope, intercept = np.polyfit(middle, widths[middle], 1)
    floor = 0.1 * float(widths[middle].max())

    def size(c: Candidate) -> float:
        return c.area / max(slope * c.feet[1] + intercept, floor) ** 2

    return size


def _net_row(pairs: list[tuple[Candidate, Candidate]], court: np.ndarray) -> float:
    """The court's middle row when the players agree with it, else the row midway between them."""
    geometric = _net_row_from_court(court)
    if len(pairs) >= _MIN_PAIRS:
        far_lowest = float(np.percentile([far.feet[1] for far, _ in pairs], 90))
        near_highest = float(np.percentile([near.feet[1] for _, near in pairs], 10))
        if far_lowest < near_highest and not far_lowest < geometric < near_highest:
            return (far_lowest + near_highest) / 2
    return geometric


def _net_row_from_court(court: np.ndarray) -> float:
    """The row of the court's middle in depth, from its widths at its far and near ends.

    On a flat floor a row's court width is proportional to its distance below the
    horizon, which is proportional to 1/depth; the middle in depth therefore has the
    harmonic mean of the end widths.
    """
    rows = np.nonzero(court.any(axis=1))[0]
    if len(rows) < 4:
        return court.shape[0] / 2
    top, bottom = int(rows[0]), int(rows[-1])
    widths = court.sum(axis=1).astype(np.float64)
    far_width, near_width = widths[top + 1], widths[bottom - 1]
    if near_width <= far_width:
        return top + 0.4 * (bottom - top)
    middle_width = 2 * far_width * near_width / (far_width + near_width)
    return top + (bottom - top) * (middle_width - far_width) / (near_width - far_width)


def _height_model(pairs: list[tuple[Candidate, Candidate]]) -> HeightModel | None:
    """Least-squares height = a * feet_row + b over both players of clean frames, refitted without outliers."""
    if len(pairs) < _MIN_PAIRS:
        return None
    rows = np.array([c.feet[1] for pair in pairs for c in pair])
    heights = np.array([c.height for pair in pairs for c in pair])
    keep = np.ones(len(rows), dtype=bool)
    for _ in range(2):
        if np.ptp(rows[keep]) < 1:
            return None
        slope, intercept = np.polyfit(rows[keep], heights[keep], 1)
        predicted = slope * rows + intercept
        keep = np.abs(heights - predicted) <= 0.25 * np.maximum(predicted, 1)
        if keep.sum() < _MIN_PAIRS:
            return None
    if not 0 < slope < 1:
        return None
    return HeightModel(float(slope), float(intercept))


def _split_merged(blob: Candidate, model: HeightModel, net_row: float) -> tuple[Candidate, Candidate] | None:
    """(near, far) from one blob holding both players, or None when the model says it cannot."""
    if blob.rows is None:
        return None
    near_top = blob.y1 - model(blob.y1)
    far_feet = model.feet_row_for_top(blob.y0)
    if not blob.y0 < far_feet <= net_row + 0.5 * model(net_row) or near_top <= blob.y0:
        return None
    rows = blob.rows  # (h, 2) column extents per box row
    y0 = int(blob.y0)

    def columns(first_row: float, stop_row: float) -> tuple[float, float] | None:
        part = rows[max(int(first_row) - y0, 0) : max(int(stop_row) - y0, 0)]
        part = part[part[:, 1] > part[:, 0]]
        return (float(part[:, 0].min()), float(part[:, 1].max())) if len(part) else None

    # Rows where only one player can be give that player's columns.
    near_cols = columns(max(far_feet, near_top), blob.y1) or columns(near_top, blob.y1)
    far_cols = columns(blob.y0, min(far_feet, near_top)) or columns(blob.y0, far_feet)
    if near_cols is None or far_cols is None:
        return None
    near = Candidate(near_cols[0], near_top, near_cols[1], blob.y1, blob.score)
    far = Candidate(far_cols[0], blob.y0, far_cols[1], min(far_feet, blob.y1), blob.score)
    # A raised arm or racket makes a blob tall too, but is much narrower than a body.
    if far.x1 - far.x0 < _MIN_WIDTH_PER_HEIGHT * model(far.y1):
        return None
    return near, far


def _plausibility(person: Candidate, model: HeightModel | None) -> float:
    if model is None:
        return 0.5
    expected = max(model(person.feet[1]), 1.0)
    return float(np.clip(1.0 - abs(person.height / expected - 1.0), 0.05, 1.0))
