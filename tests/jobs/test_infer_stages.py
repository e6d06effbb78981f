"""Predict once, derive the rest: a re-run does exactly the missing stages, and a crash in any
stage leaves nothing a later run takes as done."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from jobs.common import outputs
from jobs.common.inputs import list_videos
from jobs.common.ledger import RunLedger
from jobs.common.outputs import PLAYER_SIDES, OutputLayout
from jobs.infer import EXIT_OK, run_inference
from jobs.infer.analysis import analyze_video, broadcast_config
from jobs.infer.finish import FinishContext, finish_video
from jobs.infer.pipeline import VideoJob
from jobs.infer.stages import plan_video, stage_keys, wanted_outputs
from tests.jobs.test_infer import infer_config, tiny_checkpoint
from tracknet.checkpoint import load_checkpoint
from tracknet.inference import Predictor
from tracknet.labels import read_labels
from tracknet.model_defaults import ModelDefaults
from tracknet.synth import SynthConfig, write_clip
from tracknet.video import probe

BALL_COLUMNS = ["frame", "timestamp_s", "visible", "x", "y", "score", "raw_visible", "raw_x", "raw_y"]


@pytest.fixture(scope="module")
def court_videos(tmp_path_factory) -> tuple[Path, Path]:
    """Two broadcast-like clips (court, players, a cut-away) and a tiny model."""
    root = tmp_path_factory.mktemp("stage_videos")
    videos = root / "videos"
    videos.mkdir()
    for name, seed in (("a", 4), ("b", 9)):
        path = videos / f"{name}.mp4"
        write_clip(path, SynthConfig(width=320, height=180, frames=90, seed=seed, court="badminton", cutaways=1,
                                     cutaway_frames=(20, 25), truth=True))
        for suffix in (".csv", ".players.csv", ".shots.csv"):
            path.with_suffix(suffix).unlink()
    model = root / "model.pt"
    tiny_checkpoint(model)
    return videos, model


def _stat(path: Path) -> tuple[int, bytes]:
    return path.stat().st_mtime_ns, path.read_bytes()


def test_new_outputs_and_players_never_rerun_the_model(court_videos, tmp_path, ray_local):
    videos, model = court_videos
    out = tmp_path / "out"
    layout = OutputLayout(str(out))

    def run(*overrides: str):
        report = run_inference(infer_config(str(videos), str(out), str(model), "segment_frames=24", *overrides))
        assert report.exit_code == EXIT_OK, [row.get("error") for row in report.rows]
        return report

    first = run()
    assert first.stage_counts("predict") == {"done": 2, "skipped": 0, "failed": 0}
    predictions = {v: Path(layout.predictions(v)) for v in ("a", "b")}
    before = {v: _stat(p) for v, p in predictions.items()}
    ball = {v: pq.read_table(p).to_pandas()[BALL_COLUMNS] for v, p in predictions.items()}

    # A new file output: JSON from the committed predictions; the model pass is not redone.
    second = run("outputs.json=true")
    assert second.stage_counts("predict") == {"done": 0, "skipped": 2, "failed": 0}
    assert second.stage_counts("json") == {"done": 2, "skipped": 0, "failed": 0}
    assert second.stage_counts("csv") == {"done": 0, "skipped": 2, "failed": 0}
    assert {v: _stat(p) for v, p in predictions.items()} == before  # not rewritten
    for video_id in ("a", "b"):
        document = json.loads(Path(layout.json(video_id)).read_text())
        assert [f["visible"] for f in document["frames"]] == ball[video_id]["visible"].tolist()

    # Overlays decode the source again but still run no model.
    third = run("outputs.json=true", "outputs.overlays=true")
    assert third.stage_counts("predict")["done"] == 0 and third.stage_counts("json")["done"] == 0
    assert third.stage_counts("overlay") == {"done": 2, "skipped": 0, "failed": 0}
    assert {v: _stat(p) for v, p in predictions.items()} == before
    assert probe(layout.overlay("a")).frame_count == 90

    # Players later: the analysis fills the prediction columns; the ball columns stay as they were,
    # and the outputs that show players (JSON, overlay) are redone while the CSV is not.
    fourth = run("outputs.json=true", "outputs.overlays=true", "shots.enabled=true", "players.enabled=true")
    assert fourth.stage_counts("predict") == {"done": 0, "skipped": 2, "failed": 0}
    assert fourth.stage_counts("analysis") == {"done": 2, "skipped": 0, "failed": 0}
    assert fourth.stage_counts("json")["done"] == 2 and fourth.stage_counts("overlay")["done"] == 2
    assert fourth.stage_counts("csv") == {"done": 0, "skipped": 2, "failed": 0}
    for video_id, path in predictions.items():
        table = pq.read_table(path).to_pandas()
        pd.testing.assert_frame_equal(table[BALL_COLUMNS], ball[video_id])
        assert table["court_view"].notna().all() and not table["court_view"].all()  # the cut-away
        assert table[f"{PLAYER_SIDES[0]}_x0"].notna().any()
        assert Path(layout.shots(video_id)).exists()
        frames = json.loads(Path(layout.json(video_id)).read_text())["frames"]
        assert "players" in frames[0] and "court_view" in frames[0]
    assert all(row["both_players_frames"] is not None for row in fourth.rows)

    # Nothing left to do; turning outputs off deletes nothing.
    fifth = run("shots.enabled=true", "players.enabled=true")
    assert [row["status"] for row in fifth.rows] == ["skipped", "skipped"]
    assert Path(layout.json("a")).exists() and Path(layout.overlay("a")).exists()
    assert fifth.rows[0]["both_players_frames"] == fourth.rows[0]["both_players_frames"]

    # Another detection setting redoes the model pass, and keeps the committed analysis columns.
    sixth = run("predictor.threshold=0.45")
    assert sixth.stage_counts("predict") == {"done": 2, "skipped": 0, "failed": 0}
    table = pq.read_table(predictions["a"]).to_pandas()
    assert table["court_view"].notna().all()
    assert RunLedger(str(out)).read("a").stage_key("analysis") is not None


class Killed(BaseException):
    """The worker dies (not an Exception: nothing in the job catches it)."""


@pytest.mark.parametrize(
    "stage, killed_at",
    [
        ("predict", "shots"),  # predictions committed, shots table not: no predict entry
        ("analysis", "shots"),
        ("csv", "csv"),
        ("json", "json"),
        ("overlay", "clips"),  # overlay committed, a clip not: neither entry
    ],
)
def test_a_crash_in_any_stage_leaves_nothing_trusted(court_videos, tmp_path, monkeypatch, ray_local, stage,
                                                     killed_at):
    videos, model = court_videos
    out = tmp_path / "out"
    layout = OutputLayout(str(out))
    everything = ("shots.enabled=true", "players.enabled=true", "outputs.json=true", "outputs.overlays=true",
                  "outputs.clips=true")
    before = {"predict": (), "analysis": ()}.get(stage)
    if before is None:  # the model and analysis stages done by an earlier run, the outputs not
        run_inference(infer_config(str(videos), str(out), str(model), "shots.enabled=true", "players.enabled=true",
                                   "outputs.csv=false"))
    elif stage == "analysis":
        run_inference(infer_config(str(videos), str(out), str(model)))
    # The finish task of video "a", in this process, with the commit killed at `killed_at`; the config resolved
    # against the model's defaults as the job resolves it.
    loaded = load_checkpoint(model.read_bytes())
    config = infer_config(str(videos), str(out), str(model), *everything).for_model(
        ModelDefaults.from_metadata(loaded.metadata))
    video = next(v for v in list_videos(str(videos)).videos if v.video_id == "a")
    keys = stage_keys(config, loaded.model_version)
    plan = plan_video(video, RunLedger(str(out)).read("a"), keys, wanted_outputs(config), False)
    job = VideoJob(0, plan, probe(video.uri))
    found = Predictor(loaded, config.predictor).predict_video(video.uri, 90, (320, 180)) if plan.predict else None
    analysis = analyze_video(video.uri, job.info, broadcast_config(config), None) if plan.analysis else None
    ctx = FinishContext(str(out), config.storage, config.outputs, config.cleanup, loaded.model_version, keys, "crashed")
    real_commit = outputs.commit

    def dying_commit(files, storage_config=None):
        for local, uri in files:
            if f"/{killed_at}/" in uri:
                raise Killed(uri)
            real_commit([(local, uri)], storage_config)

    monkeypatch.setattr(outputs, "commit", dying_commit)
    with pytest.raises(Killed):
        finish_video(job, found, analysis, ctx)
    monkeypatch.undo()

    record = RunLedger(str(out)).read("a")
    assert record is None or stage not in record.stages or record.stages[stage].run_id != "crashed"
    if stage == "overlay":
        assert Path(layout.overlay("a")).exists()  # whole, committed, but not recorded
        assert "clips" not in (record.stages if record else {})

    # The next run redoes that stage and ends with every output whole.
    report = run_inference(config)
    assert report.exit_code == EXIT_OK, [row.get("error") for row in report.rows]
    row = next(row for row in report.rows if row["video_id"] == "a")
    assert row[stage] == "done"
    record = RunLedger(str(out)).read("a")
    assert set(record.stages) == {"predict", "analysis", "csv", "json", "overlay", "clips"}
    table = pq.read_table(layout.predictions("a")).to_pandas()
    assert table["frame"].tolist() == list(range(90)) and table["court_view"].notna().all()
    assert read_labels(Path(layout.csv("a")))["frame"].tolist() == list(range(90))
    assert len(json.loads(Path(layout.json("a")).read_text())["frames"]) == 90
    assert probe(layout.overlay("a")).frame_count == 90
    shots = pq.read_table(layout.shots("a")).to_pandas()
    clips = sorted(Path(out, "clips", "a").glob("*.mp4"))
    assert len(clips) == int(shots["court_view"].sum())
    assert np.array_equal(
        [probe(str(c)).frame_count for c in clips], shots.loc[shots["court_view"], "frames"].to_numpy()
    )
