"""Many short videos through jobs.infer: per-video overhead, driver memory, and what re-runs cost.

    python benchmarks/infer_stages.py [--videos 50] [--frames 15] [--model synthetic]

Writes synthetic clips (320x180, tracknet.synth) and runs the real job (local Ray,
conf/infer.yaml with `predictor.flip_tta=false`) over the first N of them for each N
given (a first run each), and for the largest N three more times on the same output:

1. the same command again (every stage already done: skipped);
2. plus `outputs.json=true` (JSON derived from the committed predictions: no Ray, no model);
3. plus `outputs.overlays=true` (decodes the sources again, no model).

Prints, side by side: wall time, videos per stage done/skipped, the time to the first
committed video (its ledger record), and the driver's peak RSS so far (it must not grow
with N beyond the listing); then the per-video cost of a first run between the smallest
and largest N (Ray start-up cancels out) against the model's own time per video (one
clip, in this process, same settings).
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
    parser.add_argument("--videos", type=int, nargs="+", default=[50, 200],
                        help="video counts; each gets a first run, the largest the re-runs too")
    parser.add_argument("--frames", type=int, default=15)
    parser.add_argument("--model", default="synthetic", help="packaged model name or checkpoint path")
    args = parser.parse_args()

    counts = sorted(args.videos)
    work = Path(tempfile.mkdtemp(prefix="infer_stages_"))
    clips = work / "clips"
    clips.mkdir()
    for i in range(counts[-1]):
        path = clips / f"v{i:05d}.mp4"
        write_clip(path, SynthConfig(width=WIDTH, height=HEIGHT, frames=args.frames, seed=i))
        path.with_suffix(".csv").unlink()
    conf = REPO / "conf" / "infer.yaml"
    base = [f"model={args.model}", "predictor.flip_tta=false"]

    predictor = Predictor(args.model, load_config(InferConfig, conf, ["input=x", "output=y", *base]).predictor)
    probe_clip = str(clips / "v00000.mp4")
    predictor.predict_video(probe_clip, args.frames, (WIDTH, HEIGHT))  # warm-up
    t0 = time.perf_counter()
    predictor.predict_video(probe_clip, args.frames, (WIDTH, HEIGHT))
    model_s = time.perf_counter() - t0

    print(f"videos of {args.frames} frames at {WIDTH}x{HEIGHT}, model {Path(args.model).name}, flip_tta off; "
          f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    print("| videos | run | wall s | predict done/skipped | json done | overlay done | first commit s "
          "| driver peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|")
    first_walls = {}
    for count in counts:
        videos = work / f"videos_{count}"
        videos.mkdir()
        for i in range(count):
            (videos / f"v{i:05d}.mp4").symlink_to(clips / f"v{i:05d}.mp4")
        out = work / f"out_{count}"
        runs = [("first run", [])]
        if count == counts[-1]:
            runs += [("same command again", []), ("+ outputs.json=true", ["outputs.json=true"]),
                     ("+ outputs.overlays=true", ["outputs.json=true", "outputs.overlays=true"])]
        for name, extra in runs:
            found: list[float] = []
            stop = threading.Event()
            started = time.perf_counter()
            watcher = threading.Thread(target=first_commit_s, args=(out / "_ledger", time.time(), stop, found),
                                       daemon=True)
            watcher.start()
            config = load_config(InferConfig, conf, [f"input={videos}", f"output={out}", *base, *extra])
            report = run_inference(config)
            wall = time.perf_counter() - started
            stop.set()
            if name == "first run":
                first_walls[count] = wall
            predict = report.stage_counts("predict")
            first = f"{found[0]:.1f}" if found else "-"
            print(f"| {count} | {name} | {wall:.1f} | {predict['done']}/{predict['skipped']} | "
                  f"{report.stage_counts('json')['done']} | {report.stage_counts('overlay')['done']} | {first} | "
                  f"{peak_rss_mib():.0f} |", flush=True)
            if name == "+ outputs.json=true":
                json_share = wall / first_walls[count]
    print(f"model time per video (in-process, one clip, same settings): {model_s * 1000:.0f} ms")
    if len(counts) > 1:
        small, large = counts[0], counts[-1]
        marginal = (first_walls[large] - first_walls[small]) / (large - small)
        print(f"per-video cost of a first run between {small} and {large} videos (start-up cancels out): "
              f"{marginal * 1000:.0f} ms, of which {marginal * 1000 - model_s * 1000:.0f} ms beyond the model")
    print(f"a re-run adding JSON took {json_share:.1%} of the first run's wall time; "
          f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
