"""Models shipped inside the package, by name, so inference works out of the box.

- `badminton` (`badminton.pt`, the default): shuttlecocks in badminton broadcasts, trained on
  the shared real clips; model card `badminton.md` beside it.
- `tennis` (`tennis.pt`): tennis balls in tennis broadcasts, fine-tuned from `badminton` on
  the shared tennis clips; model card `tennis.md` beside it.
- `synthetic` (`synthetic.pt`): a smaller model trained on `tracknet.synth` clips only
  (`python benchmarks/train_synthetic.py` reproduces it); tests and demos on synthetic
  clips use it, as the real-data models are not meant to find synthetic balls.

Wherever a job or the library takes a model it takes one of these names or a checkpoint
path/URI (`resolve_model`).
"""

from __future__ import annotations

import re
from pathlib import Path

from tracknet.errors import CheckpointError

PACKAGED_MODELS = {"badminton": "badminton.pt", "tennis": "tennis.pt", "synthetic": "synthetic.pt"}
"""Packaged model name -> its file in this folder."""
DEFAULT_MODEL = "badminton"

# A name is one lower-case word; anything with a slash, a dot or a scheme is a path or URI.
_NAME = re.compile(r"[a-z][a-z0-9_-]*")


def packaged_path(name: str) -> Path:
    """The file of packaged model `name`; CheckpointError listing the names when there is none."""
    if name not in PACKAGED_MODELS:
        raise CheckpointError(name, f"no packaged model of that name; packaged models: {', '.join(sorted(PACKAGED_MODELS))}"
                                    " (or give a checkpoint path or URI)")
    return Path(__file__).resolve().with_name(PACKAGED_MODELS[name])


def resolve_model(model: str | None) -> str:
    """The checkpoint path or URI that `model` names: a packaged name, a path/URI, or None (the default).

    A bare word that is not a packaged name is read as a local file only when one exists
    (`model=mymodel` beside the job); otherwise it is an unknown name and the error lists
    the packaged ones.
    """
    if model is None:
        return str(packaged_path(DEFAULT_MODEL))
    if model in PACKAGED_MODELS:
        return str(packaged_path(model))
    if _NAME.fullmatch(model) and not Path(model).is_file():
        packaged_path(model)  # raises: unknown name
    return model


def default_checkpoint_path() -> Path:
    """Path of the packaged default model (`badminton`)."""
    return packaged_path(DEFAULT_MODEL)


def synthetic_checkpoint_path() -> Path:
    """Path of the packaged synthetic-data model (`synthetic`)."""
    return packaged_path("synthetic")
