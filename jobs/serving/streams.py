"""Per-stream frame buffers for live feeds: bounded in count, forgotten when idle.

A client opens a stream (the server picks its id), then sends one frame at a time.
Each stream keeps its last `frames_in` frames at model resolution, so the model can be
run on the window that ends with the newest frame. The rules, also in the README:

- ids are made by `create`; a frame for an id that was never created, was deleted, or
  has been idle (no frame, no creation) for `ttl_s` is refused (`UnknownStreamError`, 404);
- at most `max_streams` are open; `create` beyond that is refused (`StreamLimitError`,
  429) until one is deleted or expires;
- every frame of a stream has the size of its first frame (`StreamFrameError`, 400);
- for a model with a background input, a stream's background is the median of up to
  `BACKGROUND_SAMPLES` of its frames, one every `BACKGROUND_STEP`, the most recent kept
  (the last ~20 s at 30 fps): recent enough to follow the broadcast, long enough that the
  moving shuttle is not in it. Until the stream has several samples the shuttle may be.

Not thread-safe by design: the ingress only touches it from its event loop.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tracknet.background import BACKGROUND_SAMPLES, median_background

BACKGROUND_STEP = 10
"""Frames between a stream's background samples (the median is recomputed at each)."""


class UnknownStreamError(KeyError):
    """The stream id was never created, was deleted, or expired."""


class StreamLimitError(RuntimeError):
    """Too many open streams."""


class StreamFrameError(ValueError):
    """A frame does not fit its stream (a different source size)."""


@dataclass
class _Stream:
    source_size: tuple[int, int] | None
    frames: deque[np.ndarray]
    last_seen_s: float
    frames_seen: int = 0
    samples: deque[np.ndarray] | None = None
    background: np.ndarray | None = None


@dataclass(frozen=True)
class StreamWindow:
    """The model window ending with a stream's newest frame."""

    frame: int
    """Index of the newest frame in the stream (0 for its first frame)."""
    images: np.ndarray
    """(frames_in, H, W, 3) uint8 at model resolution, oldest first; the first frame is
    repeated in front while the stream has fewer than frames_in frames (as a video's
    first window repeats its edge frame)."""
    source_size: tuple[int, int]
    """(width, height) of the stream's frames."""
    background: np.ndarray | None = None
    """(H, W, 3) uint8 median of the stream's sampled frames, when the buffers keep one."""


class StreamBuffers:
    """Open streams and their last frames.

    Args:
        frames_in: frames per model window.
        max_streams: most open streams.
        ttl_s: idle time after which a stream is forgotten.
        clock: monotonic seconds (injectable for tests).
        background: keep each stream's background (for models with a background input).
    """

    def __init__(
        self,
        frames_in: int,
        max_streams: int,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        background: bool = False,
    ) -> None:
        self.frames_in = frames_in
        self.background = background
        self.max_streams = max_streams
        self.ttl_s = ttl_s
        self.clock = clock
        self._streams: OrderedDict[str, _Stream] = OrderedDict()  # least recently used first

    def __len__(self) -> int:
        self._expire()
        return len(self._streams)

    def create(self) -> str:
        """Open a stream; returns its id. Raises StreamLimitError when max_streams are open."""
        self._expire()
        if len(self._streams) >= self.max_streams:
            raise StreamLimitError(
                f"{self.max_streams} streams are open (streams.max_streams); delete one or wait "
                f"until an idle one expires ({self.ttl_s:g} s)"
            )
        stream_id = uuid.uuid4().hex
        samples = deque(maxlen=BACKGROUND_SAMPLES) if self.background else None
        self._streams[stream_id] = _Stream(None, deque(maxlen=self.frames_in), self.clock(), samples=samples)
        return stream_id

    def delete(self, stream_id: str) -> None:
        """Forget a stream. Raises UnknownStreamError if it is not open."""
        self._expire()
        if self._streams.pop(stream_id, None) is None:
            raise UnknownStreamError(self._unknown(stream_id))

    def check(self, stream_id: str) -> None:
        """Raise UnknownStreamError unless the stream is open (cheap, before decoding a frame)."""
        self._expire()
        if stream_id not in self._streams:
            raise UnknownStreamError(self._unknown(stream_id))

    def push(self, stream_id: str, image: np.ndarray, source_size: tuple[int, int]) -> StreamWindow:
        """Append a model-resolution frame ((H, W, 3) uint8) and return the window it ends.

        Raises UnknownStreamError, or StreamFrameError when the frame's source size differs
        from the stream's first frame.
        """
        self.check(stream_id)
        stream = self._streams[stream_id]
        if stream.source_size is not None and stream.source_size != source_size:
            first, got = stream.source_size, source_size
            raise StreamFrameError(
                f"stream {stream_id}: frames must all have the size of its first frame "
                f"({first[0]}x{first[1]}), got {got[0]}x{got[1]}"
            )
        stream.source_size = source_size
        stream.frames.append(image)
        if stream.samples is not None and stream.frames_seen % BACKGROUND_STEP == 0:
            stream.samples.append(image)
            stream.background = median_background(stream.samples)
        stream.frames_seen += 1
        stream.last_seen_s = self.clock()
        self._streams.move_to_end(stream_id)
        held = list(stream.frames)
        padded = [held[0]] * (self.frames_in - len(held)) + held
        return StreamWindow(stream.frames_seen - 1, np.stack(padded), source_size, stream.background)

    def _expire(self) -> None:
        deadline = self.clock() - self.ttl_s
        while self._streams:
            oldest_id, oldest = next(iter(self._streams.items()))
            if oldest.last_seen_s > deadline:
                break
            del self._streams[oldest_id]

    def _unknown(self, stream_id: str) -> str:
        return (
            f"unknown stream {stream_id!r}: never created, deleted, or idle for more than {self.ttl_s:g} s; "
            "open a new one with POST /v1/track/stream"
        )
