"""Validation metrics of a model on the held-out badminton clips, through the real jobs.

    python benchmarks/badminton_validation.py [--model PATH] [--out DIR] [key=value ...]

Takes the validation clip ids from conf/featurize_badminton.yaml (`split.val_videos`, the
split the model was trained with), links those clips and their labels into `<out>/clips`,
runs `jobs.infer` on them (conf/infer.yaml plus any trailing key=value overrides, e.g.
predictor.threshold=0.4) and then `jobs.evaluate` (TrackNet protocol, 4 px at 512x288). Prints the
per-clip and overall table and the inference job's end-to-end frames/s (including Ray
start-up and writing outputs). Exits 1 when the shared clips are absent.
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
from tracknet.weights import default_checkpoint_path  # noqa: E402

BADMINTON = REPO.parent / "shared" / "data" / "badminton" / "clips"


def validation_ids() -> list[str]:
    config = yaml.safe_load((REPO / "conf" / "featurize_badminton.yaml").read_text())
    return list(config["split"]["val_videos"])


def link_clips(data: Path, ids: list[str], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for clip_id in ids:
        for suffix in (".mp4", ".csv"):
            link = folder / f"{clip_id}{suffix}"
            if not link.exists():
                link.symlink_to((data / f"{clip_id}{suffix}").resolve())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(default_checkpoint_path()), help="checkpoint (default: packaged)")
    parser.add_argument("--data", default=str(BADMINTON), help="folder of the shared badminton clips")
    parser.add_argument("--out", default=str(REPO / "out" / "eval" / "badminton"), help="work folder")
    parser.add_argument("overrides", nargs="*", help="jobs.infer key=value overrides")
    args = parser.parse_args()
    data, out = Path(args.data), Path(args.out)
    if not data.is_dir():
        print(f"no badminton clips at {data}", file=sys.stderr)
        return 1

    ids = validation_ids()
    link_clips(data, ids, out / "clips")
    predictions = out / "predictions"
    infer_config = load_config(InferConfig, REPO / "conf" / "infer.yaml", [
        f"input={out / 'clips'}", f"output={predictions}", f"model={args.model}", "overwrite=true", *args.overrides,
    ])
    report = run_inference(infer_config)
    frames = sum(row.get("frames") or 0 for row in report.rows if row["status"] == "ok")

    eval_config = load_config(evaluate.EvaluateConfig, REPO / "conf" / "evaluate.yaml", [
        f"predictions={predictions}", f"labels={out / 'clips'}",
    ])
    table, _, missing = evaluate.run(eval_config)
    print(f"model: {args.model} ({report.model_version}); validation clips: {', '.join(ids)}")
    print(evaluate.format_table(table, eval_config))
    if missing:
        print(f"clips without predictions: {', '.join(missing)}")
    print(f"jobs.infer end to end: {frames} frames in {report.wall_s:.1f} s ({frames / report.wall_s:.1f} frames/s, "
          f"Ray start-up and output writing included; overrides: {' '.join(args.overrides) or 'none'})")
    return 0 if not missing and report.count("failed") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
