"""Evaluate ball predictions against labels with the TrackNet protocol.

    python -m jobs.evaluate --config conf/evaluate.yaml predictions=out/demo/infer labels=out/demo/clips

`predictions` is an inference output root (its `predictions/` parquet is read);
`labels` is a folder/prefix of label files in any format `tracknet.labels` reads,
matched to predictions by video_id (the path below `labels` without extension).
Writes `<output>/evaluation.parquet` (one row per video plus an `__overall__`
row), `<output>/report.png` (per-video F1, distribution of position errors) and
prints a table. Videos with labels but no predictions, or predictions but no
labels, are listed, never silently dropped.

Exit codes: 0 evaluated; 2 bad config or unreadable input; 4 nothing to evaluate.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from matplotlib.figure import Figure

from jobs.common import storage
from jobs.common.cli import EXIT_OK, run_main
from jobs.common.config import parse_args
from jobs.common.inputs import InputError, video_id_for
from jobs.common.storage import StorageConfig
from tracknet.labels import read_labels
from tracknet.metrics import Confusion, Outcome, classify_frames

EXIT_NOTHING = 4
"""Nothing to evaluate (no video has both predictions and labels); 0 and 2 as every job (jobs.common.cli)."""
OVERALL = "__overall__"
LABEL_SUFFIXES = (".csv", ".json")
EVALUATION_SCHEMA_VERSION = "1"


@dataclass(frozen=True)
class EvaluateConfig:
    """Config of the evaluate job (conf/evaluate.yaml)."""

    predictions: str = ""
    """Inference output root URI (reads its predictions/ parquet)."""
    labels: str = ""
    """Folder/prefix URI of label files, matched to predictions by video_id."""
    output: str = ""
    """Where the table and report go; default <predictions>/evaluation."""
    tolerance_px: float = 4.0
    """Largest distance for a true positive, in pixels at eval_width x eval_height."""
    eval_width: int = 512
    """Width of the resolution at which distances are measured."""
    eval_height: int = 288
    """Height of the resolution at which distances are measured."""
    use_raw: bool = False
    """Evaluate the raw detections instead of the cleaned trajectory."""
    storage: StorageConfig = field(default_factory=StorageConfig)
    """S3 endpoint settings for s3:// URIs."""

    def __post_init__(self) -> None:
        if not self.predictions:
            raise ValueError("predictions must be set (an inference output URI)")
        if not self.labels:
            raise ValueError("labels must be set (a folder/prefix URI of label files)")
        if self.tolerance_px <= 0:
            raise ValueError(f"tolerance_px must be > 0, got {self.tolerance_px}")
        if self.eval_width <= 0 or self.eval_height <= 0:
            raise ValueError(f"eval size must be positive, got {self.eval_width}x{self.eval_height}")

    @property
    def output_uri(self) -> str:
        return self.output or storage.join(self.predictions, "evaluation")


@dataclass(frozen=True)
class VideoResult:
    """One video's confusion counts and position errors (at eval resolution) of its TPs and FP1s."""

    video_id: str
    confusion: Confusion
    errors_px: np.ndarray
    missing_prediction_frames: int


def read_predictions(uri: str, cfg: StorageConfig, use_raw: bool) -> pd.DataFrame:
    """Per-frame predictions (video_id, frame, visible, x, y, width, height) from an inference output."""
    fs, path = storage.resolve(storage.join(uri, "predictions"), cfg)
    columns = ["video_id", "frame", "width", "height"] + (
        ["raw_visible", "raw_x", "raw_y"] if use_raw else ["visible", "x", "y"]
    )
    try:
        table = pads.dataset(path, filesystem=fs, format="parquet", partitioning=None).to_table(columns=columns)
    except (FileNotFoundError, pa.ArrowInvalid) as exc:
        raise InputError(f"{uri}: no readable predictions parquet under predictions/ ({exc})") from exc
    frame = table.to_pandas()
    return frame.rename(columns={"raw_visible": "visible", "raw_x": "x", "raw_y": "y"})


def evaluate_video(
    video_id: str, predicted: pd.DataFrame, labels: pd.DataFrame, config: EvaluateConfig
) -> VideoResult:
    """Confusion of one video; labelled frames without a prediction count as 'no ball predicted'."""
    merged = labels[["frame", "visible", "x_px", "y_px"]].merge(
        predicted[["frame", "visible", "x", "y"]], on="frame", how="left", suffixes=("_true", "_pred")
    )
    missing = int(merged["visible_pred"].isna().sum())
    pred_visible = merged["visible_pred"].fillna(False).astype(bool).to_numpy()
    width, height = int(predicted["width"].iloc[0]), int(predicted["height"].iloc[0])
    eval_size = (config.eval_width, config.eval_height)
    pred_xy = merged[["x", "y"]].to_numpy(dtype=np.float64)
    true_xy = merged[["x_px", "y_px"]].to_numpy(dtype=np.float64)
    outcomes = classify_frames(
        pred_visible, pred_xy, merged["visible_true"].to_numpy(), true_xy, (width, height),
        config.tolerance_px, eval_size,
    )
    located = (outcomes == Outcome.TP) | (outcomes == Outcome.FP1)
    scale = np.array([eval_size[0] / width, eval_size[1] / height])
    errors = np.hypot(*((pred_xy[located] - true_xy[located]) * scale).T)
    return VideoResult(video_id, Confusion.from_outcomes(outcomes), errors, missing)


