"""Starting or joining Ray the same way in every job."""

from __future__ import annotations

import os

import ray


def init_ray() -> None:
    """Join the cluster named by RAY_ADDRESS (set by `ray job submit`), else start local Ray."""
    if ray.is_initialized():
        return
    ray.init(address=os.environ.get("RAY_ADDRESS") or None, log_to_driver=True)
