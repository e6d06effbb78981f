"""Batch inference without Ray: windows over frame ranges, a Predictor, per-frame detections.

A video of N frames is covered by a global plan of model windows (`WindowPlan`):
window `m` reads `frames_in` consecutive frames and predicts heatmaps for its last
`frames_out` of them (the MIMO convention: with frames_in == frames_out, heatmap k
belongs to input frame k). Windows step by `stride` frames (<= frames_out); where
they overlap, a frame's heatmaps are combined (temporal ensembling: mean heatmap,
or the best-scoring single detection). Near the ends of a video, frames are
repeated to fill a window (N shorter than a window is fine).

Any frame range [start, stop) is predicted from exactly the windows of the global
plan that touch it, so splitting a video into segments (and segments into chunks)
gives the same per-frame result as processing it whole (for a model with a background
input, each segment's background is the median of that segment's frames). Frames flow at model
resolution only: decoded straight to model size (`iter_frames(size=...)`, as featurize
does for training), and model inputs equal to `to_model_input`'s, built on the device
from uint8 (`Predictor.frames_to_input`).
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import torch

from tracknet.background import estimate_background, sampled_background
from tracknet.checkpoint import LoadedCheckpoint, load_checkpoint
from tracknet.errors import VideoError
from tracknet.heatmap import NO_BALL, Detection, decode_heatmap, scale_detection
from tracknet.model_defaults import ModelDefaults
from tracknet.predictor_settings import PredictorSettings, select_device
from tracknet.runtimes import build_engine
from tracknet.video import VideoSource, iter_frames, source_name
from tracknet.weights import resolve_model


@dataclass(frozen=True)
class WindowPlan:
    """Every model window of one video; windows are named by their first output frame `t0`.

    Window `t0` reads input frames t0 - offset .. t0 - offset + frames_in - 1 (clipped to
    the video, i.e. edge frames repeated) and predicts frames t0 .. t0 + frames_out - 1
    (those past the end are dropped), where offset = frames_in - frames_out.
    Output starts are 0, stride, 2*stride, ... plus a last one at N - frames_out, so
    every frame is covered and no window runs past the end when N >= frames_out.
    """

    frame_count: int
    frames_in: int
    frames_out: int
    stride: int

    def __post_init__(self) -> None:
        if self.frame_count < 1:
            raise ValueError(f"frame_count must be >= 1, got {self.frame_count}")
        if not 1 <= self.frames_out <= self.frames_in:
            raise ValueError(f"need 1 <= frames_out <= frames_in, got {self.frames_out}, {self.frames_in}")
        if not 1 <= self.stride <= self.frames_out:
            raise ValueError(f"stride must be in [1, frames_out={self.frames_out}], got {self.stride}")

    @property
    def offset(self) -> int:
        return self.frames_in - self.frames_out

    @property
    def _last_start(self) -> int:
        return max(self.frame_count - self.frames_out, 0)

    @property
    def _grid_count(self) -> int:
        """Windows on the stride grid: t0 = m * stride for m < _grid_count."""
        return self._last_start // self.stride + 1

    @property
    def _has_tail(self) -> bool:
        return self._last_start % self.stride != 0

    @property
    def window_count(self) -> int:
        return self._grid_count + int(self._has_tail)

    def windows_for(self, start: int, stop: int) -> np.ndarray:
        """Output starts (t0, ascending, int64) of the windows predicting any frame in [start, stop)."""
        if not 0 <= start < stop <= self.frame_count:
            raise ValueError(f"invalid frame range [{start}, {stop}) for {self.frame_count} frames")
        first = max(0, -(-(start - self.frames_out + 1) // self.stride))
        last = min(self._grid_count - 1, (stop - 1) // self.stride)
        starts = np.arange(first, last + 1, dtype=np.int64) * self.stride
        tail = self._last_start
        if self._has_tail and tail <= stop - 1 and tail + self.frames_out - 1 >= start:
            starts = np.append(starts, tail)
        return starts

    def input_frames(self, t0: int) -> np.ndarray:
        """(frames_in,) int64 frame indices window `t0` reads, clipped to [0, N-1]."""
        first = t0 - self.offset
        return np.clip(np.arange(first, first + self.frames_in), 0, self.frame_count - 1)

    def input_range(self, start: int, stop: int) -> tuple[int, int]:
        """[lo, hi): the frames to decode to predict every frame in [start, stop)."""
        starts = self.windows_for(start, stop)
        lo = max(0, int(starts[0]) - self.offset)
        hi = min(self.frame_count, int(starts[-1]) - self.offset + self.frames_in)
        return lo, hi


def split_range(start: int, stop: int, size: int) -> list[tuple[int, int]]:
    """[start, stop) cut into consecutive [a, b) pieces of `size` frames (the last may be shorter)."""
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    return [(a, min(a + size, stop)) for a in range(start, stop, size)]


@dataclass(frozen=True)
class Chunk:
    """Model-resolution frames for predicting the frames [own_start, own_stop).

    `images` (n, H, W, 3) uint8 RGB holds frames first_frame .. first_frame + n - 1
    (what the windows touching the owned range read); `timestamps_s` (own_stop -
    own_start,) float64 are the owned frames' presentation times; `background`
    (H, W, 3) uint8 is the segment's median frame, for models with `background`.
    """

    own_start: int
    own_stop: int
    first_frame: int
    images: np.ndarray
    timestamps_s: np.ndarray
    background: np.ndarray | None = None


@dataclass(frozen=True)
class FrameDetections:
    """One detection per frame, positions in source pixels; all arrays are (n,)."""

    frame: np.ndarray
    """int64 frame index."""
    timestamp_s: np.ndarray
    """float64 presentation time."""
    visible: np.ndarray
    """bool: a ball was found."""
    x: np.ndarray
    """float64 source pixels; NaN where not visible."""
    y: np.ndarray
    score: np.ndarray
    """float32 peak heat of the chosen blob; 0 where not visible."""

    @staticmethod
    def concat(parts: Iterable[FrameDetections]) -> FrameDetections:
        parts = list(parts)
        return FrameDetections(
            *(np.concatenate([getattr(p, name) for p in parts]) for name in FrameDetections.__dataclass_fields__)
        )

    def __len__(self) -> int:
        return len(self.frame)


def iter_chunks(
    frames: Iterable[tuple[int, float, np.ndarray]],
    plan: WindowPlan,
    start: int,
    stop: int,
    chunk_frames: int,
    source: str = "<video>",
    background: np.ndarray | None = None,
) -> Iterator[Chunk]:
    """Group a stream of model-resolution frames into chunks, holding only one chunk's frames.

    Args:
        frames: (index, timestamp_s, (H, W, 3) uint8) in order, starting at
            `plan.input_range(start, stop)[0]`, consecutive.
        plan: the video's window plan.
        start, stop: the frames to predict (the segment).
        chunk_frames: owned frames per chunk.
        source: name for error messages.
        background: (H, W, 3) uint8 attached to every chunk, or None.

    Raises:
        VideoError naming `source` when the stream ends early or skips a frame.
    """
    stream = iter(frames)
    buffer: deque[tuple[int, float, np.ndarray]] = deque()
    for own_start, own_stop in split_range(start, stop, chunk_frames):
        lo, hi = plan.input_range(own_start, own_stop)
        while buffer and buffer[0][0] < lo:
            buffer.popleft()
        while not buffer or buffer[-1][0] < hi - 1:
            expected = buffer[-1][0] + 1 if buffer else lo
            item = next(stream, None)
            if item is None:
                raise VideoError(
                    source,
                    f"stream ended before frame {expected}; the container says it has "
                    f"{plan.frame_count} frames (truncated or corrupt file?)",
                )
            if item[0] < expected:
                continue
            if item[0] != expected:
                raise VideoError(source, f"decoder skipped from frame {expected} to {item[0]}")
            buffer.append(item)
        held = list(buffer)
        first = held[0][0]
        images = np.stack([image for _, _, image in held])  # (n, H, W, 3)
        timestamps = np.array([ts for index, ts, _ in held if own_start <= index < own_stop], dtype=np.float64)
        yield Chunk(own_start, own_stop, first, images, timestamps, background)


SINGLE_PASS_BYTES = 256 * 2**20
"""Largest segment (model-size frames, with its windows' overlap) decoded once and held whole when
the model takes a background: its median comes from the held frames instead of a second decoding
pass, which for short clips costs as much as the first."""


def iter_segment_chunks(
    source: VideoSource,
    plan: WindowPlan,
    input_size: tuple[int, int],
    start: int = 0,
    stop: int | None = None,
    chunk_frames: int = 48,
    background: bool = False,
) -> Iterator[Chunk]:
    """Decode the frames that [start, stop) needs and yield model-resolution chunks.

    Streaming: holds about one chunk of frames at a time, whatever the video's length.
    Frames are decoded straight to model size, as featurize does for training. With
    `background`, every chunk carries the segment's median background, the median of the
    frames `tracknet.background.estimate_background` samples (as featurize does): a first
    pass over the same frames, or, for a segment of at most SINGLE_PASS_BYTES, the same
    frames picked from the one decoding pass, held whole.

    Args:
        source: local path or seekable binary file-like object.
        plan: the video's window plan (its frame_count is the container's).
        input_size: model (width, height).
        start, stop: frames to predict; stop None = the end.
        chunk_frames: owned frames per chunk.

    Raises:
        VideoError naming the source when it cannot be decoded or ends early.
    """
    stop = plan.frame_count if stop is None else stop
    lo, hi = plan.input_range(start, stop)
    name = source_name(source)
    frames: Iterable[tuple[int, float, np.ndarray]] = (
        (frame.index, frame.timestamp_s, frame.image) for frame in iter_frames(source, lo, hi, input_size)
    )
    median = None
    if background and (hi - lo) * input_size[0] * input_size[1] * 3 <= SINGLE_PASS_BYTES:
        frames = list(frames)
        median = sampled_background(((index, image) for index, _, image in frames), lo, hi, name)
    elif background:
        median = estimate_background(source, lo, hi, input_size)
    yield from iter_chunks(frames, plan, start, stop, chunk_frames, name, median)


def decode_to_source_fast(heatmap: np.ndarray, source_size: tuple[int, int], threshold: float) -> Detection:
    """`heatmap.decode_to_source`, computed only over the box around above-threshold pixels.

    Every blob lies inside that box and keeps its raster order there, so the blobs, their
    masses and the chosen blob are the same, and the position equal up to float rounding
    (~1e-6 px); most frames' boxes are tiny, which makes post-processing several times
    cheaper than scanning the whole heatmap.
    """
    mask = heatmap > threshold  # (H, W)
    rows, cols = mask.any(axis=1), mask.any(axis=0)
    if not rows.any():
        return NO_BALL
    y0, y1 = int(rows.argmax()), len(rows) - int(rows[::-1].argmax())
    x0, x1 = int(cols.argmax()), len(cols) - int(cols[::-1].argmax())
    found = decode_heatmap(heatmap[y0:y1, x0:x1], threshold)
    shifted = Detection(found.visible, found.x + x0, found.y + y0, found.score)
    height, width = heatmap.shape
    return scale_detection(shifted, (width, height), source_size)


class Predictor:
    """A loaded model plus everything needed to turn frames into per-frame detections.

    Args:
        checkpoint: a LoadedCheckpoint, a packaged model's name (`tracknet.weights`), a
            checkpoint path, a binary file or bytes.
        settings: device, runtime, precision, threshold, stride, ensemble, flip_tta, batch
            size (validated by PredictorSettings); what they leave None comes from the
            model's defaults (`self.defaults`, saved in its checkpoint). Heatmaps are always returned in float32;
            flip_tta keeps, pixel by pixel, the larger of the plain and mirrored heatmaps
            (the maximum, not the mean, so that the threshold means what it means without it).
        channels_last: run torch's convolutions in NHWC layout (faster with oneDNN and tensor
            cores; the same arithmetic up to summation order). The ONNX runtimes take NCHW.
        chunk_frames: frames predicted per chunk (a unit of streaming work, several forward
            passes); None = batch_size * stride, one forward pass.
        threads: intra-op threads of the OpenVINO / ONNX Runtime engine, fixed when it is
            built; None = settings.torch_threads, else $OMP_NUM_THREADS, else the CPUs the
            process may use (`tracknet.runtimes.default_threads`). Torch's threads stay the
            process's (torch.set_num_threads), as before.

    Only the forward pass differs by runtime (`self.engine`, from `tracknet.runtimes`):
    `engine.runtime` / `engine.precision` say what really runs after `auto` and any
    fallback to torch. The ONNX runtimes export the model once per node into a cache.
    """

    def __init__(
        self,
        checkpoint: LoadedCheckpoint | str | os.PathLike | BinaryIO | bytes,
        settings: PredictorSettings | None = None,
        *,
        channels_last: bool = True,
        chunk_frames: int | None = None,
        threads: int | None = None,
    ) -> None:
        if isinstance(checkpoint, str):
            checkpoint = resolve_model(checkpoint)
        if not isinstance(checkpoint, LoadedCheckpoint):
            checkpoint = load_checkpoint(checkpoint, device="cpu")
        self.defaults = ModelDefaults.from_metadata(checkpoint.metadata)
        self.settings = settings = (settings or PredictorSettings()).for_model(self.defaults)
        self.device = select_device(settings.device)
        if settings.precision == "fp16" and self.device.type != "cuda":
            raise ValueError("precision 'fp16' needs CUDA; use 'bf16' on CPU")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.model = checkpoint.model.eval()
        self.model_version = checkpoint.model_version
        self.engine = build_engine(checkpoint, settings, self.device, threads)
        if self.engine.runtime == "torch":
            self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
            self.model.to(self.device, memory_format=self.memory_format)
        else:  # the ONNX runtimes take NCHW arrays; the (shared) torch model is left as it is
            self.memory_format = torch.contiguous_format
        self.config = self.model.config
        self.stride = settings.stride_for(self.config.frames_out)
        self.threshold = settings.threshold
        self.ensemble = settings.ensemble
        self.flip_tta = settings.flip_tta
        self.batch_size = settings.batch_size
        self.chunk_frames = self.batch_size * self.stride if chunk_frames is None else chunk_frames
        if self.chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {self.chunk_frames}")

    @property
    def input_size(self) -> tuple[int, int]:
        """Model (width, height) in pixels."""
        return self.config.width, self.config.height

    def plan(self, frame_count: int) -> WindowPlan:
        return WindowPlan(frame_count, self.config.frames_in, self.config.frames_out, self.stride)

    def heatmaps(self, inputs: np.ndarray) -> np.ndarray:
        """(B, 3*frames_in, H, W) float32 in [0, 1] (`to_model_input` windows) -> (B, frames_out, H, W) float32."""
        x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
        return self.forward(x.to(self.device).contiguous(memory_format=self.memory_format))

    def frames_to_input(
        self, images: np.ndarray, index: np.ndarray, background: np.ndarray | None = None
    ) -> torch.Tensor:
        """Model input for windows of frames, built on the device from uint8.

        Equal, value for value, to stacking `to_model_input(images[index[b]])` (the
        training path; with the background as one more frame after them), but moves 4x
        fewer bytes and lands directly in the model's memory format.

        Args:
            images: (n, H, W, 3) uint8 RGB frames at model resolution.
            index: (B, frames_in) int indices into `images`, one row per window.
            background: (H, W, 3) uint8 median frame for every window, or (B, H, W, 3) one per
                window; required by (only) models with a background input.

        Returns:
            (B, 3*frames_in (+3), H, W) float32 in [0, 1] on the device.
        """
        if self.config.background != (background is not None):
            raise ValueError(
                "this model needs the video's background frame" if self.config.background
                else "this model takes no background frame"
            )
        windows = images[index]  # (B, F, H, W, 3) uint8
        if background is not None:  # one more frame per window, shared or its own
            frame_shape = windows.shape[2:]
            backgrounds = np.broadcast_to(background.reshape(-1, 1, *frame_shape), (len(windows), 1, *frame_shape))
            windows = np.concatenate([windows, backgrounds], axis=1)
        gathered = torch.from_numpy(np.ascontiguousarray(windows))  # (B, F (+1), H, W, 3) uint8
        b, f, h, w, _ = gathered.shape
        nhwc = gathered.to(self.device).permute(0, 2, 3, 1, 4).reshape(b, h, w, 3 * f)  # channel = 3 * frame + rgb
        x = nhwc.permute(0, 3, 1, 2).contiguous(memory_format=self.memory_format)  # (B, 3F, H, W)
        return x.float().div_(255.0)

    def forward(self, x: torch.Tensor) -> np.ndarray:
        """(B, 3*frames_in, H, W) float32 on the device -> (B, frames_out, H, W) float32 heatmaps.

        The same for every runtime but the engine call: flip_tta's mirrored half and its
        maximum are built here, around it.
        """
        with torch.inference_mode():
            if self.flip_tta:  # both views in one pass: one batch of 2B windows
                x = torch.cat([x, x.flip(-1)]).contiguous(memory_format=self.memory_format)
            heat = self.engine(x)  # (B or 2B, frames_out, H, W) float32
            if self.flip_tta:
                plain, mirrored = heat.chunk(2)
                heat = torch.maximum(plain, mirrored.flip(-1))
            return heat.float().contiguous().cpu().numpy()

    def predict_chunk(self, chunk: Chunk, plan: WindowPlan, source_size: tuple[int, int]) -> FrameDetections:
        """Detections for the chunk's owned frames, in source pixels ((width, height) = source_size).

        A frame's heatmaps are combined as soon as its last covering window has run, so
        at most a few heatmaps are held at a time.
        """
        t0s = plan.windows_for(chunk.own_start, chunk.own_stop)
        owned = chunk.own_stop - chunk.own_start
        frames_out = self.config.frames_out
        coverage = np.zeros(owned, dtype=np.int64)  # windows predicting each owned frame
        for t0 in t0s:
            lo, hi = max(int(t0) - chunk.own_start, 0), min(int(t0) + frames_out - chunk.own_start, owned)
            coverage[lo:hi] += 1
        if (coverage == 0).any():
            raise RuntimeError(f"frames without a window in [{chunk.own_start}, {chunk.own_stop}): plan bug")
        seen = np.zeros(owned, dtype=np.int64)
        pending: dict[int, np.ndarray] = {}  # frame -> heat sum, while windows are still to come
        best: list[tuple[bool, float, float, float]] = [(False, math.nan, math.nan, 0.0)] * owned
        for batch_start in range(0, len(t0s), self.batch_size):
            batch_t0 = t0s[batch_start : batch_start + self.batch_size]
            index = np.stack([plan.input_frames(int(t0)) for t0 in batch_t0]) - chunk.first_frame  # (B, F)
            heat = self.forward(self.frames_to_input(chunk.images, index, chunk.background))  # (B, O, H, W)
            for i, t0 in enumerate(batch_t0):
                for k in range(frames_out):
                    rel = int(t0) + k - chunk.own_start
                    if not 0 <= rel < owned:
                        continue
                    seen[rel] += 1
                    if self.ensemble == "max":
                        found = decode_to_source_fast(heat[i, k], source_size, self.threshold)
                        if found.visible and found.score > best[rel][3]:
                            best[rel] = (True, found.x, found.y, found.score)
                        continue
                    if coverage[rel] > 1:
                        pending[rel] = pending[rel] + heat[i, k] if rel in pending else heat[i, k].copy()
                        if seen[rel] < coverage[rel]:
                            continue
                    mean = pending.pop(rel) / coverage[rel] if coverage[rel] > 1 else heat[i, k]
                    found = decode_to_source_fast(mean, source_size, self.threshold)
                    if found.visible:
                        best[rel] = (True, found.x, found.y, found.score)
        visible, x, y, score = (np.array(column) for column in zip(*best))
        return FrameDetections(
            frame=np.arange(chunk.own_start, chunk.own_stop, dtype=np.int64),
            timestamp_s=np.asarray(chunk.timestamps_s, dtype=np.float64),
            visible=visible.astype(bool),
            x=x.astype(np.float64),
            y=y.astype(np.float64),
            score=score.astype(np.float32),
        )

    def iter_segment(
        self,
        source: VideoSource,
        frame_count: int,
        start: int = 0,
        stop: int | None = None,
    ) -> Iterator[Chunk]:
        """Model-resolution chunks for frames [start, stop) of a video; see `iter_segment_chunks`."""
        return iter_segment_chunks(
            source, self.plan(frame_count), self.input_size, start, stop, self.chunk_frames, self.config.background
        )

    def predict_video(
        self,
        source: VideoSource,
        frame_count: int,
        source_size: tuple[int, int],
        start: int = 0,
        stop: int | None = None,
    ) -> FrameDetections:
        """Detections for frames [start, stop) of a video in one process (reference path, tools)."""
        plan = self.plan(frame_count)
        return FrameDetections.concat(
            self.predict_chunk(chunk, plan, source_size)
            for chunk in self.iter_segment(source, frame_count, start, stop)
        )
