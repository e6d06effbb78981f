"""Is the picker worth its name? Error rate of the frames jobs.label picks, uncertainty against random.

    python benchmarks/label_picker.py [--budget 120] [--stretch 12] [--min-gap 25] [--refine-factor 3]
                                      [--random-seeds 200] [--model NAME|PATH] [--data DIR] [--out DIR]
                                      [jobs.infer key=value ...]

On the badminton validation clips (conf/featurize_badminton.yaml: `input`, `split.val_videos`)
with the packaged model, runs jobs.infer once (conf/infer.yaml; its ledger makes a re-run reuse
the predictions), then jobs.label's select step on those predictions (`predictions=`, no model
pass) under strategy=uncertainty and strategy=random at the same budget (random over many
seeds: one seed's picks scatter widely, and the mean of 10 still misses the expected rate by
several percent, so 200 by default; its standard error is printed). A picked frame is an error when the TrackNet protocol (tracknet.metrics, 4 px at
512x288, against the clips' labels) classes the model's answer there FP1, FP2 or FN. Prints
the error rate of all frames, of the uncertainty picks and of the random picks, and their ratio.
Exits 0 without measuring (saying so) when the shared clips are absent.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from jobs.common.config import load_config  # noqa: E402
from jobs.common.ray_env import init_ray  # noqa: E402
from jobs.infer import InferConfig, format_report, run_inference  # noqa: E402
from jobs.label import LabelConfig  # noqa: E402
from jobs.label.select import read_predictions, select  # noqa: E402
from tracknet.labels import read_labels  # noqa: E402
from tracknet.metrics import Outcome, classify_frames  # noqa: E402

ERRORS = (Outcome.FP1, Outcome.FP2, Outcome.FN)


def frame_errors(predictions: pd.DataFrame, labels: Path) -> pd.DataFrame:
    """(video_id, frame, error) for every predicted frame; error: the protocol says FP1, FP2 or FN."""
    parts = []
    for video_id, rows in predictions.groupby("video_id"):
        size = (int(rows["width"].iloc[0]), int(rows["height"].iloc[0]))
        truth = read_labels(labels / f"{video_id}.csv", video_size=size).set_index("frame").reindex(rows["frame"])
        outcomes = classify_frames(
            rows["visible"].to_numpy(bool), rows[["x", "y"]].to_numpy(np.float64),
            truth["visible"].fillna(0).to_numpy(bool), truth[["x_px", "y_px"]].to_numpy(np.float64), size,
        )
        parts.append(pd.DataFrame({"video_id": video_id, "frame": rows["frame"].to_numpy(),
                                   "error": np.isin(outcomes, ERRORS)}))
    return pd.concat(parts, ignore_index=True)


def picked_error_rate(config: LabelConfig, errors: pd.DataFrame) -> tuple[float, int, int]:
    """(error rate of the picked frames, frames picked, videos they come from)."""
    picked = select(config)[["video_id", "frame"]].merge(errors, on=["video_id", "frame"], how="left")
    return float(picked["error"].mean()), len(picked), picked["video_id"].nunique()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=120, help="select.budget_frames (default 120, 10%% of the clips)")
    parser.add_argument("--stretch", type=int, default=12, help="select.stretch_frames (default 12)")
    parser.add_argument("--min-gap", type=int, default=25, help="select.min_gap_frames (default 25, as conf/label.yaml)")
    parser.add_argument("--refine-factor", type=int, default=3,
                        help="select.refine_factor: candidates given the second look (default 3; 0: predictions only)")
    parser.add_argument("--random-seeds", type=int, default=200, help="seeds of strategy=random averaged (default 200)")
    parser.add_argument("--model", default="badminton", help="packaged model name or checkpoint (default badminton)")
    parser.add_argument("--data", help="folder of the shared clips (default: conf/featurize_badminton.yaml's input)")
    parser.add_argument("--out", default=str(REPO / "out" / "label_picker"), help="work folder")
    parser.add_argument("overrides", nargs="*", help="jobs.infer key=value overrides")
    args = parser.parse_args()
    featurize = yaml.safe_load((REPO / "conf" / "featurize_badminton.yaml").read_text())
    data = Path(args.data) if args.data else (REPO / featurize["input"]).resolve()
    if not data.is_dir():
        print(f"skipped: no badminton clips at {data}")
        return 0
    out = Path(args.out)
    clips, labels = out / "clips", out / "labels"
    ids = list(featurize["split"]["val_videos"])
    for folder, suffix in ((clips, ".mp4"), (labels, ".csv")):  # labels apart: select must not see them
        folder.mkdir(parents=True, exist_ok=True)
        for clip_id in ids:
            link = folder / f"{clip_id}{suffix}"
            if not link.exists():
                link.symlink_to(data / f"{clip_id}{suffix}")

    init_ray()
    predictions = out / "infer"
    report = run_inference(load_config(InferConfig, REPO / "conf" / "infer.yaml", [
        f"input={clips}", f"output={predictions}", f"model={args.model}", *args.overrides]))
    if report.count("failed"):  # a re-run skips the videos already done
        print(format_report(report), file=sys.stderr)
        return 1
    common = [f"input={clips}", f"predictions={predictions}", f"model={args.model}", "steps=[select]",
              f"select.budget_frames={args.budget}", f"select.stretch_frames={args.stretch}",
              f"select.min_gap_frames={args.min_gap}", f"select.refine_factor={args.refine_factor}"]
    by_uncertainty = load_config(LabelConfig, None, [*common, f"output={out / 'uncertainty'}"])
    errors = frame_errors(read_predictions(str(predictions), by_uncertainty), labels)

    uncertain, frames, videos = picked_error_rate(by_uncertainty, errors)
    with contextlib.redirect_stdout(io.StringIO()):  # select's own line, once per seed
        randoms = [
            picked_error_rate(load_config(LabelConfig, None, [
                *common, f"output={out / f'random-{seed}'}", "select.strategy=random", f"select.seed={seed}"]), errors)[0]
            for seed in range(args.random_seeds)
        ]
    random_mean = statistics.mean(randoms)
    random_sem = statistics.stdev(randoms) / len(randoms) ** 0.5 if len(randoms) > 1 else float("nan")
    base = float(errors["error"].mean())
    print(f"\nmodel {args.model}; badminton validation clips {', '.join(ids)}: {len(errors)} frames, "
          f"budget {args.budget} frames in stretches of {args.stretch}, min gap {args.min_gap}, "
          f"refine factor {args.refine_factor}")
    print(f"{'frames':<34}{'error rate (FP1+FP2+FN)':>24}")
    print(f"{'all frames':<34}{base:>24.3f}")
    print(f"{f'uncertainty picks ({frames} from {videos} clips)':<34}{uncertain:>24.3f}")
    print(f"{f'random picks (mean of {len(randoms)} seeds)':<34}{random_mean:>24.3f}"
          f"   (standard error {random_sem:.3f}; min {min(randoms):.3f}, max {max(randoms):.3f})")
    ratio = uncertain / random_mean if random_mean else float("inf")
    print(f"uncertainty / random: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
