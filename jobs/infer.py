"""Batch inference at archive scale: per-frame ball positions for every video under an input URI.

    python -m jobs.infer --config conf/infer.yaml input=URI output=URI [key=value ...]

For example, a season on S3 with 8 GPU actors, resuming a previous run:

    python -m jobs.infer --config conf/infer.yaml input=s3://arch/season=2024 \\
        output=s3://results/tracknet num_actors=8 gpus_per_actor=1 batch_size=64

`input` is a folder/prefix (searched recursively), a glob (`s3://arch/2024/*/final*.mp4`;
`*` also matches across folders), a manifest file listing one video URI per line, or
one video. The pipeline, on Ray Data:

1. the driver lists the videos, skips those the run ledger marks done with the same
   input identity, model version and settings, and probes the rest (Ray tasks; no
   decoding);
2. each video is cut into segments of `segment_frames`; CPU tasks decode a segment's
   exact frame range with PyAV (streaming, with the overlap its model windows need),
   resize to model resolution and emit chunks of model-resolution frames (for a model
   with a background input, after a first pass that takes the segment's median frame);
3. an actor pool (`ActorPoolStrategy`, `num_actors` x `gpus_per_actor`) runs the model on
   `batch_size` windows at a time, combines overlapping windows and decodes heatmaps
   to one detection per frame in source pixels;
4. with `shots.enabled`, one more Ray task per video (`analyze_video`, started beside
   the segment tasks) streams the whole video once more at `analysis.width` to split it
   into shots and classify them (court view or not), and with `players.enabled` finds
   the two players in court-view frames (tracknet.broadcast; shot boundaries and
   backgrounds need the whole video, so this is per video, not per segment);
5. the driver stitches each video's frames (each exactly once) and, when complete, a
   Ray task cleans the trajectory, joins the video's analysis, and writes predictions
   parquet, TrackNet CSV, optional shots table, JSON, overlay video and court-view clips
   to local staging, commits them to `output`, and records the video in the run ledger.

Output layout and schemas: jobs/common/outputs.py. Resume rules: jobs/common/ledger.py.

Exit codes: 0 every video ok (or skipped as already done); 2 bad config, input or model
(nothing processed); 3 some videos failed (reasons in the printed and parquet summary).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import fnmatch
import hashlib
import json
import logging
import os
import posixpath
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

import cv2
import numpy as np
import pyarrow.fs as pafs
import ray
import torch

from jobs.common import outputs, storage
from jobs.common.config import ConfigError, parse_args
from jobs.common.ledger import LedgerRecord, RunLedger, SourceIdentity
from jobs.common.outputs import OutputLayout, VideoMeta
from jobs.common.ray_env import init_ray
from jobs.common.storage import StorageConfig
from tracknet.broadcast import BroadcastAnalysis, BroadcastConfig, analyze_broadcast
from tracknet.checkpoint import load_checkpoint
from tracknet.errors import CheckpointError, VideoError
from tracknet.inference import Chunk, FrameDetections, Predictor, WindowPlan, iter_segment_chunks, split_range
from tracknet.players import PlayerConfig, make_detector
from tracknet.players.onnx import DetectorModelError
from tracknet.predictor_settings import PredictorSettings
from tracknet.shots import ShotConfig
from tracknet.trajectory import clean_trajectory
from tracknet.video import VideoInfo, probe
from tracknet.weights import default_checkpoint_path

log = logging.getLogger("jobs.infer")

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_SOME_FAILED = 3

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".ts")
_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class CleanupConfig:
    """Trajectory clean-up applied to the raw detections (raw values are kept alongside)."""

    enabled: bool = True
    """Reject impossible jumps and fill short gaps; false writes the raw detections as cleaned."""
    max_jump_px: float = 150.0
    """Largest plausible ball movement per frame, in source pixels."""
    max_gap_frames: int = 4
    """Longest run of missing frames filled by linear interpolation."""

    def __post_init__(self) -> None:
        if self.max_jump_px <= 0:
            raise ValueError(f"max_jump_px must be > 0, got {self.max_jump_px}")
        if self.max_gap_frames < 0:
            raise ValueError(f"max_gap_frames must be >= 0, got {self.max_gap_frames}")


@dataclass(frozen=True)
class OutputsConfig:
    """Which per-video outputs to write besides the predictions parquet."""

    csv: bool = True
    """TrackNet `Frame,Visibility,X,Y` CSV at <output>/csv/<video_id>.csv."""
    json: bool = False
    """Video metadata + per-frame positions at <output>/json/<video_id>.json."""
    overlays: bool = False
    """H.264 video with ball and trail at <output>/overlays/<video_id>.mp4 (re-decodes the source)."""
    trail_frames: int = 8
    """Length of the fading trail drawn on overlays, in frames."""
    clips: bool = False
    """Each court-view shot as its own H.264 clip at <output>/clips/<video_id>/ (needs shots.enabled)."""

    def __post_init__(self) -> None:
        if self.trail_frames < 0:
            raise ValueError(f"trail_frames must be >= 0, got {self.trail_frames}")


@dataclass(frozen=True)
class ShotsConfig:
    """Shot splitting: camera cuts, and which shots show the main court view."""

    enabled: bool = False
    """Split each video into shots: shots table, `shot` and `court_view` prediction columns."""
    adaptive_threshold: float = 3.0
    """PySceneDetect AdaptiveDetector: content change over its neighbours' that makes a cut."""
    min_shot_frames: int = 15
    """Shortest shot in frames (a cut closer than this to the previous one is ignored)."""
    court_iou: float = 0.8
    """A shot is court view when its court mask's IoU with the main view's is at least this."""
    court_hue_deg: float | None = None
    """Court colour hue in degrees (green mats ~160); null finds it per video."""

    def __post_init__(self) -> None:
        self.library()  # validates the values

    def library(self) -> ShotConfig:
        return ShotConfig(
            adaptive_threshold=self.adaptive_threshold, min_shot_frames=self.min_shot_frames,
            court_iou=self.court_iou, court_hue_deg=self.court_hue_deg,
        )


