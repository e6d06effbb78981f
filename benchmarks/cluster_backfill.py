"""Wall time of one backfill submitted with `ray job submit` to a local cluster of two worker
nodes vs to a single node, on this machine.

    python benchmarks/cluster_backfill.py [--videos 6] [--frames 90] [--width 320 --height 180]
        [--cpus-per-worker 2] [--segment-frames 24] [--num-actors 1] [--out DIR]

The backfill is `python -m jobs.infer --config conf/infer.yaml` over `--videos` synthetic clips
(tracknet.synth) in a local folder, with the packaged model; both setups run the same command
and hold the same number of logical CPUs:

- one node: a head that runs tasks, with 2 x `--cpus-per-worker` CPUs;
- two workers: a head with no CPUs (as on the real clusters) and two worker nodes with
  `--cpus-per-worker` CPUs each, every node its own raylet (cluster/local_cluster.py).

For each it prints the cluster's start-up time (not part of the comparison), the job's wall
time from `ray job submit` to its end (uploading the working directory, starting the driver,
the run), and the driver's own end-to-end time and frames/s from its summary. It then checks
that the outputs hold every frame of every video exactly once, and fails if not.

Every node of both setups shares the same cores, so two workers cannot be faster here: the
point of the comparison is that the multi-node path costs little and gives the same outputs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pyarrow.parquet as pq  # noqa: E402

from cluster.local_cluster import LocalCluster  # noqa: E402
from tracknet.synth import SynthConfig, write_clip  # noqa: E402

DRIVER_SUMMARY = re.compile(r"frames: (\d+) processed, \d+ with the ball, in ([\d.]+) s")


@dataclass(frozen=True)
class Timing:
    """One setup's numbers."""

    setup: str
    nodes: int
    start_s: float
    """Starting the cluster (not part of the comparison)."""
    job_s: float
    """`ray job submit` until the job ended."""
    driver_s: float
    """The run as the driver measured it (listing to summary)."""
    frames: int


def make_clips(folder: Path, videos: int, frames: int, width: int, height: int) -> dict[str, int]:
    """`videos` synthetic clips of `frames` frames; returns video_id -> frame count."""
    folder.mkdir(parents=True, exist_ok=True)
    for seed in range(videos):
        path = folder / f"game{seed}.mp4"
        write_clip(path, SynthConfig(width=width, height=height, frames=frames, seed=seed))
        path.with_suffix(".csv").unlink()  # labels are not inputs of the job
    return {f"game{seed}": frames for seed in range(videos)}


def run_backfill(setup: str, cluster: LocalCluster, clips: Path, output: Path, overrides: list[str]) -> Timing:
    """Start `cluster`, submit the backfill, stop the cluster; the timings. Exits if the job failed."""
    started = time.perf_counter()
    try:
        cluster.start(timeout_s=300)
        start_s = time.perf_counter() - started
        submitted = time.perf_counter()
        done = subprocess.run(
            [str(Path(sys.executable).parent / "ray"), "job", "submit", "--working-dir", ".", "--",
             "python", "-m", "jobs.infer", "--config", "conf/infer.yaml", f"input={clips}", f"output={output}",
             *overrides],
            cwd=REPO, env=cluster.client_env(), capture_output=True, text=True,
        )
        job_s = time.perf_counter() - submitted
        nodes = len(cluster.nodes())
    finally:
        cluster.stop()
    if done.returncode != 0:  # the cluster's Ray session, with its logs, stays in cluster.temp_dir
        logs = done.stdout[-3000:] + done.stderr[-2000:]
        raise SystemExit(f"{setup}: the job failed (exit {done.returncode}):\n{logs}")
    found = DRIVER_SUMMARY.search(done.stdout)
    if found is None:
        raise SystemExit(f"{setup}: no driver summary in the job's output:\n{done.stdout[-3000:]}")
    shutil.rmtree(cluster.temp_dir, ignore_errors=True)
    return Timing(setup, nodes, start_s, job_s, float(found.group(2)), int(found.group(1)))


def check_every_frame_once(output: Path, frame_counts: dict[str, int]) -> None:
    """Exit with a message unless the predictions hold each frame of each video exactly once."""
    table = pq.read_table(output / "predictions").to_pandas()
    for video_id, frames in frame_counts.items():
        got = sorted(table.loc[table["video_id"] == video_id, "frame"].tolist())
        if got != list(range(frames)):
            raise SystemExit(f"{output}: {video_id} has {len(got)} rows for {frames} frames")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=6, help="clips in the backfill (default 6)")
    parser.add_argument("--frames", type=int, default=90, help="frames per clip (default 90)")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--cpus-per-worker", type=int, default=2,
                        help="logical CPUs per worker node; the single node gets twice as many (default 2)")
    parser.add_argument("--segment-frames", type=int, default=24, help="frames per decode task (default 24)")
    parser.add_argument("--num-actors", type=int, default=1, help="model actors (default 1)")
    parser.add_argument("--out", type=Path, help="working folder (default: a new temporary one)")
    args = parser.parse_args()

    work = (args.out or Path(tempfile.mkdtemp(prefix="cluster-backfill-"))).resolve()  # the job runs elsewhere
    frame_counts = make_clips(work / "clips", args.videos, args.frames, args.width, args.height)
    overrides = [f"segment_frames={args.segment_frames}", "chunk_frames=12", f"num_actors={args.num_actors}"]
    cpus = 2 * args.cpus_per_worker
    setups = [
        (f"one node ({cpus} CPUs)", LocalCluster(workers=0, head_cpus=cpus, object_store_mb=256)),
        (f"two workers ({args.cpus_per_worker} CPUs each)",
         LocalCluster(workers=2, cpus_per_worker=args.cpus_per_worker, object_store_mb=256)),
    ]
    timings = []
    for index, (setup, cluster) in enumerate(setups):
        output = work / f"out{index}"
        shutil.rmtree(output, ignore_errors=True)  # else the run ledger of an earlier run skips every video
        timings.append(run_backfill(setup, cluster, work / "clips", output, overrides))
        check_every_frame_once(output, frame_counts)

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"backfill: {args.videos} videos x {args.frames} frames at {args.width}x{args.height}, packaged model, "
          f"{' '.join(overrides)}; {os.cpu_count()} cores, load average {load}; clips and outputs in {work}")
    print(f"{'setup':<28} {'nodes':>5} {'start s':>8} {'job s':>7} {'driver s':>9} {'frames/s':>9}")
    for t in timings:
        print(f"{t.setup:<28} {t.nodes:>5} {t.start_s:>8.1f} {t.job_s:>7.1f} {t.driver_s:>9.1f} "
              f"{t.frames / t.driver_s:>9.1f}")
    one, two = timings
    print(f"two workers / one node, job wall time: {two.job_s / one.job_s:.2f}x; "
          f"every frame of every video exactly once in both outputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
