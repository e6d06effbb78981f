"""jobs.featurize on a real local Ray and a real S3 server (moto on 127.0.0.1), with real clips."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from jobs import featurize
from jobs.common import storage
from jobs.common.config import load_config
from jobs.common.storage import StorageConfig
from jobs.common.windows import SCHEMA_VERSION, WindowsError, check_split, split_uri
from jobs.featurize import FeaturizeConfig, SplitConfig, assign_splits
from tracknet.background import estimate_background
from tracknet.labels import read_labels
from tracknet.preprocess import decode_image, encode_jpeg, scale_xy
from tracknet.synth import SynthConfig, write_clip
from tracknet.video import iter_frames

REPO = Path(__file__).resolve().parents[2]
SOURCE = (160, 96)
MODEL = (96, 64)
# video_id -> frames; one in a Hive-style sub-folder.
CLIPS = {"rally_a": 30, "rally_b": 25, "season=2024/rally_c": 40}


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """Three tiny synthetic clips with TrackNet CSV labels beside them."""
    root = tmp_path_factory.mktemp("videos")
    for seed, (video_id, frames) in enumerate(CLIPS.items()):
        path = root / f"{video_id}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_clip(path, SynthConfig(width=SOURCE[0], height=SOURCE[1], frames=frames, seed=seed))
    return root


def config_for(input_uri: str, output_uri: str, *overrides: str) -> FeaturizeConfig:
    return load_config(
        FeaturizeConfig, None,
        [f"input={input_uri}", f"output={output_uri}", f"width={MODEL[0]}", f"height={MODEL[1]}",
         "split.val_videos=[rally_b]", *overrides],
    )


def expected_windows(frames: int, frames_in: int = 3, stride: int = 1) -> int:
    return (frames - frames_in) // stride + 1


def read_windows(root: str, storage_config: StorageConfig | None = None) -> pd.DataFrame:
    """All windows of both splits, with a `split` column from the Hive folders."""
    parts = []
    for split in ("train", "val"):
        if not storage.exists(split_uri(root, split), storage_config):
            continue
        files = storage.list_files(split_uri(root, split), (".parquet",), storage_config)
        for entry in files:
            table = pq.read_table(io.BytesIO(storage.read_bytes(entry.uri, storage_config)))
            parts.append(table.to_pandas().assign(split=split))
    return pd.concat(parts, ignore_index=True)


def check_labels_match(windows: pd.DataFrame, clip_root: Path) -> None:
    """Every row's per-frame labels equal the clip's CSV labels scaled to model pixels."""
    for video_id, rows in windows.groupby("video_id"):
        labels = read_labels(clip_root / f"{video_id}.csv").set_index("frame")
        for row in rows.itertuples():
            frames = range(row.start_frame, row.start_frame + 3)
            truth = labels.loc[list(frames)]
            assert list(row.visible) == truth["visible"].tolist()
            x, y = scale_xy(truth["x_px"].to_numpy(), truth["y_px"].to_numpy(), SOURCE, MODEL)
            np.testing.assert_allclose(np.asarray(row.x, dtype=np.float64), x, rtol=0, atol=1e-4)
            np.testing.assert_allclose(np.asarray(row.y, dtype=np.float64), y, rtol=0, atol=1e-4)


def test_featurize_local_counts_labels_frames_and_summary(ray_local, clips, tmp_path, capsys):
    out = tmp_path / "features"
    code = featurize.main(["input=" + str(clips), f"output={out}", f"width={MODEL[0]}", f"height={MODEL[1]}",
                           "split.val_videos=[rally_b]"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "3 videos: 3 ok, 0 skipped, 0 failed" in printed

    windows = read_windows(str(out))
    assert len(windows) == sum(expected_windows(n) for n in CLIPS.values())
    per_video = windows.groupby("video_id").size().to_dict()
    assert per_video == {video_id: expected_windows(n) for video_id, n in CLIPS.items()}
    assert set(windows.loc[windows["split"] == "val", "video_id"]) == {"rally_b"}
    for video_id, n in CLIPS.items():
        starts = sorted(windows.loc[windows["video_id"] == video_id, "start_frame"])
        assert starts == list(range(expected_windows(n)))
    check_labels_match(windows, clips)

    # Frames are the source frames decoded at model size (the path inference uses), then JPEG (quality 90).
    row = windows[(windows["video_id"] == "season=2024/rally_c") & (windows["start_frame"] == 10)].iloc[0]
    source = [f.image for f in iter_frames(clips / "season=2024/rally_c.mp4", 10, 13, MODEL)]
    for data, expected in zip(row["frames"], source):
        image = decode_image(data)
        assert image.shape == (MODEL[1], MODEL[0], 3)
        np.testing.assert_array_equal(image, decode_image(encode_jpeg(expected, 90)))
    assert (row["source_width"], row["source_height"], row["width"], row["height"]) == (*SOURCE, *MODEL)
    assert windows["background"].isna().all()  # only featurize with background=true stores one

    schema = check_split(str(out), "train")
    assert schema.metadata[b"tracknet.schema_version"] == str(SCHEMA_VERSION).encode()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["split"] == {"train": ["rally_a", "season=2024/rally_c"], "val": ["rally_b"]}
    assert summary["windows"] == {"train": 28 + 38, "val": 23}
    table = pq.read_table(out / "summary.parquet").to_pandas()
    assert set(table["status"]) == {"ok"} and table["frames"].sum() == sum(CLIPS.values())


def test_stride_and_segments_give_the_formula(ray_local, clips, tmp_path):
    # Segments of 10 frames cut every clip into several decode tasks (seeking into the stream).
    report = featurize.run(config_for(str(clips), str(tmp_path / "f"), "stride=2", "segment_frames=10"))
    assert report.count("ok") == 3
    windows = read_windows(str(tmp_path / "f"))
    assert len(windows) == sum(expected_windows(n, stride=2) for n in CLIPS.values())
    assert not windows.duplicated(["video_id", "start_frame"]).any()
    assert set(windows["start_frame"] % 2) == {0}
    check_labels_match(windows, clips)


def test_background_frames_are_each_segments_median(ray_local, clips, tmp_path):
    # 10-frame segments: each decode task takes the median of its own frames, as jobs.infer does.
    featurize.run(config_for(str(clips), str(tmp_path / "f"), "background=true", "segment_frames=10"))
    windows = read_windows(str(tmp_path / "f"))
    rally = windows[windows["video_id"] == "season=2024/rally_c"].sort_values("start_frame")
    path = clips / "season=2024/rally_c.mp4"
    # Segments of 10 frames hold 8 windows each: starts 0-7 read frames [0, 10), 8-15 read [8, 18), ...
    for first in (0, 8, 16):
        rows = rally[(rally["start_frame"] >= first) & (rally["start_frame"] < first + 8)]
        assert rows["background"].nunique() == 1  # one background per segment
        expected = decode_image(encode_jpeg(estimate_background(path, first, first + 10, MODEL), 90))
        np.testing.assert_array_equal(decode_image(rows["background"].iloc[0]), expected)
    assert windows.groupby("video_id")["background"].nunique().min() >= 3  # ... and segments differ


def test_bad_label_and_corrupt_video_are_reported_and_the_rest_goes_on(ray_local, clips, tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("rally_a", "rally_b"):
        for suffix in (".mp4", ".csv"):
            (videos / f"{name}{suffix}").write_bytes((clips / f"{name}{suffix}").read_bytes())
    # A corrupt video (truncated: the MP4 index is gone) with fine labels.
    data = (clips / "rally_a.mp4").read_bytes()
    (videos / "broken.mp4").write_bytes(data[: len(data) // 3])
    (videos / "broken.csv").write_bytes((clips / "rally_a.csv").read_bytes())
    # Labels that do not fit their video: a ball outside the 160x96 frame.
    (videos / "offside.mp4").write_bytes((clips / "rally_b.mp4").read_bytes())
    (videos / "offside.csv").write_text("Frame,Visibility,X,Y\n0,1,500,40\n" + "".join(
        f"{i},0,0,0\n" for i in range(1, 25)))
    # Labels for more frames than the video has.
    (videos / "long.mp4").write_bytes((clips / "rally_b.mp4").read_bytes())
    (videos / "long.csv").write_text("Frame,Visibility,X,Y\n" + "".join(f"{i},0,0,0\n" for i in range(40)))
    # Labels that miss frames of the video.
    (videos / "short.mp4").write_bytes((clips / "rally_b.mp4").read_bytes())
    (videos / "short.csv").write_text("Frame,Visibility,X,Y\n" + "".join(f"{i},0,0,0\n" for i in range(20)))
    # No labels at all: skipped with a warning.
    (videos / "unlabelled.mp4").write_bytes((clips / "rally_b.mp4").read_bytes())

    out = tmp_path / "features"
    code = featurize.main([f"input={videos}", f"output={out}", f"width={MODEL[0]}", f"height={MODEL[1]}",
                           "split.val_ratio=0", "allow_unlabelled_frames=false"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "7 videos: 2 ok, 1 skipped, 4 failed" in printed
    summary = pq.read_table(out / "summary.parquet").to_pandas().set_index("video_id")
    assert summary.loc["rally_a", "status"] == "ok" and summary.loc["rally_b", "status"] == "ok"
    assert summary.loc["unlabelled", "status"] == "skipped"
    assert "no label file" in summary.loc["unlabelled", "error"]
    reasons = {
        "broken": ("broken.mp4", "not a readable video"),
        "offside": ("offside.csv", "outside the 160x96 video frame"),
        "long": ("long.csv", "beyond the video's 25 frames"),
        "short": ("short.csv", "labels cover 20 of the video's 25 frames"),
    }
    for video_id, (file_name, reason) in reasons.items():
        assert summary.loc[video_id, "status"] == "failed"
        assert file_name in summary.loc[video_id, "error"] and reason in summary.loc[video_id, "error"]
        assert f"failed  {video_id}: " in printed and file_name in printed
    # Every good video is fully featurized.
    windows = read_windows(str(out))
    assert windows.groupby("video_id").size().to_dict() == {"rally_a": 28, "rally_b": 23}


def test_unlabelled_frames_can_be_dropped_instead(ray_local, clips, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "gappy.mp4").write_bytes((clips / "rally_a.mp4").read_bytes())
    labels = (clips / "rally_a.csv").read_text().splitlines()
    # Drop frame 10's row: windows starting at 8, 9, 10 contain it.
    (videos / "gappy.csv").write_text("\n".join(line for line in labels if not line.startswith("10,")) + "\n")
    report = featurize.run(config_for(str(videos), str(tmp_path / "f"), "allow_unlabelled_frames=true",
                                      "split.val_videos=[]", "split.val_ratio=0"))
    assert report.count("ok") == 1
    windows = read_windows(str(tmp_path / "f"))
    assert sorted(windows["start_frame"]) == [s for s in range(28) if s not in (8, 9, 10)]
    summary = pq.read_table(tmp_path / "f" / "summary.parquet").to_pandas().set_index("video_id")
    assert summary.loc["gappy", ["labelled_frames", "used_frames"]].tolist() == [29, 29]


def test_labels_covering_stretches_give_windows_only_inside_them(ray_local, clips, tmp_path, capsys):
    """What jobs.label imports: two labelled stretches of a 30-frame clip, one too short for a window."""
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "stretches.mp4").write_bytes((clips / "rally_a.mp4").read_bytes())
    labels = (clips / "rally_a.csv").read_text().splitlines()
    keep = set(range(5, 12)) | {20, 21}  # 7 frames: windows 5..9; 2 frames: none
    (videos / "stretches.csv").write_text(
        "\n".join([labels[0]] + [line for line in labels[1:] if int(line.split(",")[0]) in keep]) + "\n")
    out = tmp_path / "f"
    assert featurize.main([f"input={videos}", f"output={out}", f"width={MODEL[0]}", f"height={MODEL[1]}",
                           "split.val_ratio=0"]) == 0
    assert "labelled frames: 9, in windows: 7" in capsys.readouterr().out
    windows = read_windows(str(out))
    assert sorted(windows["start_frame"]) == [5, 6, 7, 8, 9]
    truth = pd.read_csv(clips / "rally_a.csv").set_index("Frame")
    first = windows.sort_values("start_frame").iloc[0]
    assert list(first["visible"]) == truth.loc[[5, 6, 7], "Visibility"].tolist()
    summary = pq.read_table(out / "summary.parquet").to_pandas().set_index("video_id")
    assert summary.loc["stretches", ["labelled_frames", "used_frames", "frames"]].tolist() == [9, 7, 7]
    totals = json.loads((out / "summary.json").read_text())
    assert (totals["frames_labelled"], totals["frames_used"]) == (9, 7)


def test_featurize_from_and_to_s3(ray_local, s3_server, s3_bucket, clips, tmp_path):
    endpoint = s3_server
    config = StorageConfig(endpoint_url=endpoint)
    for video_id in CLIPS:
        for suffix in (".mp4", ".csv"):
            storage.upload_file(clips / f"{video_id}{suffix}", f"s3://{s3_bucket}/videos/{video_id}{suffix}", config)
    out = f"s3://{s3_bucket}/features"
    report = featurize.run(config_for(f"s3://{s3_bucket}/videos", out, f"storage.endpoint_url={endpoint}"))
    assert report.count("ok") == 3, report.videos
    windows = read_windows(out, config)
    assert len(windows) == sum(expected_windows(n) for n in CLIPS.values())
    check_labels_match(windows, clips)
    assert check_split(out, "val", config).metadata[b"tracknet.schema"] == b"windows"
    summary = json.loads(storage.read_bytes(storage.join(out, "summary.json"), config))
    assert summary["ok"] == 3 and summary["config"]["storage"]["endpoint_url"] == endpoint
    assert "testing" not in json.dumps(summary)  # no credentials in outputs


def test_labels_under_a_separate_root(ray_local, clips, tmp_path):
    videos, labels = tmp_path / "videos", tmp_path / "labels"
    (videos / "season=2024").mkdir(parents=True)
    (labels / "season=2024").mkdir(parents=True)
    for video_id in ("rally_a", "season=2024/rally_c"):
        (videos / f"{video_id}.mp4").write_bytes((clips / f"{video_id}.mp4").read_bytes())
        (labels / f"{video_id}.csv").write_bytes((clips / f"{video_id}.csv").read_bytes())
    report = featurize.run(config_for(str(videos), str(tmp_path / "f"), f"labels={labels}"))
    assert {v.video_id: v.windows for v in report.videos} == {"rally_a": 28, "season=2024/rally_c": 38}


def test_split_is_by_video_and_reproducible():
    ids = [f"clip_{i:02d}" for i in range(20)]
    first = assign_splits(ids, SplitConfig(val_ratio=0.25, seed=3))
    assert first == assign_splits(list(reversed(ids)), SplitConfig(val_ratio=0.25, seed=3))
    assert sum(s == "val" for s in first.values()) == 5
    assert first != assign_splits(ids, SplitConfig(val_ratio=0.25, seed=4))
    explicit = assign_splits(ids, SplitConfig(val_videos=("clip_07",)))
    assert [v for v, s in explicit.items() if s == "val"] == ["clip_07"]
    assert set(assign_splits(["only"], SplitConfig(val_ratio=0.5)).values()) == {"train"}
    two = assign_splits(["a", "b"], SplitConfig(val_ratio=0.1))
    assert sorted(two.values()) == ["train", "val"]


def test_missing_windows_are_named(tmp_path):
    with pytest.raises(WindowsError, match="split=val"):
        check_split(str(tmp_path), "val")


def test_conf_files_map_onto_config():
    for name in ("featurize.yaml", "featurize_badminton.yaml"):
        config = load_config(FeaturizeConfig, REPO / "conf" / name)
        assert config.frames_in == 3 and (config.width, config.height) == (512, 288)
    badminton = load_config(FeaturizeConfig, REPO / "conf" / "featurize_badminton.yaml")
    assert "00002" in badminton.split.val_videos


def test_bad_config_exits_2(capsys):
    assert featurize.main(["stride=0"]) == 2
    assert "stride must be >= 1" in capsys.readouterr().err
