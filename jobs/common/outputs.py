"""Output contracts of the inference job: layout, parquet schemas, and the per-video writers.

Layout under the job's `output` URI (video_id = input path below the input root,
without extension, '/'-separated):

    predictions/<hive dirs>/<stem>-<hash8>.parquet   one file per video, PREDICTIONS_FILE_SCHEMA
    shots/<hive dirs>/<stem>-<hash8>.parquet         with shot splitting: one row per shot, SHOTS_SCHEMA
    csv/<video_id>.csv                                TrackNet `Frame,Visibility,X,Y`
    json/<video_id>.json                              optional, video metadata + per-frame positions
    overlays/<video_id>.mp4                           optional, H.264 with ball, trail and players drawn
    clips/<video_id>/shot_<NNNN>.mp4                  optional, each court-view shot as its own H.264 clip
    summary/<run_id>.parquet                          one row per video, SUMMARY_SCHEMA (run_id inside)
    _ledger/<video_id>.json                           run ledger, stage by stage (jobs.common.ledger)

The predictions parquet is the record of truth of the model pass: CSV, JSON, overlays and
clips are derived from it (and the shots table) without running the model again. The
shot/court_view/player columns live in it too (one table for analysts); the analysis
stage replaces just those columns, in one atomic write of the file.

`<hive dirs>` are the video_id's `key=value` folders (`season=2024/`), so reading
`predictions/` as a dataset gives them as partition columns. Every parquet file
carries `schema` and `schema_version` in its schema metadata.

Writers put each file in a local staging folder first; `commit` then copies each
to its final URI atomically (temp + rename locally, one PUT on S3).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from jobs.common import storage
from jobs.common.storage import StorageConfig
from tracknet.broadcast import BroadcastAnalysis
from tracknet.labels import write_tracknet_csv
from tracknet.overlay import OverlayRenderer
from tracknet.players import SIDES as PLAYER_SIDES
from tracknet.video import VideoSource, VideoWriter, iter_frames

PREDICTIONS_SCHEMA_NAME = "tracknet.predictions"
# 2: shot, court_view and the near/far player columns (null when not analysed).
PREDICTIONS_SCHEMA_VERSION = "2"
SUMMARY_SCHEMA_NAME = "tracknet.run_summary"
# 2: shots, court_view_frames, both_players_frames, both_players_fraction.
# 3: per-stage outcome columns (predict, analysis, csv, json, overlay, clips).
SUMMARY_SCHEMA_VERSION = "3"
STAGES = ("predict", "analysis", "csv", "json", "overlay", "clips")
"""A video's stages in jobs.infer, in order; each has its own run ledger entry and summary column."""
POSITIONS_JSON_SCHEMA_NAME = "tracknet.positions"
# 2: optional `shots` in the header and `shot`, `court_view`, `players` per frame.
POSITIONS_JSON_SCHEMA_VERSION = "2"
SHOTS_SCHEMA_NAME = "tracknet.shots"
SHOTS_SCHEMA_VERSION = "1"
PLAYER_FIELDS = ("x0", "y0", "x1", "y1", "feet_x", "feet_y", "score")

PREDICTIONS_SCHEMA = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("frame", pa.int64(), nullable=False),
        pa.field("timestamp_s", pa.float64(), nullable=False),
        pa.field("visible", pa.bool_(), nullable=False),
        pa.field("x", pa.float64()),  # source pixels, null when not visible
        pa.field("y", pa.float64()),
        pa.field("score", pa.float32(), nullable=False),
        pa.field("raw_visible", pa.bool_(), nullable=False),
        pa.field("raw_x", pa.float64()),
        pa.field("raw_y", pa.float64()),
        pa.field("filled", pa.bool_(), nullable=False),
        pa.field("rejected", pa.bool_(), nullable=False),
        pa.field("width", pa.int32(), nullable=False),
        pa.field("height", pa.int32(), nullable=False),
        pa.field("fps", pa.float64(), nullable=False),
        pa.field("model_version", pa.string(), nullable=False),
    ],
    metadata={"schema": PREDICTIONS_SCHEMA_NAME, "schema_version": PREDICTIONS_SCHEMA_VERSION},
)
"""The ball columns every predictions file starts with (all a reader of ball positions needs)."""

ANALYSIS_FIELDS = [
    pa.field("shot", pa.int32()),  # shot index from 0; null without shot splitting
    pa.field("court_view", pa.bool_()),  # frame of a main court-view shot; null without shot splitting
    # The two players, source pixels (x1/y1 one past the last pixel); null when not found
    # (always outside court view) or without player detection.
    *[
        pa.field(f"{side}_{name}", pa.float32() if name == "score" else pa.float64())
        for side in PLAYER_SIDES
        for name in PLAYER_FIELDS
    ],
]

