"""The default player detector: moving foreground blobs against a shot's background.

No learned weights. A court-view shot comes from a fixed camera, so the value most frames
spread over the shot (and its neighbouring shots of the same view) agree on is the empty
court: players move; line judges, umpires and the crowd barely do, and stay in the
background (`ShotBackgrounds`, `consensus_background`). Per frame:

1. foreground = pixels whose colour differs from the background by more than
   `diff_threshold` in some channel, except shadows (darker than the background by a
   ratio but of the same hue and saturation) and pixels of the court's colour where the
   background is not (bare court where the background holds a "ghost" of a player who
   stood still there);
2. a 3x3 morphological opening drops noise specks and thin lines (a racket's frame);
3. foreground pieces a few pixels apart, mostly vertically (a body cut by the net tape, a
   raised arm), are one blob; blobs at least `min_height_fraction` of the frame tall are
   candidates, boxed tightly around their foreground pixels.

Only rows from a little above the court (where far players' heads are) to the bottom of
the frame are examined.
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

from tracknet.court import to_hsv
from tracknet.players.base import Candidate, ShotContext
from tracknet.shots import FrameSampler

# Shadows keep the floor's hue and saturation and darken it by at most this much.
_SHADOW_RATIO = (0.35, 0.95)
_SHADOW_HUE_UNITS = 8  # OpenCV hue units (2 degrees each)
_SHADOW_SATURATION = 50
_GREY_SATURATION = 40


_JPEG_QUALITY = 95
_SIGNATURE_SIZE = (48, 27)  # a shot's tiny median image, to tell views apart
_SAME_VIEW_MAX_DIFF = 12.0  # mean absolute grey difference of two shots' tiny medians of one view
_VOTE_SCALE = 4  # background votes are counted at 1/4 of the analysis size


class ShotBackgrounds:
    """Each shot's empty-court background, built while its frames stream past once.

    Each shot keeps `samples_per_shot` evenly spread frames. A shot's background is the
    `consensus_background` of its own samples and those of up to `neighbours` shots on
    each side that show the same view (their tiny median images agree), looking at most
    `reach` shots away (broadcasts alternate court and cut-away shots): one camera
    shows the same empty court in all of them, and a player who stands still through
    a short shot, and so is in all of its own samples, is rarely on that spot in the
    other shots too. Memory holds the samples of 2 * `reach` + 1 shots at most;
    finished backgrounds are kept JPEG-compressed.
    """

    def __init__(self, samples_per_shot: int = 6, neighbours: int = 2, reach: int = 4) -> None:
        self.samples_per_shot = samples_per_shot
        self.neighbours = neighbours
        self.reach = reach
        self._sampler: FrameSampler[np.ndarray] = FrameSampler(samples_per_shot)
        self._recent: deque[tuple[int, list[np.ndarray], np.ndarray]] = deque()
        self._closed = 0
        self._backgrounds: dict[int, bytes | None] = {}

    def offer(self, index: int, image: np.ndarray) -> None:
        """Frame `index` ((H, W, 3) uint8 RGB) of the open shot; frames come in order."""
        self._sampler.offer(index, lambda: image)

    def cut(self, at: int) -> None:
        """The open shot ends before frame `at` (frames from `at` on were offered already)."""
        following = self._sampler.split(at)
        self._close(self._sampler)
        self._sampler = following

    def finish(self) -> None:
        """Close the last shot and build every background still pending."""
        self._close(self._sampler)
        while len(self._backgrounds) < self._closed:
            self._build(len(self._backgrounds))

    def get(self, shot: int) -> np.ndarray | None:
        """(H, W, 3) uint8 RGB background of shot `shot` (after finish), None without samples."""
        data = self._backgrounds.get(shot)
        if data is None:
            return None
        return np.ascontiguousarray(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[..., ::-1])

    def _close(self, sampler: FrameSampler[np.ndarray]) -> None:
        items = sampler.items
        # The same number of frames from every shot, so no shot outvotes the others.
        keep = np.linspace(0, len(items) - 1, min(self.samples_per_shot, len(items))).round().astype(int)
        images = [items[i][1] for i in keep] if items else []
        signature = (
            np.median([_grey_thumbnail(image) for image in images], axis=0)
            if images else np.full(_SIGNATURE_SIZE[::-1], np.nan)
        )
        self._recent.append((self._closed, images, signature))
        self._closed += 1
        ready = self._closed - 1 - self.reach
        if ready >= 0:
            self._build(ready)

    def _build(self, shot: int) -> None:
        """Background of `shot` from itself and its nearest same-view shots, then forget the oldest."""
        by_index = {index: (images, signature) for index, images, signature in self._recent}
        images, signature = by_index[shot]
        pool = list(images)
        for direction in (-1, 1):
            found = 0
            for index in range(shot + direction, shot + direction * (self.reach + 1), direction):
                if found == self.neighbours or index not in by_index:
                    break
                others, other_signature = by_index[index]
                if others and float(np.mean(np.abs(other_signature - signature))) <= _SAME_VIEW_MAX_DIFF:
                    pool += others
                    found += 1
        self._backgrounds[shot] = _encode(consensus_background(pool)) if pool else None
        while self._recent and self._recent[0][0] < shot + 1 - self.reach:
            self._recent.popleft()


def _grey_thumbnail(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, _SIGNATURE_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)


def consensus_background(images: list[np.ndarray], tolerance: int = 12) -> np.ndarray:
    """(H, W, 3) uint8: per pixel, the sample value most other samples agree with.

    Where a player stands for much of the sampled time the median is the player, but
    the empty floor or board behind him looks the same in every sample that shows it
    while the player's clothes, skin and pose vary: the value with the most samples
    within `tolerance` (0..255, every channel) of it, counted at quarter resolution for
    speed, is the background; each full-size pixel is the median of the samples that agreed.

    Args:
        images: (H, W, 3) uint8 RGB samples of one view.
    """
    stack = np.stack(images)  # (N, H, W, 3)
    n, h, w = stack.shape[:3]
    small_size = (max(w // _VOTE_SCALE, 1), max(h // _VOTE_SCALE, 1))
    small = np.stack([cv2.resize(image, small_size, interpolation=cv2.INTER_AREA) for image in images])
    small = small.astype(np.int16)  # (N, h', w', 3)
    votes = np.ones(small.shape[:3], np.int16)  # every sample agrees with itself
    for i in range(n):
        for j in range(i + 1, n):
            same = np.abs(small[i] - small[j]).max(axis=2) <= tolerance
            votes[i] += same
            votes[j] += same
    winner = votes.argmax(axis=0)[None, :, :, None]  # (1, h', w', 1)
    consensus = np.take_along_axis(small, winner, axis=0)  # (1, h', w', 3)
    agree = np.abs(small - consensus).max(axis=3) <= tolerance  # (N, h', w')
    # Where every sample agreed (most of the frame: nobody passed), the median of three of
    # them already irons out compression noise.
    spread = [0, n // 2, n - 1]
    background = np.median(stack[spread], axis=0).astype(np.uint8)
    # Elsewhere, each full-size pixel is the median of the samples that agreed on its block
    # (a sample that agreed although a player covers a corner of the block is outvoted):
    # the others are pushed to both ends of the range in equal numbers, which leaves the
    # median of all N samples at that of the agreeing ones.
    mixed = cv2.resize((~agree.all(axis=0)).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    ys, xs = np.nonzero(mixed)
    if len(ys):
        small_ys, small_xs = np.minimum(ys // _VOTE_SCALE, agree.shape[1] - 1), np.minimum(xs // _VOTE_SCALE, agree.shape[2] - 1)
        outside = np.cumsum(~agree, axis=0) * ~agree  # 1, 2, 3... over each block's disagreeing samples
        fill = np.where(~agree, np.where(outside % 2 == 1, 0, 255), -1)[:, small_ys, small_xs]  # (N, m)
        values = stack[:, ys, xs]  # (N, m, 3)
        masked = np.where(fill[..., None] >= 0, fill[..., None], values).astype(np.uint8)
        background[ys, xs] = np.median(masked, axis=0).astype(np.uint8)
    return background


def _encode(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding of a shot background failed")
    return data.tobytes()


class BackgroundDetector:
    """Players as moving blobs against the shot's background; see the module doc."""

    uses_background = True

    def __init__(
        self,
        diff_threshold: int = 30,
        min_height_fraction: float = 0.04,
        head_room_fraction: float = 0.3,
    ) -> None:
        """
        Args:
            diff_threshold: least colour difference (0..255, any channel) of a foreground pixel.
            min_height_fraction: least blob height, as a fraction of the frame height.
            head_room_fraction: rows examined start this fraction of the frame height
                above the court's top (far players' bodies stand out above the court).
        """
        if not 0 < diff_threshold < 255:
            raise ValueError(f"diff_threshold must be in (0, 255), got {diff_threshold}")
        if not 0 < min_height_fraction < 1 or not 0 <= head_room_fraction < 1:
            raise ValueError("min_height_fraction must be in (0, 1) and head_room_fraction in [0, 1)")
        self.diff_threshold = diff_threshold
        self.min_height_fraction = min_height_fraction
        self.head_room_fraction = head_room_fraction
        self._background: np.ndarray | None = None
        self._background_hsv: np.ndarray | None = None
        self._colour = None
        self._background_court: np.ndarray | None = None
        self._top = 0

    def begin_shot(self, shot: ShotContext) -> None:
        background = shot.background
        if background is None:
            raise ValueError("BackgroundDetector needs the shot's background image")
        self._colour = shot.colour
        height = background.shape[0]
        rows = np.nonzero(shot.court.any(axis=1))[0]
        court_top = int(rows[0]) if len(rows) else 0
        self._top = max(0, court_top - int(self.head_room_fraction * height))
        self._background = np.ascontiguousarray(background[self._top :])
        self._background_hsv = to_hsv(self._background).astype(np.int16)
        self._background_court = None if shot.colour is None else shot.colour.pixels(self._background_hsv)
        self._min_height_px = max(3, int(round(self.min_height_fraction * height)))
        self._open = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
        gap = max(3, int(round(height / 45)) | 1)
        self._join = cv2.getStructuringElement(cv2.MORPH_RECT, (3, gap))

    def detect(self, image: np.ndarray) -> list[Candidate]:
        if self._background is None:
            raise RuntimeError("begin_shot must be called before detect")
        mask = cv2.morphologyEx(self.foreground(image[self._top :]), cv2.MORPH_OPEN, self._open)
        # Pieces of one person (a body cut by the net tape, a raised arm) are grouped by a
        # dilated copy of the mask; boxes come from the undilated pixels, so stay tight.
        # Grana's algorithm: the same components, 3x faster than the default here (single-threaded).
        count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
            cv2.dilate(mask, self._join), 8, cv2.CV_32S, cv2.CCL_GRANA
        )
        candidates = []
        for label in range(1, count):
            x, y, w, h = (int(v) for v in stats[label, :4])
            if h < self._min_height_px:
                continue
            inside = (labels[y : y + h, x : x + w] == label) & (mask[y : y + h, x : x + w] > 0)
            rows = np.nonzero(inside.any(axis=1))[0]
            if len(rows) == 0 or rows[-1] + 1 - rows[0] < self._min_height_px:
                continue
            cols = np.nonzero(inside.any(axis=0))[0]
            inside = inside[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
            x0, y0 = x + int(cols[0]), y + int(rows[0]) + self._top
            candidates.append(
                Candidate(x0, y0, x0 + inside.shape[1], y0 + inside.shape[0], float(inside.mean()),
                          _row_extents(inside, x0))
            )
        return candidates

    def foreground(self, roi: np.ndarray) -> np.ndarray:
        """(h, w) uint8 0/1 foreground of an RGB region aligned with the stored background."""
        diff = cv2.absdiff(roi, self._background)
        r, g, b = cv2.split(diff)
        changed = cv2.max(cv2.max(r, g), b) > self.diff_threshold
        ys, xs = np.nonzero(changed)
        # Shadows and ghosts are judged on the changed pixels only: a few percent of the frame.
        hsv = cv2.cvtColor(roi[ys, xs][None], cv2.COLOR_RGB2HSV)[0].astype(np.int16)  # (n, 3)
        back = self._background_hsv[ys, xs]
        value_ratio = (hsv[:, 2] + 1) / (back[:, 2] + 1)
        hue_gap = np.abs(hsv[:, 0] - back[:, 0])
        hue_gap = np.minimum(hue_gap, 180 - hue_gap)
        # Grey and white floor (lines) has no meaningful hue: its shadows only darken it.
        hue_kept = (hue_gap <= _SHADOW_HUE_UNITS) | (back[:, 1] < _GREY_SATURATION)
        dropped = (
            (value_ratio >= _SHADOW_RATIO[0])
            & (value_ratio <= _SHADOW_RATIO[1])
            & hue_kept
            & (np.abs(hsv[:, 1] - back[:, 1]) <= _SHADOW_SATURATION)
        )
        if self._background_court is not None:
            # Bare court now where the background is not court (it shows a player who stood
            # there through much of the shot): a ghost, not a person.
            dropped |= self._colour.pixels(hsv[None])[0] & ~self._background_court[ys, xs]
        mask = changed.view(np.uint8)
        mask[ys[dropped], xs[dropped]] = 0
        return mask


def _row_extents(inside: np.ndarray, x0: int) -> np.ndarray:
    """(h, 2) int32 first and one-past-last True column per row (in frame columns); (0, 0) if none."""
    any_row = inside.any(axis=1)
    first = np.argmax(inside, axis=1)
    last = inside.shape[1] - np.argmax(inside[:, ::-1], axis=1)
    extents = np.stack([first + x0, last + x0], axis=1).astype(np.int32)
    extents[~any_row] = 0
    return extents
