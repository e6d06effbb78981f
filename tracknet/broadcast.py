"""Per-video broadcast analysis: shots, court view and the two players, at reduced resolution.

Shot boundaries and each shot's background need the whole video, so this runs per
video (jobs.infer runs it as one task beside the segment-parallel ball pipeline), in
two streaming passes over frames decoded at `analysis_width` (memory does not grow
with the video's length):

1. every frame goes through the `ShotSplitter` (cuts, court masks); when players are
   wanted and the detector uses a background, `ShotBackgrounds` builds each shot's
   background from a few evenly spread frames of it and of its neighbouring
   shots of the same view. At the end the shots are classified.
2. only court-view shots are decoded again; the detector finds people in each frame,
   and at the end of each shot the court logic picks the near and far player.

Positions come back in source pixels.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from tracknet.court import court_mask, court_region, to_hsv
from tracknet.errors import VideoError
from tracknet.players import BOX_FIELDS, Candidate, PersonDetector, PlayerConfig, select_players
from tracknet.players.background import ShotBackgrounds
from tracknet.players.base import ShotContext
from tracknet.players.selection import HeightModel
from tracknet.shots import ShotConfig, ShotSplit, ShotSplitter
from tracknet.video import Frame, VideoInfo, VideoSource, iter_frames, source_name



@dataclass(frozen=True)
class BroadcastConfig:
    """What the per-video analysis does."""

    analysis_width: int = 640
    """Frames are decoded at this width (aspect kept; never above the source's)."""
    shots: ShotConfig = field(default_factory=ShotConfig)
    """Cut detection and court-view classification."""
    players: PlayerConfig | None = field(default_factory=PlayerConfig)
    """Player detection; None finds shots only."""

    def __post_init__(self) -> None:
        if self.analysis_width < 64:
            raise ValueError(f"analysis_width must be >= 64, got {self.analysis_width}")


@dataclass(frozen=True)
class BroadcastAnalysis:
    """One video's shots and players, per frame."""

    split: ShotSplit
    shot: np.ndarray
    """(N,) int32 shot index of every frame."""
    court_view: np.ndarray
    """(N,) bool: the frame belongs to a court-view shot."""
    players: np.ndarray | None
    """(N, 2, 5) float64 near/far (x0, y0, x1, y1, score) in source pixels, x1/y1 one past
    the last pixel; NaN where not found (all NaN outside court view); None when players
    were not asked for."""
    shots_s: float
    """Seconds spent on shot splitting (cut detection, masks, classification), decoding excluded."""
    players_s: float
    """Seconds spent on players (backgrounds, detection, court logic), decoding excluded."""
    decode_s: float
    """Seconds spent decoding (both passes)."""

    def both_players(self) -> np.ndarray:
        """(N,) bool: both players found."""
        if self.players is None:
            return np.zeros(len(self.shot), dtype=bool)
        return ~np.isnan(self.players[:, :, 0]).any(axis=1)


def analysis_size(info: VideoInfo, width: int) -> tuple[int, int]:
    """(width, height) frames are analysed at: `width` wide (at most the source's), even sizes."""
    if info.width <= width:
        return info.width, info.height
    height = round(info.height * width / info.width)
    return width - width % 2, max(2, height - height % 2)


def analyze_broadcast(
    source: VideoSource,
    info: VideoInfo,
    config: BroadcastConfig | None = None,
    detector: PersonDetector | None = None,
) -> BroadcastAnalysis:
    """Shots, court view and (with a `detector`) players of one video.

    Args:
        source: local path or seekable file-like object (rewound for the second pass).
        info: the video's probe.
        config: analysis settings; `config.players` must be set when `detector` is.
        detector: finds people (tracknet.players.make_detector); None finds shots only.

    Raises:
        VideoError naming the source when it cannot be decoded or its frame count
        differs from `info.frame_count`.
    """
    config = config or BroadcastConfig()
    if detector is not None and config.players is None:
        raise ValueError("a detector needs config.players")
    size = analysis_size(info, config.analysis_width)
    timer = _Timer()

    splitter = ShotSplitter(info.fps, config.shots)
    backgrounds = None
    if detector is not None and detector.uses_background:
        backgrounds = ShotBackgrounds(config.players.background_samples)
    count = 0
    for frame in timer.decoding(_frames(source, size, 0, None)):
        with timer.shots:
            cuts = splitter.push(frame.index, frame.image)
        if backgrounds is not None:
            with timer.players:
                for cut in cuts:
                    backgrounds.cut(cut)
                backgrounds.offer(frame.index, frame.image)
        count += 1
    if count != info.frame_count:
        raise VideoError(source_name(source), f"decoded {count} frames, the container says {info.frame_count}")
    with timer.shots:
        split = splitter.finish()
    if backgrounds is not None:
        with timer.players:
            backgrounds.finish()
    shot, court_view = split.per_frame(count)

    players = None
    if detector is not None:
        players = np.full((count, 2, len(BOX_FIELDS)), np.nan)
        model = None  # the last shot's player-height model: one view, one perspective
        for first, stop in _court_view_runs(split):
            shot_index, court, region, candidates = -1, None, None, []
            for frame in timer.decoding(_frames(source, size, first, stop)):
                with timer.players:
                    if shot[frame.index] != shot_index:
                        if candidates:
                            model = _store(players, split, shot_index, candidates, court, region, model,
                                           config.players, info, size)
                        shot_index, candidates = int(shot[frame.index]), []
                        background = backgrounds.get(shot_index) if backgrounds is not None else None
                        # Without a background, the shot's first frame shows the court sharply enough.
                        court, region = _court_regions(split, shot_index, frame.image if background is None
                                                       else background, size, config.players)
                        detector.begin_shot(ShotContext(region, split.court_colour, background))
                    candidates.append(detector.detect(frame.image))
            with timer.players:
                if candidates:
                    model = _store(players, split, shot_index, candidates, court, region, model, config.players,
                                   info, size)
    return BroadcastAnalysis(
        split, shot, court_view, players, timer.shots.seconds, timer.players.seconds, timer.decode_s
    )


def _frames(source: VideoSource, size: tuple[int, int], start: int, stop: int | None) -> Iterator[Frame]:
    """Decode [start, stop) at `size`, rewinding a file-like source first (each pass reads it anew)."""
    if hasattr(source, "seek"):
        source.seek(0)
    return iter_frames(source, start, stop, size=size)


def _court_view_runs(split: ShotSplit) -> list[tuple[int, int]]:
    """[first, stop) frame ranges of consecutive court-view shots (decoded in one go each)."""
    runs: list[tuple[int, int]] = []
    for s in split.shots:
        if not s.court_view:
            continue
        if runs and runs[-1][1] == s.first_frame:
            runs[-1] = (runs[-1][0], s.last_frame + 1)
        else:
            runs.append((s.first_frame, s.last_frame + 1))
    return runs


def _court_regions(
    split: ShotSplit, shot_index: int, image: np.ndarray, size: tuple[int, int], config: PlayerConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) bool court region at analysis size, and where players' feet may be (the same grown by
    the run-off): from an image of the shot (its background, or a frame), else its court mask (coarse,
    mask resolution) when the video has no court colour."""
    if split.court_colour is not None:
        mask = court_mask(to_hsv(image), split.court_colour)
    else:
        mask = cv2.resize(split.masks[shot_index].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    margin = int(round(config.court_margin_fraction * size[0]))
    court = court_region(mask, margin)
    if not (config.beyond_ends or config.beyond_sides):
        return court, court
    return court, court_region(mask, margin, config.beyond_ends or 0.0, config.beyond_sides or 0.0)


def _store(
    players: np.ndarray,
    split: ShotSplit,
    shot_index: int,
    candidates: list[list[Candidate]],
    court: np.ndarray,
    region: np.ndarray,
    model: HeightModel | None,
    config: PlayerConfig,
    info: VideoInfo,
    size: tuple[int, int],
) -> HeightModel | None:
    """Pick the shot's players, write them in source pixels into `players`; returns the height model."""
    chosen, model = select_players(candidates, region, config.split_ratio, model, surface=court)  # analysis pixels
    chosen[..., 0:4] *= np.array([info.width / size[0], info.height / size[1]] * 2)
    first = split.shots[shot_index].first_frame
    players[first : first + len(chosen)] = chosen
    return model


class _Stopwatch:
    """Accumulates the wall time spent inside `with` blocks."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, *exc_info: object) -> None:
        self.seconds += time.perf_counter() - self._started


class _Timer:
    """Where the analysis spends its time: shots, players, decoding."""

    def __init__(self) -> None:
        self.shots = _Stopwatch()
        self.players = _Stopwatch()
        self.decode_s = 0.0

    def decoding(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        """Yield from a frame iterator, timing only the decoder's work."""
        iterator = iter(frames)
        while True:
            started = time.perf_counter()
            try:
                frame = next(iterator)
            except StopIteration:
                self.decode_s += time.perf_counter() - started
                return
            self.decode_s += time.perf_counter() - started
            yield frame
