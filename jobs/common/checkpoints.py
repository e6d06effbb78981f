"""Reading a model checkpoint named by a job's `model` key (path, URI or the packaged default)."""

from __future__ import annotations

from jobs.common import storage
from jobs.common.storage import StorageConfig
from tracknet.checkpoint import LoadedCheckpoint, load_checkpoint
from tracknet.errors import CheckpointError
from tracknet.weights import default_checkpoint_path


def checkpoint_name(model: str | None) -> str:
    """What messages call the checkpoint `model` names."""
    return model if model is not None else str(default_checkpoint_path())


def load_model(model: str | None, storage_config: StorageConfig | None = None) -> tuple[bytes, LoadedCheckpoint]:
    """The checkpoint's bytes (to ship to actors and replicas) and the model loaded from them.

    Raises CheckpointError naming the file when it cannot be read or is not a checkpoint.
    """
    data = read_checkpoint(model, storage_config)
    return data, load_checkpoint(data, name=checkpoint_name(model))


def read_checkpoint(model: str | None, storage_config: StorageConfig | None = None) -> bytes:
    """The checkpoint's bytes from `model` (path or URI), or the packaged default when None.

    Raises CheckpointError naming the file when it cannot be read.
    """
    if model is None:
        path = default_checkpoint_path()
        if not path.exists():
            raise CheckpointError(str(path), "no model= given and the packaged default checkpoint is missing")
        return path.read_bytes()
    try:
        return storage.read_bytes(model, storage_config)
    except OSError as exc:  # FileNotFoundError included
        raise CheckpointError(model, f"cannot read checkpoint ({exc})") from exc
