"""PredictorSettings: how a loaded model turns frames into detections, wherever it runs.

One type for `tracknet.inference.Predictor`, the `predictor:` section of jobs.infer's
and jobs.serve's configs, and the Ray actors and Serve replicas they start, validated
once here. Resources (CPUs, GPUs, actor counts) are the jobs' own and are not in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

Ensemble = Literal["mean", "max"]
DeviceName = Literal["auto", "cpu", "cuda"]
Precision = Literal["fp32", "bf16", "fp16"]


@dataclass(frozen=True)
class PredictorSettings:
    """How the model runs and how its heatmaps become detections."""

    device: DeviceName = "auto"
    """Where the model runs: auto = CUDA when the process has a GPU, else CPU."""
    precision: Precision = "fp32"
    """Model arithmetic: fp32, or autocast to bf16 (CPUs with native bf16, GPUs) / fp16 (CUDA)."""
    threshold: float = 0.5
    """Heatmap threshold for ball blobs."""
    window_stride: int | None = None
    """Frames between consecutive windows; None = the model's frames_out (no overlap, fastest)."""
    ensemble: Ensemble = "mean"
    """How overlapping windows combine: mean heatmap, or the best-scoring detection."""
    flip_tta: bool = False
    """Also run every window mirrored and keep the larger heatmap (twice the model compute)."""
    batch_size: int = 1
    """Model windows per forward pass: CPUs are fastest at 1 (fp32) or 2 (bf16); GPUs want 32+."""
    torch_threads: int | None = None
    """Intra-op threads of the process running the model; None = the CPUs it reserves (at least 1)."""

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be 'fp32', 'bf16' or 'fp16', got {self.precision!r}")
        if self.precision == "fp16" and self.device == "cpu":
            raise ValueError("precision 'fp16' needs CUDA; use 'bf16' on CPU")
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if self.window_stride is not None and self.window_stride < 1:
            raise ValueError(f"window_stride must be >= 1, got {self.window_stride}")
        if self.ensemble not in ("mean", "max"):
            raise ValueError(f"ensemble must be 'mean' or 'max', got {self.ensemble!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ValueError(f"torch_threads must be >= 1, got {self.torch_threads}")

    def threads_for(self, reserved_cpus: float) -> int:
        """Intra-op threads for a process that reserves `reserved_cpus` logical CPUs."""
        return self.torch_threads or max(1, int(reserved_cpus))

    def stride_for(self, frames_out: int) -> int:
        """The window stride for a model predicting `frames_out` frames per window."""
        stride = frames_out if self.window_stride is None else self.window_stride
        if stride > frames_out:
            raise ValueError(f"window_stride must be <= the model's frames_out ({frames_out}), got {stride}")
        return stride

    def detection_settings(self) -> dict[str, object]:
        """The settings that can change detections (for run ledgers), by name."""
        return {
            "precision": self.precision,
            "threshold": self.threshold,
            "window_stride": self.window_stride,
            "ensemble": self.ensemble,
            "flip_tta": self.flip_tta,
        }


def select_device(device: str = "auto") -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without CUDA is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available on this machine")
    return torch.device(device)
