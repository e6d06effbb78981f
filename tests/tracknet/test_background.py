"""The median background frame: sampling, the median itself, and estimation from real video."""

import io

import numpy as np
import pytest

from tracknet.background import estimate_background, median_background, sample_step
from tracknet.errors import VideoError
from tracknet.video import VideoWriter, iter_frames

SIZE = (96, 64)  # (width, height)


def scene_with_ball(index: int) -> np.ndarray:
    """A static striped scene with a bright 4x4 ball that moves 5 px right per frame."""
    image = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    image[:, :, 1] = 90
    image[::8] = (40, 160, 40)  # court lines
    x = 4 + 5 * (index % 17)
    image[30:34, x : x + 4] = 250
    return image


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("background") / "ball.mp4"
    with VideoWriter(path, *SIZE, fps=30, crf=12, keyframe_interval=10) as writer:
        for i in range(50):
            writer.write(scene_with_ball(i))
    return path


def test_median_removes_what_moves_and_keeps_what_stays():
    frames = [scene_with_ball(i) for i in range(9)]
    background = median_background(frames)
    assert background.dtype == np.uint8 and background.shape == frames[0].shape
    assert background[30:34].max() < 200  # no ball anywhere on its row
    np.testing.assert_array_equal(background[:30], frames[0][:30])  # the static part, exactly


def test_median_of_one_frame_is_that_frame_and_empty_is_refused():
    frame = scene_with_ball(3)
    np.testing.assert_array_equal(median_background([frame]), frame)
    with pytest.raises(ValueError, match="N >= 1"):
        median_background(np.zeros((0, 4, 4, 3), np.uint8))


@pytest.mark.parametrize("start,stop,samples,step", [(0, 50, 64, 1), (0, 640, 64, 10), (100, 741, 64, 11), (5, 6, 1, 1)])
def test_sample_step_spreads_at_most_samples_frames(start, stop, samples, step):
    assert sample_step(start, stop, samples) == step
    assert len(range(start, stop, step)) <= samples


def test_iter_frames_step_yields_the_same_frames_as_a_full_decode(clip):
    full = {f.index: f.image for f in iter_frames(clip, 3, 40, SIZE)}
    stepped = list(iter_frames(clip, 3, 40, SIZE, step=6))
    assert [f.index for f in stepped] == list(range(3, 40, 6))
    for frame in stepped:
        np.testing.assert_array_equal(frame.image, full[frame.index])
    with pytest.raises(ValueError, match="step"):
        next(iter_frames(clip, 0, 10, SIZE, step=0))


def test_estimate_from_a_video_has_no_ball_and_matches_from_a_stream(clip):
    background = estimate_background(clip, 0, 50, SIZE, samples=17)
    sampled = [f.image for f in iter_frames(clip, 0, 50, SIZE, step=3)]
    np.testing.assert_array_equal(background, median_background(sampled))
    assert background[31:33].max() < 200  # the ball (250) is gone from its row
    assert any(f[31:33].max() > 200 for f in sampled)  # while every sampled frame had it
    # A stream is read from its start for each pass, whatever was read from it before.
    stream = io.BytesIO(clip.read_bytes())
    stream.seek(0, io.SEEK_END)
    np.testing.assert_array_equal(estimate_background(stream, 0, 50, SIZE, samples=17), background)


def test_estimate_beyond_the_end_names_the_video(clip):
    with pytest.raises(VideoError, match="ball.mp4"):
        estimate_background(clip, 60, 70, SIZE)
    with pytest.raises(ValueError, match="empty frame range"):
        estimate_background(clip, 10, 10, SIZE)