@dataclass(frozen=True)
class PlayersConfig:
    """The two players (near and far side of the net) per court-view frame; singles only."""

    enabled: bool = False
    """Find the players: prediction columns, JSON, overlay boxes, summary (needs shots.enabled)."""
    detector: Literal["background", "onnx"] = "background"
    """'background': moving blobs against each shot's background (no weights); 'onnx': onnx_model."""
    onnx_model: str | None = None
    """Path or URI of a YOLO-style person detection ONNX model (detector 'onnx'; format in README)."""
    onnx_layout: Literal["yolov8", "yolov5"] = "yolov8"
    """Output layout of onnx_model: yolov8 (1, 4+C, N) or yolov5 (1, N, 5+C)."""
    onnx_person_class: int = 0
    """Index of the person class among the model's classes (0 in COCO)."""
    onnx_min_score: float = 0.25
    """Least person score of an ONNX detection."""

    def __post_init__(self) -> None:
        if self.detector not in ("background", "onnx"):
            raise ValueError(f"players.detector must be 'background' or 'onnx', got {self.detector!r}")
        if self.enabled and self.detector == "onnx" and not self.onnx_model:
            raise ValueError("players.detector 'onnx' needs players.onnx_model (a .onnx file)")
        self.library("model.onnx")  # validates the values

    def library(self, onnx_path: str | None) -> PlayerConfig:
        """The library config, with the ONNX model at local `onnx_path`."""
        return PlayerConfig(
            detector=self.detector, onnx_model=onnx_path, onnx_layout=self.onnx_layout,
            onnx_person_class=self.onnx_person_class, onnx_min_score=self.onnx_min_score,
        )


@dataclass(frozen=True)
class AnalysisConfig:
    """Resources and resolution of the per-video shot/player task."""

    width: int = 640
    """Frames are analysed at this width (aspect kept, never above the source's)."""
    cpus: float = 1.0
    """Logical CPUs reserved by each per-video analysis task; 0 shares those the pipeline reserved
    (one machine: the tasks then never wait for the model actors and decode tasks to finish)."""
    memory_mb: int = 1024
    """Memory Ray reserves per analysis task, in MiB (a few shots' sampled frames)."""

    def __post_init__(self) -> None:
        if self.width < 64:
            raise ValueError(f"analysis.width must be >= 64, got {self.width}")
        if self.cpus < 0 or self.memory_mb < 1:
            raise ValueError("analysis.cpus must be >= 0 and analysis.memory_mb >= 1")


