"""Output contracts of the inference job: layout, parquet schemas, and the per-video writers.

Layout under the job's `output` URI (video_id = input path below the input root,
without extension, '/'-separated):

    predictions/<hive dirs>/<stem>-<hash8>.parquet   one file per video, PREDICTIONS_SCHEMA
    csv/<video_id>.csv                                TrackNet `Frame,Visibility,X,Y`
    json/<video_id>.json                              optional, video metadata + per-frame positions
    overlays/<video_id>.mp4                           optional, H.264 with ball and trail drawn
    summary/<run_id>.parquet                          one row per video, SUMMARY_SCHEMA (run_id inside)
    _ledger/<video_id>.json                           run ledger (jobs.common.ledger)

`<hive dirs>` are the video_id's `key=value` folders (`season=2024/`), so reading
`predictions/` as a dataset gives them as partition columns. Every parquet file
carries `schema` and `schema_version` in its schema metadata.

Writers put each file in a local staging folder first; `commit` then copies each
to its final URI atomically (temp + rename locally, one PUT on S3).
"""

from __future__ import annotations

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
from tracknet.labels import write_tracknet_csv
from tracknet.overlay import OverlayRenderer
from tracknet.video import VideoSource, VideoWriter, iter_frames

PREDICTIONS_SCHEMA_NAME = "tracknet.predictions"
PREDICTIONS_SCHEMA_VERSION = "1"
SUMMARY_SCHEMA_NAME = "tracknet.run_summary"
SUMMARY_SCHEMA_VERSION = "1"
POSITIONS_JSON_SCHEMA_NAME = "tracknet.positions"
POSITIONS_JSON_SCHEMA_VERSION = "1"

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
        digest = hashlib.sha1(video_id.encode()).hexdigest()[:8]
        folders = [f"{k}={v}" for k, v in hive_partitions(video_id).items()]
        stem = posixpath.basename(video_id)
        return storage.join(self.root, "predictions", *folders, f"{stem}-{digest}.parquet")

    def predictions_root(self) -> str:
        return storage.join(self.root, "predictions")

    def csv(self, video_id: str) -> str:
        return storage.join(self.root, "csv", f"{video_id}.csv")

    def json(self, video_id: str) -> str:
        return storage.join(self.root, "json", f"{video_id}.json")

    def overlay(self, video_id: str) -> str:
        return storage.join(self.root, "overlays", f"{video_id}.mp4")

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
    """One row per frame in PREDICTIONS_SCHEMA; all arrays are (N,), positions in source pixels."""
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
    return pa.Table.from_pydict(columns, schema=PREDICTIONS_SCHEMA)


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


def write_json(meta: VideoMeta, table: pa.Table, model_version: str, path: str | os.PathLike) -> None:
    """The video's metadata and per-frame positions as one JSON document, written frame by frame."""
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
    columns = {name: table.column(name).to_pylist() for name in ("frame", "timestamp_s", "visible", "x", "y", "score")}
    with open(path, "w", encoding="utf-8") as out:
        out.write(json.dumps(header)[:-1] + ', "frames": [')
        for i in range(table.num_rows):
            row = {name: values[i] for name, values in columns.items()}
            row["score"] = round(float(row["score"]), 4)
            out.write(("," if i else "") + "\n" + json.dumps(row, allow_nan=False))
        out.write("\n]}\n")


def render_overlay(
    source: VideoSource,
    path: str | os.PathLike,
    meta: VideoMeta,
    visible: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    trail_frames: int = 8,
) -> int:
    """Re-decode the source at full size, draw ball + trail, encode H.264 to a local file.

    Streaming (one frame in memory). Returns the number of frames written, which
    equals the source's; raises ValueError if the decode yields a different count.
    """
    renderer = OverlayRenderer(trail_frames=trail_frames)
    with VideoWriter(path, meta.width, meta.height, meta.fps) as writer:
        for frame in iter_frames(source, 0, meta.frame_count):
            i = frame.index
            shown = bool(visible[i])
            x_px, y_px = (float(x[i]), float(y[i])) if shown else (math.nan, math.nan)
            image = renderer.draw(frame.image, i, shown, x_px, y_px)
            writer.write(image)
        written = writer.frames_written
    if written != meta.frame_count:
        raise ValueError(f"{meta.source_uri}: overlay got {written} frames, the video has {meta.frame_count}")
    return written


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
