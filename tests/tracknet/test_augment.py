"""Label-preserving augmentation (tracknet.augment) and window samples (tracknet.training)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from tracknet.augment import (
    AugmentConfig,
    augment_window,
    color_jitter,
    hflip,
    random_crop,
    recolor_surfaces,
    surface_hues,
)
from tracknet.heatmap import render_targets
from tracknet.preprocess import encode_jpeg, to_model_input
from tracknet.training import decode_window_frames, heatmap_confusion, window_samples

H, W = 64, 96


def window_with_dots(xy: np.ndarray, visible: np.ndarray, seed: int = 0) -> np.ndarray:
    """(F, H, W, 3) uint8: textured grey background, a pure red 3x3 dot at each visible (x, y)."""
    rng = np.random.default_rng(seed)
    frames = np.repeat(rng.integers(60, 120, size=(1, H, W, 1), dtype=np.uint8), 3, axis=-1)
    frames = np.repeat(frames, len(xy), axis=0).copy()
    for frame, (x, y), shown in zip(frames, xy, visible):
        if shown:
            frame[int(y) - 1 : int(y) + 2, int(x) - 1 : int(x) + 2] = (255, 0, 0)
    return frames


def red_centre(frame: np.ndarray) -> tuple[float, float] | None:
    """Centre of the reddest pixels of a frame, or None when there is no red dot."""
    redness = frame[..., 0].astype(int) - frame[..., 1:].astype(int).max(axis=-1)
    ys, xs = np.nonzero(redness > 80)
    if len(xs) == 0:
        return None
    return float(xs.mean()), float(ys.mean())


XY = np.array([[20.0, 30.0], [24.0, 31.0], [28.0, 33.0]], dtype=np.float32)
VISIBLE = np.array([1, 1, 0], dtype=np.int8)


def test_hflip_moves_labels_with_pixels_and_is_an_involution():
    frames = window_with_dots(XY, VISIBLE)
    flipped, visible, xy = hflip(frames, VISIBLE, XY)
    for frame, (x, y), shown in zip(flipped, xy, visible):
        if shown:
            assert red_centre(frame) == pytest.approx((x, y))
    assert xy[0, 0] == W - 1 - 20.0
    back, _, xy_back = hflip(flipped, visible, xy)
    np.testing.assert_array_equal(back, frames)
    np.testing.assert_allclose(xy_back, XY)


@pytest.mark.parametrize("seed", range(12))
def test_positive_crops_hold_the_ball_where_the_label_says(seed):
    frames = window_with_dots(XY, VISIBLE)
    rng = np.random.default_rng(seed)
    cropped, visible, xy = random_crop(frames, VISIBLE, XY, (32, 24), rng, positive_fraction=1.0, margin_px=4)
    assert cropped.shape == (3, 24, 32, 3)
    inside = [
        i for i in range(3)
        if visible[i] and 0 <= xy[i, 0] <= 31 and 0 <= xy[i, 1] <= 23
    ]
    assert inside, "a positive crop must contain a visible ball"
    for i in inside:
        centre = red_centre(cropped[i])
        assert centre is not None and centre == pytest.approx(tuple(xy[i]), abs=1.0)


def test_negative_crops_cover_the_frame_and_keep_invisible_labels():
    frames = window_with_dots(XY, VISIBLE)
    rng = np.random.default_rng(0)
    offsets = set()
    for _ in range(200):
        _, visible, xy = random_crop(frames, VISIBLE, XY, (32, 32), rng, positive_fraction=0.0)
        offsets.add((int(XY[0, 0] - xy[0, 0]), int(XY[0, 1] - xy[0, 1])))
        np.testing.assert_array_equal(visible, VISIBLE)
    xs = {o[0] for o in offsets}
    assert min(xs) <= 5 and max(xs) >= W - 32 - 5  # placed anywhere, not only around the ball
    with pytest.raises(ValueError, match="larger than the frames"):
        random_crop(frames, VISIBLE, XY, (128, 32), rng)


def test_crop_near_the_border_still_holds_the_ball():
    xy = np.array([[1.0, 1.0], [94.0, 62.0], [50.0, 30.0]], dtype=np.float32)
    visible = np.array([1, 0, 0], dtype=np.int8)
    frames = window_with_dots(xy, np.array([1, 0, 0], dtype=np.int8))
    for seed in range(5):
        cropped, _, moved = random_crop(frames, visible, xy, (32, 32), np.random.default_rng(seed), 1.0, 8)
        assert 0 <= moved[0, 0] < 32 and 0 <= moved[0, 1] < 32


def test_color_jitter_is_the_same_for_every_frame_and_keeps_shape():
    frame = window_with_dots(XY[:1], VISIBLE[:1])
    frames = np.repeat(frame, 3, axis=0)
    out = color_jitter(frames, np.random.default_rng(1), 0.4, 0.4, 0.4)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert not np.array_equal(out, frames)
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_array_equal(out[0], out[2])
    untouched = color_jitter(frames, np.random.default_rng(1), 0.0, 0.0, 0.0)
    np.testing.assert_array_equal(untouched, frames)


@pytest.mark.parametrize("seed", range(8))
def test_full_augmentation_keeps_labels_on_the_ball(seed):
    frames = window_with_dots(XY, VISIBLE)
    config = AugmentConfig(hflip_prob=0.5, brightness=0.1, contrast=0.1, saturation=0.1,
                           crop_width=48, crop_height=32, positive_fraction=1.0, crop_margin_px=4)
    out, visible, xy = augment_window(frames, VISIBLE, XY, config, np.random.default_rng(seed))
    assert out.shape == (3, 32, 48, 3)
    for i in range(3):
        if visible[i] and 1 <= xy[i, 0] <= 46 and 1 <= xy[i, 1] <= 30:
            assert red_centre(out[i]) == pytest.approx(tuple(xy[i]), abs=1.0)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"hflip_prob": 1.5}, "hflip_prob"),
        ({"brightness": 1.0}, "brightness"),
        ({"crop_width": 64}, "both be 0"),
        ({"crop_width": 60, "crop_height": 64}, "multiple of 8"),
        ({"crop_margin_px": -1}, "crop_margin_px"),
    ],
)
def test_bad_augment_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AugmentConfig(**kwargs)


def test_window_samples_match_to_model_input_and_augment_shapes():
    frames = window_with_dots(XY, VISIBLE)
    images = [encode_jpeg(f, 95) for f in frames]
    x = [float(v) if s else float("nan") for v, s in zip(XY[:, 0], VISIBLE)]
    y = [float(v) if s else float("nan") for v, s in zip(XY[:, 1], VISIBLE)]
    plain = window_samples([images], [VISIBLE.tolist()], [x], [y])
    assert plain["inputs"].shape == (1, 9, H, W) and plain["inputs"].dtype == np.uint8
    np.testing.assert_array_equal(plain["inputs"][0] / np.float32(255), to_model_input(decode_window_frames(images)))
    np.testing.assert_array_equal(plain["visible"][0], VISIBLE)
    augmented = window_samples([images, images], [VISIBLE.tolist()] * 2, [x] * 2, [y] * 2,
                               AugmentConfig(crop_width=32, crop_height=32), np.random.default_rng(0), copies=3)
    assert augmented["inputs"].shape == (6, 9, 32, 32)
    assert augmented["xy"].shape == (6, 3, 2) and augmented["visible"].shape == (6, 3)


def test_window_samples_move_the_background_exactly_as_the_frames():
    frames = window_with_dots(XY, VISIBLE)
    images = [encode_jpeg(f, 95) for f in frames]
    x = [float(v) if s else float("nan") for v, s in zip(XY[:, 0], VISIBLE)]
    y = [float(v) if s else float("nan") for v, s in zip(XY[:, 1], VISIBLE)]
    background = encode_jpeg(window_with_dots(XY, np.zeros(3, np.int8))[0], 95)
    plain = window_samples([images], [VISIBLE.tolist()], [x], [y], backgrounds=[background])
    assert plain["inputs"].shape == (1, 12, H, W)
    expected = to_model_input([*decode_window_frames(images), decode_window_frames([background])[0]])
    np.testing.assert_array_equal(plain["inputs"][0] / np.float32(255), expected)
    assert plain["visible"].shape == (1, 3) and plain["xy"].shape == (1, 3, 2)  # labels of the frames only
    # Frames equal to their background: any crop, flip and jitter must keep them equal.
    same = [background] * 3
    augmented = window_samples([same], [VISIBLE.tolist()], [x], [y], AugmentConfig(crop_width=32, crop_height=32),
                               np.random.default_rng(0), copies=8, backgrounds=[background])
    assert augmented["inputs"].shape == (8, 12, 32, 32)
    for sample in augmented["inputs"]:
        for k in range(3):
            np.testing.assert_array_equal(sample[3 * k : 3 * k + 3], sample[9:12])
    assert len({sample.tobytes() for sample in augmented["inputs"]}) > 1  # the draws did differ
    np.testing.assert_array_equal(augmented["visible"], np.tile(VISIBLE, (8, 1)))


def test_heatmap_confusion_scores_perfect_and_wrong_predictions():
    xy = torch.tensor([[[20.0, 30.0], [24.0, 31.0], [0.0, 0.0]]])
    visible = torch.tensor([[1, 1, 0]])
    perfect = render_targets(xy, visible, H, W).numpy()  # (1, 3, H, W)
    scores = heatmap_confusion(perfect, visible.numpy(), xy.numpy())
    assert (scores.tp, scores.tn, scores.fp1, scores.fp2, scores.fn) == (2, 1, 0, 0, 0)
    moved = render_targets(xy + torch.tensor([10.0, 0.0]), torch.ones(1, 3), H, W).numpy()
    wrong = heatmap_confusion(moved, visible.numpy(), xy.numpy())
    assert (wrong.fp1, wrong.fp2, wrong.tp) == (2, 1, 0)


def _court_window() -> tuple[np.ndarray, tuple[int, int]]:
    """Two frames and a background of a blue court inside a green surround, a white line and a yellow ball."""
    frames = np.zeros((3, 48, 64, 3), np.uint8)
    frames[:] = (40, 140, 70)  # green surround
    frames[:, 8:40, 8:56] = (30, 70, 170)  # blue court
    frames[:, 24, 8:56] = (245, 245, 245)  # white line
    ball = (20, 30)
    frames[:2, ball[0] - 1 : ball[0] + 2, ball[1] - 1 : ball[1] + 2] = (220, 230, 40)  # yellow ball
    return frames, ball


def test_surface_hues_are_the_court_and_its_surround():
    frames, _ = _court_window()
    hues = surface_hues(frames)
    blue = cv2.cvtColor(np.array([[[30, 70, 170]]], np.uint8), cv2.COLOR_RGB2HSV)[0, 0, 0]
    green = cv2.cvtColor(np.array([[[40, 140, 70]]], np.uint8), cv2.COLOR_RGB2HSV)[0, 0, 0]
    assert len(hues) == 2
    for expected in (int(blue), int(green)):  # a peak of the smoothed histogram, within a few steps
        assert min(abs(hue - expected) for hue in hues) <= 3


def test_recolor_surfaces_changes_the_court_and_keeps_ball_and_lines():
    frames, (by, bx) = _court_window()
    rng = np.random.default_rng(3)
    out = recolor_surfaces(frames, rng, 180.0)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert np.abs(out[:, 16, 16].astype(int) - frames[:, 16, 16]).max() > 20  # the court changed colour
    assert np.array_equal(out[:, 24, 30], frames[:, 24, 30])  # white has no hue to rotate
    assert np.array_equal(out[:2, by, bx], frames[:2, by, bx])  # the ball keeps its colour
    assert np.array_equal(out[0, 16, 16], out[2, 16, 16])  # one rotation for frames and background alike


def test_surface_hue_config_is_applied_and_checked():
    frames, _ = _court_window()
    config = AugmentConfig(hflip_prob=0, brightness=0, contrast=0, saturation=0, surface_hue_deg=90)
    out, _, _ = augment_window(frames, np.ones(3, np.int8), np.zeros((3, 2), np.float32), config,
                               np.random.default_rng(0))
    assert not np.array_equal(out, frames)
    with pytest.raises(ValueError, match="surface_hue_deg"):
        AugmentConfig(surface_hue_deg=200)