@dataclass(frozen=True)
class InferConfig:
    """Config of jobs.infer; maps 1:1 onto conf/infer.yaml."""

    input: str = ""
    """Videos: folder/prefix (recursive), glob, manifest file (one URI per line) or one video."""
    output: str = ""
    """Output root URI (local path, file:// or s3://); layout in jobs/common/outputs.py."""
    model: str | None = None
    """Checkpoint path or URI; None uses the checkpoint packaged in tracknet/weights."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where the model runs: auto = CUDA when the actor has a GPU, else CPU."""
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    """Model arithmetic: fp32, or autocast to bf16 (CPUs with native bf16, GPUs) / fp16 (CUDA)."""
    batch_size: int = 1
    """Model windows per forward pass: CPUs are fastest at 1 (fp32) or 2 (bf16); GPUs want 32+."""
    chunk_frames: int = 48
    """Frames per unit of work sent to an actor (decoded at model resolution, several forward passes)."""
    num_actors: int = 1
    """Model actors in the pool (ActorPoolStrategy size)."""
    cpus_per_actor: float = 1.0
    """Logical CPUs reserved by each model actor."""
    gpus_per_actor: float = 0.0
    """GPUs reserved by each model actor (0 on CPU-only clusters)."""
    torch_threads: int | None = None
    """Intra-op threads per actor; None = max(1, cpus_per_actor)."""
    decode_cpus: float = 1.0
    """Logical CPUs reserved by each decode task."""
    decode_memory_mb: int = 1024
    """Memory Ray reserves per decode task, in MiB (frames of one chunk + the decoder)."""
    segment_frames: int = 1800
    """Frames per decode task; long videos spread over many tasks (rounded up to whole chunks)."""
    max_inflight_mb: int | None = None
    """Cap on object store memory the pipeline holds (MiB); None = 4 chunks per actor + 4."""
    threshold: float = 0.5
    """Heatmap threshold for ball blobs."""
    window_stride: int | None = None
    """Frames between consecutive windows; None = frames_out (no overlap, fastest)."""
    ensemble: Literal["mean", "max"] = "mean"
    """How overlapping windows combine: mean heatmap, or the best-scoring detection."""
    flip_tta: bool = True
    """Also run every window mirrored and keep the larger heatmap (twice the model compute)."""
    cleanup: CleanupConfig = field(default_factory=CleanupConfig)
    """Trajectory clean-up."""
    outputs: OutputsConfig = field(default_factory=OutputsConfig)
    """Optional per-video outputs."""
    shots: ShotsConfig = field(default_factory=ShotsConfig)
    """Shot splitting and court-view classification."""
    players: PlayersConfig = field(default_factory=PlayersConfig)
    """Player detection on court-view frames."""
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    """The per-video shot/player task."""
    video_suffixes: tuple[str, ...] = VIDEO_SUFFIXES
    """File name endings that count as videos when listing a folder or glob."""
    overwrite: bool = False
    """Redo every video, ignoring the run ledger."""
    storage: StorageConfig = field(default_factory=StorageConfig)
    """S3 endpoint and region."""

    def __post_init__(self) -> None:
        if not self.input:
            raise ValueError("input is required (input=PATH_OR_URI)")
        if not self.output:
            raise ValueError("output is required (output=PATH_OR_URI)")
        for name in ("batch_size", "chunk_frames", "num_actors", "segment_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.cpus_per_actor < 0 or self.gpus_per_actor < 0 or self.decode_cpus <= 0:
            raise ValueError("cpus_per_actor and gpus_per_actor must be >= 0, decode_cpus > 0")
        if self.precision == "fp16" and self.device != "cuda":
            raise ValueError("precision 'fp16' needs device 'cuda'; use 'bf16' on CPU")
        if self.device == "cuda" and self.gpus_per_actor <= 0:
            raise ValueError("device 'cuda' needs gpus_per_actor > 0 (Ray hides GPUs from actors without them)")
        if self.decode_memory_mb < 1:
            raise ValueError(f"decode_memory_mb must be >= 1, got {self.decode_memory_mb}")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ValueError(f"torch_threads must be >= 1, got {self.torch_threads}")
        if self.max_inflight_mb is not None and self.max_inflight_mb < 64:
            raise ValueError(f"max_inflight_mb must be >= 64, got {self.max_inflight_mb}")
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if self.window_stride is not None and self.window_stride < 1:
            raise ValueError(f"window_stride must be >= 1, got {self.window_stride}")
        if not self.video_suffixes:
            raise ValueError("video_suffixes must not be empty")
        if self.players.enabled and not self.shots.enabled:
            raise ValueError("players.enabled needs shots.enabled (players are found on court-view shots)")
        if self.outputs.clips and not self.shots.enabled:
            raise ValueError("outputs.clips needs shots.enabled (clips are the court-view shots)")


class InputError(ValueError):
    """The input URI names nothing usable (no videos, unreadable manifest)."""


@dataclass(frozen=True)
class VideoInput:
    """A listed input video."""

    video_id: str
    uri: str
    size_bytes: int
    mtime_ns: int | None

    @property
    def identity(self) -> SourceIdentity:
        return SourceIdentity(self.size_bytes, self.mtime_ns)


@dataclass(frozen=True)
class ListedInputs:
    """Videos found under the input, and entries that cannot be processed (with reasons)."""

    videos: list[VideoInput]
    problems: list[tuple[VideoInput, str]]


# ---------------------------------------------------------------------------- listing


def video_id_for(relative_path: str) -> str:
    """'season=2024/final.mp4' -> 'season=2024/final'."""
    return posixpath.splitext(relative_path.replace(os.sep, "/").lstrip("/"))[0]


def list_videos(
    input_uri: str, suffixes: Sequence[str], storage_config: StorageConfig | None = None
) -> ListedInputs:
    """Videos named by `input_uri`: a folder/prefix, a glob, a manifest file, or one video.

    Raises InputError / FileNotFoundError naming the URI when it names nothing usable.
    """
    suffixes = tuple(s.lower() for s in suffixes)
    if _GLOB_CHARS.search(input_uri):
        found = _list_glob(input_uri, suffixes, storage_config)
    else:
        fs, path = storage.resolve(input_uri, storage_config)
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            raise FileNotFoundError(f"{input_uri}: no such file or folder")
        if info.type == pafs.FileType.File and not info.base_name.lower().endswith(suffixes):
            return _list_manifest(input_uri, fs, path, storage_config)
        found = [
            VideoInput(video_id_for(e.relative_path), e.uri, e.size_bytes, e.mtime_ns)
            for e in storage.list_files(input_uri, suffixes, storage_config)
        ]
    if not found:
        raise InputError(f"{input_uri}: no videos found (looked for {', '.join(suffixes)})")
    return _reject_duplicates(found, [])


def _list_glob(pattern: str, suffixes: tuple[str, ...], storage_config: StorageConfig | None) -> list[VideoInput]:
    scheme, sep, rest = pattern.partition("://")
    if not sep:
        scheme, rest = "", pattern
    parts = rest.split("/")
    first = next(i for i, part in enumerate(parts) if _GLOB_CHARS.search(part))
    root_path = "/".join(parts[:first]) or ("/" if rest.startswith("/") else ".")
    root = f"{scheme}://{root_path}" if sep else root_path
    relative_pattern = "/".join(parts[first:])
    if not storage.exists(root, storage_config):
        raise FileNotFoundError(f"{pattern}: folder {root} does not exist")
    return [
        VideoInput(video_id_for(e.relative_path), e.uri, e.size_bytes, e.mtime_ns)
        for e in storage.list_files(root, suffixes, storage_config)
        if fnmatch.fnmatchcase(e.relative_path, relative_pattern)
    ]


def _list_manifest(
    manifest_uri: str, fs: pafs.FileSystem, path: str, storage_config: StorageConfig | None
) -> ListedInputs:
    """One video per line; relative entries are relative to the manifest's folder."""
    try:
        text = storage.read_bytes(manifest_uri, storage_config).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{manifest_uri}: not a video (by its name) and not a text manifest ({exc})") from exc
    base = manifest_uri.rsplit("/", 1)[0] if "://" in manifest_uri else os.path.dirname(path)
    base_path = storage.resolve(base, storage_config)[1].rstrip("/")
    videos, problems = [], []
    for line in text.splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        uri = entry if "://" in entry or os.path.isabs(entry) else storage.join(base, entry)
        entry_fs, entry_path = storage.resolve(uri, storage_config)
        if entry_path.startswith(base_path + "/"):
            video_id = video_id_for(entry_path[len(base_path) + 1 :])
        else:
            video_id = video_id_for(entry_path)
        info = entry_fs.get_file_info(entry_path)
        video = VideoInput(video_id, uri, info.size or 0, info.mtime_ns)
        if info.type != pafs.FileType.File:
            problems.append((video, f"{uri}: listed in {manifest_uri} but no such file"))
        else:
            videos.append(video)
    if not videos and not problems:
        raise InputError(f"{manifest_uri}: manifest lists no videos")
    return _reject_duplicates(videos, problems)


def _reject_duplicates(videos: list[VideoInput], problems: list[tuple[VideoInput, str]]) -> ListedInputs:
    """Two files with the same video_id (a.mp4 and a.mov) cannot both own its outputs."""
    by_id: dict[str, list[VideoInput]] = {}
    for video in videos:
        by_id.setdefault(video.video_id, []).append(video)
    kept = []
    for video_id, group in by_id.items():
        if len(group) == 1:
            kept.append(group[0])
            continue
        names = ", ".join(v.uri for v in group)
        problems += [(v, f"video_id {video_id!r} is shared by {names}; rename one") for v in group]
    return ListedInputs(kept, problems)


# ---------------------------------------------------------------------------- Ray adapters


@contextlib.contextmanager
def open_source(uri: str, storage_config: StorageConfig | None) -> Iterator[str | pafs.NativeFile]:
    """A local path for local files, else a seekable streaming reader (S3 ranged GETs)."""
    fs, path = storage.resolve(uri, storage_config)
    if isinstance(fs, pafs.LocalFileSystem):
        yield path
        return
    with fs.open_input_file(path) as handle:
        yield handle


def _named(exc: BaseException, uri: str) -> str:
    """One line naming the video and the problem."""
    if isinstance(exc, VideoError):
        return f"{uri}: {exc.problem}"
    return f"{uri}: {type(exc).__name__}: {exc}"


def probe_video(uri: str, size_bytes: int, storage_config: StorageConfig | None) -> VideoInfo | str:
    """VideoInfo, or the reason the video cannot be processed (never raises for bad files)."""
    if size_bytes == 0:
        return f"{uri}: file is empty (0 bytes)"
    try:
        with open_source(uri, storage_config) as source:
            info = probe(source)
    except Exception as exc:  # one bad file must not stop the run; the reason goes to the summary
        return _named(exc, uri)
    return info


_CHUNK_COLUMNS = ("video_index", "own_start", "own_stop", "first_frame", "frame_count", "images", "timestamps", "error")


def _chunk_row(video_index: int, frame_count: int, chunk: Chunk | None, error: str = "") -> dict[str, np.ndarray]:
    """One dataset row: a chunk's model-resolution frames as raw bytes, or an error."""
    return {
        "video_index": np.array([video_index], dtype=np.int64),
        "own_start": np.array([chunk.own_start if chunk else 0], dtype=np.int64),
        "own_stop": np.array([chunk.own_stop if chunk else 0], dtype=np.int64),
        "first_frame": np.array([chunk.first_frame if chunk else 0], dtype=np.int64),
        "frame_count": np.array([frame_count], dtype=np.int64),
        "images": np.array([chunk.images.tobytes() if chunk else b""], dtype=object),
        "timestamps": np.array([chunk.timestamps_s.astype(np.float64).tobytes() if chunk else b""], dtype=object),
        "background": np.array(
            [chunk.background.tobytes() if chunk is not None and chunk.background is not None else b""], dtype=object
        ),
        "error": np.array([error], dtype=object),
    }


def decode_segments(
    batch: dict[str, np.ndarray],
    *,
    frames_in: int,
    frames_out: int,
    stride: int,
    input_size: tuple[int, int],
    chunk_frames: int,
    background: bool,
    storage_config: StorageConfig | None,
) -> Iterator[dict[str, np.ndarray]]:
    """Ray Data UDF: segments -> chunks of model-resolution frames, streaming (one chunk per yield).

    A video that fails to decode yields one row with `error` set instead of raising,
    so the other videos go on.
    """
    cv2.setNumThreads(1)  # parallelism comes from many decode tasks; cv2's own threads cost ~25% more CPU
    for i in range(len(batch["video_index"])):
        video_index = int(batch["video_index"][i])
        uri = str(batch["uri"][i])
        frame_count = int(batch["frame_count"][i])
        plan = WindowPlan(frame_count, frames_in, frames_out, stride)
        try:
            with open_source(uri, storage_config) as source:
                for chunk in iter_segment_chunks(
                    source, plan, input_size, int(batch["start"][i]), int(batch["stop"][i]), chunk_frames, background
                ):
                    yield _chunk_row(video_index, frame_count, chunk)
        except Exception as exc:  # reported per video in the summary
            yield _chunk_row(video_index, frame_count, None, _named(exc, uri))


_DETECTION_COLUMNS = ("video_index", "frame", "timestamp_s", "visible", "x", "y", "score", "error")


class PredictorActor:
    """Ray Data callable class: chunks of frames -> one detection row per owned frame."""

    def __init__(
        self,
        checkpoint: bytes,
        device: str,
        precision: str,
        threshold: float,
        stride: int | None,
        ensemble: str,
        flip_tta: bool,
        batch_size: int,
        chunk_frames: int,
        torch_threads: int,
        source_sizes: dict[int, tuple[int, int]],
    ) -> None:
        self.torch_threads = torch_threads
        settings = PredictorSettings(device, precision, threshold, stride, ensemble, flip_tta, batch_size)
        self.predictor = Predictor(checkpoint, settings, chunk_frames=chunk_frames)
        self.source_sizes = source_sizes
        height, width = self.predictor.config.height, self.predictor.config.width
        self.frame_shape = (height, width, 3)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # OpenMP thread counts are per calling thread, and Ray Data may call from a thread
        # other than the one that ran __init__: set it where the model runs.
        torch.set_num_threads(self.torch_threads)
        parts: list[dict[str, np.ndarray]] = []
        for i in range(len(batch["video_index"])):
            video_index = int(batch["video_index"][i])
            error = str(batch["error"][i])
            if not error:
                try:
                    parts.append(self._predict(batch, i, video_index))
                    continue
                except Exception as exc:  # e.g. CUDA out of memory: fail this video, keep going
                    error = f"inference failed: {type(exc).__name__}: {exc}"
            parts.append(_error_detections(video_index, error))
        return {name: np.concatenate([p[name] for p in parts]) for name in _DETECTION_COLUMNS}

    def _predict(self, batch: dict[str, np.ndarray], i: int, video_index: int) -> dict[str, np.ndarray]:
        images = np.frombuffer(batch["images"][i], dtype=np.uint8).reshape(-1, *self.frame_shape)
        background = batch["background"][i]
        chunk = Chunk(
            own_start=int(batch["own_start"][i]),
            own_stop=int(batch["own_stop"][i]),
            first_frame=int(batch["first_frame"][i]),
            images=images,
            timestamps_s=np.frombuffer(batch["timestamps"][i], dtype=np.float64),
            background=np.frombuffer(background, dtype=np.uint8).reshape(self.frame_shape) if background else None,
        )
        plan = self.predictor.plan(int(batch["frame_count"][i]))
        found = self.predictor.predict_chunk(chunk, plan, self.source_sizes[video_index])
        n = len(found)
        return {
            "video_index": np.full(n, video_index, dtype=np.int64),
            "frame": found.frame,
            "timestamp_s": found.timestamp_s,
            "visible": found.visible,
            "x": found.x,
            "y": found.y,
            "score": found.score,
            "error": np.array([""] * n, dtype=object),
        }


def _error_detections(video_index: int, error: str) -> dict[str, np.ndarray]:
    return {
        "video_index": np.array([video_index], dtype=np.int64),
        "frame": np.array([-1], dtype=np.int64),
        "timestamp_s": np.array([0.0]),
        "visible": np.array([False]),
        "x": np.array([np.nan]),
        "y": np.array([np.nan]),
        "score": np.array([0.0], dtype=np.float32),
        "error": np.array([error], dtype=object),
    }


# ---------------------------------------------------------------------------- per video


def broadcast_config(config: InferConfig) -> BroadcastConfig:
    """The library's analysis config for this run (the ONNX model still as its URI)."""
    players = config.players.library(config.players.onnx_model) if config.players.enabled else None
    return BroadcastConfig(config.analysis.width, config.shots.library(), players)


def analyze_video(
    uri: str, info: VideoInfo, config: BroadcastConfig, storage_config: StorageConfig | None
) -> BroadcastAnalysis | str:
    """Ray task: shots (and players) of one whole video, or the reason it failed (never raises)."""
    cv2.setNumThreads(1)  # one task per video: parallelism comes from many videos
    try:
        with contextlib.ExitStack() as stack:
            detector = None
            if config.players is not None:
                players = config.players
                if players.detector == "onnx":
                    local = stack.enter_context(_local_copy(players.onnx_model, storage_config))
                    players = dataclasses.replace(players, onnx_model=local)
                detector = make_detector(players)
            source = stack.enter_context(open_source(uri, storage_config))
            return analyze_broadcast(source, info, config, detector)
    except Exception as exc:  # reported as this video's failure
        return f"shot/player analysis failed: {_named(exc, uri)}"


@contextlib.contextmanager
def _local_copy(uri: str, storage_config: StorageConfig | None) -> Iterator[str]:
    """A local path holding the file at `uri` (the file itself when it is local)."""
    fs, path = storage.resolve(uri, storage_config)
    if isinstance(fs, pafs.LocalFileSystem):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="tracknet-model-") as folder:
        local = os.path.join(folder, posixpath.basename(path) or "model.onnx")
        with open(local, "wb") as out:
            out.write(storage.read_bytes(uri, storage_config))
        yield local


