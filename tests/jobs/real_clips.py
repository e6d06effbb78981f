"""Running the real jobs on one shared real clip and scoring it (for the real-clip tests)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from jobs.common.config import load_config
from jobs.evaluate import EvaluateConfig
from jobs.evaluate import run as evaluate
from jobs.infer import EXIT_OK, InferConfig, RunReport, run_inference

REPO = Path(__file__).resolve().parents[2]


def infer_and_score(clips: Path, clip: str, work: Path, *overrides: str) -> tuple[RunReport, pd.Series]:
    """jobs.infer (conf/infer.yaml + overrides) then jobs.evaluate on `clips/<clip>.mp4`: the run's report
    and the clip's row of the TrackNet-protocol table, asserting every labelled frame was scored."""
    folder = work / "clips"
    folder.mkdir()
    for suffix in (".mp4", ".csv"):
        (folder / f"{clip}{suffix}").symlink_to(clips / f"{clip}{suffix}")
    predictions = work / "predictions"
    report = run_inference(load_config(InferConfig, REPO / "conf" / "infer.yaml", [
        f"input={folder}", f"output={predictions}", *overrides,
    ]))
    assert report.exit_code == EXIT_OK
    table, no_labels, no_predictions = evaluate(load_config(EvaluateConfig, REPO / "conf" / "evaluate.yaml", [
        f"predictions={predictions}", f"labels={folder}",
    ]))
    assert (no_labels, no_predictions) == ([], [])
    row = table[table["video_id"] == clip].iloc[0]
    labelled = len((clips / f"{clip}.csv").read_text().splitlines()) - 1
    assert row["tp"] + row["fp1"] + row["fp2"] + row["fn"] + row["tn"] == labelled, table.to_string()  # every frame
    return report, row
