"""A video's stages after the model, in one Ray task: commit predictions and analysis, derive outputs.

Each stage stages its files locally, commits them (each file atomically), and only then
writes the video's ledger record with the stage's key: a crash anywhere leaves at most
whole files without a ledger entry, which the next run redoes and never trusts.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pyarrow as pa

from jobs.common import outputs
from jobs.common.inputs import open_source
from jobs.common.ledger import LedgerRecord, RunLedger, StageRecord
from jobs.common.outputs import OutputLayout, VideoMeta
from jobs.common.storage import StorageConfig
from jobs.infer.failures import failure_reason
from jobs.infer.config import CleanupConfig, OutputsConfig
from jobs.infer.pipeline import VideoJob
from jobs.infer.stages import ANALYSIS, PREDICT, VIDEO_STAGES, StageKeys, VideoPlan
from tracknet.broadcast import BroadcastAnalysis
from tracknet.inference import FrameDetections
from tracknet.trajectory import clean_trajectory


@dataclass(frozen=True)
class FinishContext:
    """What a finish task needs besides the video, its detections and its analysis."""

    output: str
    storage: StorageConfig
    outputs: OutputsConfig
    cleanup: CleanupConfig
    model_version: str
    keys: StageKeys
    run_id: str


def summary_base(plan: VideoPlan, ctx: FinishContext) -> dict[str, Any]:
    """The summary row's identity fields, and every asked stage as skipped until it runs."""
    return {
        "run_id": ctx.run_id,
        "video_id": plan.video.video_id,
        "source_uri": plan.video.uri,
        "model_version": ctx.model_version,
    } | {stage: "skipped" for stage in plan.asked}


