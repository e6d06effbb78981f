"""BallTracker: the model deployment. Each replica loads the model once into a Predictor.

Windows of model-resolution frames from concurrent requests are grouped by
`@serve.batch` and run through the same code as batch inference: `Predictor.frames_to_input`
builds the input on the device, `Predictor.forward` runs the model (precision, layout), and
`decode_to_source_fast` (what `Predictor.predict_chunk` uses) thresholds the heatmaps and
maps positions to source pixels. Clips run through `Predictor.predict_video`, exactly as
`jobs.infer` decodes and predicts a video.

The model runs on one worker thread per replica: the event loop stays free to accept
requests and fill the next batch while the current one computes, and torch never runs
two passes at once on the replica's cores.
"""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from ray import serve

from jobs.common.checkpoints import checkpoint_name, load_model, read_checkpoint
from jobs.common.storage import StorageConfig
from jobs.serving.config import BatchingConfig
from tracknet.errors import CheckpointError, VideoError
from tracknet.heatmap import Detection
from tracknet.inference import FrameDetections, Predictor, decode_to_source_fast
from tracknet.model_defaults import ModelDefaults
from tracknet.predictor_settings import PredictorSettings


@dataclass(frozen=True)
class ModelInfo:
    """What the ingress needs to know about the model (read once on the driver)."""

    model_version: str
    model_config: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    """Validation metrics saved with the checkpoint, if any."""
    defaults: ModelDefaults = field(default_factory=ModelDefaults)
    """The model's own inference defaults (sport, threshold, ...), saved with the checkpoint."""

    @property
    def frames_in(self) -> int:
        return int(self.model_config["frames_in"])

    @property
    def background(self) -> bool:
        """The model takes a background frame besides its frames."""
        return bool(self.model_config.get("background", False))

    @property
    def frames_out(self) -> int:
        return int(self.model_config["frames_out"])

    @property
    def input_size(self) -> tuple[int, int]:
        """Model (width, height) in pixels."""
        return int(self.model_config["width"]), int(self.model_config["height"])


def describe_model(model: str | None, storage_config: StorageConfig) -> ModelInfo:
    """Load the checkpoint once to validate it and describe it; raises CheckpointError."""
    _, loaded = load_model(model, storage_config)
    metrics = loaded.metadata.get("metrics")
    return ModelInfo(
        loaded.model_version, loaded.model.config.to_dict(), metrics if isinstance(metrics, dict) else {},
        ModelDefaults.from_metadata(loaded.metadata),
    )


@dataclass(frozen=True)
class Window:
    """One model window from a request."""

    images: np.ndarray
    """(frames_in, H, W, 3) uint8 RGB at model resolution, time order."""
    source_size: tuple[int, int]
    """(width, height) of the frames the client sent; positions are returned in these pixels."""
    background: np.ndarray | None = None
    """(H, W, 3) uint8 median background, for (and only for) models with a background input."""


@dataclass(frozen=True)
class WindowResult:
    """The model's answer for one window."""

    detections: list[Detection]
    """frames_out detections, source pixels, for the window's last frames_out frames."""
    batch_size: int
    """Windows in the @serve.batch batch this window ran in."""


@dataclass(frozen=True)
class VideoResult:
    """Per-frame detections of a clip, or why it could not be decoded."""

    detections: FrameDetections | None
    error: str | None = None


@serve.deployment
class BallTracker:
    """The model replica: batched windows and whole clips -> detections in source pixels.

    Args:
        model: checkpoint path/URI, or None for the packaged default.
        model_version: the version the driver validated; a different file here is an error
            (every replica must serve the model /v1/model describes).
        settings: how the model runs (device, precision, threshold, flip_tta, batch size).
        torch_threads: intra-op threads of the model.
        batching: how @serve.batch groups windows.
        storage_config: S3 endpoint and region for `model`.
    """

    def __init__(
        self,
        model: str | None,
        model_version: str,
        settings: PredictorSettings,
        torch_threads: int,
        batching: BatchingConfig,
        storage_config: StorageConfig,
    ) -> None:
        self.predictor = Predictor(read_checkpoint(model, storage_config), settings, threads=torch_threads)
        if self.predictor.model_version != model_version:
            raise CheckpointError(
                checkpoint_name(model),
                f"replica loaded model {self.predictor.model_version}, expected {model_version} "
                "(the file changed after the application was built)",
            )
        # OpenMP thread counts are per calling thread: set them on the thread that runs the model.
        self._model_thread = ThreadPoolExecutor(
            1, thread_name_prefix="tracknet-model", initializer=torch.set_num_threads,
            initargs=(torch_threads,),
        )
        self.track_window.set_max_batch_size(batching.max_batch_size)
        self.track_window.set_batch_wait_timeout_s(batching.batch_wait_timeout_s)

    # The decorator's limits are placeholders: __init__ sets them from the config.
    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005)
    async def track_window(self, windows: list[Window]) -> list[WindowResult]:
        """Callers send one Window and get one WindowResult; Serve batches concurrent calls."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._model_thread, self._predict_windows, windows)

    def _predict_windows(self, windows: list[Window]) -> list[WindowResult]:
        predictor = self.predictor
        frames_in = predictor.config.frames_in
        images = np.concatenate([window.images for window in windows])  # (B * frames_in, H, W, 3)
        index = np.arange(len(images)).reshape(len(windows), frames_in)  # (B, frames_in)
        backgrounds = np.stack([window.background for window in windows]) if predictor.config.background else None
        heat = np.concatenate(
            [
                predictor.forward(predictor.frames_to_input(
                    images, index[start : start + predictor.batch_size],
                    None if backgrounds is None else backgrounds[start : start + predictor.batch_size],
                ))
                for start in range(0, len(windows), predictor.batch_size)
            ]
        )  # (B, frames_out, H, W)
        return [
            WindowResult(
                [decode_to_source_fast(frame_heat, window.source_size, predictor.threshold) for frame_heat in heat[i]],
                len(windows),
            )
            for i, window in enumerate(windows)
        ]

    async def track_video(self, data: bytes, frame_count: int, source_size: tuple[int, int]) -> VideoResult:
        """Detections for every frame of an encoded clip (already probed by the ingress)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._model_thread, self._predict_video, data, frame_count, source_size)

    def _predict_video(self, data: bytes, frame_count: int, source_size: tuple[int, int]) -> VideoResult:
        try:
            return VideoResult(self.predictor.predict_video(io.BytesIO(data), frame_count, source_size))
        except VideoError as exc:  # a corrupt or truncated upload: the client's problem, not the replica's
            return VideoResult(None, f"the video cannot be decoded: {exc.problem}")

    async def model_version(self) -> str:
        """The loaded model's version (the ingress's health check)."""
        return self.predictor.model_version
