"""Inference throughput and memory: jobs.infer end to end vs model-only vs a naive loop.

    python benchmarks/infer_throughput.py [--model NAME|PATH] [--frames 1800] [--width 1280 --height 720]
        [--precision bf16] [--batch-size 1] [--actors 2] [--threads 1] [--no-flip-tta] [--memory-frames 300]
        [--out DIR]

On one synthetic clip (tracknet.synth), one model and this machine, prints:

- end-to-end frames/s: `jobs.infer.run_inference` on local Ray (already started and
  warmed up, as on a cluster): listing, probing, decode tasks, the model actor pool,
  stitching, clean-up and writing parquet + CSV;
- model-only frames/s: `Predictor.forward` on pre-decoded, pre-built input tensors of
  `--batch-size` windows (no decoding, no input building, no post-processing), in
  `--actors` processes of `--threads` torch threads at once, as the job's actors run;
- naive frames/s: the plain loop in one process (torch's default threads: all cores):
  decode one frame at a time, `model.predict` (eager, fp32, default layout) at batch
  size 1 on each triplet of frames, `decode_to_source` (for a model with a background
  input, the clip's median frame first, `estimate_background`, timed too);
- peak memory (PSS summed over the job's whole process tree: driver, Ray, workers) of
  `python -m jobs.infer` on a short clip and on one 3x longer.

The three throughputs do the same work per window: with flip_tta (on, as conf/infer.yaml
ships it; `--no-flip-tta` turns it off), the mirrored pass as well.

Defaults are the configuration measured best on a 2-core CPU: two single-threaded
model actors (no OpenMP barriers to stall when decode tasks share the cores), bf16
autocast, batch 1. All processes run with OMP_WAIT_POLICY=PASSIVE (as jobs.infer sets it
for actors that share their CPUs), so none collapses when other work shares the CPUs.

The model is `--model`, else the packaged default checkpoint if present (and no
`--untrained-width-mult`), else an untrained TrackNetV2 at 288x512 of that width (0.25:
the DESIGN.md CPU starting point) whose output bias is set to -4, so that its heatmaps
are mostly below the threshold as a trained model's are (post-processing then costs
what it costs in production).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# As in jobs.infer's model actors: OpenMP threads wait passively (read when torch loads).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.report import print_table  # noqa: E402
from jobs.common.config import load_config  # noqa: E402
from jobs.infer import InferConfig, run_inference  # noqa: E402
from tracknet.background import estimate_background, median_background  # noqa: E402
from tracknet.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from tracknet.heatmap import decode_to_source  # noqa: E402
from tracknet.inference import Predictor  # noqa: E402
from tracknet.model import ModelConfig, TrackNet  # noqa: E402
from tracknet.predictor_settings import PredictorSettings  # noqa: E402
from tracknet.preprocess import resize_frame, to_model_input  # noqa: E402
from tracknet.synth import SynthConfig, write_clip  # noqa: E402
from tracknet.video import iter_frames, probe  # noqa: E402
from tracknet.weights import DEFAULT_MODEL, resolve_model  # noqa: E402

CONF = REPO / "conf" / "infer.yaml"


def prepare_model(args: argparse.Namespace, work: Path) -> tuple[Path, str]:
    if args.model:
        return Path(resolve_model(args.model)), "given"
    if args.untrained_width_mult is None:
        return Path(resolve_model(DEFAULT_MODEL)), f"packaged {DEFAULT_MODEL}"
    width_mult = args.untrained_width_mult or 0.25
    torch.manual_seed(0)
    model = TrackNet(ModelConfig(width_mult=width_mult))
    with torch.no_grad():
        model.head.bias.fill_(-4.0)
    path = work / f"untrained_w{width_mult}.pt"
    save_checkpoint(path, model, name=f"bench-untrained-w{width_mult}")
    return path, f"untrained width {width_mult}"


def make_clip(path: Path, frames: int, args: argparse.Namespace) -> Path:
    if not path.exists():
        write_clip(path, SynthConfig(width=args.width, height=args.height, frames=frames, seed=0))
    return path


def _model_only_worker(model: Path, clip: Path, args: argparse.Namespace, barrier, results) -> None:
    """One model process: build its batches, wait for the others, time the forward passes."""
    torch.set_num_threads(args.threads)
    predictor = Predictor(load_checkpoint(model), PredictorSettings(device="cpu", batch_size=args.batch_size, precision=args.precision, flip_tta=args.flip_tta))
    frames = min(probe(clip).frame_count, args.rate_frames)
    images = np.stack([f.image for f in iter_frames(clip, 0, frames, predictor.input_size)])
    plan = predictor.plan(frames)
    index = np.stack([plan.input_frames(int(t0)) for t0 in plan.windows_for(0, frames)])  # (windows, frames_in)
    background = median_background(images) if predictor.config.background else None
    batches = [  # model inputs built before timing, in the model's memory format
        predictor.frames_to_input(images, index[i : i + args.batch_size], background)
        for i in range(0, len(index), args.batch_size)
    ]
    predictor.forward(batches[0])  # warm-up
    barrier.wait()
    start = time.perf_counter()
    for batch in batches:
        predictor.forward(batch)
    results.put(frames / (time.perf_counter() - start))


def model_only(model: Path, clip: Path, args: argparse.Namespace) -> float:
    """frames/s of the forward pass alone, as the job runs it: `--actors` processes of `--threads` threads."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(args.actors), context.Queue()
    workers = [
        context.Process(target=_model_only_worker, args=(model, clip, args, barrier, results))
        for _ in range(args.actors)
    ]
    for worker in workers:
        worker.start()
    rates = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    return sum(rates)


