"""Video I/O with PyAV: probe, streaming decode, exact frame ranges, H.264 encoding.

Sources are a local path or any seekable binary file-like object (an S3 stream,
for instance). Decoding is streaming: frames are yielded one at a time and never
all held in memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO

import av
import numpy as np

from tracknet.errors import VideoError
from tracknet.preprocess import resize_frame, resize_yuv420

VideoSource = str | os.PathLike | BinaryIO

# A decoded frame's pts may sit this far (in frames) off the constant-rate grid
# and still count as on it; encoders round timestamps to their time base.
_GRID_TOLERANCE_FRAMES = 0.25


def ffmpeg_problem(exc: av.FFmpegError) -> str:
    """FFmpeg's words for an error, without its raw error number or the file name (said already)."""
    return (exc.strerror or type(exc).__name__).rstrip(".").lower()


@dataclass(frozen=True)
class VideoInfo:
    """What a video is: size, rate and length, read from the container."""

    frame_count: int
    fps: float
    width: int
    height: int
    duration_s: float
    codec: str


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its index in presentation order, timestamp and pixels.

    `image` is (H, W, 3) uint8 RGB.
    """

    index: int
    timestamp_s: float
    image: np.ndarray


def source_name(source: VideoSource) -> str:
    """A human-readable name for a source, for error messages."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return str(getattr(source, "name", None) or f"<{type(source).__name__}>")


def _open(source: VideoSource) -> av.container.InputContainer:
    name = source_name(source)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.exists(path):
            raise VideoError(name, "file not found")
        if os.path.getsize(path) == 0:
            raise VideoError(name, "file is empty (0 bytes)")
    else:
        source.seek(0)  # a stream read before (probe, a background pass) is read again from its start
    try:
        container = av.open(source if not isinstance(source, os.PathLike) else os.fspath(source))
    except av.FFmpegError as exc:
        raise VideoError(name, f"not a readable video ({ffmpeg_problem(exc)})") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(name, "contains no video stream")
    return container


def _count_packets(container: av.container.InputContainer, stream: av.VideoStream) -> int:
    """Frame count by demuxing (no decoding), for containers that do not store it."""
    count = sum(1 for packet in container.demux(stream) if packet.size > 0)
    container.seek(0)
    return count


def probe(source: VideoSource) -> VideoInfo:
    """Read frame count, fps, size and duration of a video without decoding it.

    Raises VideoError naming the source when it cannot be opened.
    """
    name = source_name(source)
    container = _open(source)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        if not rate:
            raise VideoError(name, "video stream has no frame rate")
        try:
            frame_count = stream.frames or _count_packets(container, stream)
        except av.FFmpegError as exc:
            raise VideoError(name, f"cannot read packets ({ffmpeg_problem(exc)})") from exc
        if frame_count <= 0:
            raise VideoError(name, "video stream has no frames")
        width, height = stream.codec_context.width, stream.codec_context.height
        if width <= 0 or height <= 0:
            raise VideoError(name, f"invalid frame size {width}x{height}")
        return VideoInfo(
            frame_count=frame_count,
            fps=float(rate),
            width=width,
            height=height,
            duration_s=frame_count / float(rate),
            codec=stream.codec_context.name,
        )
    finally:
        container.close()


def iter_frames(
    source: VideoSource,
    start: int = 0,
    stop: int | None = None,
    size: tuple[int, int] | None = None,
    step: int = 1,
) -> Iterator[Frame]:
    """Decode frames [start, stop) in presentation order, one at a time.

    For start > 0 it seeks to the keyframe before `start` and decodes forward;
    the frames are exactly those a full decode gives at the same indices. A
    stream whose timestamps do not sit on a constant-rate grid (variable frame
    rate) is decoded from the beginning instead, so indices stay exact.

    Args:
        source: local path or seekable binary file-like object.
        start: first frame index (0-based).
        stop: one past the last frame index; None decodes to the end.
        size: (width, height) to resize to (area filter, before colour conversion
            for 4:2:0 video: see tracknet.preprocess), or None for the source size.
        step: yield only frames start, start + step, ...; the others are decoded (the
            codec needs them) but never converted, which is most of a frame's cost.

    Yields:
        Frame with image (H, W, 3) uint8 RGB.

    Raises:
        VideoError naming the source when it cannot be opened or decoded.
    """
    if start < 0 or (stop is not None and stop < start):
        raise ValueError(f"invalid frame range [{start}, {stop})")
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    name = source_name(source)
    container = _open(source)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        if start > 0 and stream.time_base and _is_constant_rate(stream):
            frames = _decode_seeking(container, stream, start, rate)
        else:
            frames = _decode_sequential(container, stream)
        for index, pts_s, frame in frames:
            if stop is not None and index >= stop:
                break
            if index < start or (index - start) % step:
                continue
            yield Frame(index=index, timestamp_s=pts_s, image=_to_rgb(frame, size))
    except av.FFmpegError as exc:
        raise VideoError(name, f"decoding failed ({ffmpeg_problem(exc)})") from exc
    finally:
        container.close()