@dataclass(frozen=True)
class VideoJob:
    """A video the run processes: its input and what probing found."""

    index: int
    video: VideoInput
    info: VideoInfo

    def meta(self) -> VideoMeta:
        info = self.info
        return VideoMeta(
            self.video.video_id, self.video.uri, info.frame_count, info.fps, info.width, info.height,
            info.duration_s, info.codec,
        )


@dataclass(frozen=True)
class FinalizeContext:
    """What a finalize task needs besides the video and its detections."""

    output: str
    storage: StorageConfig
    outputs: OutputsConfig
    cleanup: CleanupConfig
    model_version: str
    settings_digest: str
    run_id: str


class VideoAccumulator:
    """Collects one video's per-frame detections on the driver; each frame is stored once."""

    def __init__(self, job: VideoJob) -> None:
        n = job.info.frame_count
        self.job = job
        self.seen = np.zeros(n, dtype=bool)
        self.received = 0
        self.first_seen_s: float | None = None
        self.detections = FrameDetections(
            frame=np.arange(n, dtype=np.int64),
            timestamp_s=np.zeros(n),
            visible=np.zeros(n, dtype=bool),
            x=np.full(n, np.nan),
            y=np.full(n, np.nan),
            score=np.zeros(n, dtype=np.float32),
        )

    def add(self, rows: dict[str, np.ndarray], where: np.ndarray) -> None:
        """Store rows[where]; a frame delivered twice (a retried task) is stored once."""
        frames = rows["frame"][where]
        if len(frames) and (frames.min() < 0 or frames.max() >= len(self.seen)):
            raise ValueError(f"{self.job.video.uri}: frame index out of range (pipeline bug)")
        if self.first_seen_s is None:
            self.first_seen_s = time.perf_counter()
        for name in ("timestamp_s", "visible", "x", "y", "score"):
            getattr(self.detections, name)[frames] = rows[name][where]
        self.received += int((~self.seen[frames]).sum())
        self.seen[frames] = True

    @property
    def complete(self) -> bool:
        return self.received == len(self.seen)


