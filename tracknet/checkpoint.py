"""One self-describing checkpoint file: weights + model config + metadata.

Saved with torch.save and loaded with `torch.load(weights_only=True)`, so loading
never unpickles arbitrary objects. Metadata must be JSON-serialisable (it ends
up in model cards and run summaries).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import torch

from tracknet.errors import CheckpointError
from tracknet.model import ModelConfig, TrackNet

FORMAT = "tracknet-checkpoint"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A model rebuilt from a checkpoint file, with what was saved beside it."""

    model: TrackNet
    metadata: dict[str, Any] = field(default_factory=dict)
    model_version: str = ""
    """Stable id of these weights: `<name>-<first 12 hex of the weights' sha256>`."""


def weights_digest(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 over the weights in a fixed order; identical weights, identical digest."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().reshape(-1).contiguous()
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def save_checkpoint(
    target: str | os.PathLike | BinaryIO,
    model: TrackNet,
    metadata: dict[str, Any] | None = None,
    name: str = "tracknet",
) -> str:
    """Write model weights, config and metadata to one file; returns the model version."""
    metadata = dict(metadata or {})
    try:
        json.dumps(metadata)
    except TypeError as exc:
        raise ValueError(f"checkpoint metadata must be JSON-serialisable: {exc}") from exc
    state_dict = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    version = f"{name}-{weights_digest(state_dict)[:12]}"
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_config": model.config.to_dict(),
        "model_version": version,
        # JSON keeps the payload to primitives that weights_only loading accepts.
        "metadata_json": json.dumps(metadata),
        "state_dict": state_dict,
    }
    if isinstance(target, (str, os.PathLike)):
        path = os.fspath(target)
        tmp = f"{path}.tmp"
        torch.save(payload, tmp)
        os.replace(tmp, path)  # a crash never leaves a half-written checkpoint
    else:
        torch.save(payload, target)
    return version


def load_checkpoint(
    source: str | os.PathLike | BinaryIO | bytes, device: str | torch.device = "cpu", name: str | None = None
) -> LoadedCheckpoint:
    """Rebuild the model from a checkpoint file; the model is in eval mode on `device`.

    `name` is what errors call the checkpoint (its path or URI when `source` is bytes or a stream).
    """
    if name is None:
        name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "<checkpoint bytes>"
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    if isinstance(source, (str, os.PathLike)) and not os.path.exists(source):
        raise CheckpointError(name, "file not found")
    try:
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or foreign files
        # torch's own message suggests loading with weights_only=False, i.e. unpickling an
        # untrusted file: never pass that on.
        raise CheckpointError(
            name, f"not a readable checkpoint: torch cannot load it as a weights-only file ({type(exc).__name__})"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(name, f"not a {FORMAT} file")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            name, f"format version {payload.get('format_version')} is not supported (expected {FORMAT_VERSION})"
        )
    try:
        config = ModelConfig(**payload["model_config"])
        model = TrackNet(config)
        model.load_state_dict(payload["state_dict"])
        metadata = json.loads(payload["metadata_json"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(name, f"inconsistent checkpoint ({exc})") from exc
    model.to(device).eval()
    return LoadedCheckpoint(model=model, metadata=metadata, model_version=payload["model_version"])
