"""Model runtimes side by side: torch (fp32, bf16), ONNX Runtime (fp32), OpenVINO (fp32, bf16) on this CPU.

    python benchmarks/runtime_throughput.py [--model NAME|PATH] [--threads 2] [--rounds 3] [--repeats 5]
        [--batch-sizes 1 2] [--video-frames 150] [--video-batch-size 2] [--int8] [--out DIR]

One process, `--threads` threads for every runtime (torch.set_num_threads and the ONNX
runtimes' own pools). For the packaged default model (or `--model`), prints:

- model-only: `Predictor.forward` on batches built beforehand from real frames of a
  synthetic clip (`frames_to_input`, background included), ms per batch (median over
  `--repeats` calls and `--rounds` rounds; the variants take turns within each round, so
  load from other processes hits them alike) and frames/s (batch x frames_out frames per
  call), at each batch size with flip_tta off and on (on = the mirrored windows in the
  same call: twice the windows per call); and the largest heatmap difference from torch
  fp32 on the same batch (heatmaps are sigmoid probabilities; the decision threshold is 0.5);
- `Predictor.predict_video` frames/s in this process on a synthetic 1280x720 H.264 clip
  (tracknet.synth): decode to model size, background pass, model, heatmap decoding; with
  flip_tta on (as conf/infer.yaml) at `--video-batch-size`, median of `--rounds` rounds
  taken in turns, and the share of frames whose detection differs from torch fp32's
  (visibility, or position by more than 1 model pixel).

`--int8` adds an experiment that the library does not ship: OpenVINO int8, quantized after
training by NNCF (`pip install nncf`; MIXED preset: symmetric weights, asymmetric
activations) on windows of three synthetic clips at model resolution, plain and mirrored,
its other layers in bf16 where the CPU has it.

The load average is printed at the start and the end: other work on the machine slows
every variant, and the variants' ratios less than their absolute numbers.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tracknet.background import median_background  # noqa: E402
from tracknet.checkpoint import LoadedCheckpoint, load_checkpoint  # noqa: E402
from tracknet.inference import FrameDetections, Predictor  # noqa: E402
from tracknet.predictor_settings import PredictorSettings, cpu_has_native_bf16, resolve_runtime  # noqa: E402
from tracknet.runtimes.engines import OpenVinoEngine  # noqa: E402
from tracknet.runtimes.onnx_cache import cached_onnx  # noqa: E402
from tracknet.synth import SynthConfig, write_clip  # noqa: E402
from tracknet.video import iter_frames, probe  # noqa: E402
from tracknet.weights import resolve_model  # noqa: E402

# (label, runtime, precision); the first is the reference.
VARIANTS = [
    ("torch fp32", "torch", "fp32"),
    ("torch bf16", "torch", "bf16"),
    ("onnxruntime fp32", "onnxruntime", "fp32"),
    ("openvino fp32", "openvino", "fp32"),
    ("openvino bf16", "openvino", "bf16"),
]
INT8 = ("openvino int8", "openvino", "bf16")  # built as bf16, then its engine replaced


class OpenVinoInt8Engine(OpenVinoEngine):
    """OpenVINO running the model quantized to int8 by NNCF on `calibration` windows."""

    def __init__(self, loaded: LoadedCheckpoint, threads: int, calibration: list[np.ndarray]) -> None:
        import nncf
        import openvino

        self.precision = "int8"
        core = openvino.Core()
        model = core.read_model(io.BytesIO(cached_onnx(loaded)))
        quantized = nncf.quantize(model, nncf.Dataset(calibration), subset_size=len(calibration),
                                  preset=nncf.QuantizationPreset.MIXED)
        self.compiled = core.compile_model(quantized, "CPU", {
            "INFERENCE_PRECISION_HINT": "bf16" if cpu_has_native_bf16() else "f32",
            "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
            "ENABLE_CPU_PINNING": False,
        })
        self.request = self.compiled.create_infer_request()


def calibration_windows(loaded: LoadedCheckpoint, work: Path) -> list[np.ndarray]:
    """(1, C, H, W) float32 windows of three synthetic clips at model resolution, plain and mirrored."""
    predictor = Predictor(loaded, PredictorSettings(device="cpu", runtime="torch"))
    config = predictor.config
    windows = []
    for seed in (101, 102, 103):
        clip = work / f"calibration_{seed}.mp4"
        if not clip.exists():
            write_clip(clip, SynthConfig(width=config.width, height=config.height, frames=60, seed=seed))
        images = np.stack([f.image for f in iter_frames(clip, 0, 60, predictor.input_size)])
        background = median_background(images) if config.background else None
        plan = predictor.plan(len(images))
        for t0 in plan.windows_for(0, len(images)):
            x = predictor.frames_to_input(images, plan.input_frames(int(t0))[None], background)
            windows += [x.contiguous().numpy(), x.flip(-1).contiguous().numpy()]
    return windows


def make_predictor(loaded: LoadedCheckpoint, variant: tuple[str, str, str], settings: PredictorSettings,
                   threads: int, int8: OpenVinoInt8Engine | None) -> Predictor:
    label, runtime, precision = variant
    predictor = Predictor(loaded, PredictorSettings(**{**vars(settings), "runtime": runtime, "precision": precision}),
                          threads=threads)
    if variant == INT8:
        predictor.engine = int8
    return predictor


@dataclass
class Cell:
    """One runtime x precision x batch size x flip_tta: timings over all rounds."""

    label: str
    batch_size: int
    flip_tta: bool
    seconds: list[float]
    max_diff: float = 0.0


def machine_facts() -> str:
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return f"{cpu}, {os.cpu_count()} CPUs, native bf16 {cpu_has_native_bf16()}, load average {load}"


def versions() -> str:
    found = [f"torch {torch.__version__}"]
    for name in ("onnxruntime", "openvino"):
        try:
            found.append(f"{name} {__import__(name).__version__}")
        except ImportError:
            found.append(f"{name} not installed")
    return ", ".join(found)


def build_batches(predictor: Predictor, clip: Path, batch_size: int) -> list[torch.Tensor]:
    """Model inputs of `batch_size` windows from the clip's first frames, as the job builds them."""
    config = predictor.config
    frames = config.frames_in * batch_size * 2
    images = np.stack([f.image for f in iter_frames(clip, 0, frames, predictor.input_size)])
    plan = predictor.plan(frames)
    index = np.stack([plan.input_frames(int(t0)) for t0 in plan.windows_for(0, frames)])  # (windows, frames_in)
    background = median_background(images) if config.background else None
    return [predictor.frames_to_input(images, index[i : i + batch_size], background)
            for i in range(0, len(index) - batch_size + 1, batch_size)]