def finalize_video(
    job: VideoJob,
    found: FrameDetections,
    ctx: FinalizeContext,
    first_seen_s: float,
    analysis: BroadcastAnalysis | str | None = None,
) -> dict:
    """Clean, write, commit and record one video; returns its summary row. Never raises.

    `analysis` is the video's shots/players (analyze_video's result: the reason it
    failed as a string), or None without shot splitting.
    """
    video = job.video
    meta = job.meta()
    layout = OutputLayout(ctx.output)
    ledger = RunLedger(ctx.output, ctx.storage)
    row: dict[str, Any] = _summary_base(video, ctx) | {
        "fps": meta.fps, "width": meta.width, "height": meta.height, "duration_s": meta.duration_s,
        "frames": meta.frame_count,
    }
    if isinstance(analysis, str):
        row |= {"status": "failed", "error": analysis}
        row["wall_s"] = round(time.perf_counter() - first_seen_s, 3) if first_seen_s else None
        return _record(ledger, row, video, ctx)
    try:
        if ctx.cleanup.enabled:
            clean = clean_trajectory(
                found.visible, found.x, found.y, ctx.cleanup.max_jump_px, ctx.cleanup.max_gap_frames
            )
            visible, x, y, filled, rejected = clean.visible, clean.x, clean.y, clean.filled, clean.rejected
        else:
            visible, x, y = found.visible, found.x, found.y
            filled = rejected = np.zeros(len(found), dtype=bool)
        table = outputs.predictions_table(
            meta, found.frame, found.timestamp_s, visible, x, y, found.score,
            found.visible, found.x, found.y, filled, rejected, ctx.model_version, analysis,
        )
        with tempfile.TemporaryDirectory(prefix="tracknet-infer-") as staging:
            staged = [(os.path.join(staging, "predictions.parquet"), layout.predictions(video.video_id))]
            outputs.write_parquet(table, staged[-1][0])
            if analysis is not None:
                staged.append((os.path.join(staging, "shots.parquet"), layout.shots(video.video_id)))
                outputs.write_parquet(outputs.shots_table(meta, analysis), staged[-1][0])
            if ctx.outputs.csv:
                staged.append((os.path.join(staging, "positions.csv"), layout.csv(video.video_id)))
                outputs.write_csv(table, staged[-1][0])
            if ctx.outputs.json:
                staged.append((os.path.join(staging, "positions.json"), layout.json(video.video_id)))
                outputs.write_json(meta, table, ctx.model_version, staged[-1][0], analysis)
            staged += _render_videos(job, meta, analysis, visible, x, y, ctx, staging)
            outputs.commit(staged, ctx.storage)
        row |= {"status": "ok", "detected_frames": int(np.asarray(visible).sum())}
        row |= outputs.analysis_summary(analysis)
    except Exception as exc:  # this video fails; the run goes on
        row |= {"status": "failed", "error": _named(exc, video.uri)}
    row["wall_s"] = round(time.perf_counter() - first_seen_s, 3) if first_seen_s else None
    return _record(ledger, row, video, ctx)