PREDICTIONS_FILE_SCHEMA = pa.schema(
    [*PREDICTIONS_SCHEMA, *ANALYSIS_FIELDS], metadata=PREDICTIONS_SCHEMA.metadata
)
"""What jobs.infer writes: the ball columns, then (since schema_version 2) the shot and
player columns, null when the run did not split shots or find players."""

SHOTS_SCHEMA = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("shot", pa.int32(), nullable=False),
        pa.field("first_frame", pa.int64(), nullable=False),
        pa.field("last_frame", pa.int64(), nullable=False),  # inclusive
        pa.field("frames", pa.int64(), nullable=False),
        pa.field("start_s", pa.float64(), nullable=False),
        pa.field("end_s", pa.float64(), nullable=False),  # end of the last frame
        pa.field("court_view", pa.bool_(), nullable=False),
        pa.field("confidence", pa.float32(), nullable=False),
        pa.field("court_iou", pa.float32(), nullable=False),
        pa.field("both_players_frames", pa.int64()),  # null without player detection
    ],
    metadata={"schema": SHOTS_SCHEMA_NAME, "schema_version": SHOTS_SCHEMA_VERSION},
)

SUMMARY_SCHEMA = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("source_uri", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),  # ok | failed | skipped
        pa.field("error", pa.string()),
        pa.field("frames", pa.int64()),
        pa.field("detected_frames", pa.int64()),
        pa.field("fps", pa.float64()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("duration_s", pa.float64()),
        pa.field("wall_s", pa.float64()),
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("shots", pa.int64()),  # null without shot splitting
        pa.field("court_view_frames", pa.int64()),
        pa.field("both_players_frames", pa.int64()),  # court-view frames with both players; null without players
        pa.field("both_players_fraction", pa.float64()),  # of court-view frames
        # Each stage's outcome in this run: done | skipped (already done) | failed; null when not asked.
        *[pa.field(stage, pa.string()) for stage in STAGES],
    ],
    metadata={"schema": SUMMARY_SCHEMA_NAME, "schema_version": SUMMARY_SCHEMA_VERSION},
)

_HIVE_FOLDER = re.compile(r"^[^=/]+=[^/]*$")


@dataclass(frozen=True)
class VideoMeta:
    """What the outputs say about a source video."""

    video_id: str
    source_uri: str
    frame_count: int
    fps: float
    width: int
    height: int
    duration_s: float
    codec: str


def hive_partitions(video_id: str) -> dict[str, str]:
    """`key=value` folders of a video_id, in order: {'season': '2024'} for 'season=2024/x'."""
    folders = video_id.split("/")[:-1]
    return dict(folder.split("=", 1) for folder in folders if _HIVE_FOLDER.match(folder))


@dataclass(frozen=True)
class OutputLayout:
    """Where each output of a run lives under the output root URI."""

    root: str

    def predictions(self, video_id: str) -> str:
        return self._partitioned("predictions", video_id)

    def shots(self, video_id: str) -> str:
        return self._partitioned("shots", video_id)

    def _partitioned(self, table: str, video_id: str) -> str:
        digest = hashlib.sha1(video_id.encode()).hexdigest()[:8]
        folders = [f"{k}={v}" for k, v in hive_partitions(video_id).items()]
        stem = posixpath.basename(video_id)
        return storage.join(self.root, table, *folders, f"{stem}-{digest}.parquet")

    def predictions_root(self) -> str:
        return storage.join(self.root, "predictions")

    def csv(self, video_id: str) -> str:
        return storage.join(self.root, "csv", f"{video_id}.csv")

    def json(self, video_id: str) -> str:
        return storage.join(self.root, "json", f"{video_id}.json")

    def overlay(self, video_id: str) -> str:
        return storage.join(self.root, "overlays", f"{video_id}.mp4")

    def clip(self, video_id: str, shot: int) -> str:
        return storage.join(self.root, "clips", video_id, f"shot_{shot:04d}.mp4")

    def ledger_root(self) -> str:
        return storage.join(self.root, "_ledger")

    def summary(self, run_id: str) -> str:
        return storage.join(self.root, "summary", f"{run_id}.parquet")


