"""ONNX exports of TrackNet models, cached on disk, shared by the processes of a node.

An entry is one file `<cache>/onnx/<model_version>-<key16>.onnx.tnc`: a header line
`TRACKNET-CACHE 1 sha256=<hex> size=<bytes>` then the ONNX model. The key hashes what
changes the export (the weights' digest, the model config, the opset, the exporter and
torch's version), so a new model, shape or torch never reads an old file.

Writes go to a temporary file in the same folder, then `os.replace`: a reader sees no
file or a whole one, never half of one, so concurrent loaders on one node need no lock
(each may export, the last rename wins, every file was whole). An entry whose size or
checksum does not match its header (truncated, overwritten, bit rot) is never trusted:
it is deleted with a warning and rebuilt. A cache folder that cannot be written only
costs the export each time (one warning).

The cache lives in `$TRACKNET_CACHE_DIR`, else `~/.cache/tracknet`.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
import os
import re
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from tracknet.checkpoint import LoadedCheckpoint, weights_digest

OPSET = 17
EXPORTER = "torchscript-1"
"""torch.onnx's TorchScript exporter (no onnxscript needed); bump when the export changes."""
INPUT_NAME = "frames"
OUTPUT_NAME = "heatmaps"
_MAGIC = b"TRACKNET-CACHE 1"
_log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Root of the runtime cache: $TRACKNET_CACHE_DIR, else ~/.cache/tracknet."""
    return Path(os.environ.get("TRACKNET_CACHE_DIR") or Path.home() / ".cache" / "tracknet")


class _Heatmaps(nn.Module):
    """The exported graph: (B, C, H, W) float32 in [0, 1] -> (B, frames_out, H, W) sigmoid heatmaps."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(x))


def export_key(loaded: LoadedCheckpoint, opset: int = OPSET) -> str:
    """sha256 hex of everything an export depends on."""
    state = {name: tensor.detach().cpu() for name, tensor in loaded.model.state_dict().items()}
    facts = {
        "model_version": loaded.model_version,
        "weights": weights_digest(state),
        "config": loaded.model.config.to_dict(),
        "opset": opset,
        "exporter": EXPORTER,
        "torch": torch.__version__,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def entry_path(loaded: LoadedCheckpoint, opset: int = OPSET) -> Path:
    """Where the export of `loaded` is cached."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", loaded.model_version or "model")
    return cache_dir() / "onnx" / f"{name}-{export_key(loaded, opset)[:16]}.onnx.tnc"


def export_onnx(loaded: LoadedCheckpoint, opset: int = OPSET) -> bytes:
    """The model as ONNX bytes: input `frames` (B, C, H, W) float32, output `heatmaps`, B dynamic.

    Exports a float32 CPU copy in eval mode; the caller's model is left as it was.
    """
    config = loaded.model.config
    model = _Heatmaps(copy.deepcopy(loaded.model).float().cpu()).eval()
    example = torch.rand(2, config.in_channels, config.height, config.width)  # (B, C, H, W)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            model,
            (example,),
            buffer,
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )
    return buffer.getvalue()


def _header(payload: bytes) -> bytes:
    return _MAGIC + f" sha256={hashlib.sha256(payload).hexdigest()} size={len(payload)}\n".encode()


def read_entry(path: Path) -> bytes | None:
    """The payload of a cache entry; None when absent. A damaged entry is deleted (None)."""
    try:
        stat = path.stat()
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    head, _, payload = data.partition(b"\n")
    if data.startswith(_MAGIC) and head + b"\n" == _header(payload):
        return payload
    _log.warning("runtime cache entry %s is damaged (size or checksum mismatch); rebuilding it", path)
    try:
        if path.stat().st_ino == stat.st_ino:  # not a good entry another loader just wrote
            path.unlink()
    except FileNotFoundError:
        pass
    return None


def write_entry(path: Path, payload: bytes) -> None:
    """Atomically write a cache entry: a temporary file in the same folder, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # readable by the node's other users, like any cache file
        with os.fdopen(fd, "wb") as file:
            file.write(_header(payload))
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached_onnx(loaded: LoadedCheckpoint, opset: int = OPSET) -> bytes:
    """The model's ONNX export, from the node's cache or exported (and cached) now."""
    path = entry_path(loaded, opset)
    payload = read_entry(path)
    if payload is not None:
        return payload
    payload = export_onnx(loaded, opset)
    try:
        write_entry(path, payload)
    except OSError as exc:
        _log.warning("cannot write the runtime cache %s (%s); the export is used uncached", path, exc)
    return payload
