"""One progress display per job: videos and frames done of the total, frames/s, ETA.

On a terminal it is one line redrawn in place; otherwise (CI, `ray job submit`, a log
file) a plain line every `interval_s` seconds and one at the end, so a log stays short
whatever the job's length.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class Progress:
    """Counts videos and frames done and shows them at a bounded rate."""

    def __init__(self, label: str, videos: int, frames: int, stream: TextIO | None = None,
                 interval_s: float | None = None) -> None:
        self.label = label
        self.videos_total = videos
        self.frames_total = frames
        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = interval_s if interval_s is not None else (0.5 if self.live else 10.0)
        self.videos = 0
        self.frames = 0
        self.started = time.monotonic()
        self.shown_at = self.started
        self.lines = 0
        self._shown_counts: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def add(self, videos: int = 0, frames: int = 0) -> None:
        """Count work done (from any thread); shows the line when `interval_s` has passed since the last one."""
        with self._lock:
            self.videos += videos
            self.frames += frames
            if time.monotonic() - self.shown_at >= self.interval_s:
                self._show()

    def close(self) -> None:
        """Show the final counts unless the last line did (and end the live line)."""
        if self._shown_counts != (self.videos, self.frames):
            self._show()
        if self.live:
            self.stream.write("\n")
            self.stream.flush()

    def text(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.frames / elapsed
        parts = [f"{self.label}: {self.videos}/{self.videos_total} videos",
                 f"{self.frames}/{self.frames_total} frames", f"{rate:.1f} frames/s"]
        left = self.frames_total - self.frames
        if rate > 0 and 0 < left:
            parts.append(f"ETA {_duration(left / rate)}")
        parts.append(f"{_duration(elapsed)} elapsed")
        return ", ".join(parts)

    def _show(self) -> None:
        self.shown_at = time.monotonic()
        self._shown_counts = (self.videos, self.frames)
        self.lines += 1
        if self.live:
            self.stream.write("\r" + self.text().ljust(100))
        else:
            self.stream.write(self.text() + "\n")
        self.stream.flush()