def naive(model: Path, clip: Path, frames: int, flip_tta: bool) -> float:
    """frames/s of the plain loop: decode one frame at a time, eager fp32 model at batch 1, decode heatmaps."""
    net = load_checkpoint(model).model.eval()
    config = net.config
    size = (config.width, config.height)
    info = probe(clip)
    frames = min(frames, info.frame_count)
    source_size = (info.width, info.height)
    net.predict(torch.zeros(1, config.in_channels, config.height, config.width))  # warm-up
    start = time.perf_counter()
    background = [estimate_background(clip, 0, frames, size)] if config.background else []
    window: list[np.ndarray] = []
    positions = []
    for frame in iter_frames(clip, 0, frames):
        window.append(resize_frame(frame.image, size))
        if len(window) == config.frames_in or frame.index == frames - 1:
            while len(window) < config.frames_in:
                window.append(window[-1])
            x = torch.from_numpy(to_model_input(window + background))[None]
            heat = net.predict(x)[0].numpy()  # (O, H, W)
            if flip_tta:
                heat = np.maximum(heat, net.predict(x.flip(-1))[0].flip(-1).numpy())
            positions += [decode_to_source(h, source_size) for h in heat]
            window = []
    return frames / (time.perf_counter() - start)


def job_overrides(args: argparse.Namespace) -> list[str]:
    return [
        "predictor.device=cpu",
        f"predictor.precision={args.precision}",
        f"predictor.batch_size={args.batch_size}",
        f"num_actors={args.actors}",
        f"cpus_per_actor={args.cpus_per_actor}",
        f"predictor.torch_threads={args.threads}",
        f"decode_cpus={args.decode_cpus}",
        f"segment_frames={args.segment_frames}",
        f"predictor.flip_tta={str(args.flip_tta).lower()}",
        "overwrite=true",
    ]


def end_to_end(model: Path, clip: Path, out: Path, args: argparse.Namespace) -> float:
    """frames/s of the whole job on a running (warmed-up) local Ray."""
    overrides = [f"input={clip}", f"output={out}", f"model={model}", *job_overrides(args)]
    start = time.perf_counter()
    report = run_inference(load_config(InferConfig, CONF, overrides))
    elapsed = time.perf_counter() - start
    if report.exit_code != 0:
        raise RuntimeError(f"benchmark run failed: {report.rows}")
    return probe(clip).frame_count / elapsed


