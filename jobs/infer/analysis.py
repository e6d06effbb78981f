"""The analysis stage's Ray task: shots (and players) of one whole video.

Shot boundaries and shot backgrounds need the whole video, so this runs per video (not
per segment), streaming it once more at `analysis.width`, beside the model pipeline.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import posixpath
import tempfile
from collections.abc import Iterator

import cv2
import pyarrow.fs as pafs

from jobs.common import storage
from jobs.common.inputs import open_source
from jobs.common.storage import StorageConfig
from jobs.infer.config import InferConfig
from jobs.infer.failures import failure_reason
from tracknet.broadcast import BroadcastAnalysis, BroadcastConfig, analyze_broadcast
from tracknet.players import make_detector
from tracknet.players.onnx import DetectorModelError
from tracknet.video import VideoInfo


def broadcast_config(config: InferConfig) -> BroadcastConfig:
    """The library's analysis config for this run (the ONNX model still as its URI)."""
    players = config.players if config.players.enabled else None
    return BroadcastConfig(config.analysis.width, config.shots, players)


def check_onnx_model(uri: str, storage_config: StorageConfig | None) -> None:
    """Fail early, naming the file, when the ONNX person detector is missing or (local) unreadable."""
    if not storage.exists(uri, storage_config):
        raise DetectorModelError(uri, "ONNX person detection model not found (players.onnx_model)")
    fs, path = storage.resolve(uri, storage_config)
    if isinstance(fs, pafs.LocalFileSystem):
        from tracknet.players.onnx import OnnxPersonDetector

        OnnxPersonDetector(path)


def analyze_video(
    uri: str, info: VideoInfo, config: BroadcastConfig, storage_config: StorageConfig | None
) -> BroadcastAnalysis | str:
    """Ray task: shots (and players) of one whole video, or the reason it failed (never raises)."""
    cv2.setNumThreads(1)  # one task per video: parallelism comes from many videos
    try:
        with contextlib.ExitStack() as stack:
            detector = None
            if config.players is not None:
                players = config.players
                if players.detector == "onnx":
                    local = stack.enter_context(_local_copy(players.onnx_model, storage_config))
                    players = dataclasses.replace(players, onnx_model=local)
                detector = make_detector(players)
            source = stack.enter_context(open_source(uri, storage_config))
            return analyze_broadcast(source, info, config, detector)
    except Exception as exc:  # reported as this video's failure
        return f"shot/player analysis failed: {failure_reason(exc, uri)}"


@contextlib.contextmanager
def _local_copy(uri: str, storage_config: StorageConfig | None) -> Iterator[str]:
    """A local path holding the file at `uri` (the file itself when it is local)."""
    fs, path = storage.resolve(uri, storage_config)
    if isinstance(fs, pafs.LocalFileSystem):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="tracknet-model-") as folder:
        local = os.path.join(folder, posixpath.basename(path) or "model.onnx")
        with open(local, "wb") as out:
            out.write(storage.read_bytes(uri, storage_config))
        yield local
