"""Windowing, chunking, ensembling and the Predictor, without Ray."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
import torch

from tracknet import inference
from tracknet.background import estimate_background
from tracknet.checkpoint import LoadedCheckpoint, load_checkpoint, save_checkpoint
from tracknet.errors import VideoError
from tracknet.heatmap import decode_to_source
from tracknet.inference import (
    FrameDetections,
    Predictor,
    WindowPlan,
    decode_to_source_fast,
    iter_chunks,
    split_range,
)
from tracknet.model import ModelConfig, TrackNet
from tracknet.predictor_settings import PredictorSettings, select_device
from tracknet.preprocess import to_model_input
from tracknet.synth import SynthConfig, write_clip
from tracknet.video import iter_frames, probe
from tracknet.weights import default_checkpoint_path

MODEL = ModelConfig(width_mult=0.125, height=64, width=96)


@pytest.fixture(scope="module")
def checkpoint() -> LoadedCheckpoint:
    torch.manual_seed(0)
    return LoadedCheckpoint(TrackNet(MODEL).eval(), {}, "tiny-test")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[str, int]:
    path = tmp_path_factory.mktemp("clip") / "rally.mp4"
    write_clip(path, SynthConfig(width=160, height=96, frames=41, seed=3))
    return str(path), 41


class StubPredictor(Predictor):
    """Heatmaps computed per window from its pixels (batch-independent, so comparisons are exact).

    Heatmap k is the k-th output frame's green channel scaled to [0, 1], so the
    strongest blob follows the brightest region of that frame.
    """

    def forward(self, x: torch.Tensor) -> np.ndarray:
        inputs = x.contiguous().numpy()
        b, c, h, w = inputs.shape
        frames = inputs.reshape(b, c // 3, 3, h, w)[:, -self.config.frames_out :, 1]  # (B, O, H, W)
        return (frames**4).astype(np.float32)


def test_window_plan_covers_every_frame_and_ranges_are_exact():
    for n, f_in, f_out, stride in itertools.product([1, 2, 3, 5, 8, 13], [1, 3, 5], [1, 3], [1, 2, 3]):
        if not (f_out <= f_in and stride <= f_out):
            continue
        plan = WindowPlan(n, f_in, f_out, stride)
        windows = plan.windows_for(0, n)
        assert len(windows) == plan.window_count
        covered = np.zeros(n, dtype=int)
        for t0 in windows:
            covered[[t for t in range(t0, t0 + f_out) if t < n]] += 1
        assert (covered >= 1).all(), (n, f_in, f_out, stride)
        if stride == f_out and n >= f_out:
            assert covered.max() <= 2  # only the clamped last window overlaps
        for a in range(n):
            for b in range(a + 1, n + 1):
                expected = [t0 for t0 in windows if t0 <= b - 1 and t0 + f_out - 1 >= a]
                assert plan.windows_for(a, b).tolist() == expected
                lo, hi = plan.input_range(a, b)
                needed = np.concatenate([plan.input_frames(int(t0)) for t0 in expected])
                assert lo == needed.min() and hi == needed.max() + 1


@pytest.mark.parametrize(
    "args", [(0, 3, 3, 1), (5, 3, 4, 1), (5, 3, 3, 4), (5, 3, 3, 0)]
)
def test_window_plan_rejects_bad_shapes(args):
    with pytest.raises(ValueError):
        WindowPlan(*args)


def test_split_range():
    assert split_range(0, 10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert split_range(3, 4, 100) == [(3, 4)]


@pytest.mark.parametrize("stride,ensemble", [(None, "mean"), (1, "mean"), (1, "max"), (2, "mean")])
def test_any_segmentation_and_batching_gives_the_same_frames(checkpoint, clip, stride, ensemble):
    path, n = clip
    info = probe(path)
    size = (info.width, info.height)
    reference = StubPredictor(checkpoint, PredictorSettings(device="cpu", window_stride=stride, ensemble=ensemble, batch_size=16))
    whole = reference.predict_video(path, n, size)
    assert whole.frame.tolist() == list(range(n))
    assert whole.visible.any()
    for batch_size, segment in [(1, 7), (4, 10), (3, 41)]:
        predictor = StubPredictor(checkpoint, PredictorSettings(device="cpu", window_stride=stride, ensemble=ensemble, batch_size=batch_size))
        parts = FrameDetections.concat(
            predictor.predict_video(path, n, size, a, b) for a, b in split_range(0, n, segment)
        )
        for name in ("frame", "visible", "score"):
            np.testing.assert_array_equal(getattr(parts, name), getattr(whole, name), err_msg=name)
        np.testing.assert_array_equal(parts.x, whole.x)
        np.testing.assert_array_equal(parts.y, whole.y)
        np.testing.assert_allclose(parts.timestamp_s, np.arange(n) / info.fps, atol=1e-6)


def test_real_model_segments_match_one_pass(checkpoint, clip):
    path, n = clip
    size = (160, 96)
    whole = Predictor(checkpoint, PredictorSettings(device="cpu", batch_size=4), chunk_frames=n).predict_video(path, n, size)
    predictor = Predictor(checkpoint, PredictorSettings(device="cpu", batch_size=4), chunk_frames=6)
    parts = FrameDetections.concat(predictor.predict_video(path, n, size, a, b) for a, b in split_range(0, n, 12))
    assert parts.frame.tolist() == list(range(n))
    np.testing.assert_array_equal(parts.visible, whole.visible)
    np.testing.assert_array_equal(parts.x, whole.x)
    np.testing.assert_array_equal(parts.score, whole.score)


class BlobPredictor(Predictor):
    """Every heatmap has one blob: at (24, 16) for even window starts, (72, 48) for odd ones."""

    def forward(self, x: torch.Tensor) -> np.ndarray:
        inputs = x.contiguous().numpy()
        b = inputs.shape[0]
        heat = np.zeros((b, self.config.frames_out, self.config.height, self.config.width), np.float32)
        for i in range(b):
            odd = round(float(inputs[i, 0, 0, 0]) * 255) % 2  # frame marker written by the test
            x, y = (72, 48) if odd else (24, 16)
            heat[i, :, y - 1 : y + 2, x - 1 : x + 2] = 0.9 if odd else 0.6
        return heat


def _marked_chunk(n: int):
    """Frames whose first pixel is their index: windows starting at odd frames are 'odd'."""
    images = np.zeros((n, MODEL.height, MODEL.width, 3), np.uint8)
    images[:, 0, 0, 0] = np.arange(n)
    return ((i, i / 30, images[i]) for i in range(n))


def test_positions_are_in_source_pixels_and_overlaps_combine(checkpoint):
    n = 6
    plan = WindowPlan(n, 3, 3, 1)  # windows start at 0..3; frame t is covered by windows t-2..t
    found = {}
    for ensemble in ("max", "mean"):
        predictor = BlobPredictor(checkpoint, PredictorSettings(device="cpu", window_stride=1, ensemble=ensemble))
        (chunk,) = iter_chunks(_marked_chunk(n), plan, 0, n, chunk_frames=n)
        found[ensemble] = predictor.predict_chunk(chunk, plan, source_size=(192, 128))  # 2x the model
        assert found[ensemble].frame.tolist() == list(range(n))
    best, mean = found["max"], found["mean"]
    # Frame 0 is only predicted by window 0 (even): blob at model (24, 16) -> source (48, 32).
    assert (best.x[0], best.y[0], best.score[0]) == pytest.approx((48, 32, 0.6))
    # max: every frame has a detection; frame 2 (windows 0, 1, 2) takes the stronger odd blob.
    assert best.visible.all()
    assert (best.x[2], best.y[2], best.score[2]) == pytest.approx((144, 96, 0.9))
    # mean: heat is averaged over covering windows, so a blob survives the 0.5 threshold only
    # where enough windows agree: frame 3 (odd windows 1 and 3 of 3) at 0.6, frame 5 alone.
    assert mean.visible.tolist() == [True, False, False, True, False, True]
    assert (mean.x[3], mean.y[3], mean.score[3]) == pytest.approx((144, 96, 0.6))
    assert np.isnan(mean.x[1]) and mean.score[1] == 0


def test_fast_decode_matches_the_library_decode():
    rng = np.random.default_rng(0)
    for trial in range(300):
        heat = np.zeros((36, 64), np.float32)
        if trial % 2:
            heat = (rng.random((36, 64)) ** rng.uniform(1, 30)).astype(np.float32)
        for _ in range(rng.integers(0, 4)):
            y, x = rng.integers(0, 36), rng.integers(0, 64)
            heat[max(0, y - 2) : y + 2, max(0, x - 2) : x + 2] = rng.uniform(0.3, 1)
        slow = decode_to_source(heat, (1280, 720), 0.5)
        fast = decode_to_source_fast(heat, (1280, 720), 0.5)
        assert (fast.visible, fast.score) == (slow.visible, slow.score)
        assert (fast.x, fast.y) == pytest.approx((slow.x, slow.y), abs=1e-3)


@pytest.mark.parametrize("channels_last", [True, False])
def test_inputs_from_uint8_frames_equal_the_training_path(checkpoint, channels_last):
    images = np.random.default_rng(1).integers(0, 256, (7, MODEL.height, MODEL.width, 3), dtype=np.uint8)
    index = np.array([[0, 1, 2], [4, 5, 6], [0, 0, 1]])
    predictor = Predictor(checkpoint, PredictorSettings(device="cpu"), channels_last=channels_last)
    built = predictor.frames_to_input(images, index)
    expected = np.stack([to_model_input(images[row]) for row in index])
    assert built.dtype == torch.float32 and tuple(built.shape) == expected.shape
    np.testing.assert_array_equal(built.numpy(), expected)
    np.testing.assert_array_equal(predictor.forward(built), predictor.heatmaps(expected))


def test_bf16_is_close_to_fp32(checkpoint):
    inputs = np.random.default_rng(0).random((2, 9, MODEL.height, MODEL.width), dtype=np.float32)
    fp32 = Predictor(checkpoint, PredictorSettings(device="cpu")).heatmaps(inputs)
    bf16 = Predictor(checkpoint, PredictorSettings(device="cpu", precision="bf16")).heatmaps(inputs)
    assert bf16.dtype == np.float32 and bf16.shape == fp32.shape == (2, 3, MODEL.height, MODEL.width)
    assert np.abs(bf16 - fp32).max() < 0.02
    with pytest.raises(ValueError, match="fp16"):
        Predictor(checkpoint, PredictorSettings(device="cpu", precision="fp16"))


def test_flip_tta_keeps_the_larger_of_the_plain_and_mirrored_heatmaps(checkpoint):
    inputs = np.random.default_rng(4).random((3, 9, MODEL.height, MODEL.width), dtype=np.float32)
    plain = Predictor(checkpoint, PredictorSettings(device="cpu"))
    mirrored = plain.heatmaps(inputs[..., ::-1])[..., ::-1]  # back in the input's orientation
    both = Predictor(checkpoint, PredictorSettings(device="cpu", flip_tta=True)).heatmaps(inputs)
    np.testing.assert_allclose(both, np.maximum(plain.heatmaps(inputs), mirrored), atol=1e-6)
    assert np.abs(both - plain.heatmaps(inputs)).max() > 1e-3  # the mirrored pass counts (1000x the tolerance)


def test_one_and_two_frame_videos(checkpoint, tmp_path):
    for frames in (1, 2):
        path = tmp_path / f"short{frames}.mp4"
        write_clip(path, SynthConfig(width=64, height=48, frames=frames, seed=frames))
        found = Predictor(checkpoint, PredictorSettings(device="cpu")).predict_video(str(path), frames, (64, 48))
        assert found.frame.tolist() == list(range(frames))


def test_stream_ending_early_names_the_source(checkpoint):
    plan = WindowPlan(10, 3, 3, 3)
    frames = ((i, 0.0, np.zeros((4, 4, 3), np.uint8)) for i in range(7))
    with pytest.raises(VideoError, match="clip.mp4: stream ended before frame 7; the container says it has 10"):
        list(iter_chunks(frames, plan, 0, 10, chunk_frames=6, source="clip.mp4"))


def test_chunks_hold_training_preprocessed_frames(checkpoint, clip):
    path, n = clip
    predictor = Predictor(checkpoint, PredictorSettings(device="cpu", batch_size=2))
    chunks = list(predictor.iter_segment(path, n, 6, 20))
    expected = [f.image for f in iter_frames(path, 0, n, predictor.input_size)]  # as featurize decodes
    assert chunks[0].own_start == 6 and chunks[-1].own_stop == 20
    for chunk in chunks:
        assert chunk.images.shape[1:] == (MODEL.height, MODEL.width, 3)
        for i, image in enumerate(chunk.images):
            np.testing.assert_array_equal(image, expected[chunk.first_frame + i])
        # Each chunk holds its own frames plus at most one window's overlap.
        assert len(chunk.images) <= chunk.own_stop - chunk.own_start + 3


def test_predictor_validates_arguments(checkpoint):
    with pytest.raises(ValueError, match="threshold"):
        Predictor(checkpoint, PredictorSettings(device="cpu", threshold=1.5))
    with pytest.raises(ValueError, match="stride"):
        Predictor(checkpoint, PredictorSettings(device="cpu", window_stride=4))
    with pytest.raises(ValueError, match="ensemble"):
        Predictor(checkpoint, PredictorSettings(device="cpu", ensemble="median"))


def test_predictor_loads_checkpoint_files_and_bytes(checkpoint, tmp_path):
    path = tmp_path / "m.pt"
    version = save_checkpoint(path, checkpoint.model)
    assert Predictor(str(path), PredictorSettings(device="cpu")).model_version == version
    assert Predictor(path.read_bytes(), PredictorSettings(device="cpu")).model_version == version


def test_device_selection():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device("auto").type == expected
    assert select_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="device"):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            select_device("cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(checkpoint, clip):
    path, n = clip
    cpu = Predictor(checkpoint, PredictorSettings(device="cpu")).predict_video(path, n, (160, 96))
    cuda_model = LoadedCheckpoint(TrackNet(MODEL), {}, "tiny-test")
    cuda_model.model.load_state_dict(checkpoint.model.state_dict())
    gpu = Predictor(cuda_model, PredictorSettings(device="cuda")).predict_video(path, n, (160, 96))
    assert gpu.frame.tolist() == cpu.frame.tolist()
    np.testing.assert_allclose(np.nan_to_num(gpu.x), np.nan_to_num(cpu.x), atol=0.5)


def test_packaged_default_checkpoint_runs(clip):
    path = default_checkpoint_path()
    if not path.exists():
        pytest.skip(f"{path} is not shipped yet")
    predictor = Predictor(load_checkpoint(path), PredictorSettings(device="cpu"))
    video, n = clip
    assert len(predictor.predict_video(video, n, (160, 96))) == n


# ---------------------------------------------------------------- models with a background input

BACKGROUND_MODEL = ModelConfig(width_mult=0.125, height=64, width=96, background=True)


@pytest.fixture(scope="module")
def background_checkpoint() -> LoadedCheckpoint:
    torch.manual_seed(1)
    return LoadedCheckpoint(TrackNet(BACKGROUND_MODEL).eval(), {}, "tiny-background")


def test_background_follows_the_frames_as_three_more_channels(checkpoint, background_checkpoint):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (5, 64, 96, 3), dtype=np.uint8)
    background = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    index = np.array([[0, 1, 2], [2, 3, 4]])
    predictor = Predictor(background_checkpoint, PredictorSettings(device="cpu"))
    built = predictor.frames_to_input(images, index, background)
    expected = np.stack([to_model_input([*images[row], background]) for row in index])  # (B, 12, H, W)
    np.testing.assert_array_equal(built.numpy(), expected)
    # One background per window (the realtime path) gives the same as a shared one.
    per_window = predictor.frames_to_input(images, index, np.stack([background, background]))
    np.testing.assert_array_equal(per_window.numpy(), expected)
    with pytest.raises(ValueError, match="needs the video's background"):
        predictor.frames_to_input(images, index)
    with pytest.raises(ValueError, match="takes no background"):
        Predictor(checkpoint, PredictorSettings(device="cpu")).frames_to_input(images, index, background)


@pytest.mark.parametrize("single_pass_bytes", [256 * 2**20, 0], ids=["held-whole", "second-pass"])
def test_background_chunks_carry_the_segments_median(background_checkpoint, clip, monkeypatch, single_pass_bytes):
    """Whether the segment is held whole (its background from the held frames) or too large for that (a
    first pass over the sampled frames), every chunk carries featurize's background of the segment."""
    monkeypatch.setattr(inference, "SINGLE_PASS_BYTES", single_pass_bytes)
    path, n = clip
    predictor = Predictor(background_checkpoint, PredictorSettings(device="cpu", batch_size=2))
    chunks = list(predictor.iter_segment(path, n, 6, 20))
    lo, hi = predictor.plan(n).input_range(6, 20)
    expected = estimate_background(path, lo, hi, predictor.input_size)
    for chunk in chunks:
        np.testing.assert_array_equal(chunk.background, expected)
    assert all(c.background is None for c in Predictor(LoadedCheckpoint(TrackNet(MODEL).eval(), {}, "plain"), PredictorSettings(device="cpu")).iter_segment(path, n, 6, 20))


def test_background_model_predicts_the_same_from_a_path_and_a_stream(background_checkpoint, clip):
    path, n = clip
    predictor = Predictor(background_checkpoint, PredictorSettings(device="cpu", batch_size=4, threshold=0.45))
    from_path = predictor.predict_video(path, n, (160, 96))
    with open(path, "rb") as f:
        from_stream = predictor.predict_video(io.BytesIO(f.read()), n, (160, 96))
    assert from_path.visible.any()  # threshold under the untrained model's 0.5: blobs to compare
    for name in ("visible", "x", "y", "score"):
        np.testing.assert_array_equal(getattr(from_stream, name), getattr(from_path, name), err_msg=name)