def read_frames(
    source: VideoSource, start: int, stop: int, size: tuple[int, int] | None = None
) -> list[Frame]:
    """Decode an exact frame range [start, stop) into a list (for short ranges)."""
    return list(iter_frames(source, start, stop, size))


def _to_rgb(frame: av.VideoFrame, size: tuple[int, int] | None) -> np.ndarray:
    if size is None or size == (frame.width, frame.height):
        return frame.to_ndarray(format="rgb24")
    if frame.format.name == "yuv420p" and size[0] % 2 == 0 and size[1] % 2 == 0:
        return resize_yuv420([_plane_array(plane) for plane in frame.planes], size)
    return resize_frame(frame.to_ndarray(format="rgb24"), size)


def _plane_array(plane: av.video.plane.VideoPlane) -> np.ndarray:
    # Rows are padded to line_size bytes; keep the visible width only.
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : plane.width]


def _is_constant_rate(stream: av.VideoStream) -> bool:
    """True when the container's mean rate equals its base rate (no gaps, no VFR).

    Only then does a frame's pts give its index, which seeking relies on.
    """
    mean, base = stream.average_rate, stream.base_rate
    return bool(mean and base and abs(float(mean) - float(base)) < 1e-3 * float(base))


def _origin_pts(stream: av.VideoStream) -> int:
    return stream.start_time if stream.start_time is not None else 0


def _decode_sequential(
    container: av.container.InputContainer, stream: av.VideoStream
) -> Iterator[tuple[int, float, av.VideoFrame]]:
    origin = _origin_pts(stream)
    fallback_fps = float(stream.average_rate or stream.guessed_rate or 1)
    for index, frame in enumerate(container.decode(stream)):
        if frame.pts is not None and stream.time_base:
            pts_s = float((frame.pts - origin) * stream.time_base)
        else:
            pts_s = index / fallback_fps
        yield index, pts_s, frame


def _decode_seeking(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    start: int,
    rate: Fraction,
) -> Iterator[tuple[int, float, av.VideoFrame]]:
    """Seek to the keyframe at or before `start`, then index frames by their pts.

    Indices come from the constant-rate grid (pts * fps). If any frame is off
    that grid the stream is variable-rate, and we restart with a sequential
    decode, which is always exact.
    """
    origin = _origin_pts(stream)
    time_base = stream.time_base
    # Aim half a frame early so rounding in the container never skips the target.
    target_pts = origin + int((Fraction(start) - Fraction(1, 2)) / rate / time_base)
    container.seek(max(target_pts, origin), stream=stream, backward=True, any_frame=False)
    previous = -1
    for frame in container.decode(stream):
        if frame.pts is None:
            break
        position = float((frame.pts - origin) * time_base * rate)
        index = round(position)
        if abs(position - index) > _GRID_TOLERANCE_FRAMES or index <= previous:
            break
        if previous == -1 and index > start:
            break  # seek landed after the target: cannot trust it
        previous = index
        yield index, float((frame.pts - origin) * time_base), frame
    else:
        return
    # Off-grid or unreliable seek: redo exactly, from the first frame.
    container.seek(origin, stream=stream, backward=True, any_frame=False)
    for index, pts_s, frame in _decode_sequential(container, stream):
        if index > previous:
            yield index, pts_s, frame


class VideoWriter:
    """Encode RGB frames to an H.264 MP4 file.

    Odd frame sizes cannot use 4:2:0 chroma, so they are encoded as 4:4:4 to
    keep the exact source resolution.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        width: int,
        height: int,
        fps: float | Fraction,
        crf: int = 23,
        preset: str = "veryfast",
        keyframe_interval: int | None = None,
    ) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"invalid frame size {width}x{height}")
        self.path = os.fspath(path)
        self.width, self.height = width, height
        rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
        self._container = av.open(self.path, mode="w", format="mp4")
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width, self._stream.height = width, height
        even = width % 2 == 0 and height % 2 == 0
        self._stream.pix_fmt = "yuv420p" if even else "yuv444p"
        self._stream.options = {"crf": str(crf), "preset": preset}
        if keyframe_interval is not None:
            # Short GOPs make exact-range decoding of long videos cheap (less to decode after a seek).
            self._stream.codec_context.gop_size = keyframe_interval
        self._frames_written = 0

    @property
    def frames_written(self) -> int:
        return self._frames_written

    def write(self, image: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame."""
        if image.shape != (self.height, self.width, 3) or image.dtype != np.uint8:
            raise ValueError(
                f"frame must be ({self.height}, {self.width}, 3) uint8, "
                f"got {image.shape} {image.dtype}"
            )
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self._frames_written += 1

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        if self._container is None:
            return
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        self._container = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
