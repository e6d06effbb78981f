"""Resumable, idempotent backfills: the run ledger skips done videos and redoes the rest."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from jobs.common.ledger import RunLedger
from jobs.common.outputs import OutputLayout
from jobs.infer import EXIT_OK, EXIT_SOME_FAILED, run_inference
from tests.jobs.test_infer import (
    assert_every_frame_once,
    by_video,
    infer_config,
    make_clip,
    read_predictions,
    tiny_checkpoint,
)
from tests.jobs.test_infer_bad_input import write_truncated_faststart
from tracknet.labels import read_labels


def _outputs(out: Path, video_id: str) -> list[Path]:
    layout = OutputLayout(str(out))
    return [Path(layout.predictions(video_id)), Path(layout.csv(video_id))]


def _stamps(out: Path, video_ids: list[str]) -> dict[str, tuple]:
    """Modification times of each video's outputs and the run that wrote its ledger record."""
    ledger = RunLedger(str(out))
    return {
        video_id: (tuple(p.stat().st_mtime_ns for p in _outputs(out, video_id)), ledger.read(video_id).run_id)
        for video_id in video_ids
    }


def test_rerun_skips_done_retries_failed_and_redoes_changed(ray_local, tmp_path):
    videos = tmp_path / "videos"
    counts = {"a": 30, "b": 20, "c": 25}
    make_clip(videos / "a.mp4", frames=counts["a"], seed=1)
    make_clip(videos / "b.mp4", frames=counts["b"], seed=2)
    good_c = make_clip(tmp_path / "good_c.mp4", frames=counts["c"], seed=3)
    # c's index is intact but its data is cut: it fails part-way through the pipeline.
    write_truncated_faststart(good_c, videos / "c.mp4", keep=0.5)
    model = tmp_path / "model.pt"
    first_version = tiny_checkpoint(model, seed=0)
    out = tmp_path / "out"

    def run(*overrides: str, model_path: Path = model):
        return run_inference(infer_config(str(videos), str(out), str(model_path), "segment_frames=12", *overrides))

    # Run 1: a and b succeed, c fails; c leaves nothing that looks done.
    first = run()
    assert first.exit_code == EXIT_SOME_FAILED
    statuses = {k: v["status"] for k, v in by_video(first.rows).items()}
    assert statuses == {"a": "ok", "b": "ok", "c": "failed"}
    assert "c.mp4" in by_video(first.rows)["c"]["error"]
    assert RunLedger(str(out)).read("c").status == "failed"
    assert not any(p.exists() for p in _outputs(out, "c"))
    done = _stamps(out, ["a", "b"])

    # A crash while committing c would leave whole-but-stale files and no ok record.
    for path in _outputs(out, "c"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"left over by a crashed run")
    (videos / "c.mp4").write_bytes(good_c.read_bytes())  # the operator fixes the source

    # Run 2: a and b are skipped (not recomputed), c is redone, and all outputs are complete.
    second = run()
    assert second.exit_code == EXIT_OK
    assert {k: v["status"] for k, v in by_video(second.rows).items()} == {"a": "skipped", "b": "skipped", "c": "ok"}
    assert _stamps(out, ["a", "b"]) == done
    assert RunLedger(str(out)).read("c").run_id == second.run_id
    assert read_labels(_outputs(out, "c")[1])["frame"].tolist() == list(range(counts["c"]))
    predictions = read_predictions(str(out))
    assert_every_frame_once(predictions, counts)
    assert len(predictions) == sum(counts.values())
    assert len(list((out / "predictions").rglob("*.parquet"))) == 3

    # Run 3: a changed on disk -> only a is redone.
    make_clip(videos / "a.mp4", frames=counts["a"], seed=11)
    third = run()
    assert {k: v["status"] for k, v in by_video(third.rows).items()} == {"a": "ok", "b": "skipped", "c": "skipped"}

    # Run 4: another model -> everything is redone with it.
    other = tmp_path / "other.pt"
    second_version = tiny_checkpoint(other, seed=1)
    assert second_version != first_version
    fourth = run(model_path=other)
    assert [row["status"] for row in fourth.rows] == ["ok"] * 3
    predictions = read_predictions(str(out))
    assert_every_frame_once(predictions, counts)
    assert set(predictions["model_version"]) == {second_version}

    # Run 5: overwrite=true redoes everything even though nothing changed.
    fifth = run("overwrite=true", model_path=other)
    assert [row["status"] for row in fifth.rows] == ["ok"] * 3
    assert {RunLedger(str(out)).read(v).run_id for v in counts} == {fifth.run_id}

    # Every run left its own summary; each lists every video once.
    summaries = sorted((out / "summary").glob("*.parquet"))
    assert len(summaries) == 5
    for path in summaries:
        assert sorted(pq.read_table(path).column("video_id").to_pylist()) == ["a", "b", "c"]
