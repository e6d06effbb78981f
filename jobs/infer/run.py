"""Batch inference: per-frame ball positions for every video under an input URI (jobs.infer).

The run: list, plan each video's stages from the ledger, probe, predict, finish, summarise.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone

import ray

from jobs.common import outputs, storage
from jobs.common.checkpoints import load_model
from jobs.common.cli import EXIT_OK, EXIT_SOME_FAILED, run_main
from jobs.common.config import ConfigError, parse_args
from jobs.common.inputs import list_videos
from jobs.common.ledger import RunLedger
from jobs.common.outputs import STAGES, OutputLayout
from jobs.common.progress import Progress
from jobs.common.ray_env import init_ray
from jobs.infer.analysis import analyze_video, broadcast_config, check_onnx_model
from jobs.infer.config import InferConfig
from jobs.infer.finish import FinishContext, finish_video, record_failure, summary_base
from jobs.infer.pipeline import VideoJob, predict_videos, probe_all
from jobs.infer.stages import PREDICT, VIDEO_STAGES, VideoPlan, plan_video, stage_keys, wanted_outputs
from tracknet.inference import FrameDetections
from tracknet.model_defaults import ModelDefaults
from tracknet.video import VideoInfo

log = logging.getLogger("jobs.infer")


@dataclass
class RunReport:
    """What a run did: one summary row per video, and where the summary was written."""

    run_id: str
    rows: list[dict]
    summary_uri: str
    wall_s: float
    model_version: str
    config: InferConfig
    """The config as run: the model's own defaults fill what it left null (threshold, clean-up limits)."""
    sport: str | None = None
    """What the model tracks, from its checkpoint's defaults."""

    def count(self, status: str) -> int:
        return sum(1 for row in self.rows if row["status"] == status)

    def stage_counts(self, stage: str) -> dict[str, int]:
        """{'done': n, 'skipped': n, 'failed': n} over the videos that asked for `stage`."""
        counts = {"done": 0, "skipped": 0, "failed": 0}
        for row in self.rows:
            if row.get(stage) in counts:
                counts[row[stage]] += 1
        return counts

    @property
    def exit_code(self) -> int:
        return EXIT_SOME_FAILED if self.count("failed") else EXIT_OK


def new_run_id() -> str:
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def run_inference(config: InferConfig) -> RunReport:
    """Run the whole job; raises TrackNetError (config, input, model) before anything is processed."""
    started = time.perf_counter()
    run_id = new_run_id()
    checkpoint, loaded = load_model(config.model, config.storage)
    defaults = ModelDefaults.from_metadata(loaded.metadata)
    config = config.for_model(defaults)
    model_config = loaded.model.config
    try:
        config.predictor.stride_for(model_config.frames_out)
    except ValueError as exc:
        raise ConfigError(f"predictor.window_stride: {exc}") from exc
    if config.players.enabled and config.players.detector == "onnx":
        check_onnx_model(config.players.onnx_model, config.storage)
    listed = list_videos(config.input, config.video_suffixes, config.storage)
    keys = stage_keys(config, loaded.model_version)
    ctx = FinishContext(config.output, config.storage, config.outputs, config.cleanup, loaded.model_version, keys,
                        run_id)
    ledger = RunLedger(config.output, config.storage)
    records = ledger.read_many(v.video_id for v in listed.videos + [p[0] for p in listed.problems])
    wanted = wanted_outputs(config)

    def plan_of(video):
        return plan_video(video, records.get(video.video_id), keys, wanted, config.overwrite)

    rows: list[dict] = [record_failure(plan_of(video), ctx, reason) for video, reason in listed.problems]
    pending: list[VideoPlan] = []
    for video in listed.videos:
        plan = plan_of(video)
        if plan.idle:
            record = plan.record
            rows.append(summary_base(plan, ctx) | {"status": "skipped", "frames": record.frames,
                                                   "detected_frames": record.detected_frames} | record.analysis)
        else:
            pending.append(plan)
    log.info("%d videos: %d already done, %d with work to do (%d need the model)", len(listed.videos),
             len(listed.videos) - len(pending), len(pending), sum(p.predict for p in pending))
    files_only = [plan for plan in pending if plan.files_only]
    if files_only:
        rows += _write_files(files_only, ctx)
    pending = [plan for plan in pending if not plan.files_only]
    if pending:
        init_ray(config.ray_progress_bars)
        rows += _run_pending(config, pending, checkpoint, model_config, ctx)

    order = {v.video_id: i for i, v in enumerate(listed.videos + [p[0] for p in listed.problems])}
    rows.sort(key=lambda row: order.get(row["video_id"], len(order)))
    summary_uri = OutputLayout(config.output).summary(run_id)
    outputs.write_summary(rows, summary_uri, config.storage)
    return RunReport(run_id, rows, summary_uri, time.perf_counter() - started, loaded.model_version, config,
                     defaults.sport)


