"""The whole workflow on the embedded default: local Ray, local files, no cloud account.

    python -m jobs.demo [--out out/demo] [--court badminton|tennis|random]   (what `make demo` runs)

Writes synthetic broadcast clips (badminton unless --court says otherwise), featurizes the training clips, trains a small
TrackNet briefly, runs batch inference (parquet, CSV, overlays) on held-out
clips, and evaluates it against their exact labels. Each step is the real job,
called with the repository's conf/*.yaml plus overrides, exactly as on a cluster.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from jobs import evaluate, featurize, infer, train
from tracknet.synth import SynthConfig, write_clip

CONF = Path(__file__).resolve().parents[1] / "conf"


def _step(name: str, job: Callable[[Sequence[str]], int], argv: list[str]) -> None:
    print(f"\n=== {name}: python -m jobs.{name} {' '.join(argv)}", flush=True)
    started = time.monotonic()
    code = job(argv)
    if code != 0:
        raise SystemExit(f"demo: {name} failed with exit code {code}")
    print(f"=== {name} done in {time.monotonic() - started:.0f} s", flush=True)


def write_clips(folder: Path, seeds: range, config: SynthConfig) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        write_clip(folder / f"rally_{seed:03d}.mp4", dataclasses.replace(config, seed=seed))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/demo", help="folder for every output (replaced on each run)")
    parser.add_argument("--train-clips", type=int, default=8, help="synthetic clips to train on")
    parser.add_argument("--test-clips", type=int, default=2, help="held-out synthetic clips to run inference on")
    parser.add_argument("--epochs", type=int, default=10, help="training epochs")
    # One sport: a tennis ball at this clip size is about 2 px across and several times faster
    # than a shuttle, too hard for a 10-epoch demo model next to badminton clips.
    parser.add_argument("--court", default="badminton", choices=("badminton", "tennis", "random"),
                        help="the synthetic clips' sport (default badminton; random: per clip)")
    args = parser.parse_args(argv)

    started = time.monotonic()
    out = Path(args.out).resolve()
    shutil.rmtree(out, ignore_errors=True)
    clip = SynthConfig(width=640, height=360, frames=150, court=args.court)
    print(f"writing {args.train_clips} training and {args.test_clips} test clips ({args.court}, {clip.width}x{clip.height}) "
          f"to {out}/clips")
    write_clips(out / "clips" / "train", range(args.train_clips), clip)
    write_clips(out / "clips" / "test", range(1000, 1000 + args.test_clips), clip)

    _step("featurize", featurize.main, [
        "--config", str(CONF / "featurize.yaml"), f"input={out}/clips/train", f"output={out}/features",
    ])
    _step("train", train.main, [
        "--config", str(CONF / "train.yaml"), f"windows={out}/features", f"storage_path={out}/runs",
        f"output={out}/models", "run_name=demo", f"epochs={args.epochs}",
    ])
    _step("infer", infer.main, [
        "--config", str(CONF / "infer.yaml"), f"input={out}/clips/test", f"output={out}/infer",
        f"model={out}/models/demo/model.pt", "outputs.overlays=true", "outputs.json=true",
    ])
    _step("evaluate", evaluate.main, [
        "--config", str(CONF / "evaluate.yaml"), f"predictions={out}/infer", f"labels={out}/clips/test",
    ])

    table = pd.read_parquet(out / "infer" / "evaluation" / "evaluation.parquet").set_index("video_id")
    overall = table.loc[evaluate.OVERALL]
    print(f"\nDemo finished in {time.monotonic() - started:.0f} s. Outputs:")
    print(f"  model:        {out}/models/demo/model.pt (+ training_curve.png)")
    print(f"  predictions:  {out}/infer/predictions/   (parquet, one row per frame)")
    print(f"  CSV:          {out}/infer/csv/            (TrackNet Frame,Visibility,X,Y)")
    print(f"  overlays:     {out}/infer/overlays/       (H.264 with ball and trail)")
    print(f"  evaluation:   {out}/infer/evaluation/     (evaluation.parquet, report.png)")
    print(f"Held-out clips: precision {overall['precision']:.3f}, recall {overall['recall']:.3f}, F1 {overall['f1']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
