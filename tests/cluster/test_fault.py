"""A worker node dies part-way through a backfill on the local multi-node cluster, and the
backfill still ends complete, with no frame missing or doubled and a consistent ledger:

    .venv/bin/python -m pytest tests/cluster/test_fault.py -q

The backfill (5 videos of 72 frames on a real S3 server, the packaged model, 24-frame segments) is
submitted with `ray job submit --no-wait` to a head with no CPUs and two 2-CPU workers, through
tests/cluster/gated_infer.py: while a gate file exists, only the first video may commit. Once
the run ledger on S3 shows it done, the worker node that holds the model actor is
SIGKILLed as a whole (raylet, object store, Ray workers: LocalCluster.kill_worker), the way a
machine dies, so the actor, its in-flight batches, decode tasks and objects stored on that node
are lost at once; then the gate opens. Ray may recover inside the run (restart the actor, retry tasks), or the run
may end with exit code 3, listing the videos it could not finish. Either way, re-submitting the
same command must finish the backfill: it skips the videos the first run committed and redoes
the rest, and afterwards every frame of every video is in the outputs exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from cluster.local_cluster import LocalCluster
from jobs.common.ledger import RunLedger
from tests.cluster.test_job_submit import (
    JOB_TIMEOUT_S,
    RAY_CLI,
    Backfill,
    assert_outputs_complete,
    job_logs,
    submit,
    summaries,
    two_worker_cluster,
    upload_videos,
    wait_for_job,
)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not RAY_CLI.exists(), reason="the `ray` command is not installed beside Python")]

EXIT_SOME_FAILED = 3  # jobs.infer's exit code when some videos failed and the others were written


@pytest.fixture(scope="module")
def cluster(s3_server: str) -> Iterator[LocalCluster]:
    with two_worker_cluster("ray-fault-") as local:
        yield local


def videos_done(backfill: Backfill) -> set[str]:
    """Videos whose ledger record says ok: committed, and skipped by the next run."""
    records = RunLedger(backfill.output, backfill.storage).read_many(backfill.frame_counts)
    return {video_id for video_id, record in records.items() if record.status == "ok"}


def kill_model_node_after_first_video(cluster: LocalCluster, backfill: Backfill, submission_id: str,
                                      timeout_s: float = JOB_TIMEOUT_S) -> int:
    """Wait until the ledger shows a video done while the job runs on, then SIGKILL the worker node
    that holds the job's model actor; returns that worker's index."""
    deadline = time.monotonic() + timeout_s
    while not videos_done(backfill):
        info = cluster.job(submission_id)
        if info["status"] not in ("PENDING", "RUNNING") or time.monotonic() > deadline:
            pytest.fail(f"no video done while the job ran ({info['status']}):\n"
                        f"{job_logs(cluster, submission_id)[-4000:]}")
        time.sleep(0.5)
    actors = cluster.actors(cluster.job(submission_id)["job_id"])
    (model_actor,) = [a for a in actors if "PredictorActor" in a["class_name"] and a["state"] == "ALIVE"]
    index = cluster.worker_index(model_actor["node_id"])
    assert index is not None, "the model actor runs on the head"
    cluster.kill_worker(index)
    return index


def test_backfill_completes_after_a_worker_node_is_killed_part_way(cluster, s3_server, s3_bucket, tmp_path):
    backfill = upload_videos(s3_server, s3_bucket, {f"game{i}": 72 for i in range(5)}, tmp_path)
    entrypoint = backfill.command("segment_frames=24", "chunk_frames=12", "num_actors=1")
    gate = tmp_path / "gate"
    gate.touch()
    gated = ["python", "-m", "tests.cluster.gated_infer", str(gate), *entrypoint[3:]]

    started = submit(cluster, "backfill-1", gated, wait=False)
    assert started.returncode == 0, started.stderr[-2000:]
    killed = kill_model_node_after_first_video(cluster, backfill, "backfill-1")
    left_at_kill = set(backfill.frame_counts) - videos_done(backfill)
    gate.unlink()
    assert left_at_kill == {f"game{i}" for i in range(1, 5)}  # the gate held them
    rows = cluster.wait_for_nodes(alive=2, dead=1, timeout_s=60)
    assert cluster.worker_resource(killed) in next(r for r in rows if r["state"] == "DEAD")["resources_total"]

    first = wait_for_job(cluster, "backfill-1")
    logs = job_logs(cluster, "backfill-1")[-4000:]
    # The run either recovered, or ended normally with the unfinished videos listed as failed.
    assert first["status"] == "SUCCEEDED" or first["driver_exit_code"] == EXIT_SOME_FAILED, (first, logs)
    committed = videos_done(backfill)
    assert committed >= set(backfill.frame_counts) - left_at_kill  # nothing done before the kill is undone

    second = submit(cluster, "backfill-2", entrypoint)  # the same command again
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    assert cluster.job("backfill-2")["status"] == "SUCCEEDED"

    first_summary, second_summary = summaries(backfill)
    assert sorted(first_summary["video_id"]) == sorted(backfill.frame_counts)
    assert set(first_summary["status"]) <= {"ok", "failed"}
    assert first_summary.loc[first_summary["status"] == "failed", "error"].notna().all()
    # The re-run did exactly what the first one left: committed videos skipped, the rest redone.
    expected = {v: "skipped" if v in committed else "ok" for v in backfill.frame_counts}
    assert second_summary.set_index("video_id")["status"].to_dict() == expected
    assert_outputs_complete(backfill)
    ledger = RunLedger(backfill.output, backfill.storage)
    run_ids = (first_summary["run_id"].iloc[0], second_summary["run_id"].iloc[0])
    for video_id in backfill.frame_counts:
        assert ledger.read(video_id).run_id == run_ids[video_id not in committed], video_id