def _label_files(uri: str, cfg: StorageConfig) -> dict[str, str]:
    files = {}
    try:
        entries = storage.list_files(uri, LABEL_SUFFIXES, cfg)
    except FileNotFoundError as exc:
        raise InputError(f"{uri}: no such label folder (labels=)") from exc
    for entry in entries:
        files.setdefault(video_id_for(entry.relative_path), entry.uri)
    return files


def results_table(results: list[VideoResult], config: EvaluateConfig) -> pd.DataFrame:
    """One row per video plus the overall row (counts summed over videos)."""
    total = sum((r.confusion for r in results), Confusion())
    rows = [{"video_id": r.video_id, **r.confusion.as_dict(), "missing_prediction_frames": r.missing_prediction_frames,
             "median_error_px": float(np.median(r.errors_px)) if len(r.errors_px) else float("nan")}
            for r in results]
    all_errors = np.concatenate([r.errors_px for r in results]) if results else np.zeros(0)
    rows.append({"video_id": OVERALL, **total.as_dict(),
                 "missing_prediction_frames": sum(r.missing_prediction_frames for r in results),
                 "median_error_px": float(np.median(all_errors)) if len(all_errors) else float("nan")})
    table = pd.DataFrame(rows)
    table["tolerance_px"] = config.tolerance_px
    table["eval_resolution"] = f"{config.eval_width}x{config.eval_height}"
    return table


def write_report_png(results: list[VideoResult], table: pd.DataFrame, config: EvaluateConfig) -> bytes:
    """PNG with per-video F1 bars and a histogram of position errors."""
    # The object API needs no pyplot backend (headless workers).
    fig = Figure(figsize=(12, 4.5))
    ax_f1, ax_err = fig.subplots(1, 2)
    per_video = table[table["video_id"] != OVERALL]
    ax_f1.barh(per_video["video_id"], per_video["f1"], color="tab:blue")
    ax_f1.axvline(float(table.loc[table["video_id"] == OVERALL, "f1"].iloc[0]), color="tab:red", label="overall")
    ax_f1.set_xlim(0, 1)
    ax_f1.set_xlabel("F1")
    ax_f1.set_title("F1 per video")
    ax_f1.legend(loc="lower right")
    errors = np.concatenate([r.errors_px for r in results]) if results else np.zeros(0)
    ax_err.hist(np.clip(errors, 0, 4 * config.tolerance_px), bins=40, color="tab:green")
    ax_err.axvline(config.tolerance_px, color="tab:red", linestyle="--", label=f"tolerance {config.tolerance_px:g} px")
    ax_err.set_xlabel(f"position error, px at {config.eval_width}x{config.eval_height} (clipped)")
    ax_err.set_ylabel("frames")
    ax_err.set_title("Position errors (TP + FP1)")
    ax_err.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def run(config: EvaluateConfig) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Evaluate every video; returns (table, videos without labels, videos without predictions)."""
    predictions = read_predictions(config.predictions, config.storage, config.use_raw)
    label_files = _label_files(config.labels, config.storage)
    predicted_ids = set(predictions["video_id"].unique())
    results = []
    for video_id in sorted(predicted_ids & set(label_files)):
        predicted = predictions[predictions["video_id"] == video_id]
        size = (int(predicted["width"].iloc[0]), int(predicted["height"].iloc[0]))
        with storage.open_input(label_files[video_id], config.storage) as stream:
            labels = read_labels(_named(stream, label_files[video_id]), video_size=size)
        results.append(evaluate_video(video_id, predicted, labels, config))
    table = results_table(results, config)
    if results:
        schema_meta = {b"schema": b"tracknet.evaluation", b"schema_version": EVALUATION_SCHEMA_VERSION.encode()}
        arrow = pa.Table.from_pandas(table, preserve_index=False)
        arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), **schema_meta})
        sink = pa.BufferOutputStream()
        pq.write_table(arrow, sink)
        storage.write_bytes(storage.join(config.output_uri, "evaluation.parquet"), sink.getvalue().to_pybytes(), config.storage)
        storage.write_bytes(storage.join(config.output_uri, "report.png"), write_report_png(results, table, config), config.storage)
    return table, sorted(predicted_ids - set(label_files)), sorted(set(label_files) - predicted_ids)


def _named(stream: io.RawIOBase, uri: str) -> io.BytesIO:
    """Label bytes that carry their URI as a name, so label errors name the file."""
    data = io.BytesIO(stream.read())
    data.name = uri
    return data


def format_table(table: pd.DataFrame, config: EvaluateConfig) -> str:
    shown = table[["video_id", "tp", "fp1", "fp2", "fn", "tn", "precision", "recall", "f1", "accuracy", "median_error_px"]]
    header = f"TrackNet protocol, tolerance {config.tolerance_px:g} px at {config.eval_width}x{config.eval_height}"
    return header + "\n" + shown.to_string(index=False, float_format=lambda v: f"{v:.3f}")


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(lambda: _evaluate_and_report(argv))


def _evaluate_and_report(argv: Sequence[str] | None) -> int:
    config = parse_args(EvaluateConfig, argv, prog="python -m jobs.evaluate", conf="evaluate.yaml", description=__doc__.splitlines()[0])
    table, no_labels, no_predictions = run(config)
    if no_labels:
        print(f"videos with predictions but no labels ({len(no_labels)}): {', '.join(no_labels)}")
    if no_predictions:
        print(f"videos with labels but no predictions ({len(no_predictions)}): {', '.join(no_predictions)}")
    if len(table) == 1:
        print("nothing to evaluate: no video has both predictions and labels", file=sys.stderr)
        return EXIT_NOTHING
    print(format_table(table, config))
    print(f"wrote {storage.join(config.output_uri, 'evaluation.parquet')} and report.png")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
