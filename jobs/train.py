"""Train TrackNet on featurized windows with Ray Train (TorchTrainer, DDP).

    python -m jobs.train --config conf/train.yaml [key=value ...]

For example, the shared badminton clips on one CPU worker:

    python -m jobs.train --config conf/train_badminton.yaml run_name=bm-1 epochs=20

Reads `<windows>/windows/split=train` and `split=val` (written by jobs.featurize);
`num_workers` workers each read their shard (`get_dataset_shard` +
`iter_torch_batches`), after a Ray Data stage that decodes the JPEG frames and augments
them (random crops around the ball plus negatives, horizontal flips, colour jitter).
Heatmap targets are rendered on the fly; the loss is TrackNet's weighted BCE. After
each epoch the workers score the validation split with the TrackNet protocol (the
library's metrics), and the epoch is reported with a checkpoint under
`<storage_path>/<run_name>/` (local or S3). Running the same command again with the
same run_name and storage_path resumes from the latest checkpoint (Ray Train V2
restores a run from its storage folder). On CUDA it trains with bf16 autocast and
channels-last; `precision=bf16` autocasts on CPU too. At the end the best checkpoint (by validation F1) is exported to
`<output>/<run_name>/model.pt`, one self-describing file (tracknet.checkpoint: model
config, training config, metrics, data used), with `training_curve.png` and
`metrics.json` beside it.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import os
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import ray
import ray.train
import ray.train.torch
import torch
from ray.data.expressions import col

from jobs.common import storage
from jobs.common.checkpoints import read_checkpoint
from jobs.common.cli import run_main
from jobs.common.config import parse_args
from jobs.common.ray_env import init_ray
from jobs.common.storage import StorageConfig
from jobs.common.windows import WindowsError, check_split, split_uri
from tracknet.augment import AugmentConfig
from tracknet.checkpoint import load_checkpoint, save_checkpoint
from tracknet.heatmap import render_targets
from tracknet.metrics import Confusion
from tracknet.model import ModelConfig, TrackNet, count_parameters, load_widened, weighted_bce
from tracknet.model_defaults import ModelDefaults
from tracknet.training import heatmap_confusion, window_samples

log = logging.getLogger("jobs.train")

STATE_FILE = "state.pt"
"""The training state inside each Ray checkpoint folder."""


@dataclass(frozen=True)
class TrainConfig:
    """Config of jobs.train; maps 1:1 onto conf/train*.yaml."""

    windows: str = "out/features"
    """Featurize output root (holds windows/split=train, windows/split=val, summary.json)."""
    run_name: str = "tracknet"
    """Run name; re-running with the same name and storage_path resumes from its latest checkpoint."""
    storage_path: str = "out/runs"
    """Where Ray Train keeps checkpoints: local path, file:// or s3://."""
    output: str = "out/models"
    """Where the exported model goes: <output>/<run_name>/model.pt (+ training_curve.png, metrics.json)."""
    model: ModelConfig = field(default_factory=lambda: ModelConfig(width_mult=0.25))
    """Model shape; height/width must match the windows' resolution, frames_in/out their length."""
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(crop_width=128, crop_height=128))
    """Training augmentation (crops, flips, colour jitter)."""
    epochs: int = 10
    """Total epochs of the run (a resumed run continues up to this number)."""
    batch_size: int = 16
    """Samples per step on each worker."""
    samples_per_window: int = 1
    """Augmented samples drawn from each training window per epoch (different crops)."""
    learning_rate: float = 1e-3
    """Adam learning rate (also on resume: re-run with a lower rate and more epochs to fine-tune)."""
    weight_decay: float = 0.0
    """Adam weight decay."""
    target_radius_px: float = 2.5
    """Radius of the target disc in model pixels (TrackNetV2: 2.5)."""
    tolerance_px: float = 4.0
    """TP tolerance in pixels at 512x288 (the TrackNet protocol)."""
    val_batch_size: int = 8
    """Validation windows per forward pass (whole frames, no augmentation)."""
    val_non_overlapping: bool = True
    """Validate only windows whose start_frame is a multiple of frames_in (each frame scored once)."""
    shuffle_buffer: int = 256
    """Rows in each worker's local shuffle buffer (0 disables)."""
    cache_samples: bool = False
    """Decode and augment the windows once and keep the samples in Ray's object store for every
    epoch (augmentation is the same each epoch anyway: it is seeded per window). Saves the
    decoding of every epoch after the first; needs the samples to fit in the object store."""
    num_workers: int = 1
    """Ray Train workers (DDP ranks)."""
    use_gpu: bool = False
    """One GPU per worker (NCCL); False trains on CPU (gloo)."""
    cpus_per_worker: float = 1.0
    """Ray CPUs reserved per worker."""
    precision: str = "auto"
    """auto (bf16 autocast on CUDA, fp32 on CPU), fp32, or bf16 (autocast on either device:
    on CPUs with native bf16, AVX512-BF16 or AMX, a training step is several times faster)."""
    torch_threads: int = 0
    """torch intra-op threads per worker; 0 keeps Ray's default (the worker's CPUs)."""
    keep_checkpoints: int = 2
    """Checkpoints kept besides the latest (the best by validation F1)."""
    max_failures: int = 0
    """Worker-group restarts Ray Train attempts after a failure (each resumes from the latest checkpoint)."""
    log_every_steps: int = 25
    """Print a progress line every this many steps (rank 0)."""
    seed: int = 0
    """Seed of the model initialisation, the augmentation and the data order (a run is repeatable
    on one machine with one worker)."""
    ray_progress_bars: bool = False
    """Show Ray Data's own progress bars (off: the per-epoch lines only)."""
    inference: ModelDefaults = field(default_factory=ModelDefaults)
    """What inference does with this model unless told otherwise (sport, threshold, trajectory clean-up
    limits), saved in its checkpoint; validation decodes with `inference.threshold`."""
    init_from: str | None = None
    """Checkpoint (a packaged model's name, a path or URI) whose weights start a new run instead of random ones: fine-tuning, or
    adding `model.background` to a trained model (its new input channels start at zero). Ignored on resume."""
    storage: StorageConfig = field(default_factory=StorageConfig)
    """S3 endpoint and region (credentials come from the standard AWS chain)."""

    def __post_init__(self) -> None:
        if not self.run_name or "/" in self.run_name:
            raise ValueError(f"run_name must be a non-empty name without '/', got {self.run_name!r}")
        for name in ("epochs", "batch_size", "samples_per_window", "val_batch_size", "num_workers",
                     "log_every_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("learning_rate", "target_radius_px", "tolerance_px", "cpus_per_worker"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("weight_decay", "shuffle_buffer", "torch_threads", "keep_checkpoints", "max_failures",
                     "seed"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be auto, fp32 or bf16, got {self.precision!r}")
        if self.model.frames_out != self.model.frames_in:
            raise ValueError(
                f"model.frames_out ({self.model.frames_out}) must equal model.frames_in ({self.model.frames_in}):"
                " windows carry one label per input frame"
            )
        if self.augment.crops and (
            self.augment.crop_width > self.model.width or self.augment.crop_height > self.model.height
        ):
            raise ValueError(
                f"augment crop {self.augment.crop_width}x{self.augment.crop_height} is larger than the model's "
                f"{self.model.width}x{self.model.height} frames"
            )


# --------------------------------------------------------------------------- data


def _train_samples(batch: pa.Table, augment: AugmentConfig, copies: int, seed: int) -> dict[str, np.ndarray]:
    """Ray Data UDF: window rows -> augmented samples (inputs, visible, xy).

    The augmentation of a batch is drawn from `seed` and the batch's windows, not from the
    task that happens to run it, so a run is repeatable (each window gets the same crops in
    every epoch; `samples_per_window` gives it several different ones).
    """
    windows = "\n".join(f"{v}:{s}" for v, s in zip(batch["video_id"].to_pylist(), batch["start_frame"].to_pylist()))
    rng = np.random.default_rng([seed, zlib.crc32(windows.encode())])
    return window_samples(
        batch["frames"].to_pylist(), batch["visible"].to_pylist(), batch["x"].to_pylist(), batch["y"].to_pylist(),
        augment=augment, rng=rng, copies=copies, backgrounds=_backgrounds(batch),
    )


def _val_samples(batch: pa.Table) -> dict[str, np.ndarray]:
    """Ray Data UDF: window rows -> whole-frame samples, no augmentation."""
    return window_samples(
        batch["frames"].to_pylist(), batch["visible"].to_pylist(), batch["x"].to_pylist(), batch["y"].to_pylist(),
        backgrounds=_backgrounds(batch),
    )


def _backgrounds(batch: pa.Table) -> list[bytes] | None:
    """The rows' background JPEGs when the batch was read for a background model."""
    if "background" not in batch.column_names:
        return None
    backgrounds = batch["background"].to_pylist()
    if any(image is None for image in backgrounds):
        raise WindowsError("windows without a background frame: featurize with background=true for model.background")
    return backgrounds


def build_datasets(config: TrainConfig) -> dict[str, ray.data.Dataset]:
    """The lazily read and preprocessed train (and val, when present) datasets."""
    columns = ["video_id", "start_frame", "frames", "visible", "x", "y"] + (
        ["background"] if config.model.background else []
    )
    datasets = {}
    for split in ("train", "val"):
        try:
            check_split(config.windows, split, config.storage)
        except WindowsError:
            if split == "train":
                raise
            log.warning("no validation windows under %s: training without validation", config.windows)
            continue
        fs, path = storage.resolve(split_uri(config.windows, split), config.storage)
        dataset = ray.data.read_parquet(path, filesystem=fs).select_columns(columns)
        if split == "train":
            datasets[split] = dataset.randomize_block_order(seed=config.seed).map_batches(
                _train_samples, batch_size=32, batch_format="pyarrow",
                fn_kwargs={"augment": config.augment, "copies": config.samples_per_window, "seed": config.seed},
            )
        else:
            if config.val_non_overlapping:
                dataset = dataset.filter(expr=(col("start_frame") % config.model.frames_in) == 0)
            datasets[split] = dataset.map_batches(_val_samples, batch_size=config.val_batch_size,
                                                  batch_format="pyarrow")
        if config.cache_samples:
            cached = datasets[split]
            # In read order, not task-completion order: the cache is what every epoch reads.
            cached.context.execution_options = _ordered_execution()
            datasets[split] = cached.materialize()
    return datasets


def read_featurize_summary(config: TrainConfig) -> dict[str, Any] | None:
    """<windows>/summary.json as written by jobs.featurize, or None when absent."""
    uri = storage.join(config.windows, "summary.json")
    if not storage.exists(uri, config.storage):
        return None
    return json.loads(storage.read_bytes(uri, config.storage))


def check_windows_match_model(summary: dict[str, Any] | None, config: TrainConfig) -> None:
    """Raise ValueError when the featurized resolution or window length differs from the model's."""
    if summary is None:
        return
    featurized = summary.get("config", {})
    expected = {"width": config.model.width, "height": config.model.height, "frames_in": config.model.frames_in}
    for key, value in expected.items():
        if key in featurized and featurized[key] != value:
            raise WindowsError(
                f"{config.windows}: windows were featurized with {key}={featurized[key]}, "
                f"but model.{key}={value}"
            )
    if config.model.background and not featurized.get("background", False):
        raise WindowsError(
            f"{config.windows}: windows were featurized without background frames, but model.background=true "
            "(featurize again with background=true)"
        )


# --------------------------------------------------------------------------- worker loop


def _all_reduce_sum(values: list[float]) -> list[float]:
    tensor = torch.tensor(values, dtype=torch.float64)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(tensor)
    return tensor.tolist()


def _progress(line: str) -> None:
    """One progress line on the worker's stdout (Ray forwards it to the driver)."""
    # Not print(): Ray Train patches print to log *and* tee to stdout, which shows every line twice.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _unwrap(model: torch.nn.Module) -> TrackNet:
    return model.module if hasattr(model, "module") else model


def _autocast(device: torch.device, precision: str):
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _to_device(inputs: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 samples (tracknet.training.window_samples) -> float model inputs in [0, 1]."""
    inputs = inputs.to(device, non_blocking=True).float().div_(255.0)
    if device.type == "cuda":
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    return inputs


def validate(model: torch.nn.Module, shard, config: TrainConfig, device: torch.device) -> Confusion:
    """This worker's confusion counts on its validation shard (whole frames)."""
    model.eval()
    total = Confusion()
    with torch.no_grad():
        for batch in shard.iter_torch_batches(batch_size=config.val_batch_size):
            with _autocast(device, config.precision):
                logits = model(_to_device(batch["inputs"], device))
            heatmaps = torch.sigmoid(logits.float()).cpu().numpy()  # (B, F, H, W)
            total += heatmap_confusion(
                heatmaps, batch["visible"].numpy(), batch["xy"].numpy(), config.inference.threshold, config.tolerance_px
            )
    return total


def train_loop(loop_config: dict[str, Any]) -> None:
    """Ray Train worker: restore, train epochs, validate, report with checkpoints."""
    config: TrainConfig = loop_config["config"]
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    torch.manual_seed(config.seed)
    device = ray.train.torch.get_device()

    model = TrackNet(config.model)
    start_epoch, history, best_score = 0, [], -math.inf
    state = None
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            state = torch.load(os.path.join(folder, STATE_FILE), map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        start_epoch = int(state["epoch"])
        history = json.loads(state["history_json"])
        best_score = float(state["best_score"])
        if rank == 0:
            _progress(f"[train] resuming run {config.run_name!r} after epoch {start_epoch}")
    elif loop_config.get("init_weights"):
        load_widened(model, load_checkpoint(loop_config["init_weights"]).model.state_dict())
        if rank == 0:
            _progress(f"[train] starting from the weights of {config.init_from}")
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    model = ray.train.torch.prepare_model(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        # The config's rate wins on resume, so a run can go on at a lower rate to fine-tune.
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate

    train_shard = ray.train.get_dataset_shard("train")
    val_shard = ray.train.get_dataset_shard("val") if loop_config["has_val"] else None
    if rank == 0 and start_epoch >= config.epochs:
        _progress(f"[train] run {config.run_name!r} already has {start_epoch} epochs (epochs={config.epochs})")
    elif rank == 0:
        _progress(
            f"[train] {count_parameters(model):,} parameters, {world} worker(s) on {device.type}, "
            f"epochs {start_epoch + 1}..{config.epochs}"
        )

    for epoch in range(start_epoch + 1, config.epochs + 1):
        model.train()
        started = time.perf_counter()
        loss_sum, steps, samples = 0.0, 0, 0
        for batch in train_shard.iter_torch_batches(
            batch_size=config.batch_size, local_shuffle_buffer_size=config.shuffle_buffer or None,
            local_shuffle_seed=config.seed * 100_003 + epoch if config.shuffle_buffer else None,
        ):
            inputs = _to_device(batch["inputs"], device)  # (B, 3F, h, w)
            height, width = inputs.shape[-2:]
            xy = torch.nan_to_num(batch["xy"]).to(device)  # (B, F, 2)
            targets = render_targets(xy, batch["visible"].to(device), height, width, config.target_radius_px)
            with _autocast(device, config.precision):
                logits = model(inputs)  # (B, F, h, w)
            loss = weighted_bce(logits, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach())
            steps += 1
            samples += inputs.shape[0]
            if rank == 0 and steps % config.log_every_steps == 0:
                rate = samples * world / (time.perf_counter() - started)
                _progress(f"[train] epoch {epoch}/{config.epochs} step {steps} loss {loss_sum / steps:.5f} "
                          f"({rate:.1f} samples/s)")
        loss_total, step_total = _all_reduce_sum([loss_sum, steps])
        train_loss = loss_total / step_total if step_total else float("nan")
        train_s = time.perf_counter() - started

        metrics: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss, "steps": int(step_total),
                                   "resumed_from_epoch": start_epoch, "train_s": train_s}
        if val_shard is not None:
            counts = validate(model, val_shard, config, device)
            summed = Confusion(*(int(v) for v in _all_reduce_sum(
                [counts.tp, counts.fp1, counts.fp2, counts.fn, counts.tn])))
            metrics |= {f"val_{k}": v for k, v in summed.as_dict().items()}
            # Checkpoints rank by validation F1; the training loss breaks ties (early epochs often all score 0).
            metrics["score"] = summed.f1 - 1e-6 * min(train_loss, 1.0)
        else:
            metrics["score"] = -train_loss
        metrics["epoch_s"] = time.perf_counter() - started
        history.append(metrics)
        best_score = max(best_score, metrics["score"])
        if rank == 0:
            _progress(_epoch_line(metrics, config.epochs))
            with tempfile.TemporaryDirectory() as folder:
                torch.save(
                    {
                        "model": {k: v.detach().cpu() for k, v in _unwrap(model).state_dict().items()},
                        "optimizer": optimizer.state_dict(),
                        "epoch": epoch,
                        "history_json": json.dumps(history),
                        "best_score": best_score,
                    },
                    os.path.join(folder, STATE_FILE),
                )
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))
        else:
            ray.train.report(metrics, checkpoint=None)


def _epoch_line(metrics: dict[str, Any], epochs: int) -> str:
    line = f"[train] epoch {metrics['epoch']}/{epochs}: train_loss {metrics['train_loss']:.5f}"
    if "val_f1" in metrics:
        line += (f", val precision {metrics['val_precision']:.3f} recall {metrics['val_recall']:.3f} "
                 f"F1 {metrics['val_f1']:.3f}")
    return line + f" ({metrics['epoch_s']:.1f} s)"


# --------------------------------------------------------------------------- driver


@dataclass(frozen=True)
class TrainReport:
    """What a training run produced."""

    model_uri: str
    curve_uri: str
    best: dict[str, Any]
    history: list[dict[str, Any]]
    model_version: str


def _run_storage(config: TrainConfig) -> tuple[str, pafs.FileSystem | None]:
    """(storage_path, storage_filesystem) for RunConfig."""
    fs, path = storage.resolve(config.storage_path, config.storage)
    if isinstance(fs, pafs.LocalFileSystem):
        return path, None
    return path, fs


def read_init_weights(config: TrainConfig) -> bytes | None:
    """The init_from checkpoint's bytes, read on the driver (workers may not see its path)."""
    if not config.init_from:
        return None
    return read_checkpoint(config.init_from, config.storage)


def make_trainer(
    config: TrainConfig, datasets: dict[str, ray.data.Dataset], init_weights: bytes | None = None
) -> ray.train.torch.TorchTrainer:
    storage_path, storage_fs = _run_storage(config)
    resources = {"CPU": config.cpus_per_worker} | ({"GPU": 1} if config.use_gpu else {})
    return ray.train.torch.TorchTrainer(
        train_loop,
        train_loop_config={"config": config, "has_val": "val" in datasets, "init_weights": init_weights},
        scaling_config=ray.train.ScalingConfig(
            num_workers=config.num_workers, use_gpu=config.use_gpu, resources_per_worker=resources
        ),
        run_config=ray.train.RunConfig(
            name=config.run_name,
            storage_path=storage_path,
            storage_filesystem=storage_fs,
            checkpoint_config=ray.train.CheckpointConfig(
                num_to_keep=config.keep_checkpoints + 1,
                checkpoint_score_attribute="score",
                checkpoint_score_order="max",
            ),
            failure_config=ray.train.FailureConfig(max_failures=config.max_failures),
        ),
        datasets=datasets,
        # Blocks reach the workers in the order they were read (seeded), not as tasks finish:
        # the same seed gives the same batches.
        dataset_config=ray.train.DataConfig(execution_options=_ordered_execution()),
    )


def _ordered_execution() -> ray.data.ExecutionOptions:
    options = copy.deepcopy(ray.data.DataContext.get_current().execution_options)
    options.preserve_order = True
    return options


def _load_state(checkpoint: ray.train.Checkpoint) -> dict[str, Any]:
    with checkpoint.as_directory() as folder:
        return torch.load(os.path.join(folder, STATE_FILE), map_location="cpu", weights_only=True)


def export(
    config: TrainConfig, result: ray.train.Result, summary: dict[str, Any] | None, datasets: dict
) -> TrainReport:
    """Write the best checkpoint as <output>/<run_name>/model.pt, with the curve and metrics beside it."""
    if result.checkpoint is None:
        raise RuntimeError(f"run {config.run_name!r} reported no checkpoint")
    latest = _load_state(result.checkpoint)
    history = json.loads(latest["history_json"])
    best_checkpoint = result.get_best_checkpoint("score", "max") or result.checkpoint
    best_state = _load_state(best_checkpoint)
    best_epoch = int(best_state["epoch"])
    best = next(m for m in history if m["epoch"] == best_epoch)

    model = TrackNet(config.model)
    model.load_state_dict(best_state["model"])
    data_used = {
        "windows": config.windows,
        "train_videos": (summary or {}).get("split", {}).get("train"),
        "val_videos": (summary or {}).get("split", {}).get("val"),
        "windows_count": (summary or {}).get("windows"),
        "featurize_config": (summary or {}).get("config"),
        "validated": "val" in datasets,
    }
    metadata = {
        **config.inference.as_metadata(),
        "training_config": asdict(config),
        "metrics": best,
        "history": history,
        "best_epoch": best_epoch,
        "data": data_used,
        "run_name": config.run_name,
        "checkpoint_path": best_checkpoint.path,
    }
    folder_uri = storage.join(config.output, config.run_name)
    model_uri = storage.join(folder_uri, "model.pt")
    curve_uri = storage.join(folder_uri, "training_curve.png")
    with tempfile.TemporaryDirectory() as tmp:
        model_path = os.path.join(tmp, "model.pt")
        version = save_checkpoint(model_path, model, metadata, name=config.run_name)
        storage.upload_file(model_path, model_uri, config.storage)
        curve_path = os.path.join(tmp, "training_curve.png")
        plot_training_curve(history, curve_path, title=f"{config.run_name} ({version})")
        storage.upload_file(curve_path, curve_uri, config.storage)
    metrics_doc = {"model_version": version, "best_epoch": best_epoch, "best": best, "history": history}
    storage.write_bytes(storage.join(folder_uri, "metrics.json"), json.dumps(metrics_doc, indent=2).encode(),
                        config.storage)
    return TrainReport(model_uri=model_uri, curve_uri=curve_uri, best=best, history=history, model_version=version)


def plot_training_curve(history: list[dict[str, Any]], path: str, title: str = "") -> None:
    """Training loss and validation precision/recall/F1 per epoch, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = [m["epoch"] for m in history]
    figure, loss_axis = plt.subplots(figsize=(7, 4), dpi=100)
    loss_axis.plot(epochs, [m["train_loss"] for m in history], "o-", color="tab:blue", label="train loss")
    loss_axis.set_xlabel("epoch")
    loss_axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    loss_axis.set_ylabel("weighted BCE (train)")
    loss_axis.set_yscale("log")
    handles = loss_axis.get_legend_handles_labels()
    if any("val_f1" in m for m in history):
        score_axis = loss_axis.twinx()
        for key, colour in (("val_f1", "tab:red"), ("val_precision", "tab:green"), ("val_recall", "tab:orange")):
            score_axis.plot(epochs, [m.get(key, float("nan")) for m in history], "s-", color=colour,
                            label=key.replace("_", " "))
        score_axis.set_ylabel("validation score")
        score_axis.set_ylim(0, 1)
        extra = score_axis.get_legend_handles_labels()
        handles = (handles[0] + extra[0], handles[1] + extra[1])
    loss_axis.legend(*handles, loc="center right", fontsize="small")
    loss_axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def warn_if_no_cpu_for_data(config: TrainConfig) -> None:
    """Ray Data needs CPUs beside the workers' to feed them; without any, training waits forever."""
    total = ray.cluster_resources().get("CPU", 0.0)
    left = total - config.num_workers * config.cpus_per_worker
    if left < 1:
        log.warning(
            "the cluster has %.0f CPUs and the %d worker(s) reserve %.1f each, leaving %.1f for Ray Data; "
            "training stalls unless the cluster grows (lower num_workers or cpus_per_worker)",
            total, config.num_workers, config.cpus_per_worker, left,
        )


def run(config: TrainConfig) -> TrainReport:
    """Train (or resume) and export; Ray must be initialised."""
    warn_if_no_cpu_for_data(config)
    summary = read_featurize_summary(config)
    check_windows_match_model(summary, config)
    datasets = build_datasets(config)
    trainer = make_trainer(config, datasets, read_init_weights(config))
    result = trainer.fit()
    return export(config, result, summary, datasets)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes: 0 trained; 2 bad config, windows or init_from (jobs.common.cli)."""
    return run_main(lambda: _train_and_report(argv))


def _train_and_report(argv: Sequence[str] | None) -> int:
    config = parse_args(TrainConfig, argv, prog="python -m jobs.train", conf="train.yaml", description=__doc__.splitlines()[0])
    init_ray(config.ray_progress_bars)
    report = run(config)
    best = report.best
    scores = (f"val precision {best['val_precision']:.3f} recall {best['val_recall']:.3f} F1 {best['val_f1']:.3f}"
              if "val_f1" in best else f"train loss {best['train_loss']:.5f}")
    print(f"train: best epoch {best['epoch']} of {report.history[-1]['epoch']}: {scores}")
    print(f"  model: {report.model_uri} ({report.model_version})")
    print(f"  curve: {report.curve_uri}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
