"""Learning works: featurize + train on synthetic clips on CPU, then score a clip the model never saw.

    python benchmarks/train_synthetic.py [--out out/bench_train_synthetic] [--clips 12] [--frames 120]
        [key=value ...]

Makes `--clips` training clips and one validation clip (512x288) with tracknet.synth
(seeds 100+i and 500), then runs jobs.featurize with conf/featurize.yaml and jobs.train
with conf/train.yaml (trailing key=value arguments override it, e.g. epochs=8) on local
Ray, exactly as the CLI would: random crops around the ball plus negatives, flips,
colour jitter, validation F1 per epoch on the validation clip. Then it scores the
exported model.pt on a third clip (seed 999) that was never featurized: decode with
PyAV at model size, non-overlapping windows through `to_model_input`, threshold 0.5,
largest blob, TrackNet protocol at 512x288 with 4 px tolerance. Prints precision,
recall and F1 on the unseen clip and the wall time of each stage; exits 1 below F1 0.8.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import ray  # noqa: E402

from jobs import featurize, train  # noqa: E402
from jobs.common.config import load_config  # noqa: E402
from jobs.featurize import FeaturizeConfig  # noqa: E402
from jobs.train import TrainConfig  # noqa: E402
from tracknet.checkpoint import load_checkpoint  # noqa: E402
from tracknet.heatmap import decode_to_source  # noqa: E402
from tracknet.labels import read_labels  # noqa: E402
from tracknet.metrics import Confusion, confusion  # noqa: E402
from tracknet.preprocess import to_model_input  # noqa: E402
from tracknet.synth import SynthConfig, write_clip  # noqa: E402
from tracknet.video import iter_frames, probe  # noqa: E402


def make_clips(folder: Path, seeds: list[int], prefix: str, args: argparse.Namespace) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(seeds):
        write_clip(folder / f"{prefix}_{i:03d}.mp4",
                   SynthConfig(width=args.clip_width, height=args.clip_height, frames=args.frames, seed=seed))


def score_clip(model_path: str, video: Path, threshold: float = 0.5) -> Confusion:
    """TrackNet-protocol confusion of a model on one labelled clip, non-overlapping windows."""
    loaded = load_checkpoint(model_path)
    model, config = loaded.model, loaded.model.config
    info = probe(video)
    size, source = (config.width, config.height), (info.width, info.height)
    labels = read_labels(video.with_suffix(".csv"), source).set_index("frame")
    pred_visible, pred_xy, frames = [], [], []
    window: list[np.ndarray] = []
    indices: list[int] = []
    for frame in iter_frames(video, size=size):
        window.append(frame.image)
        indices.append(frame.index)
        if len(window) < config.frames_in:
            continue
        heatmaps = model.predict(torch.from_numpy(to_model_input(window))[None])[0].numpy()  # (F, H, W)
        for index, heatmap in zip(indices, heatmaps):
            detection = decode_to_source(heatmap, source, threshold)
            pred_visible.append(detection.visible)
            pred_xy.append((detection.x, detection.y))
            frames.append(index)
        window, indices = [], []
    truth = labels.loc[frames]
    return confusion(
        np.array(pred_visible), np.array(pred_xy), truth["visible"].to_numpy(),
        truth[["x_px", "y_px"]].to_numpy(), source,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/bench_train_synthetic")
    parser.add_argument("--clips", type=int, default=12, help="training clips")
    parser.add_argument("--frames", type=int, default=120, help="frames per clip")
    parser.add_argument("--clip-width", type=int, default=512)
    parser.add_argument("--clip-height", type=int, default=288)
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="overrides of conf/train.yaml")
    args = parser.parse_args()

    out = Path(args.out).resolve()
    if out.exists():
        shutil.rmtree(out)
    started = time.perf_counter()
    make_clips(out / "clips", [100 + i for i in range(args.clips)], "train", args)
    make_clips(out / "clips", [500], "val", args)
    make_clips(out / "unseen", [999], "unseen", args)
    clips_s = time.perf_counter() - started

    featurize_config = load_config(FeaturizeConfig, REPO / "conf" / "featurize.yaml", [
        f"input={out / 'clips'}", f"output={out / 'features'}", "split.val_videos=[val_000]",
    ])
    config = load_config(TrainConfig, REPO / "conf" / "train.yaml", [
        f"windows={out / 'features'}", "run_name=synthetic", f"storage_path={out / 'runs'}",
        f"output={out / 'models'}", *args.overrides,
    ])
    # One CPU per training worker plus two for Ray Data's decoding and augmentation.
    ray.init(num_cpus=config.num_workers + 2, include_dashboard=False, log_to_driver=True)
    started = time.perf_counter()
    report = featurize.run(featurize_config)
    featurize_s = time.perf_counter() - started
    print(featurize.format_report(report))

    started = time.perf_counter()
    result = train.run(config)
    train_s = time.perf_counter() - started
    ray.shutdown()

    started = time.perf_counter()
    unseen = score_clip(result.model_uri, out / "unseen" / "unseen_000.mp4")
    score_s = time.perf_counter() - started
    best = result.best
    print()
    print(f"clips: {args.clips} train + 1 val ({args.frames} frames, {args.clip_width}x{args.clip_height}) "
          f"in {clips_s:.0f} s; featurize {featurize_s:.0f} s ({report.windows} windows)")
    print(f"train: {config.epochs} epochs, width_mult {config.model.width_mult}, crops "
          f"{config.augment.crop_width}x{config.augment.crop_height}, {config.num_workers} worker(s) x "
          f"{config.torch_threads} threads: {train_s:.0f} s ({train_s / 60:.1f} min); best epoch {best['epoch']} "
          f"val F1 {best.get('val_f1', float('nan')):.3f}")
    print(f"unseen clip (seed 999, {unseen.frames} frames): precision {unseen.precision:.3f} "
          f"recall {unseen.recall:.3f} F1 {unseen.f1:.3f}  [tp {unseen.tp} fp1 {unseen.fp1} fp2 {unseen.fp2} "
          f"fn {unseen.fn} tn {unseen.tn}] scored in {score_s:.0f} s")
    print(f"model: {result.model_uri}")
    return 0 if unseen.f1 >= 0.8 else 1


if __name__ == "__main__":
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    sys.exit(main())
