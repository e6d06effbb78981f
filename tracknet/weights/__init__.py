"""Checkpoints shipped inside the package, so inference works out of the box.

- `default.pt`: the model for real broadcasts (badminton), trained on the shared real clips;
  see MODEL_CARD.md beside it. Jobs and the endpoint use it when no model is given.
- `synthetic.pt`: a smaller model trained on `tracknet.synth` clips only
  (`python benchmarks/train_synthetic.py` reproduces it); tests and demos on synthetic
  clips use it, as the real-data model is not meant to find synthetic balls.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_CHECKPOINT = "default.pt"
SYNTHETIC_CHECKPOINT = "synthetic.pt"


def default_checkpoint_path() -> Path:
    """Path of the packaged default checkpoint (`tracknet/weights/default.pt`)."""
    return Path(__file__).resolve().with_name(DEFAULT_CHECKPOINT)


def synthetic_checkpoint_path() -> Path:
    """Path of the packaged synthetic-data checkpoint (`tracknet/weights/synthetic.pt`)."""
    return Path(__file__).resolve().with_name(SYNTHETIC_CHECKPOINT)
