"""Shot splitting: camera cuts, and which shots show the main court view.

Broadcasts cut from the court camera to close-ups, replays' slow-motion angles and the
crowd; ball (and player) positions only mean something on the court camera. Frames
stream through a `ShotSplitter` once, in order:

- cuts come from PySceneDetect's `AdaptiveDetector` fed with small frames (no ffmpeg,
  no second decode): it compares each frame's content change with its neighbours', so
  fast pans do not read as cuts;
- each shot keeps a few evenly spread tiny frames; at the end the court colour is found
  (`tracknet.court`), each shot's court mask is the pixel-wise majority of its frames'
  court masks, and the **main view** is the view (shots whose masks overlap with IoU >=
  `court_iou`) holding the most frames. A shot is court view when its mask's IoU with
  the main view's is >= `court_iou`: the same camera scores about 0.95+, a 2.5x zoom on
  the court 0.3-0.7 (it is mostly court, so a court-colour ratio alone would accept it).

A video whose main view shows no court (less than `min_court_fraction` of the frame) has
no court-view shot. Cuts in the first `min_shot_frames` or the last `window_width` frames
are not reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Generic, TypeVar

import cv2
import numpy as np
from scenedetect import FrameTimecode
from scenedetect.detectors import AdaptiveDetector

from tracknet.court import CourtColour, court_mask, find_court_colour, mask_iou, to_hsv

T = TypeVar("T")


@dataclass(frozen=True)
class ShotConfig:
    """How cuts are found and shots classified."""

    detect_width: int = 160
    """Frames are shrunk to this width (aspect kept) for the cut detector."""
    adaptive_threshold: float = 3.0
    """AdaptiveDetector: a frame's content change over its neighbours' mean that makes a cut."""
    min_content_val: float = 15.0
    """AdaptiveDetector: least content change (0..255 scale) of a cut."""
    window_width: int = 2
    """AdaptiveDetector: neighbours on each side the change is compared with (cuts lag by this)."""
    min_shot_frames: int = 15
    """Shortest shot, in frames: a second cut closer than this to the last one is ignored."""
    mask_width: int = 96
    """Court masks are compared at this width (aspect kept)."""
    court_iou: float = 0.8
    """A shot is court view when its court mask's IoU with the main view's is at least this."""
    min_court_fraction: float = 0.05
    """The main view must show at least this fraction of court, else no shot is court view."""
    court_hue_deg: float | None = None
    """Court hue in degrees (green mats ~160); None finds it per video."""
    court_hue_tolerance_deg: float = 20.0
    """Largest hue difference from the court hue that still counts as court."""
    samples_per_shot: int = 8
    """Each shot keeps between this many and twice as many evenly spread frames for its mask."""

    def __post_init__(self) -> None:
        if self.detect_width < 16 or self.mask_width < 16:
            raise ValueError(f"detect_width and mask_width must be >= 16, got {self.detect_width}, {self.mask_width}")
        if self.adaptive_threshold <= 0 or self.min_content_val < 0:
            raise ValueError("adaptive_threshold must be > 0 and min_content_val >= 0")
        if self.window_width < 1 or self.min_shot_frames < 1 or self.samples_per_shot < 1:
            raise ValueError("window_width, min_shot_frames and samples_per_shot must be >= 1")
        if not 0 < self.court_iou < 1:
            raise ValueError(f"court_iou must be in (0, 1), got {self.court_iou}")
        if not 0 <= self.min_court_fraction < 1:
            raise ValueError(f"min_court_fraction must be in [0, 1), got {self.min_court_fraction}")
        if self.court_hue_deg is not None and not 0 <= self.court_hue_deg < 360:
            raise ValueError(f"court_hue_deg must be null or in [0, 360), got {self.court_hue_deg}")


@dataclass(frozen=True)
class Shot:
    """One shot: frames [first_frame, last_frame] (inclusive) between two camera cuts."""

    index: int
    first_frame: int
    last_frame: int
    court_view: bool
    """True when the shot shows the main court camera."""
    confidence: float
    """How clear the verdict is: 0.5 at IoU = court_iou, rising linearly to 1 at IoU 1 (court
    view) or IoU 0 (not court view)."""
    court_iou: float
    """IoU of the shot's court mask with the main view's."""
    court_fraction: float
    """Fraction of the shot's frames covered by court."""

    @property
    def frames(self) -> int:
        return self.last_frame - self.first_frame + 1


