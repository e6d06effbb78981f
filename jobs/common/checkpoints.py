"""Reading a model checkpoint named by a job's `model` key (a packaged name, a path or URI; None = the default)."""

from __future__ import annotations

from jobs.common import storage
from jobs.common.storage import StorageConfig
from tracknet.checkpoint import LoadedCheckpoint, load_checkpoint
from tracknet.errors import CheckpointError
from tracknet.weights import resolve_model


def checkpoint_name(model: str | None) -> str:
    """What messages call the checkpoint `model` names: the name as given, or the default's path."""
    return model if model is not None else resolve_model(None)


def load_model(model: str | None, storage_config: StorageConfig | None = None) -> tuple[bytes, LoadedCheckpoint]:
    """The checkpoint's bytes (to ship to actors and replicas) and the model loaded from them.

    Raises CheckpointError naming the file when it cannot be read or is not a checkpoint.
    """
    data = read_checkpoint(model, storage_config)
    return data, load_checkpoint(data, name=checkpoint_name(model))


def read_checkpoint(model: str | None, storage_config: StorageConfig | None = None) -> bytes:
    """The checkpoint's bytes from `model`: a packaged name, a path or URI, or None (the packaged default).

    Raises CheckpointError naming the file when it cannot be read, and listing the packaged
    names when `model` is an unknown one.
    """
    uri = resolve_model(model)
    try:
        return storage.read_bytes(uri, storage_config)
    except OSError as exc:  # FileNotFoundError included
        raise CheckpointError(model or uri, f"cannot read checkpoint ({exc})") from exc
