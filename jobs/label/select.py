"""The select step: pick stretches of frames to label from an inference run's predictions.

The predictions parquet is the record of truth of an inference run, so selection reads it:
from `predictions=` (an existing jobs.infer output, no model pass over the videos) or from a
jobs.infer run into `<output>/infer` (its ledger makes a re-run of the same command skip the
model). Candidates picked from the predictions' signals (`select.refine_factor` times the
budget) then get a second look at the model's heatmaps (tracknet.picking.second_look), one
Ray task per video over those frames only, and the final picks use both.
Writes `<output>/selection.parquet`: one row per picked frame.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from jobs.common import storage
import ray

from jobs.common.checkpoints import load_model
from jobs.common.inputs import InputError, list_videos, open_source
from jobs.infer import InferConfig, format_report, run_inference
from jobs.infer.config import OutputsConfig
from jobs.label.config import LabelConfig
from tracknet.checkpoint import load_checkpoint
from tracknet.inference import Predictor
from tracknet.model_defaults import ModelDefaults
from tracknet.picking import Stretch, frame_uncertainty, pick_stretches, second_look
from tracknet.predictor_settings import PredictorSettings

SELECTION_FILE = "selection.parquet"
SELECTION_SCHEMA = pa.schema(
    [
        ("video_id", pa.string()),
        ("frame", pa.int64()),
        ("stretch", pa.int32()),
        ("stretch_score", pa.float64()),
        ("timestamp_s", pa.float64()),
        ("visible", pa.bool_()),
        ("x", pa.float64()),
        ("y", pa.float64()),
        ("score", pa.float32()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("model_version", pa.string()),
        ("strategy", pa.string()),
    ],
    metadata={b"tracknet.schema": b"label_selection", b"tracknet.schema_version": b"1"},
)
"""One row per picked frame: where the model put the ball (source pixels, the pre-annotation), and which
stretch it belongs to (stretches are numbered in the order picked, best first for `uncertainty`)."""

_PREDICTION_COLUMNS = [
    "video_id", "frame", "timestamp_s", "visible", "x", "y", "score", "raw_visible", "filled", "rejected",
    "width", "height", "model_version",
]


def selection_uri(config: LabelConfig) -> str:
    return storage.join(config.output, SELECTION_FILE)


def predictions_root(config: LabelConfig) -> str:
    """The jobs.infer output selection reads: the one given, or the model pass's own."""
    if config.predictions is not None:
        return config.predictions
    report = run_inference(
        InferConfig(
            input=config.input, output=storage.join(config.output, "infer"), model=config.model,
            predictor=config.predictor, outputs=OutputsConfig(csv=False), video_suffixes=config.video_suffixes,
            storage=config.storage,
        )
    )
    print(format_report(report))
    if not report.count("ok"):
        raise InputError(f"{config.input}: the model pass gave no predictions (see the report above)")
    return storage.join(config.output, "infer")


def detection_threshold(config: LabelConfig) -> float:
    """The heat threshold the predictions were made with: predictor.threshold, else the model's own."""
    if config.predictor.threshold is not None:
        return config.predictor.threshold
    _, loaded = load_model(config.model, config.storage)
    return ModelDefaults.from_metadata(loaded.metadata).threshold


def refine(uncertainty: dict[str, np.ndarray], candidates: list[Stretch], by_video: dict[str, pd.DataFrame],
           config: LabelConfig, threshold: float) -> dict[str, np.ndarray]:
    """The uncertainty with each candidate's frames raised to the model's second-look doubt where that is higher."""
    data, loaded = load_model(config.model, config.storage)
    made_by = set().union(*(set(by_video[c.video_id]["model_version"]) for c in candidates))
    if made_by != {loaded.model_version}:
        raise InputError(
            f"{config.predictions}: predictions made by {', '.join(sorted(made_by))}, but model= is "
            f"{loaded.model_version}: name the model that made them, or set select.refine_factor=0"
        )
    settings = dataclasses.replace(config.predictor, flip_tta=False, threshold=threshold)
    videos = {v.video_id: v.uri for v in list_videos(config.input, config.video_suffixes, config.storage).videos}
    ranges: dict[str, list[tuple[int, int]]] = {}
    for stretch in candidates:
        ranges.setdefault(stretch.video_id, []).append((stretch.start, stretch.start + stretch.length))
    checkpoint = ray.put(data)
    tasks = {
        video_id: _second_look_task.remote(checkpoint, settings, videos[video_id], len(by_video[video_id]), spans,
                                           config.select.heat_margin, config)
        for video_id, spans in ranges.items()
    }
    refined = {video_id: values.copy() for video_id, values in uncertainty.items()}
    for video_id, task in tasks.items():
        for (start, stop), doubt in zip(ranges[video_id], ray.get(task)):
            refined[video_id][start:stop] = np.maximum(refined[video_id][start:stop], doubt)
    return refined