@dataclass(frozen=True)
class ShotSplit:
    """A video's shots, in order, covering every frame once, and what decided them."""

    shots: list[Shot]
    court_colour: CourtColour | None
    """The court colour used (None when no frame had a saturated colour)."""
    main_mask: np.ndarray | None
    """(h, w) bool court mask of the main view at mask resolution; None without a court."""
    masks: list[np.ndarray]
    """Each shot's (h, w) bool court mask at mask resolution."""

    def per_frame(self, frame_count: int) -> tuple[np.ndarray, np.ndarray]:
        """((N,) int32 shot index, (N,) bool court view) for frames 0..N-1."""
        shot = np.zeros(frame_count, dtype=np.int32)
        court_view = np.zeros(frame_count, dtype=bool)
        for s in self.shots:
            shot[s.first_frame : s.last_frame + 1] = s.index
            court_view[s.first_frame : s.last_frame + 1] = s.court_view
        return shot, court_view


class FrameSampler(Generic[T]):
    """Keeps evenly spread items of a stream of unknown length, in bounded memory.

    Holds between `capacity` and 2 * `capacity` items once that many were offered: every
    `stride`-th item is kept, and the stride doubles (dropping every other kept item)
    when the buffer fills.
    """

    def __init__(self, capacity: int, start: int = 0) -> None:
        self.capacity = capacity
        self.start = start
        self.stride = 1
        self.items: list[tuple[int, T]] = []

    def offer(self, index: int, make: Callable[[], T]) -> None:
        """Keep frame `index` if it falls on the stride; `make()` builds the item only then."""
        if (index - self.start) % self.stride:
            return
        self.items.append((index, make()))
        if len(self.items) > 2 * self.capacity:
            self.items = self.items[::2]
            self.stride *= 2

    def split(self, at: int) -> FrameSampler[T]:
        """Move the items from frame `at` on into a new sampler (a cut at `at`); returns it."""
        following = FrameSampler[T](self.capacity, start=at)
        following.items = [item for item in self.items if item[0] >= at]
        self.items = [item for item in self.items if item[0] < at]
        return following


class CutDetector:
    """Camera cuts from PySceneDetect's AdaptiveDetector, fed one small RGB frame at a time."""

    def __init__(self, fps: float, config: ShotConfig) -> None:
        self.fps = Fraction(fps).limit_denominator(1001)
        self.detector = AdaptiveDetector(
            adaptive_threshold=config.adaptive_threshold,
            min_scene_len=config.min_shot_frames,
            window_width=config.window_width,
            min_content_val=config.min_content_val,
        )

    def push(self, index: int, image: np.ndarray) -> list[int]:
        """Feed frame `index` ((h, w, 3) uint8 RGB); returns the first frames of new shots found.

        Cuts come `window_width` frames late: the detector compares a frame with the
        frames after it too.
        """
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        return [cut.frame_num for cut in self.detector.process_frame(FrameTimecode(index, self.fps), bgr)]