def model_only(loaded: LoadedCheckpoint, clip: Path, args: argparse.Namespace, variants: list,
               int8: OpenVinoInt8Engine | None) -> list[Cell]:
    predictors = {
        (variant[0], flip): make_predictor(loaded, variant, PredictorSettings(device="cpu", flip_tta=flip),
                                           args.threads, int8)
        for variant in variants for flip in (False, True)
    }
    for (label, _), predictor in predictors.items():
        if f"{predictor.engine.runtime} {predictor.engine.precision}" != label:
            print(f"note: {label} runs as {predictor.engine.runtime} {predictor.engine.precision}", flush=True)
    cells: dict[tuple[str, int, bool], Cell] = {}
    inputs = {  # in each predictor's memory format (torch: channels-last; ONNX runtimes: NCHW)
        (label, b): build_batches(predictors[(label, False)], clip, b) for label, _, _ in variants for b in args.batch_sizes
    }
    for (label, flip), predictor in predictors.items():  # warm-up, and heatmaps vs the reference
        for batch_size in args.batch_sizes:
            reference = predictors[(VARIANTS[0][0], flip)].forward(inputs[(VARIANTS[0][0], batch_size)][0])
            heat = predictor.forward(inputs[(label, batch_size)][0])
            diff = float(np.abs(heat - reference).max())
            cells[(label, batch_size, flip)] = Cell(label, batch_size, flip, [], diff)
    for round_index in range(args.rounds):
        for (label, flip), predictor in predictors.items():
            for batch_size in args.batch_sizes:
                batches = inputs[(label, batch_size)]
                for repeat in range(args.repeats):
                    x = batches[repeat % len(batches)]
                    start = time.perf_counter()
                    predictor.forward(x)
                    cells[(label, batch_size, flip)].seconds.append(time.perf_counter() - start)
        print(f"model-only round {round_index + 1}/{args.rounds} done; load average "
              f"{os.getloadavg()[0]:.2f}", flush=True)
    return list(cells.values())


def differs(found: FrameDetections, reference: FrameDetections, scale: float) -> float:
    """Share of frames whose visibility differs, or whose position is more than 1 model px away."""
    both = found.visible & reference.visible
    far = np.zeros(len(found), bool)
    far[both] = np.hypot(found.x[both] - reference.x[both], found.y[both] - reference.y[both]) > scale
    return float(((found.visible != reference.visible) | far).mean())


