"""How a per-video failure becomes its summary line, and when it is worth a traceback."""

from __future__ import annotations

import logging

from tracknet.errors import TrackNetError, VideoError

log = logging.getLogger("jobs.infer")


def failure_reason(exc: BaseException, uri: str) -> str:
    """One line naming the video and the problem, for the summary and the ledger.

    A user's problem (a corrupt video, a bad file: TrackNetError) is that line alone; anything
    else may be a bug, so its traceback is logged here, once, where it happened.
    """
    if isinstance(exc, VideoError):
        return f"{uri}: {exc.problem}"
    if not isinstance(exc, TrackNetError):
        log.warning("%s failed", uri, exc_info=exc)
    return f"{uri}: {type(exc).__name__}: {exc}"
