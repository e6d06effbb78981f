"""What executes the network: eager torch, or an ONNX export in OpenVINO or ONNX Runtime.

Every engine is a callable (B, C, H, W) float32 torch tensor in [0, 1] -> (B, frames_out,
H, W) float32 torch tensor of sigmoid heatmaps (what `TrackNet.predict` returns), any B.
The ONNX engines take CPU tensors and return CPU tensors; pre- and post-processing
(input building, flip_tta, heatmap decoding) are the Predictor's, the same for all.
"""

from __future__ import annotations

import io

import numpy as np
import torch

from tracknet.model import TrackNet
from tracknet.runtimes.onnx_cache import INPUT_NAME

_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
_OPENVINO_PRECISIONS = {"fp32": "f32", "bf16": "bf16"}


class TorchEngine:
    """Eager torch on the model's device; bf16/fp16 by autocast."""

    runtime = "torch"

    def __init__(self, model: TrackNet, device: torch.device, precision: str) -> None:
        self.model = model
        self.device = device
        self.precision = precision
        self.autocast_dtype = _AUTOCAST_DTYPES.get(precision)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) float32 on the device -> (B, frames_out, H, W) float32 heatmaps on the device."""
        with torch.inference_mode():
            if self.autocast_dtype is None:
                return self.model.predict(x)
            with torch.autocast(self.device.type, dtype=self.autocast_dtype):
                return self.model.predict(x)


class OpenVinoEngine:
    """OpenVINO on the CPU: fp32 (INFERENCE_PRECISION_HINT f32) or bf16, one stream of `threads` threads.

    The precision is always set: OpenVINO itself would pick bf16 on CPUs with AMX.
    Threads are not pinned to cores, since several model processes may share a node.
    """

    runtime = "openvino"

    def __init__(self, onnx_model: bytes, precision: str, threads: int) -> None:
        import openvino

        if precision not in _OPENVINO_PRECISIONS:
            raise ValueError(f"OpenVINO runs fp32 or bf16 on the CPU, not {precision!r}")
        self.precision = precision
        core = openvino.Core()
        model = core.read_model(io.BytesIO(onnx_model))
        self.compiled = core.compile_model(
            model,
            "CPU",
            {
                "INFERENCE_PRECISION_HINT": _OPENVINO_PRECISIONS[precision],
                "INFERENCE_NUM_THREADS": threads,
                "NUM_STREAMS": 1,
                "PERFORMANCE_HINT": "LATENCY",
                "ENABLE_CPU_PINNING": False,
            },
        )
        self.request = self.compiled.create_infer_request()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) float32 CPU tensor -> (B, frames_out, H, W) float32 CPU tensor."""
        inputs = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        # The request reads the array in place (no copy: it is ours until infer returns); its
        # outputs stay copies (share_outputs off), since it reuses their buffers on the next call.
        outputs = self.request.infer({0: inputs}, share_inputs=True)
        return torch.from_numpy(np.asarray(outputs[0], dtype=np.float32))


class OnnxRuntimeEngine:
    """ONNX Runtime's CPU provider, fp32, `threads` intra-op threads that do not spin when idle."""

    runtime = "onnxruntime"

    def __init__(self, onnx_model: bytes, precision: str, threads: int) -> None:
        import onnxruntime

        if precision != "fp32":
            raise ValueError(f"ONNX Runtime runs fp32 on the CPU, not {precision!r}")
        self.precision = precision
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(onnx_model, options, providers=["CPUExecutionProvider"])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) float32 CPU tensor -> (B, frames_out, H, W) float32 CPU tensor."""
        inputs = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        (heat,) = self.session.run(None, {INPUT_NAME: inputs})
        return torch.from_numpy(heat)
