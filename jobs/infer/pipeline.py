"""The predict stage on Ray Data: segments -> decoded chunks -> model actors -> per-frame detections.

1. each video is cut into segments of `segment_frames`; CPU tasks (`decode_segments`) decode
   a segment's exact frame range with PyAV (streaming, with the overlap its model windows
   need), resize to model resolution and emit chunks of model-resolution frames (for a
   model with a background input, after a first pass that takes the segment's median frame);
2. an actor pool (`PredictorActor`, `num_actors` x `gpus_per_actor`) runs the model on
   `predictor.batch_size` windows at a time, combines overlapping windows and decodes
   heatmaps to one detection per frame in source pixels;
3. the driver stitches each video's frames (each exactly once) and hands a complete video
   to `on_complete`, a failed one to `on_fail`.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
import ray
import torch

from jobs.common.inputs import open_source
from jobs.common.outputs import VideoMeta
from jobs.common.storage import StorageConfig
from jobs.infer.failures import failure_reason
from jobs.infer.config import InferConfig
from jobs.infer.stages import VideoPlan
from tracknet.inference import Chunk, FrameDetections, Predictor, WindowPlan, iter_segment_chunks, split_range
from tracknet.model import ModelConfig
from tracknet.predictor_settings import PredictorSettings
from tracknet.video import VideoInfo, probe

log = logging.getLogger("jobs.infer")


@dataclass(frozen=True)
class VideoJob:
    """A video the run works on: its plan and what probing found."""

    index: int
    plan: VideoPlan
    info: VideoInfo

    def meta(self) -> VideoMeta:
        info, video = self.info, self.plan.video
        return VideoMeta(
            video.video_id, video.uri, info.frame_count, info.fps, info.width, info.height, info.duration_s, info.codec
        )


PROBE_BATCH = 64
"""Videos probed per Ray task (a thread each: probing is a few reads of the container's header)."""


def probe_videos(
    videos: list[tuple[str, int]], storage_config: StorageConfig | None, threads: int = 16
) -> list[VideoInfo | str]:
    """Per (uri, size_bytes): VideoInfo, or the reason the video cannot be processed (never raises for bad files)."""

    def probe_one(video: tuple[str, int]) -> VideoInfo | str:
        uri, size_bytes = video
        if size_bytes == 0:
            return f"{uri}: file is empty (0 bytes)"
        try:
            with open_source(uri, storage_config) as source:
                return probe(source)
        except Exception as exc:  # one bad file must not stop the run; the reason goes to the summary
            return failure_reason(exc, uri)

    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(videos)))) as pool:
        return list(pool.map(probe_one, videos))


def probe_all(videos: list[tuple[str, int]], storage_config: StorageConfig | None) -> list[VideoInfo | str]:
    """`probe_videos` over every video: in Ray tasks of PROBE_BATCH videos, or on the driver when one
    batch holds them all (a run over a handful of videos would otherwise wait seconds for a worker
    process to start and import the job, to read a few headers)."""
    if len(videos) <= PROBE_BATCH:
        return probe_videos(videos, storage_config)
    task = ray.remote(num_cpus=0.25)(probe_videos)
    batches = [videos[i : i + PROBE_BATCH] for i in range(0, len(videos), PROBE_BATCH)]
    return [info for batch in ray.get([task.remote(b, storage_config) for b in batches]) for info in batch]


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
            yield _chunk_row(video_index, frame_count, None, failure_reason(exc, uri))


_DETECTION_COLUMNS = ("video_index", "frame", "timestamp_s", "visible", "x", "y", "score", "error")


class PredictorActor:
    """Ray Data callable class: chunks of frames -> one detection row per owned frame."""

    def __init__(
        self,
        checkpoint: bytes,
        settings: PredictorSettings,
        chunk_frames: int,
        torch_threads: int,
        source_sizes: dict[int, tuple[int, int]],
    ) -> None:
        self.torch_threads = torch_threads
        self.predictor = Predictor(checkpoint, settings, chunk_frames=chunk_frames, threads=torch_threads)
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
                    log.warning("the model failed on a chunk of video %d", video_index, exc_info=exc)
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
            raise ValueError(f"{self.job.plan.video.uri}: frame index out of range (pipeline bug)")
        if self.first_seen_s is None:
            self.first_seen_s = time.perf_counter()
        for name in ("timestamp_s", "visible", "x", "y", "score"):
            getattr(self.detections, name)[frames] = rows[name][where]
        self.received += int((~self.seen[frames]).sum())
        self.seen[frames] = True

    @property
    def complete(self) -> bool:
        return self.received == len(self.seen)


def predict_videos(
    config: InferConfig,
    jobs: list[VideoJob],
    checkpoint: bytes,
    model_config: ModelConfig,
    on_complete: Callable[[VideoJob, FrameDetections, float], None],
    on_fail: Callable[[VideoJob, str], None],
    on_batch: Callable[[int], None],
) -> None:
    """Run the model over `jobs` and hand each video, complete or failed, to a callback.

    `on_batch(frames)` is called after every batch the driver receives, with the frames it
    brought (for progress, and to collect finished work).
    """
    stride = config.predictor.stride_for(model_config.frames_out)
    chunk_frames = config.chunk_frames
    segment_frames = -(-config.segment_frames // chunk_frames) * chunk_frames
    segments = [
        {"video_index": job.index, "uri": job.plan.video.uri, "frame_count": job.info.frame_count,
         "start": a, "stop": b}
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
    torch_threads = config.predictor.threads_for(config.cpus_per_actor)
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
            "settings": config.predictor,
            "chunk_frames": chunk_frames,
            "torch_threads": torch_threads,
            "source_sizes": {job.index: (job.info.width, job.info.height) for job in jobs},
        },
    )

    accumulators = {job.index: VideoAccumulator(job) for job in jobs}

    def fail(index: int, reason: str) -> None:
        if index in accumulators:
            on_fail(accumulators.pop(index).job, reason)

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
                    on_complete(accumulator.job, accumulator.detections, accumulator.first_seen_s)
            on_batch(int((batch["frame"] >= 0).sum()))
    except Exception as exc:  # the pipeline itself broke: every unfinished video fails with the reason
        log.exception("inference pipeline failed")
        reason = f"pipeline failed: {type(exc).__name__}: {exc}"
        for index in list(accumulators):
            fail(index, reason)
    for index in list(accumulators):
        accumulator = accumulators[index]
        missing = int((~accumulator.seen).sum())
        fail(index, f"{accumulator.job.plan.video.uri}: {missing} of {len(accumulator.seen)} frames "
                    "never came back from the pipeline")
