"""Featurize throughput next to plain decode throughput, same clips, same machine.

    python benchmarks/featurize_throughput.py [--input DIR] [--limit N] [--cpus N] [--out DIR]

Clips: `--input` (videos with labels beside them), else the shared badminton clips
(../shared/data/badminton/clips, 1280x720 H.264) when present, else synthetic 1280x720
clips made with tracknet.synth. Prints frames/s for:

- decode, one process: `tracknet.video.iter_frames` over every clip in turn (full-size
  RGB frames, PyAV's own threads), nothing else;
- decode, Ray: the same decode in one Ray task per clip on the local Ray the featurize
  run uses (same parallelism as featurize, nothing else);
- decode at model size, Ray: as above but straight to 512x288 (`iter_frames(size=...)`,
  resize before colour conversion), the per-frame work every TrackNet input needs;
- featurize: `jobs.featurize.run` end to end (listing, probing, labels, decode, resize to
  512x288, JPEG, windows, parquet writing, summary), frames decoded / wall time, with
  its stages' wall times.

The target is featurize >= 0.7x plain decode.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import ray  # noqa: E402

from jobs import featurize  # noqa: E402
from jobs.featurize import FeaturizeConfig, SplitConfig  # noqa: E402
from tracknet.synth import SynthConfig, write_clip  # noqa: E402
from tracknet.video import iter_frames  # noqa: E402

BADMINTON = REPO.parent / "shared" / "data" / "badminton" / "clips"


def pick_clips(args: argparse.Namespace, work: Path) -> tuple[Path, str]:
    """A folder holding the clips to measure (copied or linked so --limit applies)."""
    source = Path(args.input) if args.input else (BADMINTON if BADMINTON.is_dir() else None)
    folder = work / "clips"
    folder.mkdir(parents=True)
    if source is None:
        for i in range(args.limit):
            write_clip(folder / f"synth_{i:03d}.mp4", SynthConfig(width=1280, height=720, frames=300, seed=i))
        return folder, f"{args.limit} synthetic 1280x720 clips"
    videos = sorted(p for p in source.iterdir() if p.suffix.lower() == ".mp4")[: args.limit]
    for video in videos:
        for path in (video, video.with_suffix(".csv"), video.with_suffix(".json")):
            if path.exists():
                os.symlink(path.resolve(), folder / path.name)
    return folder, f"{len(videos)} clips from {source}"


def decode_in_process(videos: list[Path]) -> tuple[int, float]:
    started = time.perf_counter()
    frames = sum(1 for video in videos for _ in iter_frames(video))
    return frames, time.perf_counter() - started


@ray.remote(num_cpus=1)
def _decode_task(path: str, resize: bool = False) -> int:
    return sum(1 for _ in iter_frames(path, size=(512, 288) if resize else None))


def decode_on_ray(videos: list[Path], resize: bool = False) -> tuple[int, float]:
    started = time.perf_counter()
    # Longest first, as featurize orders its tasks.
    ordered = sorted(videos, key=lambda v: v.stat().st_size, reverse=True)
    frames = sum(ray.get([_decode_task.remote(str(v), resize) for v in ordered]))
    return frames, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", help="folder of videos with labels beside them")
    parser.add_argument("--limit", type=int, default=40, help="at most this many clips")
    parser.add_argument("--cpus", type=int, default=os.cpu_count(), help="logical CPUs of the local Ray")
    parser.add_argument("--out", help="keep the features here (default: a temporary folder)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_featurize_"))
    try:
        folder, what = pick_clips(args, work)
        videos = sorted(folder.glob("*.mp4"))
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        ray.get(_decode_task.remote(str(videos[0])))  # warm up workers and the page cache

        frames, decode_s = decode_in_process(videos)
        ray_frames, ray_decode_s = decode_on_ray(videos)
        resize_frames, resize_s = decode_on_ray(videos, resize=True)
        output = Path(args.out) if args.out else work / "features"
        config = FeaturizeConfig(input=str(folder), output=str(output), split=SplitConfig(val_ratio=0.2))
        report = featurize.run(config)
        ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    decode_fps = frames / decode_s
    ray_decode_fps = ray_frames / ray_decode_s
    resize_fps = resize_frames / resize_s
    featurize_fps = report.frames / report.wall_s
    stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report.stage_s.items())
    print(f"clips: {what}; {frames} frames; local Ray with {args.cpus} CPUs on {os.cpu_count()} cores")
    print(f"decode only, one process      : {decode_fps:7.1f} frames/s ({decode_s:.1f} s)")
    print(f"decode only, Ray tasks        : {ray_decode_fps:7.1f} frames/s ({ray_decode_s:.1f} s)")
    print(f"decode at 512x288, Ray        : {resize_fps:7.1f} frames/s ({resize_s:.1f} s)")
    print(f"featurize (end to end)        : {featurize_fps:7.1f} frames/s ({report.wall_s:.1f} s: {stages}; "
          f"{report.windows} windows, {report.count('ok')}/{len(report.videos)} videos ok)")
    print(f"featurize / plain decode      : {featurize_fps / decode_fps:.2f}x (target >= 0.70x)")
    print(f"featurize / Ray decode        : {featurize_fps / ray_decode_fps:.2f}x")
    print(f"featurize / Ray decode 512x288: {featurize_fps / resize_fps:.2f}x")
    return 0 if report.count("ok") == len(report.videos) else 1


if __name__ == "__main__":
    sys.exit(main())