def predictions_table(
    meta: VideoMeta,
    frame: np.ndarray,
    timestamp_s: np.ndarray,
    visible: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    score: np.ndarray,
    raw_visible: np.ndarray,
    raw_x: np.ndarray,
    raw_y: np.ndarray,
    filled: np.ndarray,
    rejected: np.ndarray,
    model_version: str,
) -> pa.Table:
    """One row per frame in PREDICTIONS_FILE_SCHEMA; all arrays are (N,), positions in source pixels.

    The shot and player columns are null (`with_analysis` fills them).
    """
    n = len(frame)
    visible = np.asarray(visible, dtype=bool)
    raw_visible = np.asarray(raw_visible, dtype=bool)

    def position(values: np.ndarray, shown: np.ndarray) -> pa.Array:
        values = np.asarray(values, dtype=np.float64)
        return pa.array(values, mask=~shown | np.isnan(values), type=pa.float64())

    columns = {
        "video_id": pa.array([meta.video_id] * n, type=pa.string()),
        "frame": pa.array(np.asarray(frame, dtype=np.int64)),
        "timestamp_s": pa.array(np.asarray(timestamp_s, dtype=np.float64)),
        "visible": pa.array(visible),
        "x": position(x, visible),
        "y": position(y, visible),
        "score": pa.array(np.asarray(score, dtype=np.float32)),
        "raw_visible": pa.array(raw_visible),
        "raw_x": position(raw_x, raw_visible),
        "raw_y": position(raw_y, raw_visible),
        "filled": pa.array(np.asarray(filled, dtype=bool)),
        "rejected": pa.array(np.asarray(rejected, dtype=bool)),
        "width": pa.array(np.full(n, meta.width, dtype=np.int32)),
        "height": pa.array(np.full(n, meta.height, dtype=np.int32)),
        "fps": pa.array(np.full(n, meta.fps, dtype=np.float64)),
        "model_version": pa.array([model_version] * n, type=pa.string()),
    }
    columns |= analysis_columns(None, n)
    return pa.Table.from_pydict(columns, schema=PREDICTIONS_FILE_SCHEMA)


def with_analysis(table: pa.Table, columns: dict[str, pa.Array | pa.ChunkedArray]) -> pa.Table:
    """`table` (PREDICTIONS_FILE_SCHEMA) with its ANALYSIS_FIELDS columns replaced by `columns`."""
    for name, values in columns.items():
        table = table.set_column(table.schema.get_field_index(name), PREDICTIONS_FILE_SCHEMA.field(name), values)
    return table


def stored_analysis_columns(table: pa.Table) -> dict[str, pa.ChunkedArray]:
    """The ANALYSIS_FIELDS columns of a predictions table (to carry them into a new one)."""
    return {f.name: table.column(f.name) for f in ANALYSIS_FIELDS}


def analysis_columns(analysis: BroadcastAnalysis | None, n: int) -> dict[str, pa.Array]:
    """The ANALYSIS_FIELDS columns of `analysis` for frames 0..n-1 (all null without one)."""
    if analysis is None:
        shot = pa.nulls(n, pa.int32())
        court_view = pa.nulls(n, pa.bool_())
    else:
        shot = pa.array(analysis.shot.astype(np.int32))
        court_view = pa.array(analysis.court_view)
    columns = {"shot": shot, "court_view": court_view}
    players = analysis.players if analysis is not None else None
    for k, side in enumerate(PLAYER_SIDES):
        if players is None:
            for name in PLAYER_FIELDS:
                columns[f"{side}_{name}"] = pa.nulls(n, pa.float32() if name == "score" else pa.float64())
            continue
        x0, y0, x1, y1, score = (players[:, k, i] for i in range(5))
        missing = np.isnan(x0)
        for name, value in _box_fields(x0, y0, x1, y1).items():
            columns[f"{side}_{name}"] = pa.array(value, mask=missing, type=pa.float64())
        columns[f"{side}_score"] = pa.array(score.astype(np.float32), mask=missing, type=pa.float32())
    return columns


def shots_table(meta: VideoMeta, analysis: BroadcastAnalysis) -> pa.Table:
    """One row per shot in SHOTS_SCHEMA."""
    shots = analysis.split.shots
    both = analysis.both_players() if analysis.players is not None else None
    columns = {
        "video_id": [meta.video_id] * len(shots),
        "shot": [s.index for s in shots],
        "first_frame": [s.first_frame for s in shots],
        "last_frame": [s.last_frame for s in shots],
        "frames": [s.frames for s in shots],
        "start_s": [s.first_frame / meta.fps for s in shots],
        "end_s": [(s.last_frame + 1) / meta.fps for s in shots],
        "court_view": [s.court_view for s in shots],
        "confidence": [s.confidence for s in shots],
        "court_iou": [s.court_iou for s in shots],
        "both_players_frames": [
            None if both is None else int(both[s.first_frame : s.last_frame + 1].sum()) for s in shots
        ],
    }
    return pa.Table.from_pydict(columns, schema=SHOTS_SCHEMA)