def new_record(plan: VideoPlan, ctx: FinishContext, status: str, error: str | None = None) -> LedgerRecord:
    """The video's record after this run's work: its stages so far, this run's outcome."""
    base = plan.record or LedgerRecord(
        video_id=plan.video.video_id, source_uri=plan.video.uri, size_bytes=plan.video.size_bytes,
        mtime_ns=plan.video.mtime_ns, status="ok", run_id=ctx.run_id, finished_at="",
    )
    return replace(
        base, source_uri=plan.video.uri, status=status, run_id=ctx.run_id, error=error,
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def record_failure(plan: VideoPlan, ctx: FinishContext, error: str, stage: str | None = None) -> dict:
    """Record a video that failed before any stage ran here (probe, decode, model); its summary row."""
    row = summary_base(plan, ctx) | {"status": "failed", "error": error}
    if stage is not None:
        row[stage] = "failed"
    return _write_record(RunLedger(ctx.output, ctx.storage), new_record(plan, ctx, "failed", error), row)


def finish_video(
    job: VideoJob,
    found: FrameDetections | None,
    analysis: BroadcastAnalysis | str | None,
    ctx: FinishContext,
    started_s: float | None = None,
) -> dict:
    """Run the video's remaining stages; returns its summary row. Never raises.

    Args:
        found: the model's raw detections when the predict stage ran, else None.
        analysis: the analysis stage's result when it ran (the reason it failed as a string), else None.
        started_s: perf_counter time the video's work started (for the summary's wall_s).
    """
    started_s = started_s or time.perf_counter()
    plan, meta = job.plan, job.meta()
    ledger = RunLedger(ctx.output, ctx.storage)
    layout = OutputLayout(ctx.output)
    row = summary_base(plan, ctx) | {
        "fps": meta.fps, "width": meta.width, "height": meta.height, "duration_s": meta.duration_s,
        "frames": meta.frame_count,
    }
    record = new_record(plan, ctx, "ok")
    stage = PREDICT if found is not None else ANALYSIS if analysis is not None else None
    try:
        table: pa.Table | None = None
        shots: pa.Table | None = None
        fresh = analysis if isinstance(analysis, BroadcastAnalysis) else None
        if found is not None:
            table, shots, record = _commit_predictions(job, meta, found, fresh, record, ctx, layout)
            row[PREDICT] = "done"
            if fresh is not None:
                row[ANALYSIS] = "done"
            record = _write(ledger, record)
        elif fresh is not None:
            table, shots, record = _commit_analysis(job, meta, fresh, record, ctx, layout)
            row[ANALYSIS] = "done"
            record = _write(ledger, record)
        if isinstance(analysis, str):
            stage = ANALYSIS
            raise _StageFailed(analysis)
        if plan.outputs:
            table = table if table is not None else outputs.read_parquet(layout.predictions(meta.video_id), ctx.storage)
            analysis_key = record.stage_key(ANALYSIS)
            if analysis_key is not None and shots is None:
                shots = outputs.read_parquet(layout.shots(meta.video_id), ctx.storage)
            predict_key = record.stage_key(PREDICT)
            for group in _output_groups(plan.outputs):
                stage = group[0]
                done = {
                    name: StageRecord(ctx.keys.output(name, predict_key, analysis_key), ctx.run_id) for name in group
                }
                _write_outputs(job, table, shots, group, ctx)
                record = _write(ledger, record.with_stages(done))
                row |= {name: "done" for name in group}
        row |= {"status": "ok", "detected_frames": record.detected_frames} | record.analysis
    except Exception as exc:  # this video fails; the run goes on, and what was committed stays
        error = str(exc) if isinstance(exc, _StageFailed) else failure_reason(exc, plan.video.uri)
        row |= {"status": "failed", "error": error}
        if stage is not None:
            row[stage] = "failed"
        record = replace(record, status="failed", error=error)
    row["wall_s"] = round(time.perf_counter() - started_s, 3)
    if record.status == "ok" and (found is not None or analysis is not None or plan.outputs):
        return row  # the last stage's ledger write already recorded this run's outcome
    return _write_record(ledger, record, row)


class _StageFailed(Exception):
    """A stage's failure whose message already names the video."""


def _output_groups(stages: tuple[str, ...]) -> list[tuple[str, ...]]:
    """File outputs one by one; overlay and clips together (one decode writes both)."""
    groups = [(stage,) for stage in stages if stage not in VIDEO_STAGES]
    video = tuple(stage for stage in stages if stage in VIDEO_STAGES)
    return groups + ([video] if video else [])


def _commit_predictions(
    job: VideoJob,
    meta: VideoMeta,
    found: FrameDetections,
    fresh: BroadcastAnalysis | None,
    record: LedgerRecord,
    ctx: FinishContext,
    layout: OutputLayout,
) -> tuple[pa.Table, pa.Table | None, LedgerRecord]:
    """The predict stage's commit: cleaned predictions, with this run's analysis or the one already
    committed (carried over from the previous predictions file), and the shots table."""
    if ctx.cleanup.enabled:
        clean = clean_trajectory(found.visible, found.x, found.y, ctx.cleanup.max_jump_px, ctx.cleanup.max_gap_frames)
        visible, x, y, filled, rejected = clean.visible, clean.x, clean.y, clean.filled, clean.rejected
    else:
        visible, x, y = found.visible, found.x, found.y
        filled = rejected = np.zeros(len(found), dtype=bool)
    table = outputs.predictions_table(
        meta, found.frame, found.timestamp_s, visible, x, y, found.score,
        found.visible, found.x, found.y, filled, rejected, ctx.model_version,
    )
    done = {PREDICT: StageRecord(ctx.keys.predict, ctx.run_id)}
    dropped: list[str] = []
    shots = None
    summary = record.analysis
    if fresh is not None:
        table, shots, summary = _with_analysis(table, meta, fresh)
        done[ANALYSIS] = StageRecord(ctx.keys.analysis, ctx.run_id)
    elif ANALYSIS in record.stages:
        carried = _carried_analysis(layout, meta, ctx)
        if carried is None:
            dropped.append(ANALYSIS)
            summary = {}
        else:
            table = outputs.with_analysis(table, carried)
    _commit_tables(layout, meta, table, shots, ctx.storage)
    detected = int(np.asarray(visible).sum())
    record = replace(record.with_stages(done, dropped), model_version=ctx.model_version,
                     frames=meta.frame_count, detected_frames=detected, analysis=summary,
                     video=dataclasses.asdict(job.info))
    return table, shots, record


def _carried_analysis(layout: OutputLayout, meta: VideoMeta, ctx: FinishContext) -> dict | None:
    """The committed analysis columns of the previous predictions file, or None when unreadable."""
    try:
        previous = outputs.read_parquet(layout.predictions(meta.video_id), ctx.storage)
    except Exception:  # noqa: BLE001 - the analysis is then redone by a run that asks for it
        return None
    if previous.num_rows != meta.frame_count:
        return None
    return outputs.stored_analysis_columns(previous)


def _commit_analysis(
    job: VideoJob,
    meta: VideoMeta,
    fresh: BroadcastAnalysis,
    record: LedgerRecord,
    ctx: FinishContext,
    layout: OutputLayout,
) -> tuple[pa.Table, pa.Table, LedgerRecord]:
    """The analysis stage alone: the committed predictions get this analysis's columns (one atomic
    rewrite of the file, ball columns untouched), and the shots table is written."""
    table = outputs.read_parquet(layout.predictions(meta.video_id), ctx.storage)
    if table.num_rows != meta.frame_count:
        raise ValueError(f"{layout.predictions(meta.video_id)}: {table.num_rows} rows, the video has "
                         f"{meta.frame_count} frames")
    table, shots, summary = _with_analysis(table, meta, fresh)
    _commit_tables(layout, meta, table, shots, ctx.storage)
    record = replace(record.with_stages({ANALYSIS: StageRecord(ctx.keys.analysis, ctx.run_id)}), analysis=summary)
    return table, shots, record


def _with_analysis(
    table: pa.Table, meta: VideoMeta, fresh: BroadcastAnalysis
) -> tuple[pa.Table, pa.Table, dict]:
    """The predictions with `fresh`'s columns, its shots table, and its run-summary fields."""
    table = outputs.with_analysis(table, outputs.analysis_columns(fresh, meta.frame_count))
    shots = outputs.shots_table(meta, fresh)
    return table, shots, outputs.analysis_summary(table, shots)


def _commit_tables(
    layout: OutputLayout, meta: VideoMeta, table: pa.Table, shots: pa.Table | None, storage_config: StorageConfig
) -> None:
    """Stage and commit the predictions (and the shots table, when given)."""
    files = [("predictions.parquet", layout.predictions(meta.video_id), lambda p: outputs.write_parquet(table, p))]
    if shots is not None:
        files.append(("shots.parquet", layout.shots(meta.video_id), lambda p: outputs.write_parquet(shots, p)))
    _stage_and_commit(files, storage_config)


def _write_outputs(
    job: VideoJob, table: pa.Table, shots: pa.Table | None, group: tuple[str, ...], ctx: FinishContext
) -> None:
    """Write one output group from the predictions (and shots) tables and commit it."""
    meta, layout = job.meta(), OutputLayout(ctx.output)
    video_id = meta.video_id
    if group == ("csv",):
        _stage_and_commit([("positions.csv", layout.csv(video_id), lambda p: outputs.write_csv(table, p))], ctx.storage)
    elif group == ("json",):
        _stage_and_commit(
            [("positions.json", layout.json(video_id),
              lambda p: outputs.write_json(meta, table, ctx.model_version, p, shots))],
            ctx.storage,
        )
    else:
        _render_videos(job, table, shots, group, ctx)


def _render_videos(
    job: VideoJob, table: pa.Table, shots: pa.Table | None, group: tuple[str, ...], ctx: FinishContext
) -> None:
    """Overlay and/or court-view clips in one full-size decode, then their commit."""
    meta, layout = job.meta(), OutputLayout(ctx.output)
    video_id = meta.video_id
    with tempfile.TemporaryDirectory(prefix="tracknet-infer-") as staging:
        staged: list[tuple[str, str]] = []
        overlay_path = None
        if "overlay" in group:
            overlay_path = os.path.join(staging, "overlay.mp4")
            staged.append((overlay_path, layout.overlay(video_id)))
        clips = []
        if "clips" in group and shots is not None:
            for shot in shots.to_pylist():
                if shot["court_view"]:
                    path = os.path.join(staging, f"clip_{shot['shot']:04d}.mp4")
                    clips.append((shot["first_frame"], shot["last_frame"], path))
                    staged.append((path, layout.clip(video_id, shot["shot"])))
        visible = table.column("visible").to_numpy(zero_copy_only=False)
        x = table.column("x").to_numpy(zero_copy_only=False).astype(np.float64)
        y = table.column("y").to_numpy(zero_copy_only=False).astype(np.float64)
        players = outputs.players_array(table) if shots is not None and outputs.players_found(shots) else None
        with open_source(job.plan.video.uri, ctx.storage) as source:
            outputs.render_videos(source, meta, visible, x, y, overlay_path, clips, ctx.outputs.trail_frames, players)
        outputs.commit(staged, ctx.storage)


def _stage_and_commit(files: list[tuple[str, str, Any]], storage_config: StorageConfig) -> None:
    """Write each (name, final URI, writer(local path)) into a staging folder, then commit them all."""
    with tempfile.TemporaryDirectory(prefix="tracknet-infer-") as staging:
        staged = []
        for name, uri, write in files:
            path = os.path.join(staging, name)
            write(path)
            staged.append((path, uri))
        outputs.commit(staged, storage_config)


def _write(ledger: RunLedger, record: LedgerRecord) -> LedgerRecord:
    """Write the record after a stage's commit (the stage's commit point)."""
    ledger.write(record)
    return record


def _write_record(ledger: RunLedger, record: LedgerRecord, row: dict) -> dict:
    """Write the video's final record for this run and return its summary row."""
    try:
        ledger.write(record)
    except Exception as exc:  # outputs without a record are redone next run, never taken as done
        row |= {"status": "failed", "error": f"{record.source_uri}: cannot write run ledger: {type(exc).__name__}: {exc}"}
    return row