class ShotSplitter:
    """Streams a video's frames once, in order, and splits it into classified shots."""

    def __init__(self, fps: float, config: ShotConfig | None = None) -> None:
        self.config = config or ShotConfig()
        self.cuts = CutDetector(fps, self.config)
        self.starts = [0]
        self.samplers: list[FrameSampler[np.ndarray]] = [FrameSampler(self.config.samples_per_shot)]
        self.next_index = 0
        self._sizes: tuple[tuple[int, int], tuple[int, int]] | None = None

    def push(self, index: int, image: np.ndarray) -> list[int]:
        """Feed frame `index` ((H, W, 3) uint8 RGB, any size); returns cut frames found now.

        Frames must come in order, each once, from 0.
        """
        if index != self.next_index:
            raise ValueError(f"frames must come in order from 0: expected {self.next_index}, got {index}")
        self.next_index += 1
        detect_size, mask_size = self._sizes or self._plan_sizes(image.shape[1], image.shape[0])
        small = cv2.resize(image, detect_size, interpolation=cv2.INTER_AREA)
        found = self.cuts.push(index, small)
        for cut in found:
            self.starts.append(cut)
            self.samplers.append(self.samplers[-1].split(cut))
        self.samplers[-1].offer(index, lambda: to_hsv(cv2.resize(small, mask_size, interpolation=cv2.INTER_AREA)))
        return found

    def _plan_sizes(self, width: int, height: int) -> tuple[tuple[int, int], tuple[int, int]]:
        def scaled(target: int) -> tuple[int, int]:
            target = min(target, width)
            return target, max(1, round(height * target / width))

        self._sizes = (scaled(self.config.detect_width), scaled(self.config.mask_width))
        return self._sizes

    def finish(self) -> ShotSplit:
        """Close the last shot and classify every shot."""
        if self.next_index == 0:
            raise ValueError("no frames were pushed")
        stops = self.starts[1:] + [self.next_index]
        lengths = [stop - start for start, stop in zip(self.starts, stops)]
        samples = [[image for _, image in sampler.items] for sampler in self.samplers]
        flat = [image for shot in samples for image in shot]
        weights = [length / len(shot) for shot, length in zip(samples, lengths) for _ in shot]
        colour = find_court_colour(flat, weights, self.config.court_hue_tolerance_deg, self.config.court_hue_deg)
        if colour is None:
            masks = [np.zeros(samples[0][0].shape[:2], bool) for _ in samples]
        else:
            masks = [np.mean([court_mask(image, colour) for image in shot], axis=0) >= 0.5 for shot in samples]
        main_mask, verdicts = classify_shots(masks, lengths, self.config.court_iou, self.config.min_court_fraction)
        shots = [
            Shot(i, start, stop - 1, court_view, confidence, iou, float(mask.mean()))
            for i, (start, stop, mask, (court_view, confidence, iou)) in enumerate(
                zip(self.starts, stops, masks, verdicts)
            )
        ]
        return ShotSplit(shots, colour, main_mask, masks)


def classify_shots(
    masks: Sequence[np.ndarray], lengths: Sequence[int], court_iou: float = 0.8, min_court_fraction: float = 0.05
) -> tuple[np.ndarray | None, list[tuple[bool, float, float]]]:
    """The main view's mask, and (court_view, confidence, IoU with the main view) per shot.

    Args:
        masks: each shot's (h, w) bool court mask, all the same shape.
        lengths: each shot's length in frames (the main view is the one holding most frames).
        court_iou: IoU with the main view from which a shot is court view.
        min_court_fraction: the main view must be at least this much court.
    """
    flat = np.stack([m.ravel() for m in masks]).astype(np.float32)  # (S, P)
    weights = np.asarray(lengths, dtype=np.float64)
    inter = flat @ flat.T
    area = flat.sum(axis=1)
    union = area[:, None] + area[None, :] - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    same_view = iou >= court_iou
    support = same_view @ weights
    # Most frames in the same view wins; among equals, the longest shot.
    main = int(np.lexsort((weights, support))[-1])
    members = same_view[main].copy()
    members[main] = True  # an empty mask has IoU 0 even with itself
    main_mask = np.average(flat[members], axis=0, weights=weights[members]).reshape(masks[0].shape) >= 0.5
    if main_mask.mean() < min_court_fraction:
        return None, [(False, 1.0, 0.0) for _ in masks]
    verdicts = []
    for mask in masks:
        shot_iou = mask_iou(mask, main_mask)
        court_view = shot_iou >= court_iou
        margin = (shot_iou - court_iou) / (1 - court_iou) if court_view else (court_iou - shot_iou) / court_iou
        verdicts.append((court_view, 0.5 + 0.5 * min(1.0, margin), shot_iou))
    return main_mask, verdicts