def _descendants(pid: int) -> list[int]:
    """pid and all its descendants, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack += children.get(current, [])
    return found


def tree_memory_bytes(pid: int) -> int:
    """PSS (shared pages split between sharers, e.g. the object store) over a process tree."""
    total = 0
    for member in _descendants(pid):
        try:
            for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            continue
    return total


def peak_memory(model: Path, clip: Path, out: Path, args: argparse.Namespace) -> tuple[float, float]:
    """(peak GiB over the job's process tree, wall s) of `python -m jobs.infer` in a fresh process."""
    command = [sys.executable, "-m", "jobs.infer", "--config", str(CONF), f"input={clip}", f"output={out}",
               f"model={model}", *job_overrides(args)]
    env = dict(os.environ, RAY_ADDRESS="")
    env["PYTHONPATH"] = str(REPO)
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    while proc.poll() is None:
        peak = max(peak, tree_memory_bytes(proc.pid))
        time.sleep(0.5)
    reader.join()
    if proc.returncode != 0:
        raise RuntimeError(f"jobs.infer exited {proc.returncode}:\n{''.join(lines[-30:])}")
    return peak / 2**30, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="packaged model name or checkpoint path; default: badminton (packaged)")
    parser.add_argument("--untrained-width-mult", type=float,
                        help="use an untrained TrackNet of this width (e.g. 0.25, DESIGN.md's CPU reference)")
    parser.add_argument("--frames", type=int, default=1800, help="frames of the throughput clip (1 min at 30 fps)")
    parser.add_argument("--rate-frames", type=int, default=300,
                        help="model-only and naive time this many frames of the clip (their rate is steady)")
    parser.add_argument("--memory-frames", type=int, default=300, help="frames of the short memory clip (long = 3x)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--batch-size", type=int, default=1, help="windows per forward pass (CPU best: 1-2)")
    parser.add_argument("--precision", default="bf16", choices=("fp32", "bf16"), help="job and model-only arithmetic")
    parser.add_argument("--flip-tta", action=argparse.BooleanOptionalAction, default=True,
                        help="mirrored second pass per window, as conf/infer.yaml (all three measurements)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three throughputs (medians shown)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per model actor / model-only process")
    parser.add_argument("--actors", type=int, default=os.cpu_count() or 1, help="model actors / model-only processes")
    parser.add_argument("--cpus-per-actor", type=float, default=0.75, help="logical CPUs each actor reserves")
    parser.add_argument("--decode-cpus", type=float, default=0.5, help="logical CPUs each decode task reserves")
    parser.add_argument("--segment-frames", type=int, default=1800)
    parser.add_argument("--ray-cpus", type=int, default=os.cpu_count() or 1, help="logical CPUs of the local Ray")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--out", help="work folder (clips are reused between runs)")
    args = parser.parse_args()

    work = Path(args.out or tempfile.mkdtemp(prefix="infer-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    model, model_kind = prepare_model(args, work)
    clip = make_clip(work / f"clip_{args.width}x{args.height}_{args.frames}.mp4", args.frames, args)
    config = load_checkpoint(model).model.config
    print(f"clip: {args.frames} frames {args.width}x{args.height}; model: {model_kind} "
          f"({config.width}x{config.height}, width x{config.width_mult}); batch {args.batch_size}; {args.precision}; "
          f"flip_tta {args.flip_tta}; "
          f"{args.actors} actors x {args.threads} torch threads; naive: {torch.get_num_threads()} threads; "
          f"{os.cpu_count()} CPUs", flush=True)

    # The three throughputs are measured back to back, round after round, so that load from
    # other processes on a shared machine hits them alike; the table shows medians.
    import ray

    ray.init(num_cpus=args.ray_cpus, include_dashboard=False, log_to_driver=False)
    warm = make_clip(work / "warmup.mp4", 6, argparse.Namespace(width=160, height=96))
    run_inference(load_config(InferConfig, CONF, [f"input={warm}", f"output={work / 'warm_out'}",
                                                  f"model={model}", *job_overrides(args)]))
    rounds: list[tuple[float, float, float]] = []
    for round_index in range(args.rounds):
        only = model_only(model, clip, args)
        loop = naive(model, clip, args.rate_frames, args.flip_tta)
        e2e = end_to_end(model, clip, work / "e2e_out", args)
        rounds.append((only, loop, e2e))
        print(f"round {round_index + 1}: model-only {only:.1f}, naive {loop:.1f}, end-to-end {e2e:.1f} frames/s; "
              f"end-to-end / model-only {e2e / only:.2f}x, / naive {e2e / loop:.2f}x", flush=True)
    ray.shutdown()
    only, loop, e2e = (float(np.median(column)) for column in zip(*rounds))
    to_only = float(np.median([r[2] / r[0] for r in rounds]))
    to_naive = float(np.median([r[2] / r[1] for r in rounds]))
    results: list[tuple[str, str]] = [
        ("end-to-end jobs.infer (local Ray)", f"{e2e:.1f} frames/s"),
        ("model-only (pre-decoded batches)", f"{only:.1f} frames/s"),
        ("naive loop (1 frame decode, batch 1)", f"{loop:.1f} frames/s"),
        ("end-to-end / model-only", f"{to_only:.2f}x (target >= 0.8x)"),
        ("end-to-end / naive", f"{to_naive:.2f}x (target >= 2x)"),
    ]

    if not args.skip_memory:
        for factor in (1, 3):
            frames = args.memory_frames * factor
            mem_clip = make_clip(work / f"clip_{args.width}x{args.height}_{frames}.mp4", frames, args)
            peak, wall = peak_memory(model, mem_clip, work / f"mem_out_{frames}", args)
            name = f"peak memory, {frames}-frame clip (job process tree, PSS)"
            results.append((name, f"{peak:.2f} GiB ({wall:.0f} s)"))
            print(results[-1], flush=True)

    print_table(f"{args.rounds} rounds, medians", results)


if __name__ == "__main__":
    main()
