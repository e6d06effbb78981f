"""Featurize labelled videos into parquet training windows, on Ray Data.

    python -m jobs.featurize --config conf/featurize.yaml [key=value ...]

For example, the shared badminton clips:

    python -m jobs.featurize --config conf/featurize_badminton.yaml output=s3://bucket/windows \\
        storage.endpoint_url=http://127.0.0.1:9000

Lists the videos under `input`, pairs each with its label file (same relative path with
.csv or .json, beside the video or under `labels`), splits train/val by whole video,
decodes each video with PyAV (streaming, one Ray task per segment of at most
`segment_frames` frames) straight to model resolution (`iter_frames(size=...)`, the
path inference uses), JPEG-encodes each frame once, cuts windows of `frames_in` consecutive
frames every `stride` frames, and writes them with their per-frame labels as parquet
under `<output>/windows/split=<train|val>/` (schema: jobs/common/windows.py). With
`background=true` each task first takes its segment's median frame (tracknet.background,
one more decoding pass, as jobs.infer does) and stores it with the segment's windows. A video
without labels is skipped with a warning; a corrupt video or a label file that does not
match its video is reported with the reason, and the other videos go on. Label files may
cover only stretches of a video (what `jobs.label` imports): windows are cut only where
every frame of the window is labelled, and only those stretches are decoded. The summary
(one row per video, with frames labelled and frames used in windows) goes to
`<output>/summary.parquet` and `<output>/summary.json`.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import ray

from jobs.common import storage
from jobs.common.config import ConfigError, parse_args
from jobs.common.cli import run_main
from jobs.common.inputs import VIDEO_SUFFIXES, InputError, input_root, list_videos, open_source, video_id_for
from jobs.common.ray_env import init_ray
from jobs.common.storage import StorageConfig
from jobs.common.windows import PARQUET_COMPRESSION, SCHEMA_VERSION, WINDOW_SCHEMA, WindowBatch, windows_uri
from tracknet.background import estimate_background
from tracknet.errors import LabelError, TrackNetError, VideoError
from tracknet.labels import read_labels, validate_labels
from tracknet.preprocess import encode_jpeg, scale_xy
from tracknet.video import iter_frames, probe

log = logging.getLogger("jobs.featurize")

LABEL_SUFFIXES = (".csv", ".json")


@dataclass(frozen=True)
class SplitConfig:
    """How videos are split into train and validation; always by whole video."""

    val_ratio: float = 0.2
    """Share of videos held out for validation (ranked by a seeded hash of the video_id)."""
    seed: int = 0
    """Seed of that ranking; the same seed and videos give the same split."""
    val_videos: tuple[str, ...] = ()
    """Explicit validation video_ids; when set, val_ratio and seed are ignored."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.val_ratio < 1.0:
            raise ValueError(f"val_ratio must be in [0, 1), got {self.val_ratio}")