def _write_files(plans: list[VideoPlan], ctx: FinishContext, threads: int = 16) -> list[dict]:
    """CSV/JSON from committed predictions on the driver: no Ray, no decoding, I/O in threads."""
    progress = Progress("jobs.infer", len(plans), 0)

    def finish(index_plan: tuple[int, VideoPlan]) -> dict:
        index, plan = index_plan
        row = finish_video(VideoJob(index, plan, VideoInfo(**plan.record.video)), None, None, ctx)
        progress.add(videos=1)
        return row

    with ThreadPoolExecutor(max_workers=threads) as pool:
        rows = list(pool.map(finish, enumerate(plans)))
    progress.close()
    return rows


def _run_pending(config: InferConfig, plans: list[VideoPlan], checkpoint: bytes, model_config, ctx) -> list[dict]:
    """Probe the videos with work to do, run the model on those that need it, finish every one."""
    probes = probe_all([(p.video.uri, p.video.size_bytes) for p in plans], config.storage)
    rows: list[dict] = []
    jobs: list[VideoJob] = []
    for plan, result in zip(plans, probes):
        if isinstance(result, str):
            rows.append(record_failure(plan, ctx, result, PREDICT if plan.predict else None))
        else:
            jobs.append(VideoJob(len(jobs), plan, result))
    if not jobs:
        return rows

    analyses: dict[int, ray.ObjectRef] = {}
    analyzing = [job for job in jobs if job.plan.analysis]
    if analyzing:
        # Started first, so each video's analysis runs while its segments do.
        analyze = ray.remote(
            num_cpus=config.analysis.cpus, memory=config.analysis.memory_mb * 2**20, max_retries=1
        )(analyze_video)
        settings = broadcast_config(config)
        analyses = {
            job.index: analyze.remote(job.plan.video.uri, job.info, settings, config.storage) for job in analyzing
        }
    modelled = [job for job in jobs if job.plan.predict]
    progress = Progress("jobs.infer", len(plans), sum(job.info.frame_count for job in modelled))
    finisher = _Finisher(ctx, analyses, rows, progress)
    progress.add(videos=len(rows))
    for job in jobs:
        if not job.plan.predict:
            finisher.submit(job, None, None)
    if modelled:
        predict_videos(config, modelled, checkpoint, model_config, finisher.submit, finisher.fail, finisher.on_batch)
    finisher.collect(wait=True)
    progress.close()
    return rows


class _Finisher:
    """Starts each video's finish task once its detections (if any) are in, and collects the rows."""

    def __init__(self, ctx: FinishContext, analyses: dict[int, ray.ObjectRef], rows: list[dict],
                 progress: Progress) -> None:
        self.task = ray.remote(max_retries=1)(finish_video)
        self.ctx = ctx
        self.analyses = analyses
        self.rows = rows
        self.progress = progress
        self.in_flight: list[ray.ObjectRef] = []

    def submit(self, job: VideoJob, found: FrameDetections | None, first_seen_s: float | None) -> None:
        # Rendering overlays or clips decodes and encodes the whole video: it reserves a CPU.
        # Writing tables and files is light: a quarter of one, so a video is committed as soon
        # as a decode task frees its slot, not after every decode task of the run (and never
        # on a head node without CPUs, as a zero reservation would allow).
        renders = bool(set(job.plan.outputs) & set(VIDEO_STAGES))
        task = self.task.options(num_cpus=1 if renders else 0.25)
        self.in_flight.append(task.remote(job, found, self.analyses.get(job.index), self.ctx, first_seen_s))

    def fail(self, job: VideoJob, reason: str) -> None:
        if job.index in self.analyses:
            ray.cancel(self.analyses.pop(job.index))
        self.rows.append(record_failure(job.plan, self.ctx, reason, PREDICT))
        self.progress.add(videos=1)

    def on_batch(self, frames: int) -> None:
        self.progress.add(frames=frames)
        self.collect(wait=False)

    def collect(self, wait: bool) -> None:
        """Add the rows of finished tasks; with `wait`, of all of them."""
        if not self.in_flight:
            return
        ready, self.in_flight = ray.wait(
            self.in_flight, num_returns=len(self.in_flight), timeout=None if wait else 0
        )
        finished = ray.get(ready)
        self.rows.extend(finished)
        self.progress.add(videos=len(finished))


