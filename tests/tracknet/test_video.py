import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tracknet.errors import VideoError
from tracknet.preprocess import resize_frame
from tracknet.synth import SynthConfig, write_clip
from tracknet.video import VideoWriter, iter_frames, probe, read_frames

REAL_CLIP = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "badminton" / "clips" / "00001.mp4"


def _pattern(index: int, height: int, width: int) -> np.ndarray:
    """A frame whose content identifies its index even after lossy compression."""
    rng = np.random.default_rng(index)
    image = np.kron(rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3)), np.ones((8, 8, 1)))
    return np.ascontiguousarray(image[:height, :width].astype(np.uint8))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    with VideoWriter(path, 160, 96, fps=25, keyframe_interval=12) as writer:
        for i in range(60):
            writer.write(_pattern(i, 96, 160))
    return path


def test_probe(clip):
    info = probe(clip)
    assert (info.frame_count, info.width, info.height) == (60, 160, 96)
    assert info.fps == pytest.approx(25.0)
    assert info.duration_s == pytest.approx(2.4)
    assert info.codec == "h264"


def test_full_decode_indices_timestamps_and_content(clip):
    frames = list(iter_frames(clip))
    assert [f.index for f in frames] == list(range(60))
    assert [f.timestamp_s for f in frames] == pytest.approx([i / 25 for i in range(60)])
    for f in frames[::7]:
        assert f.image.shape == (96, 160, 3) and f.image.dtype == np.uint8
        # lossy, but each frame is far closer to its own pattern than to its neighbour's
        own = np.abs(f.image.astype(int) - _pattern(f.index, 96, 160)).mean()
        other = np.abs(f.image.astype(int) - _pattern(f.index + 1, 96, 160)).mean()
        assert own < other / 3


@pytest.mark.parametrize("start,stop", [(0, 5), (13, 20), (23, 37), (47, 60), (59, 60), (50, 200)])
def test_exact_range_equals_full_decode(clip, start, stop):
    full = list(iter_frames(clip))
    part = read_frames(clip, start, stop)
    expected = full[start:stop]
    assert [f.index for f in part] == [f.index for f in expected]
    assert [f.timestamp_s for f in part] == [f.timestamp_s for f in expected]
    for a, b in zip(part, expected):
        assert np.array_equal(a.image, b.image)


def test_decode_from_file_object_and_resize(clip):
    data = io.BytesIO(clip.read_bytes())
    assert probe(data).frame_count == 60
    data.seek(0)
    frames = read_frames(data, 30, 33, size=(64, 48))
    assert [f.index for f in frames] == [30, 31, 32]
    assert frames[0].image.shape == (48, 64, 3)


def _write_with_pts(path: Path, pts_list: list[int], rate: int = 30) -> None:
    """An MP4 whose timestamps are exactly pts_list (in 1/rate units): gaps make it variable-rate."""
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = Fraction(1, rate)
        stream.codec_context.gop_size = 5
        for i, pts in enumerate(pts_list):
            frame = av.VideoFrame.from_ndarray(_pattern(i, 48, 64), format="rgb24")
            frame.pts = pts
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def test_variable_frame_rate_ranges_stay_exact(tmp_path):
    path = tmp_path / "vfr.mp4"
    pts = [0, 1, 2, 5, 6, 7, 8, 12, 13, 14, 15, 16, 20, 21, 22, 23, 24, 25, 30, 31]
    _write_with_pts(path, pts)
    full = list(iter_frames(path))
    assert len(full) == len(pts) == probe(path).frame_count
    part = read_frames(path, 9, 15)
    assert [f.index for f in part] == list(range(9, 15))
    for a, b in zip(part, full[9:15]):
        assert a.timestamp_s == b.timestamp_s and np.array_equal(a.image, b.image)


@pytest.mark.parametrize("width,height", [(854, 480), (101, 67), (90, 160)])
def test_encode_decode_keeps_count_and_size(tmp_path, width, height):
    path = tmp_path / f"out_{width}x{height}.mp4"
    with VideoWriter(path, width, height, fps=29.97) as writer:
        for i in range(9):
            writer.write(_pattern(i, height, width))
    info = probe(path)
    assert (info.frame_count, info.width, info.height) == (9, width, height)
    assert info.fps == pytest.approx(29.97, abs=0.01)
    frames = list(iter_frames(path))
    assert len(frames) == 9 and frames[-1].image.shape == (height, width, 3)


def test_writer_rejects_wrong_frame(tmp_path):
    with VideoWriter(tmp_path / "w.mp4", 64, 48, fps=30) as writer:
        with pytest.raises(ValueError, match="64, 3"):
            writer.write(np.zeros((48, 60, 3), np.uint8))


def test_bad_inputs_name_the_file(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    for path, problem in [(empty, "empty"), (text, "not a readable video"), (tmp_path / "nope.mp4", "not found")]:
        with pytest.raises(VideoError, match=f"{path.name}.*{problem}"):
            probe(path)
        with pytest.raises(VideoError, match=path.name):
            list(iter_frames(path))


def test_truncated_video_fails_cleanly(clip, tmp_path):
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    # our writer puts the index (moov) at the end, so half a file has no index at all
    with pytest.raises(VideoError, match="cut.mp4"):
        list(iter_frames(cut))


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_CLIP.exists(), reason="shared badminton clips not present")
def test_real_clip_range_matches_full_decode():
    info = probe(REAL_CLIP)
    assert (info.width, info.height) == (1280, 720)
    start, stop = info.frame_count // 2, info.frame_count // 2 + 4
    full = [f for f in iter_frames(REAL_CLIP, 0, stop) if f.index >= start]
    part = read_frames(REAL_CLIP, start, stop)
    assert [f.index for f in part] == list(range(start, stop))
    for a, b in zip(part, full):
        assert np.array_equal(a.image, b.image)


def test_decode_at_model_size_matches_resizing_full_frames(tmp_path):
    """The decoder-side resize (Y/U/V planes, then RGB) is the path featurize and infer share;
    on broadcast-like content it must stay close to converting the full frame and resizing it."""
    path = tmp_path / "court.mp4"
    write_clip(path, SynthConfig(width=320, height=180, frames=6, seed=3))
    full = [resize_frame(frame.image, (128, 72)) for frame in read_frames(path, 2, 6)]
    small = read_frames(path, 2, 6, size=(128, 72))
    assert [frame.index for frame in small] == [2, 3, 4, 5]
    assert small[0].image.shape == (72, 128, 3)
    diff = np.abs(np.stack([f.image for f in small]).astype(int) - np.stack(full).astype(int))
    assert diff.mean() < 3.0
    odd = read_frames(path, 0, 1, size=(63, 47))  # odd sizes take the RGB path
    assert odd[0].image.shape == (47, 63, 3)
