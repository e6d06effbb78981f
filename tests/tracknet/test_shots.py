"""Shot splitting: cuts, court colour and masks, court-view classification (synthetic and real clips)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tracknet.court import CourtColour, court_mask, court_region, find_court_colour, mask_iou, to_hsv
from tracknet.shots import FrameSampler, ShotConfig, ShotSplitter, classify_shots
from tracknet.synth import SynthConfig, write_clip
from tracknet.video import iter_frames, probe

REAL_CLIPS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "badminton" / "clips"


def split_video(path: Path, config: ShotConfig | None = None, size: tuple[int, int] | None = (320, 180)):
    info = probe(path)
    splitter = ShotSplitter(info.fps, config)
    for frame in iter_frames(path, size=size):
        splitter.push(frame.index, frame.image)
    return splitter.finish()


@pytest.fixture(scope="module")
def cut_clips(tmp_path_factory) -> list[tuple[Path, pd.DataFrame]]:
    """Encoded synthetic clips with close-up and crowd cut-aways, and their true shots."""
    folder = tmp_path_factory.mktemp("cuts")
    clips = []
    for seed in (0, 3, 8):
        path = folder / f"cuts_{seed}.mp4"
        write_clip(path, SynthConfig(width=480, height=270, frames=200, seed=seed, court="badminton", cutaways=3,
                                     truth=True))
        clips.append((path, pd.read_csv(path.with_suffix(".shots.csv"))))
    return clips


def test_every_cut_found_within_one_frame_and_no_false_cuts(cut_clips):
    for path, truth in cut_clips:
        found = [shot.first_frame for shot in split_video(path).shots]
        expected = truth["first_frame"].tolist()
        assert len(found) == len(expected), (path.name, found, expected)
        assert all(abs(a - b) <= 1 for a, b in zip(found, expected)), (path.name, found, expected)


def test_court_view_classification_is_right_for_every_shot(cut_clips):
    kinds = set()
    greener_closeups = 0
    for path, truth in cut_clips:
        split = split_video(path)
        assert [s.court_view for s in split.shots] == truth["court_view"].tolist(), path.name
        kinds |= set(truth["kind"])
        main_fraction = min(s.court_fraction for s in split.shots if s.court_view)
        for shot, kind in zip(split.shots, truth["kind"]):
            if kind == "closeup":
                assert shot.court_iou < 0.8
                # A court-colour share test passing the main view would pass these close-ups too.
                greener_closeups += shot.court_fraction >= main_fraction
            assert 0.5 <= shot.confidence <= 1.0
        court, frames = split.per_frame(int(truth["last_frame"].iloc[-1]) + 1)
        assert frames.sum() == sum(s.frames for s in split.shots if s.court_view)
    assert kinds == {"court", "closeup", "crowd"}
    assert greener_closeups >= 1


def test_clip_without_cuts_is_one_court_view_shot(tmp_path):
    path = tmp_path / "plain.mp4"
    write_clip(path, SynthConfig(width=320, height=180, frames=60, seed=2, court="badminton"))
    split = split_video(path)
    assert [(s.first_frame, s.last_frame, s.court_view) for s in split.shots] == [(0, 59, True)]
    assert split.shots[0].court_iou == pytest.approx(1.0)


def test_frames_must_come_in_order():
    splitter = ShotSplitter(30.0)
    splitter.push(0, np.zeros((36, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="expected 1, got 2"):
        splitter.push(2, np.zeros((36, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="no frames"):
        ShotSplitter(30.0).finish()


def test_frame_sampler_keeps_evenly_spread_frames_in_bounded_memory():
    sampler = FrameSampler(4)
    for index in range(1000):
        sampler.offer(index, lambda: index)
    kept = [index for index, _ in sampler.items]
    assert 4 <= len(kept) <= 8
    assert len(set(np.diff(kept))) == 1  # even spacing
    following = sampler.split(kept[len(kept) // 2])
    assert all(i < following.start for i, _ in sampler.items) and all(i >= following.start for i, _ in following.items)


def _trapezoid(h: int = 54, w: int = 96) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    for row in range(20, 50):
        half = 15 + (row - 20)
        mask[row, w // 2 - half : w // 2 + half] = True
    return mask


def test_classify_shots_main_view_is_the_one_with_most_frames():
    main = _trapezoid()
    zoom = np.zeros_like(main)
    zoom[5:, :] = True  # a zoom on the court: more court, other shape
    crowd = np.zeros_like(main)
    main_mask, verdicts = classify_shots([main, zoom, main, crowd], [300, 50, 200, 40])
    assert mask_iou(main_mask, main) == 1.0
    assert [v[0] for v in verdicts] == [True, False, True, False]
    assert verdicts[1][2] < 0.5 and verdicts[0][2] == 1.0
    # With more zoom frames than main-view frames, the zoom is the main view.
    _, verdicts = classify_shots([main, zoom], [10, 500])
    assert [v[0] for v in verdicts] == [False, True]
    # No court at all: no shot is court view.
    main_mask, verdicts = classify_shots([crowd, crowd], [10, 10])
    assert main_mask is None and not any(v[0] for v in verdicts)


def test_court_colour_is_found_and_masks_close_over_lines():
    image = np.full((90, 160, 3), 30, np.uint8)
    image[40:, 20:140] = (45, 160, 120)  # green court
    image[40:, 78:80] = (240, 240, 240)  # a white line across it
    colour = find_court_colour([to_hsv(image)])
    assert colour is not None and abs(colour.hue_deg - 156) <= 6
    mask = court_mask(to_hsv(image), colour)
    assert mask[60, 79] and mask[60, 30] and not mask[20, 80]
    region = court_region(mask, margin_px=3)
    assert region[60, 18] and not region[60, 10]
    assert find_court_colour([to_hsv(np.full((20, 20, 3), 128, np.uint8))]) is None


@pytest.mark.parametrize(
    "kwargs, message",
    [({"hue_deg": 400.0}, "hue_deg"), ({"hue_deg": 100.0, "tolerance_deg": 0}, "tolerance_deg")],
)
def test_bad_court_colour_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CourtColour(**kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"court_iou": 1.5}, "court_iou"), ({"min_shot_frames": 0}, ">= 1"), ({"court_hue_deg": -1.0}, "court_hue_deg")],
)
def test_bad_shot_config_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ShotConfig(**kwargs)


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_CLIPS.is_dir(), reason="needs ../shared/data/badminton/clips")
def test_real_rally_clips_have_no_cuts_and_are_court_view():
    for path in sorted(REAL_CLIPS.glob("*.mp4")):
        split = split_video(path, size=(256, 144))
        assert len(split.shots) == 1, (path.name, [s.first_frame for s in split.shots])
        assert split.shots[0].court_view, path.name
        assert split.court_colour is not None and 120 <= split.court_colour.hue_deg <= 200, path.name