def players_found(shots: pa.Table) -> bool:
    """True when the analysis behind a shots table looked for players (not only shots)."""
    return shots.num_rows > 0 and shots.column("both_players_frames").null_count == 0


def players_array(table: pa.Table) -> np.ndarray:
    """(N, 2, 5) float64 near/far (x0, y0, x1, y1, score) from a predictions table; NaN where not found."""
    boxes = np.full((table.num_rows, len(PLAYER_SIDES), 5), np.nan)
    for k, side in enumerate(PLAYER_SIDES):
        for i, name in enumerate(("x0", "y0", "x1", "y1", "score")):
            boxes[:, k, i] = table.column(f"{side}_{name}").to_numpy(zero_copy_only=False).astype(np.float64)
    return boxes


def analysis_summary(table: pa.Table, shots: pa.Table | None) -> dict[str, float | int | None]:
    """The run summary's shot and player fields for one video (empty without shots)."""
    if shots is None:
        return {}
    court_view = table.column("court_view").to_numpy(zero_copy_only=False).astype(bool)
    court_view_frames = int(court_view.sum())
    row: dict[str, float | int | None] = {"shots": shots.num_rows, "court_view_frames": court_view_frames}
    if players_found(shots):
        both = int((~np.isnan(players_array(table)[:, :, 0]).any(axis=1) & court_view).sum())
        row |= {
            "both_players_frames": both,
            "both_players_fraction": both / court_view_frames if court_view_frames else None,
        }
    return row


def read_parquet(uri: str, storage_config: StorageConfig | None = None) -> pa.Table:
    """A parquet file written by `write_parquet`, from any URI."""
    with storage.open_input(uri, storage_config) as stream:
        return pq.read_table(stream)


def write_parquet(table: pa.Table, path: str | os.PathLike) -> None:
    """Write a table to a local parquet file, keeping its schema metadata (schema_version)."""
    pq.write_table(table, os.fspath(path), compression="zstd")


def write_csv(table: pa.Table, path: str | os.PathLike) -> None:
    """TrackNet `Frame,Visibility,X,Y` CSV (source pixels, 0,0 when not visible) from a predictions table."""
    visible = table.column("visible").to_numpy(zero_copy_only=False)
    labels = pd.DataFrame(
        {
            "frame": table.column("frame").to_numpy(),
            "visible": visible.astype(np.int8),
            "x_px": table.column("x").to_numpy(zero_copy_only=False).astype(np.float64),
            "y_px": table.column("y").to_numpy(zero_copy_only=False).astype(np.float64),
        }
    )
    write_tracknet_csv(labels, path)


def write_json(
    meta: VideoMeta,
    table: pa.Table,
    model_version: str,
    path: str | os.PathLike,
    shots: pa.Table | None = None,
) -> None:
    """The video's metadata and per-frame positions as one JSON document, written frame by frame.

    With the video's `shots` table the header gains `shots` (SHOTS_SCHEMA rows without
    video_id) and each frame `shot`, `court_view` and, when players were looked for,
    `players` ({"near": {...} or null, "far": ...}) from the table's player columns.
    """
    header = {
        "schema": POSITIONS_JSON_SCHEMA_NAME,
        "schema_version": POSITIONS_JSON_SCHEMA_VERSION,
        "video_id": meta.video_id,
        "source_uri": meta.source_uri,
        "frame_count": meta.frame_count,
        "fps": meta.fps,
        "width": meta.width,
        "height": meta.height,
        "duration_s": meta.duration_s,
        "codec": meta.codec,
        "model_version": model_version,
    }
    names = ["frame", "timestamp_s", "visible", "x", "y", "score"]
    players = None
    if shots is not None:
        header["shots"] = shots.drop(["video_id"]).to_pylist()
        for shot in header["shots"]:
            shot["confidence"] = round(shot["confidence"], 4)
            shot["court_iou"] = round(shot["court_iou"], 4)
        names += ["shot", "court_view"]
        players = players_array(table) if players_found(shots) else None
    columns = {name: table.column(name).to_pylist() for name in names}
    with open(path, "w", encoding="utf-8") as out:
        out.write(json.dumps(header)[:-1] + ', "frames": [')
        for i in range(table.num_rows):
            row = {name: values[i] for name, values in columns.items()}
            row["score"] = round(float(row["score"]), 4)
            if players is not None:
                row["players"] = {side: _player_json(players[i, k]) for k, side in enumerate(PLAYER_SIDES)}
            out.write(("," if i else "") + "\n" + json.dumps(row, allow_nan=False))
        out.write("\n]}\n")


