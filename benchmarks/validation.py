"""Validation metrics of a packaged sport's model on its held-out clips, through the real jobs.

    python benchmarks/validation.py [--sport badminton|tennis] [--model NAME|PATH] [--out DIR] [key=value ...]

Takes the clips and the validation ids from conf/featurize_<sport>.yaml (`input` and
`split.val_videos`, the split the model was trained with), links those clips and their labels
into `<out>/clips`, runs `jobs.infer` on them (conf/infer.yaml with `model=<sport>` unless
--model is given, plus any trailing key=value overrides, e.g. predictor.threshold=0.4) and
then `jobs.evaluate` (TrackNet protocol, 4 px at 512x288). Prints the per-clip and overall
table and the inference job's end-to-end frames/s (including Ray start-up and writing
outputs). Exits 1 when the shared clips are absent.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from jobs import evaluate  # noqa: E402
from jobs.common.config import load_config  # noqa: E402
from jobs.infer import InferConfig, run_inference  # noqa: E402

SPORTS = ("badminton", "tennis")


def featurize_config(sport: str) -> dict:
    return yaml.safe_load((REPO / "conf" / f"featurize_{sport}.yaml").read_text())


def link_clips(data: Path, ids: list[str], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for clip_id in ids:
        for suffix in (".mp4", ".csv"):
            link = folder / f"{clip_id}{suffix}"
            if not link.exists():
                link.symlink_to((data / f"{clip_id}{suffix}").resolve())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sport", choices=SPORTS, default="badminton", help="whose clips and packaged model")
    parser.add_argument("--model", help="packaged model name or checkpoint path (default: the sport's)")
    parser.add_argument("--data", help="folder of the shared clips (default: conf/featurize_<sport>.yaml's input)")
    parser.add_argument("--out", help="work folder (default: out/eval/<sport>)")
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
    link_clips(data, ids, out / "clips")
    predictions = out / "predictions"
    infer_config = load_config(InferConfig, REPO / "conf" / "infer.yaml", [
        f"input={out / 'clips'}", f"output={predictions}", f"model={model}", "overwrite=true", *args.overrides,
    ])
    report = run_inference(infer_config)
    frames = sum(row.get("frames") or 0 for row in report.rows if row["status"] == "ok")

    eval_config = load_config(evaluate.EvaluateConfig, REPO / "conf" / "evaluate.yaml", [
        f"predictions={predictions}", f"labels={out / 'clips'}",
    ])
    table, _, missing = evaluate.run(eval_config)
    print(f"model: {model} ({report.model_version}); {args.sport} validation clips: {', '.join(ids)}")
    print(evaluate.format_table(table, eval_config))
    if missing:
        print(f"clips without predictions: {', '.join(missing)}")
    print(f"jobs.infer end to end: {frames} frames in {report.wall_s:.1f} s ({frames / report.wall_s:.1f} frames/s, "
          f"Ray start-up and output writing included; overrides: {' '.join(args.overrides) or 'none'})")
    return 0 if not missing and report.count("failed") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