def videos(loaded: LoadedCheckpoint, clip: Path, args: argparse.Namespace, variants: list,
           int8: OpenVinoInt8Engine | None) -> list[tuple[str, float, float]]:
    """(label, frames/s, share of frames differing from torch fp32) of predict_video per variant.

    The variants take turns within each of `--rounds` rounds (median frames/s), like model-only.
    """
    info = probe(clip)
    frames = info.frame_count
    size = (info.width, info.height)
    scale = info.width / loaded.model.config.width  # one model pixel in source pixels
    settings = PredictorSettings(device="cpu", flip_tta=True, batch_size=args.video_batch_size)
    predictors = {variant[0]: make_predictor(loaded, variant, settings, args.threads, int8) for variant in variants}
    rates: dict[str, list[float]] = {label: [] for label in predictors}
    found: dict[str, FrameDetections] = {}
    for label, predictor in predictors.items():  # warm-up
        predictor.predict_video(clip, frames, size, 0, min(frames, 12))
    for round_index in range(args.rounds):
        for label, predictor in predictors.items():
            start = time.perf_counter()
            found[label] = predictor.predict_video(clip, frames, size)
            rates[label].append(frames / (time.perf_counter() - start))
        print(f"predict_video round {round_index + 1}/{args.rounds}: "
              + ", ".join(f"{label} {rates[label][-1]:.1f}" for label in predictors) + " frames/s", flush=True)
    reference = found[variants[0][0]]
    return [(label, float(np.median(rates[label])), differs(found[label], reference, scale)) for label in predictors]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="packaged model name or checkpoint path; default: badminton")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads of every runtime")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2], help="windows per forward pass")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per cell and round")
    parser.add_argument("--video-frames", type=int, default=150, help="frames of the 1280x720 predict_video clip")
    parser.add_argument("--video-batch-size", type=int, default=2)
    parser.add_argument("--int8", action="store_true", help="add OpenVINO int8 by NNCF (needs nncf)")
    parser.add_argument("--out", help="work folder (the clip is reused between runs)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    work = Path(args.out or tempfile.mkdtemp(prefix="runtime-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    model_path = Path(resolve_model(args.model))
    loaded = load_checkpoint(model_path)
    config = loaded.model.config
    clip = work / f"clip_1280x720_{args.video_frames}.mp4"
    if not clip.exists():
        write_clip(clip, SynthConfig(width=1280, height=720, frames=args.video_frames, seed=0))
    auto = resolve_runtime(PredictorSettings(device="cpu", precision="auto"), torch.device("cpu"))
    print(f"start: {machine_facts()}")
    print(f"{versions()}; {args.threads} threads; model {loaded.model_version} ({config.width}x{config.height}, "
          f"width x{config.width_mult}, {config.in_channels} input channels); runtime=auto precision=auto "
          f"resolves to {auto[0]} {auto[1]} here", flush=True)

    variants, int8 = list(VARIANTS), None
    if args.int8:
        start = time.perf_counter()
        int8 = OpenVinoInt8Engine(loaded, args.threads, calibration_windows(loaded, work))
        variants.append(INT8)
        print(f"int8: quantized in {time.perf_counter() - start:.0f} s", flush=True)
    cells = model_only(loaded, clip, args, variants, int8)
    video_rows = videos(loaded, clip, args, variants, int8)

    reference = {(c.batch_size, c.flip_tta): float(np.median(c.seconds)) for c in cells if c.label == VARIANTS[0][0]}
    print(f"\nModel-only, `Predictor.forward`, {args.rounds} rounds x {args.repeats} calls, medians "
          f"({args.threads} threads; frames/s = batch x {config.frames_out} frames per call)\n")
    print("| runtime | batch | flip_tta | ms / batch | frames/s | vs torch fp32 | max heatmap diff |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    order = [variant[0] for variant in variants]
    for cell in sorted(cells, key=lambda c: (c.flip_tta, c.batch_size, order.index(c.label))):
        seconds = float(np.median(cell.seconds))
        rate = cell.batch_size * config.frames_out / seconds
        speedup = reference[(cell.batch_size, cell.flip_tta)] / seconds
        print(f"| {cell.label} | {cell.batch_size} | {'on' if cell.flip_tta else 'off'} | {seconds * 1000:.1f} | "
              f"{rate:.1f} | {speedup:.2f}x | {cell.max_diff:.1e} |")
    print(f"\n`Predictor.predict_video`, one process, {args.video_frames}-frame 1280x720 H.264 synthetic clip, "
          f"flip_tta on, batch {args.video_batch_size}, {args.rounds} rounds, medians\n")
    print("| runtime | frames/s | vs torch fp32 | frames differing from torch fp32 |")
    print("| --- | --- | --- | --- |")
    for label, rate, share in video_rows:
        print(f"| {label} | {rate:.1f} | {rate / video_rows[0][1]:.2f}x | {share:.1%} |")
    print(f"\nend: load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
