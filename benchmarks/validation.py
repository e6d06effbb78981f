"""Validation metrics of a packaged sport's model on its held-out clips, through the real jobs.

    python benchmarks/validation.py [--sport badminton|tennis] [--model NAME|PATH] [--out DIR]
        [--versus "key=value ..."] [--rounds 1] [key=value ...]

Takes the clips and the validation ids from conf/featurize_<sport>.yaml (`input` and
`split.val_videos`, the split the model was trained with), links those clips and their labels
into `<out>/clips`, runs `jobs.infer` on them (conf/infer.yaml with `model=<sport>` unless
--model is given, plus any trailing key=value overrides, e.g. predictor.threshold=0.4) and
then `jobs.evaluate` (TrackNet protocol, 4 px at 512x288). Prints the per-clip and overall
table and the inference job's end-to-end frames/s (including Ray start-up and writing
outputs). Exits 1 when the shared clips are absent.

`--versus` compares two settings in one run: the trailing overrides ("shipped") and the same
plus the --versus overrides ("versus", e.g. `--versus "predictor.runtime=torch
predictor.precision=fp32"`). Ray is started first, so neither pays for it; the two then take
turns for `--rounds` rounds (load from other work hits both alike), and a table prints each
one's median wall time, frames/s, speed-up over the versus settings, precision, recall and F1.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from jobs import evaluate  # noqa: E402
from jobs.common.config import load_config  # noqa: E402
from jobs.common.ray_env import init_ray  # noqa: E402
from jobs.infer import InferConfig, run_inference  # noqa: E402

SPORTS = ("badminton", "tennis")


@dataclass(frozen=True)
class Run:
    """One jobs.infer run over the clips and its evaluation."""

    wall_s: float
    frames: int
    table: pd.DataFrame  # the jobs.evaluate table, one row per clip and the overall row
    text: str  # the table as jobs.evaluate prints it
    model_version: str
    failed: int
    missing: list[str]

    @property
    def overall(self) -> pd.Series:
        return self.table[self.table["video_id"] == evaluate.OVERALL].iloc[0]


def featurize_config(sport: str) -> dict:
    return yaml.safe_load((REPO / "conf" / f"featurize_{sport}.yaml").read_text())


def link_clips(data: Path, ids: list[str], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for clip_id in ids:
        for suffix in (".mp4", ".csv"):
            link = folder / f"{clip_id}{suffix}"
            if not link.exists():
                link.symlink_to((data / f"{clip_id}{suffix}").resolve())


def infer_and_evaluate(clips: Path, predictions: Path, model: str, overrides: list[str]) -> Run:
    report = run_inference(load_config(InferConfig, REPO / "conf" / "infer.yaml", [
        f"input={clips}", f"output={predictions}", f"model={model}", "overwrite=true", *overrides,
    ]))
    frames = sum(row.get("frames") or 0 for row in report.rows if row["status"] == "ok")
    eval_config = load_config(evaluate.EvaluateConfig, REPO / "conf" / "evaluate.yaml", [
        f"predictions={predictions}", f"labels={clips}",
    ])
    table, _, missing = evaluate.run(eval_config)
    return Run(report.wall_s, frames, table, evaluate.format_table(table, eval_config), report.model_version,
               report.count("failed"), missing)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sport", choices=SPORTS, default="badminton", help="whose clips and packaged model")
    parser.add_argument("--model", help="packaged model name or checkpoint path (default: the sport's)")
    parser.add_argument("--data", help="folder of the shared clips (default: conf/featurize_<sport>.yaml's input)")
    parser.add_argument("--out", help="work folder (default: out/eval/<sport>)")
    parser.add_argument("--versus", help="jobs.infer overrides to compare against, in one quoted argument")
    parser.add_argument("--rounds", type=int, default=1, help="with --versus: rounds of the two in turns (median)")
    parser.add_argument("overrides", nargs="*", help="jobs.infer key=value overrides")
    args = parser.parse_args()
    featurize = featurize_config(args.sport)
    model = args.model or args.sport
    data = Path(args.data) if args.data else (REPO / featurize["input"]).resolve()
    out = Path(args.out) if args.out else REPO / "out" / "eval" / args.sport
    if not data.is_dir():
        print(f"no {args.sport} clips at {data}", file=sys.stderr)
        return 1

    ids = list(featurize["split"]["val_videos"])
    clips = out / "clips"
    link_clips(data, ids, clips)
    if args.versus is None:
        run = infer_and_evaluate(clips, out / "predictions", model, args.overrides)
        print(f"model: {model} ({run.model_version}); {args.sport} validation clips: {', '.join(ids)}")
        print(run.text)
        if run.missing:
            print(f"clips without predictions: {', '.join(run.missing)}")
        print(f"jobs.infer end to end: {run.frames} frames in {run.wall_s:.1f} s "
              f"({run.frames / run.wall_s:.1f} frames/s, Ray start-up and output writing included; "
              f"overrides: {' '.join(args.overrides) or 'none'})")
        return 0 if not run.missing and run.failed == 0 else 1

    settings = {"shipped": args.overrides, "versus": [*args.overrides, *shlex.split(args.versus)]}
    init_ray()
    runs: dict[str, list[Run]] = {name: [] for name in settings}
    for _ in range(args.rounds):
        for name, overrides in settings.items():
            runs[name].append(infer_and_evaluate(clips, out / f"predictions-{name}", model, overrides))
    walls = {name: statistics.median(r.wall_s for r in runs[name]) for name in settings}
    print(f"model: {model}; {args.sport} validation clips: {', '.join(ids)}; {args.rounds} round(s), "
          "median wall time, Ray already started")
    print(f"{'settings':<10}{'wall s':>8}{'frames/s':>10}{'speed-up':>10}{'P':>7}{'R':>7}{'F1':>7}  overrides")
    for name, overrides in settings.items():
        last = runs[name][-1]
        frames, overall = last.frames, last.overall
        print(f"{name:<10}{walls[name]:>8.1f}{frames / walls[name]:>10.1f}{walls['versus'] / walls[name]:>9.2f}x"
              f"{overall['precision']:>7.3f}{overall['recall']:>7.3f}{overall['f1']:>7.3f}  {' '.join(overrides) or '-'}")
    return 0 if all(not r.missing and r.failed == 0 for rs in runs.values() for r in rs) else 1


if __name__ == "__main__":
    sys.exit(main())
