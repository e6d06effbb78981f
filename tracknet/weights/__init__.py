"""Checkpoints shipped inside the package, so inference works out of the box."""

from __future__ import annotations

from pathlib import Path

DEFAULT_CHECKPOINT = "default.pt"


def default_checkpoint_path() -> Path:
    """Path of the packaged default checkpoint (`tracknet/weights/default.pt`); it may be absent."""
    return Path(__file__).resolve().with_name(DEFAULT_CHECKPOINT)
