"""Speed of shot splitting and player detection, and what they add to batch inference.

    python benchmarks/players_shots.py [--clip PATH] [--frames 900] [--videos 4] [--rounds 2] [--model NAME|PATH]
        [--actors 2 --cpus-per-actor 0.75 --decode-cpus 0.5 --analysis-cpus 0] [--out DIR]

On a 1280x720 clip (`--clip`, else a synthetic broadcast with close-up and crowd
cut-aways made by tracknet.synth), prints:

- shot detection frames/s: `ShotSplitter.push` (cut detector + court-mask samples) on
  frames already decoded at the analysis width, and the classification at the end;
- player detector frames/s: the background detector's `detect` on decoded analysis frames
  plus the court logic, and per shot the consensus background, as `analyze_broadcast`
  spends it (its own stopwatches), and the same with decoding included;
- decoding frames/s at the analysis width (the analysis decodes twice: shots, then
  court-view shots again for players);
- ball inference (the same checkpoint and precision as the job) in one process, for scale;
- end-to-end `jobs.infer` (local Ray, warmed up) on a batch of `--videos` copies of the
  clip, with shots and players off, shots only, and shots + players: frames/s, the
  machine's CPU time per frame (/proc/stat: keep the machine otherwise idle), and the
  wall and CPU time each adds, in percent. A batch, as in a backfill, because each run pays a
  fixed start-up (a fresh Ray worker importing the job for the analysis task: about 3 s
  here) that a single 30-second clip would count as per-frame cost. The job runs
  the analysis as one extra task per video beside the ball pipeline's tasks, so on a
  busy 2-core machine its CPU time is what it costs.

All processes run with OMP_WAIT_POLICY=PASSIVE (as jobs.infer's model actors do when they
share CPUs). Rounds alternate the configurations, so that load from other processes hits
them alike; the table shows medians.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.report import print_table  # noqa: E402
from jobs.common.config import load_config  # noqa: E402
from jobs.infer import InferConfig, run_inference  # noqa: E402
from tracknet.broadcast import BroadcastConfig, analysis_size, analyze_broadcast  # noqa: E402
from tracknet.inference import Predictor  # noqa: E402
from tracknet.players import PlayerConfig, make_detector  # noqa: E402
from tracknet.predictor_settings import PredictorSettings  # noqa: E402
from tracknet.shots import ShotSplitter  # noqa: E402
from tracknet.synth import SynthConfig, write_clip  # noqa: E402
from tracknet.video import iter_frames, probe  # noqa: E402
from tracknet.weights import resolve_model  # noqa: E402

CONF = REPO / "conf" / "infer.yaml"
CONFIGS = {
    "off": [],
    "shots": ["shots.enabled=true"],
    "shots+players": ["shots.enabled=true", "players.enabled=true"],
}


def make_clip(path: Path, frames: int) -> Path:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # A broadcast-like rhythm: rallies of ~10 s on the court camera, a second or so of
        # close-up or crowd between them.
        cutaways = max(0, min(frames // 300, (frames - 20) // 60))
        write_clip(path, SynthConfig(width=1280, height=720, frames=frames, seed=1, court="badminton",
                                     cutaways=cutaways))
        path.with_suffix(".csv").unlink()
    return path


def shot_detection_fps(clip: Path, width: int) -> tuple[float, float]:
    """(frames/s of ShotSplitter on pre-decoded analysis frames, frames/s of decoding at that size)."""
    info = probe(clip)
    size = analysis_size(info, width)
    started = time.perf_counter()
    frames = [frame.image for frame in iter_frames(clip, size=size)]
    decode_s = time.perf_counter() - started
    splitter = ShotSplitter(info.fps)
    started = time.perf_counter()
    for index, image in enumerate(frames):
        splitter.push(index, image)
    splitter.finish()
    return len(frames) / (time.perf_counter() - started), len(frames) / decode_s


def analysis_fps(clip: Path, width: int) -> dict[str, float]:
    """analyze_broadcast's own split of its time: frames/s of shots, players, decoding, and all."""
    info = probe(clip)
    started = time.perf_counter()
    result = analyze_broadcast(str(clip), info, BroadcastConfig(analysis_width=width), make_detector(PlayerConfig()))
    total_s = time.perf_counter() - started
    n = info.frame_count
    return {
        "shots": n / result.shots_s,
        "players": n / result.players_s,
        "decode": n / result.decode_s,
        "all": n / total_s,
        "both_players": float(result.both_players()[result.court_view].mean()) if result.court_view.any() else 0.0,
        "court_view": float(result.court_view.mean()),
    }


def ball_fps(model: Path, clip: Path, precision: str) -> float:
    """frames/s of ball inference in one process (1 torch thread, as one job actor): decode, model, heatmaps."""
    torch.set_num_threads(1)
    info = probe(clip)
    predictor = Predictor(str(model), PredictorSettings(device="cpu", batch_size=1, precision=precision))
    started = time.perf_counter()
    predictor.predict_video(str(clip), info.frame_count, (info.width, info.height))
    return info.frame_count / (time.perf_counter() - started)


