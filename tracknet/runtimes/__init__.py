"""Runtimes for the network's forward pass: eager torch, OpenVINO, ONNX Runtime.

    engine = build_engine(loaded, settings, torch.device("cpu"), threads=2)
    heat = engine(x)  # (B, C, H, W) float32 -> (B, frames_out, H, W) float32 heatmaps

`build_engine` resolves `settings.runtime` / `settings.precision` for the device
(`tracknet.predictor_settings.resolve_runtime`), exports the model to ONNX through the
node's cache (`tracknet.runtimes.onnx_cache`) for the CPU runtimes, and falls back to
torch with one logged warning when the runtime is not installed or its export fails.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Protocol

import torch

from tracknet.checkpoint import LoadedCheckpoint
from tracknet.predictor_settings import PredictorSettings, resolve_runtime
from tracknet.runtimes.engines import OnnxRuntimeEngine, OpenVinoEngine, TorchEngine
from tracknet.runtimes.onnx_cache import cache_dir, cached_onnx

__all__ = ["Engine", "build_engine", "cache_dir", "default_threads"]

_ONNX_ENGINES = {"openvino": OpenVinoEngine, "onnxruntime": OnnxRuntimeEngine}
_log = logging.getLogger(__name__)


class Engine(Protocol):
    """(B, C, H, W) float32 tensor in [0, 1] -> (B, frames_out, H, W) float32 sigmoid heatmaps."""

    runtime: str
    precision: str

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


def default_threads(settings: PredictorSettings) -> int:
    """Threads for a CPU runtime: settings.torch_threads, else $OMP_NUM_THREADS (Ray sets it
    to an actor's CPUs), else the CPUs this process may run on."""
    if settings.torch_threads:
        return settings.torch_threads
    omp = os.environ.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and int(omp) > 0:
        return int(omp)
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def build_engine(
    loaded: LoadedCheckpoint,
    settings: PredictorSettings,
    device: torch.device,
    threads: int | None = None,
) -> Engine:
    """The forward pass of `loaded.model` as `settings` ask for it on `device`.

    Args:
        loaded: the model (eval mode) and its version; torch runs it where the caller puts
            it (the Predictor moves it to `device`), the ONNX export copies it to the CPU.
        settings: runtime and precision (auto resolved here), torch_threads.
        device: where the model runs; CUDA always runs torch.
        threads: intra-op threads of the CPU runtimes; None = `default_threads(settings)`.
            Torch's own threads stay the process's (torch.set_num_threads).

    Returns:
        An Engine; `engine.runtime` / `engine.precision` say what really runs.
    """
    runtime, precision = resolve_runtime(settings, device)
    if runtime in _ONNX_ENGINES:
        try:
            importlib.import_module(runtime)  # before exporting: is it installed at all?
        except ImportError as exc:
            _log.warning("runtime %r is not installed (%s); running the model in torch instead", runtime, exc)
            return TorchEngine(loaded.model, device, precision)
        try:
            engine_type = _ONNX_ENGINES[runtime]
            return engine_type(cached_onnx(loaded), precision, threads or default_threads(settings))
        except Exception as exc:  # export or compile failed: torch still runs the model
            _log.warning(
                "runtime %r failed for model %s (%s: %s); running the model in torch instead",
                runtime, loaded.model_version, type(exc).__name__, exc,
            )
    return TorchEngine(loaded.model, device, precision)
