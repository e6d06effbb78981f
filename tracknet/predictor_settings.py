"""PredictorSettings: how a loaded model turns frames into detections, wherever it runs.

One type for `tracknet.inference.Predictor`, the `predictor:` section of jobs.infer's
and jobs.serve's configs, and the Ray actors and Serve replicas they start, validated
once here. Resources (CPUs, GPUs, actor counts) are the jobs' own and are not in it.

`runtime` and `precision` say what executes the network; `resolve_runtime` turns them
into what runs on a given device (see its docstring and `tracknet.runtimes`):

| runtime | device | precision (auto) | what runs |
| --- | --- | --- | --- |
| auto | CUDA | bf16 | eager torch, autocast, channels-last |
| auto | CPU | bf16 with native bf16 (AVX512_BF16 / AMX), else fp32 | OpenVINO from a cached ONNX export |
| torch | any | as above | eager torch (autocast for bf16/fp16) |
| openvino | CPU | as above | OpenVINO, INFERENCE_PRECISION_HINT f32 or bf16 |
| onnxruntime | CPU | fp32 | ONNX Runtime's CPU provider (fp32 only) |

A runtime that is not installed, or whose export fails, falls back to torch with one
logged warning saying why (`tracknet.runtimes.build_engine`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Literal

import torch

from tracknet.model_defaults import ModelDefaults

Ensemble = Literal["mean", "max"]
DeviceName = Literal["auto", "cpu", "cuda"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
RuntimeName = Literal["auto", "torch", "openvino", "onnxruntime"]
CPU_RUNTIMES = ("openvino", "onnxruntime")
"""Runtimes that execute an ONNX export on the CPU; CUDA always runs torch."""

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictorSettings:
    """How the model runs and how its heatmaps become detections."""

    device: DeviceName = "auto"
    """Where the model runs: auto = CUDA when the process has a GPU, else CPU."""
    precision: Precision = "fp32"
    """Model arithmetic: fp32, bf16 (CPUs with native bf16, GPUs), fp16 (CUDA), or auto (bf16 where native)."""
    threshold: float | None = None
    """Heatmap threshold for ball blobs; None = the model's own (`tracknet.model_defaults`, 0.5 if it has none)."""
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
    runtime: RuntimeName = "auto"
    """What executes the network: auto (OpenVINO on CPU, torch on CUDA), torch, openvino, onnxruntime."""

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be 'auto', 'fp32', 'bf16' or 'fp16', got {self.precision!r}")
        if self.precision == "fp16" and self.device == "cpu":
            raise ValueError("precision 'fp16' needs CUDA; use 'bf16' on CPU")
        if self.runtime not in ("auto", "torch", *CPU_RUNTIMES):
            raise ValueError(f"runtime must be 'auto', 'torch', 'openvino' or 'onnxruntime', got {self.runtime!r}")
        if self.runtime in CPU_RUNTIMES and self.device == "cuda":
            raise ValueError(f"runtime {self.runtime!r} runs on the CPU; use runtime 'torch' (or 'auto') with CUDA")
        if self.runtime in CPU_RUNTIMES and self.precision == "fp16":
            raise ValueError(f"runtime {self.runtime!r} does not run fp16; use 'fp32' or 'bf16'")
        if self.runtime == "onnxruntime" and self.precision == "bf16":
            raise ValueError("runtime 'onnxruntime' runs fp32 only on the CPU; use 'openvino' or 'torch' for bf16")
        if self.threshold is not None and not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if self.window_stride is not None and self.window_stride < 1:
            raise ValueError(f"window_stride must be >= 1, got {self.window_stride}")
        if self.ensemble not in ("mean", "max"):
            raise ValueError(f"ensemble must be 'mean' or 'max', got {self.ensemble!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ValueError(f"torch_threads must be >= 1, got {self.torch_threads}")

    def for_model(self, defaults: ModelDefaults) -> PredictorSettings:
        """These settings with what they leave to the model (None) taken from its defaults."""
        return self if self.threshold is not None else replace(self, threshold=defaults.threshold)

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
            "runtime": self.runtime,
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


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512_BF16 or AMX-BF16 in /proc/cpuinfo's flags).

    Elsewhere (other OSes, older CPUs) bf16 is emulated and slower than fp32, so False.
    """
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[1].split()}
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve_runtime(settings: PredictorSettings, device: torch.device) -> tuple[str, str]:
    """The (runtime, precision) that `settings` mean on `device`; nothing 'auto' is left.

    - runtime auto: torch on CUDA; on the CPU OpenVINO, the fastest measured on this
      project's 2-core CPU (benchmarks/runtime_throughput.py). openvino / onnxruntime asked
      for with device auto on a CUDA machine run torch, with a logged warning.
    - precision auto: bf16 on CUDA and on CPUs with native bf16 (except onnxruntime, which
      runs fp32 only), fp32 elsewhere.

    Whether the runtime is installed is checked when it is built (`tracknet.runtimes`).
    """
    runtime = settings.runtime
    if device.type == "cuda":
        if runtime in CPU_RUNTIMES:
            _log.warning("runtime %r runs on the CPU only; the model runs in torch on %s", runtime, device)
        runtime = "torch"
    elif runtime == "auto":
        runtime = "openvino"
    precision = settings.precision
    if precision == "auto":
        native = device.type == "cuda" or cpu_has_native_bf16()
        precision = "bf16" if native and runtime != "onnxruntime" else "fp32"
    return runtime, precision
