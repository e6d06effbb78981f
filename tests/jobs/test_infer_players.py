"""jobs.infer with shot splitting and players: new columns, shots table, JSON, overlay, clips, summary."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from jobs.common.config import ConfigError, load_config
from jobs.common.outputs import PLAYER_FIELDS, PLAYER_SIDES, SHOTS_SCHEMA, OutputLayout
from jobs.infer import EXIT_OK, EXIT_USAGE, InferConfig, main, run_inference
from tests.jobs.test_infer import CONF, assert_every_frame_once, infer_config, read_predictions, tiny_checkpoint
from tracknet.synth import SynthConfig, write_clip
from tracknet.video import iter_frames, probe


@pytest.fixture(scope="module")
def cut_videos(tmp_path_factory):
    """Two clips with cut-aways (one split over several segments) and their true shots."""
    root = tmp_path_factory.mktemp("cut_videos")
    videos = root / "videos"
    videos.mkdir()
    truths = {}
    for name, seed in (("season=2025/rally", 4), ("second", 9)):
        path = videos / f"{name}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_clip(path, SynthConfig(width=320, height=180, frames=120, seed=seed, court="badminton", cutaways=1,
                                     cutaway_frames=(25, 30), truth=True))
        for suffix in (".csv", ".players.csv"):
            path.with_suffix(suffix).unlink()  # labels are not inputs of the job
        truths[name] = pd.read_csv(path.with_suffix(".shots.csv"))
        path.with_suffix(".shots.csv").unlink()
    model = root / "model.pt"
    tiny_checkpoint(model)
    return videos, model, truths


def test_players_and_shots_end_to_end(cut_videos, tmp_path, ray_local):
    videos, model, truths = cut_videos
    out = tmp_path / "out"
    config = infer_config(
        str(videos), str(out), str(model), "segment_frames=24", "shots.enabled=true", "players.enabled=true",
        "outputs.json=true", "outputs.overlays=true", "outputs.clips=true", "num_actors=2",
    )
    report = run_inference(config)
    assert report.exit_code == EXIT_OK, [row.get("error") for row in report.rows]
    predictions = read_predictions(str(out))
    assert_every_frame_once(predictions, {name: 120 for name in truths})
    layout = OutputLayout(str(out))
    for video_id, truth in truths.items():
        rows = predictions[predictions["video_id"] == video_id].sort_values("frame")
        expected_shot = np.repeat(truth["shot"], truth["last_frame"] - truth["first_frame"] + 1)
        expected_court = np.repeat(truth["court_view"], truth["last_frame"] - truth["first_frame"] + 1)
        np.testing.assert_array_equal(rows["shot"], expected_shot)
        np.testing.assert_array_equal(rows["court_view"], expected_court)
        # Players only on court view; the feet point is the box's bottom centre.
        assert rows.loc[~rows["court_view"], [f"{s}_x0" for s in PLAYER_SIDES]].isna().all().all()
        court = rows[rows["court_view"]]
        both = court[["near_x0", "far_x0"]].notna().all(axis=1)
        assert both.mean() > 0.5  # plumbing here; accuracy is tested in tests/tracknet/test_players.py
        np.testing.assert_allclose(court["near_feet_x"], (court["near_x0"] + court["near_x1"]) / 2)
        np.testing.assert_allclose(court["near_feet_y"], court["near_y1"])
        assert (court.loc[both, "near_feet_y"] > court.loc[both, "far_feet_y"]).all()

        shots_path = layout.shots(video_id).removeprefix("file://")
        shots = pq.read_table(shots_path).to_pandas()
        assert pq.read_schema(shots_path).metadata[b"schema"] == SHOTS_SCHEMA.metadata[b"schema"]
        assert shots["first_frame"].tolist() == truth["first_frame"].tolist()
        assert shots["court_view"].tolist() == truth["court_view"].tolist()

        document = json.loads((out / "json" / f"{video_id}.json").read_text())
        assert [s["first_frame"] for s in document["shots"]] == truth["first_frame"].tolist()
        frame = next(f for f in document["frames"] if f["court_view"] and f["players"]["near"])
        assert set(frame["players"]["near"]) == set(PLAYER_FIELDS)
        assert all(f["players"] == {"near": None, "far": None} for f in document["frames"] if not f["court_view"])

        # Each court-view shot is a clip with exactly its frames, unchanged from the source.
        for shot in truth[truth["court_view"]].itertuples():
            clip = out / "clips" / video_id / f"shot_{shot.shot:04d}.mp4"
            info = probe(clip)
            assert info.frame_count == shot.last_frame - shot.first_frame + 1 and info.codec == "h264"
            first = next(iter(iter_frames(clip, 0, 1))).image
            source = next(iter(iter_frames(videos / f"{video_id}.mp4", shot.first_frame, shot.first_frame + 1))).image
            assert np.abs(first.astype(int) - source).mean() < 6
        assert not (out / "clips" / video_id / f"shot_{int(truth[~truth['court_view']]['shot'].iloc[0]):04d}.mp4").exists()

        # The overlay shows the boxes: it differs from the source inside court-view frames.
        overlay = next(iter(iter_frames(out / "overlays" / f"{video_id}.mp4", 0, 1))).image
        source = next(iter(iter_frames(videos / f"{video_id}.mp4", 0, 1))).image
        assert np.abs(overlay.astype(int) - source).max() > 100

    summary = pq.read_table(report.summary_uri.removeprefix("file://")).to_pandas().set_index("video_id")
    for video_id, truth in truths.items():
        court_frames = int((truth["last_frame"] - truth["first_frame"] + 1)[truth["court_view"]].sum())
        assert summary.loc[video_id, "shots"] == len(truth)
        assert summary.loc[video_id, "court_view_frames"] == court_frames
        assert 0.5 < summary.loc[video_id, "both_players_fraction"] <= 1.0


def test_without_shots_the_new_columns_are_null(cut_videos, tmp_path, ray_local):
    videos, model, truths = cut_videos
    out = tmp_path / "out"
    report = run_inference(infer_config(str(videos), str(out), str(model)))
    assert report.exit_code == EXIT_OK
    predictions = read_predictions(str(out))
    assert predictions["shot"].isna().all() and predictions["court_view"].isna().all()
    assert predictions["near_x0"].isna().all() and predictions["far_score"].isna().all()
    assert not (out / "shots").exists() and not (out / "clips").exists()
    summary = pq.read_table(report.summary_uri.removeprefix("file://")).to_pandas()
    assert summary["shots"].isna().all() and summary["both_players_fraction"].isna().all()


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["players.enabled=true"], "players.enabled needs shots.enabled"),
        (["outputs.clips=true"], "outputs.clips needs shots.enabled"),
        (["shots.enabled=true", "players.enabled=true", "players.detector=onnx"], "players: detector 'onnx' needs onnx_model"),
        (["shots.court_iou=2"], "court_iou"),
        (["analysis.width=10"], "analysis.width"),
    ],
)
def test_bad_players_config_is_named(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(InferConfig, CONF, ["input=in", "output=out", *overrides])


def test_missing_onnx_model_exits_2_naming_it(cut_videos, tmp_path, capsys):
    videos, model, _ = cut_videos
    args = ["--config", str(CONF), f"input={videos}", f"output={tmp_path / 'out'}", f"model={model}",
            "shots.enabled=true", "players.enabled=true", "players.detector=onnx",
            f"players.onnx_model={tmp_path / 'people.onnx'}"]
    assert main(args) == EXIT_USAGE
    assert "people.onnx: ONNX person detection model not found" in capsys.readouterr().err