@ray.remote(num_cpus=1)
def _second_look_task(checkpoint: bytes, settings: PredictorSettings, video_uri: str, frame_count: int,
                      spans: list[tuple[int, int]], heat_margin: float, config: LabelConfig) -> list[np.ndarray]:
    predictor = Predictor(load_checkpoint(checkpoint), settings)
    with open_source(video_uri, config.storage) as source:
        return [second_look(predictor, source, frame_count, start, stop, heat_margin) for start, stop in spans]


def read_predictions(uri: str, config: LabelConfig) -> pd.DataFrame:
    """Every predictions row under `<uri>/predictions/` (the columns selection uses), sorted by video and frame."""
    fs, path = storage.resolve(storage.join(uri, "predictions"), config.storage)
    try:
        table = pads.dataset(path, filesystem=fs, format="parquet", partitioning=None).to_table(
            columns=_PREDICTION_COLUMNS
        )
    except (FileNotFoundError, pa.ArrowInvalid) as exc:
        raise InputError(f"{uri}: no jobs.infer predictions parquet under predictions/ ({exc})") from exc
    return table.to_pandas().sort_values(["video_id", "frame"], ignore_index=True)


def select(config: LabelConfig) -> pd.DataFrame:
    """Pick the stretches and write selection.parquet; returns its rows."""
    videos = {v.video_id for v in list_videos(config.input, config.video_suffixes, config.storage).videos}
    predictions = read_predictions(predictions_root(config), config)
    predictions = predictions[predictions["video_id"].isin(videos)]
    if predictions.empty:
        raise InputError(f"{config.predictions or config.input}: no predictions for the videos under {config.input}")
    by_video = {video_id: rows.reset_index(drop=True) for video_id, rows in predictions.groupby("video_id")}
    threshold = detection_threshold(config)
    uncertainty = {
        video_id: frame_uncertainty(
            rows["visible"].to_numpy(bool), rows["raw_visible"].to_numpy(bool), rows["score"].to_numpy(),
            rows["filled"].to_numpy(bool), rows["rejected"].to_numpy(bool), threshold,
            config.select.flicker_frames, config.select.heat_margin,
        )
        for video_id, rows in by_video.items()
    }
    s = config.select

    def pick(scores: dict[str, np.ndarray], budget_frames: int) -> list[Stretch]:
        return pick_stretches(scores, budget_frames, s.stretch_frames, s.min_gap_frames, s.strategy, s.video_decay,
                              s.seed)

    if s.strategy == "uncertainty" and s.refine_factor:
        uncertainty = refine(uncertainty, pick(uncertainty, s.budget_frames * s.refine_factor), by_video, config,
                             threshold)
    stretches = pick(uncertainty, s.budget_frames)
    parts = []
    for number, stretch in enumerate(stretches):
        rows = by_video[stretch.video_id].iloc[stretch.start : stretch.start + stretch.length]
        parts.append(rows.assign(stretch=number, stretch_score=stretch.score, strategy=s.strategy))
    selection = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=SELECTION_SCHEMA.names)
    table = pa.Table.from_pandas(selection[SELECTION_SCHEMA.names], schema=SELECTION_SCHEMA, preserve_index=False)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    storage.write_bytes(selection_uri(config), sink.getvalue().to_pybytes(), config.storage)
    print(
        f"select: {len(stretches)} stretches of {s.stretch_frames} frames ({len(selection)} frames, "
        f"budget {s.budget_frames}) from {len(by_video)} videos, strategy {s.strategy}, "
        f"mean stretch uncertainty {np.mean([t.score for t in stretches]) if stretches else 0.0:.3f}\n"
        f"  selection: {selection_uri(config)}"
    )
    return selection


def read_selection(config: LabelConfig) -> pd.DataFrame:
    """selection.parquet of the workspace; InputError naming it when the select step has not run."""
    uri = selection_uri(config)
    try:
        table = pq.read_table(storage.open_input(uri, config.storage))
    except (FileNotFoundError, OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"{uri}: no readable selection (run steps=[select] first): {exc}") from exc
    if table.schema.metadata.get(b"tracknet.schema") != b"label_selection":
        raise InputError(f"{uri}: not a jobs.label selection file")
    return table.to_pandas()