def _render_videos(
    job: VideoJob,
    meta: VideoMeta,
    analysis: BroadcastAnalysis | None,
    visible: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    ctx: FinalizeContext,
    staging: str,
) -> list[tuple[str, str]]:
    """Overlay and court-view clips in one full-size decode; returns the (staged, final URI) pairs."""
    layout = OutputLayout(ctx.output)
    staged: list[tuple[str, str]] = []
    overlay_path = None
    if ctx.outputs.overlays:
        overlay_path = os.path.join(staging, "overlay.mp4")
        staged.append((overlay_path, layout.overlay(job.video.video_id)))
    clips = []
    if ctx.outputs.clips and analysis is not None:
        for shot in analysis.split.shots:
            if shot.court_view:
                path = os.path.join(staging, f"clip_{shot.index:04d}.mp4")
                clips.append((shot.first_frame, shot.last_frame, path))
                staged.append((path, layout.clip(job.video.video_id, shot.index)))
    if overlay_path is not None or clips:
        players = analysis.players if analysis is not None else None
        with open_source(job.video.uri, ctx.storage) as source:
            outputs.render_videos(
                source, meta, visible, x, y, overlay_path, clips, ctx.outputs.trail_frames, players
            )
    return staged


def _summary_base(video: VideoInput, ctx: FinalizeContext) -> dict[str, Any]:
    return {
        "run_id": ctx.run_id,
        "video_id": video.video_id,
        "source_uri": video.uri,
        "model_version": ctx.model_version,
    }


def _record(ledger: RunLedger, row: dict, video: VideoInput, ctx: FinalizeContext) -> dict:
    """Write the video's ledger record (its commit point) and return the summary row."""
    try:
        ledger.write(
            LedgerRecord(
                video_id=video.video_id, source_uri=video.uri, size_bytes=video.size_bytes, mtime_ns=video.mtime_ns,
                model_version=ctx.model_version, settings_digest=ctx.settings_digest, status=row["status"],
                run_id=ctx.run_id, finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                error=row.get("error"), frames=row.get("frames"), detected_frames=row.get("detected_frames"),
            )
        )
    except Exception as exc:  # outputs without a record are redone next run, never taken as done
        row |= {"status": "failed", "error": f"{video.uri}: cannot write run ledger: {type(exc).__name__}: {exc}"}
    return row


# ---------------------------------------------------------------------------- the run


@dataclass
class RunReport:
    """What a run did: one summary row per video, and where the summary was written."""

    run_id: str
    rows: list[dict]
    summary_uri: str
    wall_s: float
    model_version: str

    def count(self, status: str) -> int:
        return sum(1 for row in self.rows if row["status"] == status)

    @property
    def exit_code(self) -> int:
        return EXIT_SOME_FAILED if self.count("failed") else EXIT_OK


