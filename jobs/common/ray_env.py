"""Starting or joining Ray the same way in every job, without Ray's own progress bars and noise."""

from __future__ import annotations

import logging
import os

import ray
from ray.data import DataContext


class _ProgressBarsOff(logging.Filter):
    """Drops Ray Data's warning that its progress bars are off: the job turned them off."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Progress bars disabled")


def init_ray(progress_bars: bool = False) -> None:
    """Join the cluster named by RAY_ADDRESS (set by `ray job submit`), else start local Ray.

    A local Ray needs no token (nothing outside this machine talks to it), so none is made
    or written to ~/.ray unless the user asked for one with RAY_AUTH_MODE. Ray Data's
    progress bars (redrawn with escape codes, counting blocks, not frames) are off unless
    `progress_bars`: the jobs print their own progress (jobs.common.progress).
    """
    DataContext.get_current().enable_progress_bars = progress_bars
    if not progress_bars:
        quiet_ray_logs()
    if ray.is_initialized():
        return
    address = os.environ.get("RAY_ADDRESS") or None
    runtime_env = None
    if address is None:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        if not progress_bars:
            # Every worker process too (Ray Data's coordinators, Ray Train's controller), whose
            # log lines reach the driver. A submitted job keeps its own runtime env untouched.
            runtime_env = {"worker_process_setup_hook": "jobs.common.ray_env.quiet_ray_logs"}
    ray.init(address=address, log_to_driver=True, logging_level=logging.WARNING, runtime_env=runtime_env)


def quiet_ray_logs() -> None:
    """Ray Data's and Ray Train's informational lines off in this process; their warnings stay."""
    for name in ("ray.data", "ray.train"):
        logging.getLogger(name).setLevel(logging.WARNING)
    progress_logger = logging.getLogger("ray.data._internal.progress")
    if not any(isinstance(f, _ProgressBarsOff) for f in progress_logger.filters):
        progress_logger.addFilter(_ProgressBarsOff())