def format_report(report: RunReport, max_failures: int = 20) -> str:
    """A human-readable summary of the run."""
    frames = sum(row.get("frames") or 0 for row in report.rows if row["status"] == "ok")
    detected = sum(row.get("detected_frames") or 0 for row in report.rows if row["status"] == "ok")
    modelled = sum(row.get("frames") or 0 for row in report.rows if row.get(PREDICT) == "done")
    lines = [
        f"jobs.infer run {report.run_id} with model {report.model_version}"
        f"{f' ({report.sport})' if report.sport else ''}: threshold {report.config.predictor.threshold:g}, "
        f"clean-up max jump {report.config.cleanup.max_jump_px:g} px",
        f"  videos: {len(report.rows)} total, {report.count('ok')} ok, {report.count('skipped')} skipped "
        f"(already done), {report.count('failed')} failed",
        f"  frames: {frames} in videos worked on, {detected} with the ball; the model ran on {modelled} "
        f"in {report.wall_s:.1f} s ({modelled / max(report.wall_s, 1e-9):.1f} frames/s end to end)",
        "  stages (videos done / skipped / failed):",
    ]
    for stage in STAGES:
        counts = report.stage_counts(stage)
        if any(counts.values()):
            lines.append(f"    {stage:9s} {counts['done']} / {counts['skipped']} / {counts['failed']}")
    court_view = sum(row.get("court_view_frames") or 0 for row in report.rows if row["status"] != "failed")
    if any(row.get("shots") is not None for row in report.rows):
        lines.append(f"  court view: {court_view} frames")
    both = [row.get("both_players_frames") for row in report.rows if row["status"] != "failed"]
    if any(count is not None for count in both):
        found = sum(count or 0 for count in both)
        lines.append(f"  both players found in {found} court-view frames ({found / max(court_view, 1):.1%})")
    failures = [row for row in report.rows if row["status"] == "failed"]
    if failures:
        lines.append("  failed videos:")
        lines += [f"    {row['video_id']}: {row['error']}" for row in failures[:max_failures]]
        if len(failures) > max_failures:
            lines.append(f"    ... and {len(failures) - max_failures} more (see the summary parquet)")
    lines.append("  outputs:")
    for stage, folder, what in _OUTPUT_FOLDERS:
        counts = report.stage_counts(stage)
        if counts["done"] or counts["skipped"]:
            lines.append(f"    {storage.join(report.config.output, folder)}/  {what}")
    lines.append(f"    {report.summary_uri}  this run's summary (one row per video)")
    if report.exit_code == EXIT_SOME_FAILED:
        lines.append(f"exit status {EXIT_SOME_FAILED}: some videos failed (listed above); the others were written")
    return "\n".join(lines)


_OUTPUT_FOLDERS = (
    ("predict", "predictions", "per-frame predictions parquet (ball, and shots/players when analysed)"),
    ("analysis", "shots", "shots parquet"),
    ("csv", "csv", "TrackNet Frame,Visibility,X,Y per video"),
    ("json", "json", "positions JSON per video"),
    ("overlay", "overlays", "H.264 overlays with ball, trail and players"),
    ("clips", "clips", "court-view shots as H.264 clips"),
)
"""Each stage's output folder (jobs.common.outputs.OutputLayout) and what it holds."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job from the command line; returns the exit code (jobs.common.cli)."""

    def body() -> int:
        config = parse_args(InferConfig, argv, prog="python -m jobs.infer", conf="infer.yaml",
                            description=__doc__.splitlines()[0])
        report = run_inference(config)
        print(format_report(report))
        return report.exit_code

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
