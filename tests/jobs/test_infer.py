"""jobs.infer end to end: real clips, local Ray, local folders and a real S3 server (moto)."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from jobs.common import storage
from jobs.common.config import ConfigError, load_config
from jobs.common.ledger import RunLedger
from jobs.common.outputs import PREDICTIONS_SCHEMA, OutputLayout, hive_partitions
from jobs.common.storage import StorageConfig
from jobs.infer import EXIT_OK, EXIT_USAGE, InferConfig, InputError, list_videos, main, run_inference
from tracknet.checkpoint import save_checkpoint
from tracknet.inference import Predictor
from tracknet.labels import LabelFormat, detect_format, read_labels
from tracknet.model import ModelConfig, TrackNet
from tracknet.predictor_settings import PredictorSettings
from tracknet.synth import SynthConfig, write_clip
from tracknet.video import probe

CONF = Path(__file__).resolve().parents[2] / "conf" / "infer.yaml"
TINY_MODEL = ModelConfig(width_mult=0.125, height=64, width=96)


# ---------------------------------------------------------------- helpers shared by the infer test modules


def tiny_checkpoint(path: Path, seed: int = 0) -> str:
    """Save an untrained tiny TrackNet; returns its model version."""
    torch.manual_seed(seed)
    return save_checkpoint(path, TrackNet(TINY_MODEL), name=f"tiny{seed}")


def make_clip(path: Path, width: int = 160, height: int = 96, frames: int = 30, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_clip(path, SynthConfig(width=width, height=height, frames=frames, seed=seed))
    path.with_suffix(".csv").unlink()  # labels are not inputs of the job
    return path


def infer_config(input_uri: str, output_uri: str, model: str, *overrides: str) -> InferConfig:
    base = [f"input={input_uri}", f"output={output_uri}", f"model={model}", "predictor.batch_size=4", "chunk_frames=12",
            "predictor.device=cpu"]
    return load_config(InferConfig, CONF, [*base, *overrides])


def job_settings(*overrides: str) -> PredictorSettings:
    """The predictor settings jobs.infer runs with under infer_config (the shipped conf, CPU, batch 4)."""
    return infer_config("videos", "out", "model.pt", *overrides).predictor


def read_predictions(output_uri: str, storage_config: StorageConfig | None = None) -> pd.DataFrame:
    fs, path = storage.resolve(OutputLayout(output_uri).predictions_root(), storage_config)
    return pq.read_table(path, filesystem=fs).to_pandas()


def assert_every_frame_once(predictions: pd.DataFrame, frame_counts: dict[str, int]) -> None:
    assert sorted(predictions["video_id"].unique()) == sorted(frame_counts)
    for video_id, count in frame_counts.items():
        frames = predictions.loc[predictions["video_id"] == video_id, "frame"].to_numpy()
        assert sorted(frames.tolist()) == list(range(count)), video_id


def by_video(rows: list[dict]) -> dict[str, dict]:
    return {row["video_id"]: row for row in rows}


# ---------------------------------------------------------------- config and listing


def test_conf_file_maps_onto_config():
    config = load_config(InferConfig, CONF, ["input=in", "output=out"])
    assert config == InferConfig(input="in", output="out")


@pytest.mark.parametrize(
    "override,message",
    [
        ("predictor.batch_size=0", "batch_size must be >= 1"),
        ("predictor.device=cuda", "needs gpus_per_actor > 0"),
        ("predictor.threshold=1.5", "threshold must be in"),
        ("cleanup.max_jump_px=0", "max_jump_px must be > 0"),
        ("outputs.overlay=true", "unknown key 'outputs.overlay'"),
    ],
)
def test_bad_config_is_named(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(InferConfig, CONF, ["input=in", "output=out", override])


def test_usage_errors_exit_2(tmp_path, capsys):
    model = tmp_path / "m.pt"
    tiny_checkpoint(model)
    make_clip(tmp_path / "videos" / "a.mp4", frames=3)
    (tmp_path / "empty").mkdir()
    out = f"output={tmp_path / 'out'}"
    cases = [
        ([f"input={tmp_path / 'missing'}", out, f"model={model}"], "no such file or folder"),
        ([f"input={tmp_path / 'empty'}", out, f"model={model}"], "no videos found"),
        ([f"input={tmp_path / 'videos'}", out, f"model={tmp_path / 'nope.pt'}"], "nope.pt"),
        ([f"input={tmp_path / 'videos'}", out, "predictor.batch_size=-1"], "batch_size must be >= 1"),
        ([out], "input is required"),
    ]
    for args, message in cases:
        assert main(["--config", str(CONF), *args]) == EXIT_USAGE
        assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_list_videos_folder_glob_and_manifest(tmp_path):
    root = tmp_path / "arch"
    for rel in ("season=2024/final.mp4", "season=2024/semi.MOV", "2023/open/r1.mp4", "notes.txt"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x" * 3)
    folder = list_videos(str(root), (".mp4", ".mov"))
    assert [v.video_id for v in folder.videos] == ["2023/open/r1", "season=2024/final", "season=2024/semi"]
    assert hive_partitions("season=2024/final") == {"season": "2024"}
    assert all(v.size_bytes == 3 and v.mtime_ns for v in folder.videos)

    globbed = list_videos(f"{root}/season=*/*.mp4", (".mp4", ".mov"))
    assert [v.video_id for v in globbed.videos] == ["season=2024/final"]

    manifest = root / "batch.txt"
    manifest.write_text(f"# tonight\nseason=2024/final.mp4\n\n{root}/2023/open/r1.mp4\nmissing.mp4\n")
    listed = list_videos(str(manifest), (".mp4",))
    assert [v.video_id for v in listed.videos] == ["season=2024/final", "2023/open/r1"]
    assert [(v.video_id, "no such file" in why) for v, why in listed.problems] == [("missing", True)]

    (root / "season=2024" / "final.mov").write_bytes(b"y")
    clash = list_videos(str(root), (".mp4", ".mov"))
    assert "season=2024/final" not in [v.video_id for v in clash.videos]
    assert all("shared by" in why for _, why in clash.problems) and len(clash.problems) == 2

    with pytest.raises(InputError, match="no videos found"):
        list_videos(f"{root}/nothing*/*.mp4", (".mp4",))


# ---------------------------------------------------------------- end to end


def test_s3_end_to_end(ray_local, s3_server, s3_bucket, tmp_path):
    endpoint = s3_server
    config = StorageConfig(endpoint_url=endpoint)
    counts = {"league=pro/m1": 40, "m2": 9}
    for i, (video_id, frames) in enumerate(counts.items()):
        clip = make_clip(tmp_path / f"{i}.mp4", 160, 96, frames, seed=i)
        storage.upload_file(clip, f"s3://{s3_bucket}/in/{video_id}.mp4", config)
    tiny_checkpoint(tmp_path / "model.pt")
    storage.upload_file(tmp_path / "model.pt", f"s3://{s3_bucket}/models/tiny.pt", config)

    out = f"s3://{s3_bucket}/out"
    report = run_inference(
        infer_config(f"s3://{s3_bucket}/in", out, f"s3://{s3_bucket}/models/tiny.pt",
                     f"storage.endpoint_url={endpoint}", "segment_frames=12", "outputs.overlays=true")
    )
    assert report.exit_code == 0, report.rows
    assert {row["video_id"]: row["frames"] for row in report.rows} == counts

    predictions = read_predictions(out, config)
    assert_every_frame_once(predictions, counts)
    assert set(predictions.loc[predictions["video_id"] == "league=pro/m1", "league"].astype(str)) == {"pro"}

    layout = OutputLayout(out)
    for video_id, frames in counts.items():
        labels = read_labels(io.BytesIO(storage.read_bytes(layout.csv(video_id), config)))
        assert labels["frame"].tolist() == list(range(frames))
        local = tmp_path / "overlay.mp4"
        local.write_bytes(storage.read_bytes(layout.overlay(video_id), config))
        assert (probe(local).frame_count, probe(local).width, probe(local).height) == (frames, 160, 96)
        assert RunLedger(out, config).read(video_id).status == "ok"
    assert storage.exists(layout.summary(report.run_id), config)
    # Nothing staged is left behind in the output prefix.
    listed = storage.list_files(out, ("",), config)
    assert not [e for e in listed if e.relative_path.endswith(".tmp")]


def test_local_end_to_end(ray_local, tmp_path, capsys):
    videos = tmp_path / "videos"
    counts = {"season=2024/final": 60, "court 2/odd": 17}
    make_clip(videos / "season=2024" / "final.mp4", 160, 96, counts["season=2024/final"], seed=1)
    make_clip(videos / "court 2" / "odd.mp4", 161, 97, counts["court 2/odd"], seed=2)
    model = tmp_path / "model.pt"
    version = tiny_checkpoint(model)
    out = tmp_path / "out"

    # 12-frame chunks and segments: the 60-frame video is decoded by 5 tasks.
    args = [f"input={videos}", f"output={out}", f"model={model}", "predictor.batch_size=4", "chunk_frames=12",
            "segment_frames=12",
            "outputs.json=true", "outputs.overlays=true", "num_actors=2"]
    assert main(["--config", str(CONF), *args]) == EXIT_OK
    printed = capsys.readouterr().out
    assert "2 ok, 0 skipped (already done), 0 failed" in printed

    predictions = read_predictions(str(out))
    assert_every_frame_once(predictions, counts)
    assert (predictions["model_version"] == version).all()
    final = predictions[predictions["video_id"] == "season=2024/final"].sort_values("frame")
    assert (final["season"].astype(str) == "2024").all()  # Hive folder -> partition column
    assert (final[["width", "height", "fps"]].drop_duplicates().to_numpy() == [[160, 96, 30.0]]).all()
    np.testing.assert_allclose(final["timestamp_s"], np.arange(60) / 30, atol=1e-6)

    # Several segments give what one in-process pass over the whole video gives (up to float
    # summation order: the actors run torch with another thread count).
    source = str(videos / "season=2024" / "final.mp4")
    whole = Predictor(str(model), job_settings(), chunk_frames=60).predict_video(source, 60, (160, 96))
    np.testing.assert_array_equal(final["raw_visible"], whole.visible)
    np.testing.assert_allclose(final["raw_x"].fillna(-1), np.nan_to_num(whole.x, nan=-1), atol=1e-4)
    np.testing.assert_allclose(final["raw_y"].fillna(-1), np.nan_to_num(whole.y, nan=-1), atol=1e-4)
    np.testing.assert_allclose(final["score"], whole.score, atol=1e-5)

    for path in (out / "predictions").rglob("*.parquet"):
        metadata = pq.read_schema(path).metadata
        assert metadata[b"schema_version"] == PREDICTIONS_SCHEMA.metadata[b"schema_version"]
        assert metadata[b"schema"] == b"tracknet.predictions"

    for video_id, count in counts.items():
        csv_path = out / "csv" / f"{video_id}.csv"
        assert csv_path.read_text().splitlines()[0] == "Frame,Visibility,X,Y"
        assert detect_format(csv_path) is LabelFormat.TRACKNET_CSV
        labels = read_labels(csv_path)
        assert labels["frame"].tolist() == list(range(count))
        rows = predictions[predictions["video_id"] == video_id].sort_values("frame")
        np.testing.assert_array_equal(labels["visible"], rows["visible"].astype(int))

        overlay = probe(out / "overlays" / f"{video_id}.mp4")
        source = probe(videos / f"{video_id}.mp4")
        assert (overlay.frame_count, overlay.width, overlay.height) == (source.frame_count, source.width, source.height)
        assert overlay.codec == "h264"

        document = json.loads((out / "json" / f"{video_id}.json").read_text())
        assert document["video_id"] == video_id and document["frame_count"] == count
        assert [f["frame"] for f in document["frames"]] == list(range(count))

        record = RunLedger(str(out)).read(video_id)
        assert record.status == "ok" and record.model_version == version and record.frames == count

    (summary_file,) = (out / "summary").glob("*.parquet")
    summary = pq.read_table(summary_file).to_pandas()
    assert sorted(summary["video_id"]) == sorted(counts)
    assert (summary["status"] == "ok").all() and summary["error"].isna().all()
    assert summary.set_index("video_id")["frames"].to_dict() == counts
    assert (summary["detected_frames"] <= summary["frames"]).all()
    assert pq.read_schema(summary_file).metadata[b"schema"] == b"tracknet.run_summary"


def test_background_model_takes_each_segments_median(ray_local, tmp_path):
    """A model with a background input: every segment's frames are predicted with that segment's
    median frame, exactly as the in-process Predictor does for the same frame range."""
    videos = tmp_path / "videos"
    make_clip(videos / "rally.mp4", frames=40, seed=5)
    torch.manual_seed(1)
    model = tmp_path / "background.pt"
    save_checkpoint(model, TrackNet(dataclasses.replace(TINY_MODEL, background=True)), name="tiny-background")
    out = tmp_path / "out"
    # Under the untrained model's heat of ~0.5, so there are blobs to compare.
    report = run_inference(infer_config(str(videos), str(out), str(model), "segment_frames=24", "predictor.threshold=0.45"))
    assert report.count("ok") == 1
    found = read_predictions(str(out)).sort_values("frame")
    assert found["raw_visible"].any()

    predictor = Predictor(str(model), job_settings("predictor.threshold=0.45"))
    source = str(videos / "rally.mp4")
    for start, stop in ((0, 24), (24, 40)):  # segments: whole chunks of chunk_frames=12
        want = predictor.predict_video(source, 40, (160, 96), start, stop)
        got = found[(found["frame"] >= start) & (found["frame"] < stop)]
        np.testing.assert_array_equal(got["raw_visible"], want.visible)
        np.testing.assert_allclose(got["raw_x"].fillna(-1), np.nan_to_num(want.x, nan=-1), atol=1e-2)
        np.testing.assert_allclose(got["score"], want.score, atol=1e-5)  # actors sum in another order
