"""Many short videos through jobs.infer: per-video overhead, driver memory, and what re-runs cost.

    python benchmarks/infer_stages.py [--videos 50] [--frames 15] [--model tracknet/weights/synthetic.pt]

Writes N synthetic clips (320x180, tracknet.synth), then runs the real job (local Ray,
conf/infer.yaml with `predictor.flip_tta=false`) over them four times on the same output:

1. the first run (model pass, CSV);
2. the same command again (every stage already done: skipped);
3. plus `outputs.json=true` (JSON derived from the committed predictions, no model);
4. plus `outputs.overlays=true` (decodes the sources again, no model).

Prints, side by side: wall time, videos per stage done/skipped, the time to the first
committed video (its ledger record), and the driver's peak RSS after each run; and the
per-video overhead of the first run beyond model time (the model's own time per video,
measured in this process on one clip with the same settings, times N).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from jobs.common.config import load_config  # noqa: E402
from jobs.infer import InferConfig, run_inference  # noqa: E402
from tracknet.inference import Predictor  # noqa: E402
from tracknet.synth import SynthConfig, write_clip  # noqa: E402
from tracknet.weights import synthetic_checkpoint_path  # noqa: E402

WIDTH, HEIGHT = 320, 180


def first_commit_s(ledger: Path, started: float, stop: threading.Event, found: list[float]) -> None:
    """Poll the run ledger until a record is written after `started` (time.time()); append the seconds."""
    while not stop.is_set():
        if ledger.exists() and any(p.stat().st_mtime > started for p in ledger.rglob("*.json")):
            found.append(time.time() - started)
            return
        time.sleep(0.05)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=50)
    parser.add_argument("--frames", type=int, default=15)
    parser.add_argument("--model", default=str(synthetic_checkpoint_path()))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="infer_stages_"))
    videos = work / "videos"
    videos.mkdir()
    for i in range(args.videos):
        path = videos / f"v{i:05d}.mp4"
        write_clip(path, SynthConfig(width=WIDTH, height=HEIGHT, frames=args.frames, seed=i))
        path.with_suffix(".csv").unlink()
    out = work / "out"
    base = [f"input={videos}", f"output={out}", f"model={args.model}", "predictor.flip_tta=false"]
    config = load_config(InferConfig, REPO / "conf" / "infer.yaml", base)

    predictor = Predictor(args.model, config.predictor)
    probe_clip = str(videos / "v00000.mp4")
    predictor.predict_video(probe_clip, args.frames, (WIDTH, HEIGHT))  # warm-up
    t0 = time.perf_counter()
    predictor.predict_video(probe_clip, args.frames, (WIDTH, HEIGHT))
    model_s_per_video = time.perf_counter() - t0

    print(f"{args.videos} videos of {args.frames} frames at {WIDTH}x{HEIGHT}, model {Path(args.model).name}, "
          f"flip_tta off; machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    print("| run | wall s | predict done/skipped | json done | overlay done | first commit s | driver peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    runs = [("first run", []), ("same command again", []), ("+ outputs.json=true", ["outputs.json=true"]),
            ("+ outputs.overlays=true", ["outputs.json=true", "outputs.overlays=true"])]
    walls = {}
    for name, extra in runs:
        found: list[float] = []
        stop = threading.Event()
        started = time.perf_counter()
        watcher = threading.Thread(target=first_commit_s, args=(out / "_ledger", time.time(), stop, found),
                                   daemon=True)
        watcher.start()
        report = run_inference(load_config(InferConfig, REPO / "conf" / "infer.yaml", base + extra))
        wall = time.perf_counter() - started
        stop.set()
        walls[name] = wall
        predict = report.stage_counts("predict")
        first = f"{found[0]:.1f}" if found else "-"
        print(f"| {name} | {wall:.1f} | {predict['done']}/{predict['skipped']} | "
              f"{report.stage_counts('json')['done']} | {report.stage_counts('overlay')['done']} | {first} | "
              f"{peak_rss_mib():.0f} |", flush=True)
    model_total = model_s_per_video * args.videos
    overhead_ms = (walls["first run"] - model_total) / args.videos * 1000
    print(f"model time per video (in-process, one clip): {model_s_per_video * 1000:.0f} ms; "
          f"first run overhead beyond model time: {overhead_ms:.0f} ms per video (Ray start-up included)")
    print(f"a re-run adding JSON took {walls['+ outputs.json=true'] / walls['first run']:.1%} of the first run; "
          f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