def make_batch(clip: Path, folder: Path, videos: int) -> Path:
    """A folder holding `videos` copies of `clip` (the job's input for the end-to-end runs)."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(videos):
        copy = folder / f"video_{index:02d}{clip.suffix}"
        if not copy.exists():
            shutil.copyfile(clip, copy)
    return folder


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (user, nice, system) since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        user, nice, system = (int(v) for v in stat.readline().split()[1:4])
    return (user + nice + system) / os.sysconf("SC_CLK_TCK")


def end_to_end(
    model: Path, batch: Path, out: Path, overrides: list[str], args: argparse.Namespace
) -> tuple[float, float]:
    """(frames/s, CPU ms per frame) of one jobs.infer run over `batch`.

    CPU is the whole machine's (Ray's workers are separate processes): keep it otherwise idle.
    """
    config = load_config(InferConfig, CONF, [
        f"input={batch}", f"output={out}", f"model={model}", f"predictor.precision={args.precision}", "overwrite=true",
        f"num_actors={args.actors}", f"cpus_per_actor={args.cpus_per_actor}", f"decode_cpus={args.decode_cpus}",
        f"analysis.cpus={args.analysis_cpus}", *overrides,
    ])
    busy, started = machine_busy_s(), time.perf_counter()
    report = run_inference(config)
    elapsed, cpu_s = time.perf_counter() - started, machine_busy_s() - busy
    if report.exit_code != 0:
        raise RuntimeError(f"benchmark run failed: {report.rows}")
    frames = sum(probe(path).frame_count for path in batch.iterdir())
    return frames / elapsed, 1000 * cpu_s / frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", help="a 1280x720 video; default: a synthetic one with cut-aways")
    parser.add_argument("--frames", type=int, default=900, help="frames of the synthetic clip")
    parser.add_argument("--videos", type=int, default=4, help="copies of the clip in the end-to-end batch")
    parser.add_argument("--model", help="packaged model name or checkpoint path; default: badminton")
    parser.add_argument("--precision", default="bf16", choices=("fp32", "bf16"))
    parser.add_argument("--width", type=int, default=640, help="analysis width")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--cpus-per-actor", type=float, default=0.75)
    parser.add_argument("--decode-cpus", type=float, default=0.5)
    parser.add_argument("--analysis-cpus", type=float, default=0.0,
                        help="analysis.cpus: 0 shares the CPUs the pipeline reserved (its work still costs wall time)")
    parser.add_argument("--ray-cpus", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-e2e", action="store_true", help="library timings only")
    parser.add_argument("--out", help="work folder (the synthetic clip is reused between runs)")
    args = parser.parse_args()

    work = Path(args.out or tempfile.mkdtemp(prefix="players-shots-bench-"))
    clip = Path(args.clip) if args.clip else make_clip(work / "clips" / f"broadcast_{args.frames}.mp4", args.frames)
    model = Path(resolve_model(args.model))
    info = probe(clip)
    print(f"clip: {clip.name}, {info.frame_count} frames {info.width}x{info.height}; analysis width {args.width}; "
          f"{os.cpu_count()} CPUs", flush=True)

    rounds: list[dict[str, float]] = []
    e2e: dict[str, list[tuple[float, float]]] = {name: [] for name in CONFIGS}
    if not args.skip_e2e:
        import ray

        ray.init(num_cpus=args.ray_cpus, include_dashboard=False, log_to_driver=False)
        batch = make_batch(clip, work / f"batch_{clip.stem}_{args.videos}", args.videos)
        end_to_end(model, batch, work / "warm_out", CONFIGS["shots+players"], args)
    for round_index in range(args.rounds):
        shots, decode = shot_detection_fps(clip, args.width)
        measured = {"shot detection": shots, "decode": decode}
        measured |= {f"analysis {k}": v for k, v in analysis_fps(clip, args.width).items()}
        measured["ball inference (1 process, 1 thread)"] = ball_fps(model, clip, args.precision)
        rounds.append(measured)
        if not args.skip_e2e:
            for name, overrides in CONFIGS.items():
                e2e[name].append(end_to_end(model, batch, work / f"out_{name}", overrides, args))
        print(f"round {round_index + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in measured.items())
              + "".join(f", e2e {name} {values[-1][0]:.1f} fps {values[-1][1]:.1f} cpu ms/frame"
                        for name, values in e2e.items() if values), flush=True)

    median = {key: float(np.median([r[key] for r in rounds])) for key in rounds[0]}
    ball = median["ball inference (1 process, 1 thread)"]
    results = [
        ("shot detection (pre-decoded frames)", f"{median['shot detection']:.0f} frames/s "
         f"({1000 / median['shot detection']:.1f} ms/frame, {ball / median['shot detection']:.0%} of ball inference)"),
        ("player detector (pre-decoded frames)", f"{median['analysis players']:.0f} frames/s "
         f"({1000 / median['analysis players']:.1f} ms/frame, {ball / median['analysis players']:.0%} of ball inference)"),
        ("decoding at the analysis width (x2 passes)", f"{median['decode']:.0f} frames/s"),
        ("whole analysis, decoding included", f"{median['analysis all']:.0f} frames/s "
         f"({ball / median['analysis all']:.0%} of ball inference)"),
        ("ball inference, one process", f"{ball:.1f} frames/s"),
        ("court-view frames / both players found there", f"{median['analysis court_view']:.1%} / "
         f"{median['analysis both_players']:.1%}"),
    ]
    if not args.skip_e2e:
        off_fps, off_cpu = np.median(e2e["off"], axis=0)
        results.append((f"end-to-end jobs.infer, {args.videos} videos, off", f"{off_fps:.1f} frames/s, {off_cpu:.1f} CPU ms/frame"))
        for name in ("shots", "shots+players"):
            fps, cpu = np.median(e2e[name], axis=0)
            results.append((f"end-to-end jobs.infer, {args.videos} videos, {name}",
                            f"{fps:.1f} frames/s, {cpu:.1f} CPU ms/frame: adds {off_fps / fps - 1:+.0%} wall time, "
                            f"{cpu / off_cpu - 1:+.0%} CPU time"))
    print_table(f"{args.rounds} rounds, medians", results)


if __name__ == "__main__":
    main()