def settings_digest(config: InferConfig) -> str:
    """Digest of every setting that changes a video's outputs (not resources or paths)."""
    settings = {
        "threshold": config.threshold,
        "precision": config.precision,
        "window_stride": config.window_stride,
        "ensemble": config.ensemble,
        "flip_tta": config.flip_tta,
        "cleanup": dataclasses.asdict(config.cleanup),
        "outputs": dataclasses.asdict(config.outputs),
        "shots": dataclasses.asdict(config.shots),
        "players": dataclasses.asdict(config.players),
        "analysis_width": config.analysis.width,
        "schema_version": outputs.PREDICTIONS_SCHEMA_VERSION,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def load_model_bytes(config: InferConfig) -> bytes:
    """The checkpoint's bytes from `model` (path or URI) or the packaged default."""
    if config.model is None:
        path = default_checkpoint_path()
        if not path.exists():
            raise CheckpointError(str(path), "no model= given and the packaged default checkpoint is missing")
        return path.read_bytes()
    try:
        return storage.read_bytes(config.model, config.storage)
    except (FileNotFoundError, OSError) as exc:
        raise CheckpointError(config.model, f"cannot read checkpoint ({exc})") from exc


def check_onnx_model(uri: str, storage_config: StorageConfig | None) -> None:
    """Fail early, naming the file, when the ONNX person detector is missing or (local) unreadable."""
    if not storage.exists(uri, storage_config):
        raise FileNotFoundError(f"{uri}: ONNX person detection model not found (players.onnx_model)")
    fs, path = storage.resolve(uri, storage_config)
    if isinstance(fs, pafs.LocalFileSystem):
        from tracknet.players.onnx import OnnxPersonDetector

        OnnxPersonDetector(path)


def new_run_id() -> str:
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def run_inference(config: InferConfig) -> RunReport:
    """Run the whole job: list, skip done, probe, predict, stitch, write, summarise.

    Raises CheckpointError / InputError / FileNotFoundError for a bad model or input.
    """
    started = time.perf_counter()
    run_id = new_run_id()
    checkpoint = load_model_bytes(config)
    loaded = load_checkpoint(checkpoint)
    model_config = loaded.model.config
    stride = model_config.frames_out if config.window_stride is None else config.window_stride
    if stride > model_config.frames_out:
        raise ConfigError(f"window_stride must be <= the model's frames_out ({model_config.frames_out}), got {stride}")
    if config.players.enabled and config.players.detector == "onnx":
        check_onnx_model(config.players.onnx_model, config.storage)
    listed = list_videos(config.input, config.video_suffixes, config.storage)
    digest = settings_digest(config)
    ctx = FinalizeContext(
        config.output, config.storage, config.outputs, config.cleanup, loaded.model_version, digest, run_id
    )
    ledger = RunLedger(config.output, config.storage)
    rows: list[dict] = []
    for video, reason in listed.problems:
        rows.append(_record(ledger, _summary_base(video, ctx) | {"status": "failed", "error": reason}, video, ctx))

    done = {} if config.overwrite else ledger.read_many(v.video_id for v in listed.videos)
    pending = []
    for video in listed.videos:
        record = done.get(video.video_id)
        if record is not None and record.is_done(video.identity, loaded.model_version, digest):
            rows.append(
                _summary_base(video, ctx)
                | {"status": "skipped", "frames": record.frames, "detected_frames": record.detected_frames}
            )
        else:
            pending.append(video)
    skipped = len(listed.videos) - len(pending)
    log.info("%d videos: %d already done, %d to process", len(listed.videos), skipped, len(pending))

    if pending:
        init_ray()
        gpus_needed = config.gpus_per_actor * config.num_actors
        if gpus_needed and ray.cluster_resources().get("GPU", 0) < gpus_needed:
            log.warning(
                "the model actors need %s GPUs but the cluster has %s now; they wait for the autoscaler",
                gpus_needed, ray.cluster_resources().get("GPU", 0),
            )
        jobs = []
        probe_task = ray.remote(num_cpus=0.25)(probe_video)
        probes = ray.get([probe_task.remote(v.uri, v.size_bytes, config.storage) for v in pending])
        for video, result in zip(pending, probes):
            if isinstance(result, str):
                failed_row = _summary_base(video, ctx) | {"status": "failed", "error": result}
                rows.append(_record(ledger, failed_row, video, ctx))
            else:
                jobs.append(VideoJob(len(jobs), video, result))
        if jobs:
            rows += _predict_videos(config, jobs, checkpoint, stride, model_config, ctx)

    order = {v.video_id: i for i, v in enumerate(listed.videos + [p[0] for p in listed.problems])}
    rows.sort(key=lambda row: order.get(row["video_id"], len(order)))
    summary_uri = OutputLayout(config.output).summary(run_id)
    outputs.write_summary(rows, summary_uri, config.storage)
    return RunReport(run_id, rows, summary_uri, time.perf_counter() - started, loaded.model_version)


def _predict_videos(
    config: InferConfig,
    jobs: list[VideoJob],
    checkpoint: bytes,
    stride: int,
    model_config: Any,
    ctx: FinalizeContext,
) -> list[dict]:
    """The Ray Data pipeline for probed videos, plus finalize tasks; returns their summary rows."""
    chunk_frames = config.chunk_frames
    segment_frames = -(-config.segment_frames // chunk_frames) * chunk_frames
    segments = [
        {"video_index": job.index, "uri": job.video.uri, "frame_count": job.info.frame_count, "start": a, "stop": b}
        for job in jobs
        for a, b in split_range(0, job.info.frame_count, segment_frames)
    ]
    dataset = ray.data.from_items(segments, override_num_blocks=len(segments))
    # Bound the frames in flight by the pool's appetite, never by video length: a 3-hour
    # video holds no more memory than a 3-minute one.
    chunk_bytes = (chunk_frames + model_config.frames_in) * model_config.height * model_config.width * 3
    inflight_bytes = (
        config.max_inflight_mb * 2**20
        if config.max_inflight_mb is not None
        else max(256 * 2**20, (4 * config.num_actors + 4) * chunk_bytes)
    )
    options = copy.deepcopy(dataset.context.execution_options)  # this dataset's copy only
    options.resource_limits = options.resource_limits.copy(object_store_memory=inflight_bytes)
    dataset.context.execution_options = options
    # One chunk per block: Ray Data otherwise packs a decode task's yields into ~128 MiB
    # blocks, and the actors would wait for several chunks before starting on the first.
    dataset.context.target_max_block_size = max(chunk_bytes // 2, 2**20)
    dataset = dataset.map_batches(
        decode_segments,
        batch_size=1,
        num_cpus=config.decode_cpus,
        # Reserving memory for decode tasks (and not for model actors) also keeps Ray Data
        # from fusing decoding into the actors: decoding must scale out on CPU tasks, not
        # run serially inside (GPU) actors.
        memory=config.decode_memory_mb * 2**20,
        fn_kwargs={
            "frames_in": model_config.frames_in,
            "frames_out": model_config.frames_out,
            "stride": stride,
            "input_size": (model_config.width, model_config.height),
            "chunk_frames": chunk_frames,
            "background": model_config.background,
            "storage_config": config.storage,
        },
    )
    torch_threads = config.torch_threads or max(1, int(config.cpus_per_actor))
    oversubscribed = torch_threads > config.cpus_per_actor
    dataset = dataset.map_batches(
        PredictorActor,
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=config.num_actors),
        num_cpus=config.cpus_per_actor,
        num_gpus=config.gpus_per_actor,
        # An actor running more torch threads than the CPUs it reserves shares them with
        # decode tasks: OpenMP threads spinning while a peer is descheduled then make torch
        # up to 10x slower (measured); passive waiting does not.
        runtime_env={"env_vars": {"OMP_WAIT_POLICY": "PASSIVE"}} if oversubscribed else None,
        fn_constructor_kwargs={
            "checkpoint": checkpoint,
            "device": config.device,
            "precision": config.precision,
            "threshold": config.threshold,
            "stride": stride,
            "ensemble": config.ensemble,
            "flip_tta": config.flip_tta,
            "batch_size": config.batch_size,
            "chunk_frames": chunk_frames,
            "torch_threads": torch_threads,
            "source_sizes": {job.index: (job.info.width, job.info.height) for job in jobs},
        },
    )

    finalize = ray.remote(num_cpus=1, max_retries=1)(finalize_video)
    analyses: dict[int, ray.ObjectRef] = {}
    if config.shots.enabled:
        # Started before the pipeline, so each video's analysis runs while its segments do.
        analyze = ray.remote(
            num_cpus=config.analysis.cpus, memory=config.analysis.memory_mb * 2**20, max_retries=1
        )(analyze_video)
        settings = broadcast_config(config)
        analyses = {job.index: analyze.remote(job.video.uri, job.info, settings, config.storage) for job in jobs}
    accumulators = {job.index: VideoAccumulator(job) for job in jobs}
    rows: list[dict] = []
    pending_refs: list[ray.ObjectRef] = []
    failed: dict[int, str] = {}

    def fail(index: int, reason: str) -> None:
        if index in accumulators:
            job = accumulators.pop(index).job
            if index in analyses:
                ray.cancel(analyses.pop(index))
            failed[index] = reason
            failed_row = _summary_base(job.video, ctx) | {"status": "failed", "error": reason}
            rows.append(_record(RunLedger(ctx.output, ctx.storage), failed_row, job.video, ctx))

    try:
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            for index in np.unique(batch["video_index"]):
                index = int(index)
                if index not in accumulators:
                    continue
                mine = batch["video_index"] == index
                errors = [e for e in batch["error"][mine] if e]
                if errors:
                    fail(index, str(errors[0]))
                    continue
                accumulator = accumulators[index]
                accumulator.add(batch, mine)
                if accumulator.complete:
                    del accumulators[index]
                    pending_refs.append(
                        finalize.remote(
                            accumulator.job, accumulator.detections, ctx, accumulator.first_seen_s,
                            analyses.get(index),
                        )
                    )
            if pending_refs:
                ready, pending_refs = ray.wait(pending_refs, num_returns=len(pending_refs), timeout=0)
                rows += _gather(ready)
    except Exception as exc:  # the pipeline itself broke: every unfinished video fails with the reason
        reason = f"pipeline failed: {type(exc).__name__}: {exc}"
        log.exception("inference pipeline failed")
        for index in list(accumulators):
            fail(index, reason)
    for index in list(accumulators):
        accumulator = accumulators[index]
        missing = int((~accumulator.seen).sum())
        total = len(accumulator.seen)
        fail(index, f"{accumulator.job.video.uri}: {missing} of {total} frames never came back from the pipeline")
    rows += _gather(pending_refs)
    return rows


def _gather(refs: list[ray.ObjectRef]) -> list[dict]:
    rows = []
    for ref in refs:
        rows.append(ray.get(ref))
    return rows


# ---------------------------------------------------------------------------- report and CLI


def format_report(report: RunReport, max_failures: int = 20) -> str:
    """A human-readable summary of the run."""
    frames = sum(row.get("frames") or 0 for row in report.rows if row["status"] == "ok")
    detected = sum(row.get("detected_frames") or 0 for row in report.rows if row["status"] == "ok")
    lines = [
        f"jobs.infer run {report.run_id} with model {report.model_version}",
        f"  videos: {len(report.rows)} total, {report.count('ok')} ok, {report.count('skipped')} skipped "
        f"(already done), {report.count('failed')} failed",
        f"  frames: {frames} processed, {detected} with the ball, in {report.wall_s:.1f} s "
        f"({frames / max(report.wall_s, 1e-9):.1f} frames/s end to end)",
    ]
    court_view = sum(row.get("court_view_frames") or 0 for row in report.rows if row["status"] == "ok")
    if any(row.get("shots") is not None for row in report.rows):
        lines.append(f"  court view: {court_view} of {frames} frames")
    both = [row.get("both_players_frames") for row in report.rows if row["status"] == "ok"]
    if any(count is not None for count in both):
        found = sum(count or 0 for count in both)
        lines.append(f"  both players found in {found} court-view frames ({found / max(court_view, 1):.1%})")
    failures = [row for row in report.rows if row["status"] == "failed"]
    if failures:
        lines.append("  failed videos:")
        lines += [f"    {row['video_id']}: {row['error']}" for row in failures[:max_failures]]
        if len(failures) > max_failures:
            lines.append(f"    ... and {len(failures) - max_failures} more (see the summary parquet)")
    lines.append(f"  summary: {report.summary_uri}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job from the command line; returns the exit code (EXIT_OK, EXIT_USAGE, EXIT_SOME_FAILED)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = parse_args(InferConfig, argv, description=__doc__.splitlines()[0])
        report = run_inference(config)
    except (ConfigError, InputError, FileNotFoundError, CheckpointError, DetectorModelError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(format_report(report))
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