@dataclass(frozen=True)
class FeaturizeConfig:
    """Config of jobs.featurize; maps 1:1 onto conf/featurize*.yaml."""

    input: str = "data/synth"
    """Videos: a folder/prefix (searched recursively) or one file; local path, file:// or s3://."""
    output: str = "out/features"
    """Root for windows/, summary.parquet and summary.json."""
    labels: str | None = None
    """Root holding label files at the videos' relative paths; None: beside each video."""
    video_suffixes: tuple[str, ...] = VIDEO_SUFFIXES
    """File name endings that count as videos (case-insensitive)."""
    width: int = 512
    """Model input width in pixels (a multiple of 8)."""
    height: int = 288
    """Model input height in pixels (a multiple of 8)."""
    frames_in: int = 3
    """Consecutive frames per window."""
    stride: int = 1
    """Frames between the starts of consecutive windows."""
    jpeg_quality: int = 90
    """JPEG quality of the stored frames (1..100)."""
    background: bool = False
    """Store each segment's median background frame with its windows (for `model.background`)."""
    allow_unlabelled_frames: bool = True
    """True: labels may cover stretches of a video, windows with an unlabelled frame are not cut; False: a label
    file that misses frames of its video fails it (for data sets labelled whole, where a gap is a mistake)."""
    segment_frames: int = 1500
    """Most frames one Ray task decodes; long videos are cut into segments decoded in parallel."""
    rows_per_block: int = 128
    """Windows per output block (and parquet row group); bounds task memory."""
    cpus_per_task: float = 1.0
    """Ray CPUs reserved per decoding task."""
    overwrite: bool = True
    """Replace an existing <output>/windows; False makes an existing one an error."""
    ray_progress_bars: bool = False
    """Show Ray Data's own progress bars (off: the job's own log lines only)."""
    split: SplitConfig = field(default_factory=SplitConfig)
    """Train/validation split by whole video."""
    storage: StorageConfig = field(default_factory=StorageConfig)
    """S3 endpoint and region (credentials come from the standard AWS chain)."""

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            value = getattr(self, name)
            if value <= 0 or value % 8:
                raise ValueError(f"{name} must be a positive multiple of 8, got {value}")
        for name in ("frames_in", "stride", "segment_frames", "rows_per_block"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.segment_frames < self.frames_in:
            raise ValueError(f"segment_frames ({self.segment_frames}) must be >= frames_in ({self.frames_in})")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")
        if self.cpus_per_task <= 0:
            raise ValueError(f"cpus_per_task must be > 0, got {self.cpus_per_task}")
        if not self.video_suffixes:
            raise ValueError("video_suffixes must name at least one suffix")

    @property
    def size(self) -> tuple[int, int]:
        """Model resolution as (width, height)."""
        return self.width, self.height


@dataclass(frozen=True)
class VideoResult:
    """One video's outcome; a row of summary.parquet."""

    video_id: str
    split: str
    status: str
    """'ok', 'skipped' (no labels) or 'failed'."""
    error: str | None
    video_uri: str
    label_uri: str | None
    frames: int = 0
    """Frames decoded (0 when the video was not decoded)."""
    windows: int = 0
    """Windows written."""
    labelled_frames: int = 0
    """Frames the label file covers."""
    used_frames: int = 0
    """Labelled frames inside at least one window (a stretch shorter than frames_in gives none)."""
    width: int = 0
    height: int = 0
    fps: float = 0.0
    wall_s: float = 0.0
    """Decode + encode time summed over the video's tasks."""


@dataclass(frozen=True)
class FeaturizeReport:
    """What a featurize run did."""

    videos: list[VideoResult]
    wall_s: float
    output: str
    stage_s: dict[str, float] = field(default_factory=dict)
    """Wall time of each stage: list (listing + pairing), inspect (probe + labels), decode_write."""

    @property
    def windows(self) -> int:
        return sum(v.windows for v in self.videos)

    @property
    def frames(self) -> int:
        return sum(v.frames for v in self.videos)

    def count(self, status: str) -> int:
        return sum(v.status == status for v in self.videos)

    @property
    def labelled_frames(self) -> int:
        return sum(v.labelled_frames for v in self.videos)

    @property
    def used_frames(self) -> int:
        return sum(v.used_frames for v in self.videos)

    def windows_in(self, split: str) -> int:
        return sum(v.windows for v in self.videos if v.split == split)


# --------------------------------------------------------------------------- planning


def assign_splits(video_ids: Sequence[str], split: SplitConfig) -> dict[str, str]:
    """'train' or 'val' per video_id; deterministic in (video_ids, split config)."""
    ids = sorted(set(video_ids))
    if split.val_videos:
        val = set(split.val_videos) & set(ids)
    else:
        count = round(len(ids) * split.val_ratio)
        if split.val_ratio > 0 and len(ids) > 1:
            count = min(max(count, 1), len(ids) - 1)
        ranked = sorted(ids, key=lambda v: hashlib.sha256(f"{split.seed}:{v}".encode()).hexdigest())
        val = set(ranked[:count])
    return {v: ("val" if v in val else "train") for v in ids}


def plan_videos(config: FeaturizeConfig) -> list[dict]:
    """List videos, pair labels and assign splits; one dict per video (no file is opened)."""
    listed = list_videos(config.input, config.video_suffixes, config.storage)
    for video, reason in listed.problems:
        log.warning("skipping %s: %s", video.uri, reason)
    videos = listed.videos
    label_root = config.labels or input_root(config.input, config.storage)
    try:
        label_files = storage.list_files(label_root, LABEL_SUFFIXES, config.storage)
    except FileNotFoundError as exc:
        if config.labels is not None:
            raise InputError(f"{label_root}: no such label folder (labels=)") from exc
        label_files = []
    labels_by_id: dict[str, str] = {}
    for suffix in LABEL_SUFFIXES:  # .csv wins over .json for the same video
        for entry in label_files:
            if entry.relative_path.lower().endswith(suffix):
                labels_by_id.setdefault(video_id_for(entry.relative_path), entry.uri)
    ids = [v.video_id for v in videos]
    splits = assign_splits(ids, config.split)
    unknown = sorted(set(config.split.val_videos) - set(ids))
    if unknown:
        log.warning("split.val_videos names videos not in %s: %s", config.input, ", ".join(unknown))
    return [
        {"video_id": vid, "video_uri": v.uri, "label_uri": labels_by_id.get(vid), "split": splits[vid]}
        for vid, v in zip(ids, videos)
    ]


def _read_label_file(uri: str, video_size: tuple[int, int], storage_config: StorageConfig) -> pd.DataFrame:
    fs, path = storage.resolve(uri, storage_config)
    if isinstance(fs, pafs.LocalFileSystem):
        return read_labels(path, video_size)
    buffer = io.BytesIO(storage.read_bytes(uri, storage_config))
    buffer.name = uri
    return read_labels(buffer, video_size)


def inspect_video(plan: dict, config: FeaturizeConfig) -> dict:
    """Probe a video and check its labels; returns the plan with status and per-frame labels.

    Adds: status ('ok', 'skipped', 'failed'), error, frames, width, height, fps, labelled_frames, and
    for 'ok' videos visible (int8, -1 for an unlabelled frame), x, y (float32, model pixels) and
    starts (int64, the window starts whose frames are all labelled).
    """
    out = dict(plan, status="ok", error=None, frames=0, width=0, height=0, fps=0.0, labelled_frames=0)
    if plan["label_uri"] is None:
        stem = plan["video_id"]
        return out | {"status": "skipped", "error": f"no label file ({stem}.csv or {stem}.json)"}
    try:
        with open_source(plan["video_uri"], config.storage) as source:
            info = probe(source)
    except VideoError as exc:
        return out | {"status": "failed", "error": f"{plan['video_uri']}: {exc.problem}"}
    except OSError as exc:
        return out | {"status": "failed", "error": f"{plan['video_uri']}: cannot read ({exc})"}
    out |= {"frames": info.frame_count, "width": info.width, "height": info.height, "fps": info.fps}
    if info.frame_count < config.frames_in:
        return out | {
            "status": "failed",
            "error": f"{plan['video_uri']}: {info.frame_count} frames, fewer than frames_in={config.frames_in}",
        }
    label_uri = plan["label_uri"]
    try:
        labels = _read_label_file(label_uri, (info.width, info.height), config.storage)
        validate_labels(labels, info.frame_count, (info.width, info.height), label_uri)
    except LabelError as exc:
        return out | {"status": "failed", "error": str(exc)}
    except OSError as exc:
        return out | {"status": "failed", "error": f"{label_uri}: cannot read ({exc})"}
    visible = np.full(info.frame_count, -1, dtype=np.int8)
    frames = labels["frame"].to_numpy()
    visible[frames] = labels["visible"].to_numpy()
    missing = np.flatnonzero(visible < 0)
    if len(missing) and not config.allow_unlabelled_frames:
        return out | {
            "status": "failed",
            "error": (
                f"{label_uri}: labels cover {len(labels)} of the video's {info.frame_count} frames "
                f"(first unlabelled frame {int(missing[0])}); set allow_unlabelled_frames=true to "
                "drop windows with unlabelled frames instead"
            ),
        }
    out["labelled_frames"] = len(labels)
    starts = window_starts(visible >= 0, config.frames_in, config.stride)
    if not len(starts):
        return out | {
            "status": "skipped",
            "error": f"{label_uri}: no {config.frames_in} consecutive labelled frames (frames_in), so no window",
        }
    out["starts"] = starts
    out["used_frames"] = used_frames(starts, config.frames_in)
    x = np.full(info.frame_count, np.nan, dtype=np.float64)
    y = np.full(info.frame_count, np.nan, dtype=np.float64)
    x[frames], y[frames] = labels["x_px"].to_numpy(), labels["y_px"].to_numpy()
    x, y = scale_xy(x, y, (info.width, info.height), config.size)
    shown = visible == 1
    out["visible"] = visible
    out["x"] = np.where(shown, x, np.nan).astype(np.float32)
    out["y"] = np.where(shown, y, np.nan).astype(np.float32)
    return out


def window_starts(labelled: np.ndarray, frames_in: int, stride: int) -> np.ndarray:
    """(K,) int64 starts on the stride grid (0, stride, ...) of the windows whose frames are all labelled.

    `labelled` is (N,) bool per frame; a whole labelled video gives every start, as before labels
    could cover stretches.
    """
    starts = np.arange(0, len(labelled) - frames_in + 1, stride)
    # Unlabelled frames before each index: a window is whole when none fall inside it.
    gaps = np.concatenate([[0], np.cumsum(~labelled)])
    return starts[gaps[starts + frames_in] == gaps[starts]].astype(np.int64)


def used_frames(starts: np.ndarray, frames_in: int) -> int:
    """Frames inside at least one of the windows starting at `starts`."""
    if not len(starts):
        return 0
    ends = starts + frames_in
    # Union of [start, end) intervals of sorted starts: each adds what the previous ones did not cover.
    covered_until = np.maximum.accumulate(np.concatenate([[starts[0]], ends[:-1]]))
    return int(np.sum(ends - np.maximum(starts, covered_until)))


@ray.remote
def _inspect_task(plan: dict, config: FeaturizeConfig) -> dict:
    return inspect_video(plan, config)


def plan_segments(video: dict, config: FeaturizeConfig) -> list[dict]:
    """Cut an inspected video's window starts into segments of at most segment_frames frames.

    A segment never spans a gap in the labels, so unlabelled stretches are not decoded.
    """
    f, stride = config.frames_in, config.stride
    starts = video["starts"]
    per_segment = max(1, (config.segment_frames - f) // stride + 1)
    runs = np.split(starts, np.flatnonzero(np.diff(starts) > stride) + 1)
    chunks = [run[i : i + per_segment] for run in runs for i in range(0, len(run), per_segment)]
    segments = []
    for index, chunk in enumerate(chunks):
        lo, hi = int(chunk[0]), int(chunk[-1]) + f  # frames [lo, hi)
        segments.append(
            {
                "video_id": video["video_id"],
                "video_uri": video["video_uri"],
                "split": video["split"],
                "segment": index,
                "first_start": lo,
                "last_start": int(chunk[-1]),
                "fps": float(video["fps"]),
                "source_width": int(video["width"]),
                "source_height": int(video["height"]),
                "visible": video["visible"][lo:hi].tolist(),
                "x": video["x"][lo:hi].tolist(),
                "y": video["y"][lo:hi].tolist(),
            }
        )
    return segments


# --------------------------------------------------------------------------- decoding


@ray.remote(num_cpus=0)
class SegmentLedger:
    """Collects each segment's outcome from the decoding tasks (retries overwrite)."""

    def __init__(self) -> None:
        self._results: dict[tuple[str, int], dict] = {}

    def record(self, result: dict) -> None:
        self._results[(result["video_id"], result["segment"])] = result

    def results(self) -> list[dict]:
        return list(self._results.values())


def featurize_segments(batch: pa.Table, config: FeaturizeConfig, ledger) -> Iterator[pa.Table]:
    """Ray Data UDF: segments in, window rows (WINDOW_SCHEMA) out, outcomes to the ledger."""
    # OpenCV would start a thread per core in every task; the task owns cpus_per_task cores.
    cv2.setNumThreads(max(1, int(config.cpus_per_task)))
    for segment in batch.to_pylist():
        started = time.perf_counter()
        outcome = {"video_id": segment["video_id"], "segment": segment["segment"], "windows": 0, "frames": 0,
                   "error": None}
        try:
            for table, frames in _segment_windows(segment, config):
                outcome["windows"] += table.num_rows
                outcome["frames"] = frames
                yield table
        except VideoError as exc:
            outcome["error"] = f"{segment['video_uri']}: {exc.problem}"
        except (TrackNetError, OSError, ValueError) as exc:
            outcome["error"] = f"{segment['video_uri']}: {type(exc).__name__}: {exc}"
        outcome["wall_s"] = time.perf_counter() - started
        ray.get(ledger.record.remote(outcome))


def _segment_windows(segment: dict, config: FeaturizeConfig) -> Iterator[tuple[pa.Table, int]]:
    """Decode one segment and yield (window table, frames decoded so far) every rows_per_block windows."""
    f, stride, size = config.frames_in, config.stride, config.size
    first, last = segment["first_start"], segment["last_start"]
    stop = last + f
    visible = np.asarray(segment["visible"], dtype=np.int8)
    x = np.asarray(segment["x"], dtype=np.float32)
    y = np.asarray(segment["y"], dtype=np.float32)
    recent: deque[bytes] = deque(maxlen=f)
    batch = WindowBatch()
    expected = first
    with open_source(segment["video_uri"], config.storage) as source:
        # The segment's median first: one more decoding pass over the same source, as jobs.infer does.
        background = (
            encode_jpeg(estimate_background(source, first, stop, size), config.jpeg_quality)
            if config.background else None
        )
        for frame in iter_frames(source, first, stop, size):
            if frame.index != expected:
                raise VideoError(segment["video_uri"], f"frame {expected} is missing from the stream")
            recent.append(encode_jpeg(frame.image, config.jpeg_quality))
            expected += 1
            start = frame.index - f + 1
            if start < first or (start - first) % stride:
                continue
            i = start - first
            if (visible[i : i + f] < 0).any():
                continue  # a frame without a label (allow_unlabelled_frames)
            batch.add(
                video_id=segment["video_id"], split=segment["split"], start_frame=start, fps=segment["fps"],
                source_size=(segment["source_width"], segment["source_height"]), size=size,
                frames=list(recent), visible=visible[i : i + f], x=x[i : i + f], y=y[i : i + f],
                background=background,
            )
            if len(batch) >= config.rows_per_block:
                yield batch.to_table(), expected - first
    if expected < stop:
        raise VideoError(
            segment["video_uri"],
            f"video ended after frame {expected - 1}, but its container says it has at least {stop} frames",
        )
    if len(batch):
        yield batch.to_table(), expected - first


# --------------------------------------------------------------------------- job


def run(config: FeaturizeConfig) -> FeaturizeReport:
    """Featurize every video under config.input; Ray must be initialised."""
    started = time.perf_counter()
    stage_s: dict[str, float] = {}
    out_uri = windows_uri(config.output)
    if storage.exists(out_uri, config.storage):
        if not config.overwrite:
            raise ConfigError(f"{out_uri} exists; set overwrite=true to replace it")
        storage.delete_tree(out_uri, config.storage)

    plans = plan_videos(config)
    stage_s["list"] = time.perf_counter() - started
    inspected = ray.get([_inspect_task.options(num_cpus=config.cpus_per_task).remote(p, config) for p in plans])
    stage_s["inspect"] = time.perf_counter() - started - stage_s["list"]
    good = [v for v in inspected if v["status"] == "ok"]
    for video in inspected:
        if video["status"] == "skipped":
            log.warning("skipping %s: %s", video["video_id"], video["error"])
    segments = [s for v in good for s in plan_segments(v, config)]
    # Longest segments first, so the last tasks to finish are short ones; but the shortest one
    # goes first of all: Ray Data runs a single task until it has seen one task's output.
    segments.sort(key=lambda s: s["last_start"] - s["first_start"], reverse=True)
    segments = segments[-1:] + segments[:-1]

    ledger = SegmentLedger.remote()
    decode_started = time.perf_counter()
    if segments:
        fs, path = storage.resolve(out_uri, config.storage)
        dataset = ray.data.from_items(segments, override_num_blocks=len(segments)).map_batches(
            featurize_segments,
            batch_size=1,
            batch_format="pyarrow",
            fn_kwargs={"config": config, "ledger": ledger},
            num_cpus=config.cpus_per_task,
        )
        dataset.write_parquet(
            path, filesystem=fs, partition_cols=["split"], schema=WINDOW_SCHEMA,
            row_group_size=config.rows_per_block, compression=PARQUET_COMPRESSION,
        )
    stage_s["decode_write"] = time.perf_counter() - decode_started
    outcomes = ray.get(ledger.results.remote())
    videos = [_video_result(v, [o for o in outcomes if o["video_id"] == v["video_id"]]) for v in inspected]
    report = FeaturizeReport(
        videos=videos, wall_s=time.perf_counter() - started, output=config.output, stage_s=stage_s
    )
    write_summary(report, config)
    return report


def _video_result(video: dict, outcomes: list[dict]) -> VideoResult:
    status, error = video["status"], video["error"]
    errors = [o["error"] for o in sorted(outcomes, key=lambda o: o["segment"]) if o["error"]]
    windows = sum(o["windows"] for o in outcomes)
    if errors:
        status = "failed"
        error = errors[0] + (f" ({windows} windows from its other frames were written)" if windows else "")
    return VideoResult(
        video_id=video["video_id"], split=video["split"], status=status, error=error,
        video_uri=video["video_uri"], label_uri=video["label_uri"],
        frames=sum(o["frames"] for o in outcomes), windows=windows,
        labelled_frames=int(video["labelled_frames"]),
        used_frames=int(video.get("used_frames", 0)) if status == "ok" else 0,
        width=int(video["width"]), height=int(video["height"]), fps=float(video["fps"]),
        wall_s=sum(o.get("wall_s", 0.0) for o in outcomes),
    )


def write_summary(report: FeaturizeReport, config: FeaturizeConfig) -> None:
    """<output>/summary.parquet (one row per video) and <output>/summary.json (totals, config, split)."""
    table = pa.Table.from_pylist([asdict(v) for v in report.videos], schema=_SUMMARY_SCHEMA)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    storage.write_bytes(storage.join(config.output, "summary.parquet"), sink.getvalue().to_pybytes(), config.storage)
    document = {
        "schema_version": SCHEMA_VERSION,
        "videos": len(report.videos),
        "ok": report.count("ok"),
        "skipped": report.count("skipped"),
        "failed": report.count("failed"),
        "windows": {"train": report.windows_in("train"), "val": report.windows_in("val")},
        "frames_decoded": report.frames,
        "frames_labelled": report.labelled_frames,
        "frames_used": report.used_frames,
        "wall_s": round(report.wall_s, 3),
        "split": {
            split: sorted(v.video_id for v in report.videos if v.split == split and v.status == "ok")
            for split in ("train", "val")
        },
        "config": asdict(config),
    }
    storage.write_bytes(
        storage.join(config.output, "summary.json"), json.dumps(document, indent=2).encode(), config.storage
    )


_SUMMARY_SCHEMA = pa.schema(
    [
        ("video_id", pa.string()), ("split", pa.string()), ("status", pa.string()), ("error", pa.string()),
        ("video_uri", pa.string()), ("label_uri", pa.string()), ("frames", pa.int64()), ("windows", pa.int64()),
        ("labelled_frames", pa.int64()), ("used_frames", pa.int64()),
        ("width", pa.int32()), ("height", pa.int32()), ("fps", pa.float64()), ("wall_s", pa.float64()),
    ],
    metadata={b"tracknet.schema": b"featurize_summary", b"tracknet.schema_version": b"2"},
)


def format_report(report: FeaturizeReport) -> str:
    """The human-readable summary printed at the end of the job."""
    rate = report.frames / report.wall_s if report.wall_s else 0.0
    lines = [
        f"featurize: {len(report.videos)} videos: {report.count('ok')} ok, {report.count('skipped')} skipped, "
        f"{report.count('failed')} failed",
        f"  windows: {report.windows} (train {report.windows_in('train')}, val {report.windows_in('val')}) "
        f"from {report.frames} frames in {report.wall_s:.1f} s ({rate:.0f} frames/s)",
        f"  labelled frames: {report.labelled_frames}, in windows: {report.used_frames}",
    ]
    for video in report.videos:
        if video.status != "ok":
            lines.append(f"  {video.status:7s} {video.video_id}: {video.error}")
    lines.append(f"  output: {windows_uri(report.output)} (summary: {storage.join(report.output, 'summary.json')})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes: 0 some windows written; 1 no video gave windows; 2 bad config or input (jobs.common.cli)."""

    def body() -> int:
        config = parse_args(FeaturizeConfig, argv, prog="python -m jobs.featurize", conf="featurize.yaml", description=__doc__.splitlines()[0])
        init_ray(config.ray_progress_bars)
        report = run(config)
        print(format_report(report))
        return 0 if report.count("ok") else 1

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
