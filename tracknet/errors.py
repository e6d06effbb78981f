"""Errors a user can cause, each naming the file and the problem."""

from __future__ import annotations


class TrackNetError(Exception):
    """Base class for errors caused by bad user input (files, configs)."""


class VideoError(TrackNetError):
    """A video cannot be opened or decoded; the message names the file."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


class LabelError(TrackNetError):
    """A label file is malformed or of an unknown format; names the file and line."""

    def __init__(self, path: str, problem: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {problem}")


class CheckpointError(TrackNetError):
    """A checkpoint file is missing, corrupt or not a TrackNet checkpoint."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")
