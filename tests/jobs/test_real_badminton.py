"""The shipped default model on a real broadcast clip it was validated on (skipped without the shared clips)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.common.config import load_config
from jobs.evaluate import EvaluateConfig
from jobs.evaluate import run as evaluate
from jobs.infer import EXIT_OK, InferConfig, run_inference

REPO = Path(__file__).resolve().parents[2]
CLIPS = REPO.parent / "shared" / "data" / "badminton" / "clips"
CLIP = "00040"  # validation split (conf/featurize_badminton.yaml); the shortest held-out clip

# tracknet/weights/badminton.md measures F1 0.956 on this clip, with flip_tta (as conf/infer.yaml
# ships) and without (the previous default, without the background input: 0.882). The floor leaves
# room for kernel and thread-count differences between machines, and still fails a model, a
# pre-processing or a background change that loses the shuttle.
F1_FLOOR = 0.88

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CLIPS.is_dir(), reason=f"shared badminton clips not found at {CLIPS}")]


def test_default_model_tracks_the_shuttlecock_on_a_held_out_clip(ray_local, tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    for suffix in (".mp4", ".csv"):
        (clips / f"{CLIP}{suffix}").symlink_to(CLIPS / f"{CLIP}{suffix}")
    predictions = tmp_path / "predictions"
    report = run_inference(load_config(InferConfig, REPO / "conf" / "infer.yaml", [
        f"input={clips}", f"output={predictions}",
    ]))
    assert report.exit_code == EXIT_OK

    table, no_labels, no_predictions = evaluate(load_config(EvaluateConfig, REPO / "conf" / "evaluate.yaml", [
        f"predictions={predictions}", f"labels={clips}",
    ]))
    assert (no_labels, no_predictions) == ([], [])
    row = table[table["video_id"] == CLIP].iloc[0]
    labelled = len((CLIPS / f"{CLIP}.csv").read_text().splitlines()) - 1
    assert row["tp"] + row["fp1"] + row["fp2"] + row["fn"] + row["tn"] == labelled  # every frame scored
    assert row["f1"] >= F1_FLOOR, table.to_string()