def _player_json(box: np.ndarray) -> dict[str, float] | None:
    """One player's box (x0, y0, x1, y1, score) as JSON fields, or None when not found."""
    if np.isnan(box[0]):
        return None
    x0, y0, x1, y1, score = (float(v) for v in box)
    return {name: round(value, 1) for name, value in _box_fields(x0, y0, x1, y1).items()} | {"score": round(score, 4)}


def _box_fields(x0, y0, x1, y1):
    """A player's box and feet point (bottom centre) by PLAYER_FIELDS name; scalars or arrays."""
    return {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "feet_x": (x0 + x1) / 2, "feet_y": y1}


def render_videos(
    source: VideoSource,
    meta: VideoMeta,
    visible: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    overlay_path: str | os.PathLike | None = None,
    clips: Sequence[tuple[int, int, str | os.PathLike]] = (),
    trail_frames: int = 8,
    players: np.ndarray | None = None,
) -> int:
    """One full-size decode of the source writing the overlay and/or clips (local H.264 files).

    Args:
        overlay_path: where the overlay goes (ball, trail and players drawn), or None.
        clips: (first_frame, last_frame inclusive, path): source frames copied unchanged,
            each range as its own clip (court-view shots).
        players: (N, 2, 5) near/far boxes for the overlay, NaN when not found; None draws none.

    Returns the frames decoded; raises ValueError when that differs from the video's
    count or a clip ends up with other than its range's frame count.
    """
    renderer = OverlayRenderer(trail_frames=trail_frames)
    pending = sorted(clips, key=lambda clip: clip[0])
    with contextlib.ExitStack() as stack:
        overlay = None
        if overlay_path is not None:
            overlay = stack.enter_context(VideoWriter(overlay_path, meta.width, meta.height, meta.fps))
        clip_writer, clip_range = None, None
        decoded = 0
        for frame in iter_frames(source, 0, meta.frame_count):
            i = frame.index
            decoded += 1
            if overlay is not None:
                shown = bool(visible[i])
                x_px, y_px = (float(x[i]), float(y[i])) if shown else (math.nan, math.nan)
                boxes = players[i] if players is not None else None
                overlay.write(renderer.draw(frame.image, i, shown, x_px, y_px, players=boxes))
            if clip_writer is None and pending and pending[0][0] == i:
                first, last, clip_path = pending.pop(0)
                clip_writer = VideoWriter(clip_path, meta.width, meta.height, meta.fps)
                clip_range = (first, last, clip_path)
            if clip_writer is not None:
                clip_writer.write(frame.image)
                if i == clip_range[1]:
                    _close_clip(clip_writer, clip_range)
                    clip_writer = None
        if clip_writer is not None:
            _close_clip(clip_writer, clip_range)
    if decoded != meta.frame_count:
        raise ValueError(f"{meta.source_uri}: decoding for the overlay gave {decoded} frames, the video has {meta.frame_count}")
    if pending:
        raise ValueError(f"{meta.source_uri}: clips from frame {pending[0][0]} start past the video's end")
    return decoded


def _close_clip(writer: VideoWriter, clip: tuple[int, int, str | os.PathLike]) -> None:
    writer.close()
    first, last, path = clip
    if writer.frames_written != last - first + 1:
        raise ValueError(f"{path}: clip of frames {first}..{last} got {writer.frames_written} frames")


def commit(files: Sequence[tuple[str, str]], storage_config: StorageConfig | None = None) -> None:
    """Copy staged local files to their final URIs, each atomically; (local_path, uri) pairs."""
    for local_path, uri in files:
        storage.upload_file(local_path, uri, storage_config)


def summary_table(rows: Sequence[dict]) -> pa.Table:
    """Run summary rows (dicts keyed by SUMMARY_SCHEMA names; missing keys are null) as a table."""
    columns = {field.name: [row.get(field.name) for row in rows] for field in SUMMARY_SCHEMA}
    return pa.Table.from_pydict(columns, schema=SUMMARY_SCHEMA)


def write_summary(rows: Sequence[dict], uri: str, storage_config: StorageConfig | None = None) -> None:
    """Write the run summary parquet to its URI in one atomic write."""
    sink = pa.BufferOutputStream()
    pq.write_table(summary_table(rows), sink)
    storage.write_bytes(uri, sink.getvalue().to_pybytes(), storage_config)
