"""jobs.infer on bad and unusual inputs: each video is processed correctly or failed with a reason."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pyarrow.parquet as pq

from jobs.common.ledger import RunLedger
from jobs.infer import EXIT_SOME_FAILED, main
from tests.jobs.test_infer import CONF, assert_every_frame_once, make_clip, read_predictions, tiny_checkpoint
from tracknet.synth import SynthConfig, generate
from tracknet.video import probe


def write_vfr_clip(path: Path, width: int, height: int, frames: int) -> list[float]:
    """An H.264 MP4 whose frame durations cycle 20/50/33 ms (variable frame rate); returns the timestamps."""
    timestamps, pts_ms = [], 0
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for i, synth in enumerate(generate(SynthConfig(width=width, height=height, frames=frames, seed=7))):
            frame = av.VideoFrame.from_ndarray(synth.image, format="rgb24")
            frame.pts, frame.time_base = pts_ms, Fraction(1, 1000)
            timestamps.append(pts_ms / 1000)
            pts_ms += (20, 50, 33)[i % 3]
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return timestamps


def write_truncated_faststart(source: Path, path: Path, keep: float) -> None:
    """Remux with the index first (as streaming services do), then cut: probe works, decoding ends early."""
    remuxed = path.with_suffix(".full.mp4")
    faststart = {"movflags": "faststart"}
    with av.open(str(source)) as inp, av.open(str(remuxed), "w", format="mp4", options=faststart) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    data = remuxed.read_bytes()
    remuxed.unlink()
    path.write_bytes(data[: int(len(data) * keep)])


def test_bad_and_unusual_inputs(ray_local, tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    good = {
        "one_frame": (64, 48, 1),
        "two_frames": (64, 48, 2),
        "sd_854x480": (854, 480, 6),
        "hd_1920x1080": (1920, 1080, 4),
        "portrait_96x160": (96, 160, 7),
        "odd_161x97": (161, 97, 9),
    }
    for name, (width, height, frames) in good.items():
        make_clip(videos / f"{name}.mp4", width, height, frames, seed=len(name))
    vfr_timestamps = write_vfr_clip(videos / "vfr.mp4", 160, 96, 24)
    (videos / "empty.mp4").write_bytes(b"")
    (videos / "not_a_video.mp4").write_text("this is a text file with a video's name\n" * 20)
    whole = make_clip(tmp_path / "whole.mp4", 160, 96, 60, seed=9)
    (videos / "truncated.mp4").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    write_truncated_faststart(whole, videos / "truncated_faststart.mp4", keep=0.6)
    model = tmp_path / "model.pt"
    tiny_checkpoint(model)
    out = tmp_path / "out"

    code = main(["--config", str(CONF), f"input={videos}", f"output={out}", f"model={model}", "predictor.batch_size=4",
                 "predictor.device=cpu", "outputs.overlays=true"])
    assert code == EXIT_SOME_FAILED
    printed = capsys.readouterr().out
    assert "7 ok, 0 skipped (already done), 4 failed" in printed

    (summary_file,) = (out / "summary").glob("*.parquet")
    summary = pq.read_table(summary_file).to_pandas().set_index("video_id")
    expected_failures = {
        "empty": ("file is empty (0 bytes)",),
        "not_a_video": ("not a readable video",),
        "truncated": ("not a readable video",),  # the index (moov) was at the end: gone
        # The index survives; decoding stops early, cleanly or with a decoder error.
        "truncated_faststart": ("stream ended before frame", "decoding failed"),
    }
    for video_id, reasons in expected_failures.items():
        row = summary.loc[video_id]
        assert row["status"] == "failed" and any(r in row["error"] for r in reasons), (video_id, row["error"])
        assert str(videos / f"{video_id}.mp4") in row["error"]  # the reason names the file
        assert RunLedger(str(out)).read(video_id).status == "failed"
        assert not (out / "csv" / f"{video_id}.csv").exists()
        assert f"{video_id}: {videos / video_id}.mp4" in printed

    counts = {name: frames for name, (_, _, frames) in good.items()} | {"vfr": 24}
    assert (summary.loc[list(counts), "status"] == "ok").all()
    assert summary.loc[list(counts), "frames"].to_dict() == counts
    predictions = read_predictions(str(out))
    assert_every_frame_once(predictions, counts)

    vfr = predictions[predictions["video_id"] == "vfr"].sort_values("frame")
    assert vfr["timestamp_s"].round(3).tolist() == [round(t, 3) for t in vfr_timestamps]

    for name, (width, height, frames) in good.items():
        rows = predictions[predictions["video_id"] == name]
        assert rows[["width", "height"]].drop_duplicates().values.tolist() == [[width, height]]
        visible = rows[rows["visible"]]
        assert ((visible["x"] >= 0) & (visible["x"] <= width) & (visible["y"] >= 0) & (visible["y"] <= height)).all()
        overlay = probe(out / "overlays" / f"{name}.mp4")
        assert (overlay.frame_count, overlay.width, overlay.height) == (frames, width, height), name
    assert probe(out / "overlays" / "vfr.mp4").frame_count == 24


def test_probing_in_ray_tasks_matches_the_driver(ray_local, tmp_path, monkeypatch):
    """Many videos are probed in Ray tasks of PROBE_BATCH, a handful on the driver: the same answers, bad files
    included, in the order given."""
    from jobs.infer import pipeline

    paths = [make_clip(tmp_path / f"clip{i}.mp4", 64 + 16 * i, 48, 3 + i, seed=i) for i in range(3)]
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("not a video\n" * 20)
    videos = [(str(p), p.stat().st_size) for p in paths[:2]]
    videos += [(str(tmp_path / "empty.mp4"), 0), (str(tmp_path / "text.mp4"), 240), (str(paths[2]), 1)]

    on_driver = pipeline.probe_all(videos, None)
    monkeypatch.setattr(pipeline, "PROBE_BATCH", 2)  # three Ray tasks
    in_tasks = pipeline.probe_all(videos, None)

    assert in_tasks == on_driver
    assert [info.width for info in on_driver[:2]] == [64, 80] and on_driver[4].frame_count == 5
    assert on_driver[2].endswith("file is empty (0 bytes)") and on_driver[3].startswith(str(tmp_path / "text.mp4"))
