"""jobs.infer submitted with `ray job submit` to a local multi-node cluster, over videos in a
bucket on a real S3 server (moto on 127.0.0.1):

    .venv/bin/python -m pytest tests/cluster/test_job_submit.py -q

The cluster is a head with no CPUs (as on the real clusters, so no task can run there) and two
worker nodes with 2 CPUs each, every node its own raylet on 127.0.0.1. The job is submitted
exactly as cluster/README.md documents it: `ray job submit --working-dir . -- python -m jobs.infer
...`; the driver runs on the head and reads and writes S3 through `storage.endpoint_url`.

Where the work ran comes from Ray's state API: every task attempt of the job is recorded in the
GCS with the node that ran it. That needs nothing from the job itself and names the project's
own functions (`decode_segments`, `PredictorActor`, `finish_video`; a handful of videos is probed
by the driver itself), so Ray Data's bookkeeping actors, which Ray places on the head, are not
mistaken for the job's work.
The model actor reserves both CPUs of one worker (`cpus_per_actor=2`), so decoding and writing
must land on the other one: a correct job uses both workers on every run, not by chance.

The helpers here are shared with tests/cluster/test_fault.py.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from cluster.local_cluster import LocalCluster
from jobs.common import storage
from jobs.common.ledger import RunLedger
from jobs.common.outputs import OutputLayout
from jobs.common.storage import StorageConfig
from tests.jobs.test_infer import assert_every_frame_once, make_clip, read_predictions, tiny_checkpoint
from tracknet.labels import read_labels

ROOT = Path(__file__).resolve().parents[2]
RAY_CLI = Path(sys.executable).parent / "ray"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not RAY_CLI.exists(), reason="the `ray` command is not installed beside Python")]

CLUSTER_START_TIMEOUT_S = 300.0
"""Starting three raylets takes 20 s on an idle 2-core machine and minutes on a loaded one."""
JOB_TIMEOUT_S = 900.0
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
JOB_FUNCTIONS = ("decode_segments", "PredictorActor", "finish_video")
"""The project's own task and actor functions, as they appear in Ray's task names."""
AWS_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


@dataclass(frozen=True)
class Backfill:
    """Videos under `s3://<bucket>/in/` and the outputs of jobs.infer under `s3://<bucket>/out/`."""

    endpoint: str
    bucket: str
    frame_counts: dict[str, int]
    """video_id -> number of frames."""

    @property
    def output(self) -> str:
        return f"s3://{self.bucket}/out"

    @property
    def storage(self) -> StorageConfig:
        return StorageConfig(endpoint_url=self.endpoint)

    def command(self, *overrides: str) -> list[str]:
        """The job's entrypoint, as a user types it after `ray job submit ... --`."""
        return ["python", "-m", "jobs.infer", "--config", "conf/infer.yaml", f"input=s3://{self.bucket}/in",
                f"output={self.output}", f"storage.endpoint_url={self.endpoint}", *overrides]

    def files(self) -> list[str]:
        """Every object under the output prefix, relative to it."""
        return [e.relative_path for e in storage.list_files(self.output, ("",), self.storage)]


def upload_videos(endpoint: str, bucket: str, frame_counts: dict[str, int], scratch: Path,
                  width: int = 160, height: int = 96) -> Backfill:
    """Write a synthetic clip per video_id (tracknet.synth) and upload it to `s3://<bucket>/in/`."""
    config = StorageConfig(endpoint_url=endpoint)
    for seed, (video_id, frames) in enumerate(frame_counts.items()):
        clip = make_clip(scratch / f"clip{seed}.mp4", width, height, frames, seed=seed)
        storage.upload_file(clip, f"s3://{bucket}/in/{video_id}.mp4", config)
    return Backfill(endpoint, bucket, dict(frame_counts))


def submit(cluster: LocalCluster, submission_id: str, entrypoint: list[str], wait: bool = True,
           timeout_s: float = JOB_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """`ray job submit --working-dir . --submission-id ID [--no-wait] -- ENTRYPOINT` from the repository
    root; with wait, the CLI streams the job's output and returns once it ends."""
    command = [str(RAY_CLI), "job", "submit", "--working-dir", ".", "--submission-id", submission_id,
               *([] if wait else ["--no-wait"]), "--", *entrypoint]
    return subprocess.run(command, cwd=ROOT, env=cluster.client_env(), capture_output=True, text=True,
                          timeout=timeout_s)


def wait_for_job(cluster: LocalCluster, submission_id: str, timeout_s: float = JOB_TIMEOUT_S) -> dict:
    """Poll the Jobs API until the job ends; return its record. On timeout stop it and fail with its logs."""
    deadline = time.monotonic() + timeout_s
    while (info := cluster.job(submission_id))["status"] not in TERMINAL:
        if time.monotonic() > deadline:
            logs = job_logs(cluster, submission_id)
            subprocess.run([str(RAY_CLI), "job", "stop", submission_id], env=cluster.client_env(),
                           capture_output=True, timeout=60)
            pytest.fail(f"job {submission_id} still {info['status']} after {timeout_s:.0f} s:\n{logs[-4000:]}")
        time.sleep(1.0)
    return info


def job_logs(cluster: LocalCluster, submission_id: str) -> str:
    """The driver's output so far (`ray job logs`)."""
    done = subprocess.run([str(RAY_CLI), "job", "logs", submission_id], env=cluster.client_env(),
                          capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


def summaries(backfill: Backfill) -> list[pd.DataFrame]:
    """The run summaries under the output, oldest run first (run ids start with the UTC time)."""
    uris = sorted(e.uri for e in storage.list_files(storage.join(backfill.output, "summary"), (".parquet",),
                                                    backfill.storage))
    return [pq.read_table(io.BytesIO(storage.read_bytes(uri, backfill.storage))).to_pandas() for uri in uris]


def assert_outputs_complete(backfill: Backfill) -> pd.DataFrame:
    """Every frame of every video exactly once in the predictions parquet and in its CSV, one
    parquet file per video, a consistent `ok` ledger record per video, and nothing else staged
    or half-written under the output. Returns the predictions."""
    counts = backfill.frame_counts
    layout = OutputLayout(backfill.output)
    predictions = read_predictions(backfill.output, backfill.storage)
    assert_every_frame_once(predictions, counts)
    assert len(predictions) == sum(counts.values())
    ledger = RunLedger(backfill.output, backfill.storage)
    expected: set[str] = set()
    for video_id, frames in counts.items():
        csv = read_labels(io.BytesIO(storage.read_bytes(layout.csv(video_id), backfill.storage)))
        assert csv["frame"].tolist() == list(range(frames)), video_id
        rows = predictions[predictions["video_id"] == video_id]
        record = ledger.read(video_id)
        assert record is not None and record.status == "ok", (video_id, record)
        assert record.frames == frames and record.detected_frames == int(rows["visible"].sum()), video_id
        assert set(rows["model_version"]) == {record.model_version}, video_id
        expected |= {_relative(backfill.output, uri)
                     for uri in (layout.predictions(video_id), layout.csv(video_id), ledger.uri_for(video_id))}
    files = backfill.files()  # a second parquet file for a video, or a staged leftover, fails here
    assert {f for f in files if not f.startswith("summary/")} == expected, "missing or unexpected outputs"
    return predictions


def _relative(root: str, uri: str) -> str:
    return uri.removeprefix(root.rstrip("/") + "/")


def work_nodes(cluster: LocalCluster, job_id: str, finalized: int, timeout_s: float = 60.0) -> dict[str, set[str]]:
    """Node ids that ran each of the job's own functions (JOB_FUNCTIONS), from the state API.

    Waits until `finalized` finish_video tasks show as finished: task events reach the GCS a
    second or so after the fact, and by then the earlier tasks' events have arrived too.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        mine = [t for t in cluster.tasks(job_id) if any(f in t["name"] for f in JOB_FUNCTIONS)]
        done = [t for t in mine if "finish_video" in t["name"] and t["state"] == "FINISHED"]
        if len(done) >= finalized or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    assert len(done) >= finalized, f"only {len(done)} of {finalized} finish_video tasks recorded"
    nodes: dict[str, set[str]] = {}
    for task in mine:
        if task.get("node_id"):
            function = next(f for f in JOB_FUNCTIONS if f in task["name"])
            nodes.setdefault(function, set()).add(task["node_id"])
    return nodes


@contextlib.contextmanager
def two_worker_cluster(prefix: str) -> Iterator[LocalCluster]:
    """A head with 0 CPUs and two 2-CPU workers whose processes hold the S3 server's dummy
    credentials (call after the s3_server fixture set them); stopped however the block ends."""
    temp_dir = tempfile.mkdtemp(prefix=prefix, dir="/tmp")  # short: Ray's socket paths live below it
    local = LocalCluster(workers=2, cpus_per_worker=2, head_cpus=0, object_store_mb=128, temp_dir=temp_dir,
                         env={name: os.environ[name] for name in AWS_VARS})
    try:
        local.start(timeout_s=CLUSTER_START_TIMEOUT_S)
        yield local
    finally:
        local.stop()
    shutil.rmtree(temp_dir, ignore_errors=True)  # kept, with the nodes' logs, when start() or the block raised


@pytest.fixture(scope="module")
def cluster(s3_server: str) -> Iterator[LocalCluster]:
    with two_worker_cluster("ray-submit-") as local:
        yield local


def test_submitted_job_spreads_over_workers_and_writes_every_frame_once(cluster, s3_server, s3_bucket, tmp_path):
    # Odd lengths, several 24-frame segments per video, and a Hive folder.
    backfill = upload_videos(s3_server, s3_bucket, {"season=2024/final": 61, "semi": 50, "r1": 37}, tmp_path)
    model_version = tiny_checkpoint(tmp_path / "tiny.pt")
    storage.upload_file(tmp_path / "tiny.pt", f"s3://{s3_bucket}/models/tiny.pt", backfill.storage)
    entrypoint = backfill.command(f"model=s3://{s3_bucket}/models/tiny.pt", "segment_frames=24", "chunk_frames=12",
                                  "predictor.batch_size=4", "num_actors=1", "cpus_per_actor=2", "predictor.torch_threads=1")

    done = submit(cluster, "infer-submit", entrypoint)

    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    info = cluster.job("infer-submit")
    assert info["status"] == "SUCCEEDED" and info["driver_exit_code"] == 0
    assert "3 ok, 0 skipped (already done), 0 failed" in done.stdout  # the driver's summary reaches the client
    predictions = assert_outputs_complete(backfill)
    assert set(predictions["model_version"]) == {model_version}
    (summary,) = summaries(backfill)
    assert summary.set_index("video_id")["frames"].to_dict() == backfill.frame_counts
    assert (summary["status"] == "ok").all()

    nodes = cluster.nodes()
    head = {r["node_id"] for r in nodes if r["is_head_node"]}
    workers = {r["node_id"] for r in nodes if not r["is_head_node"] and r["state"] == "ALIVE"}
    ran_on = work_nodes(cluster, info["job_id"], finalized=len(backfill.frame_counts))
    assert set(ran_on) == set(JOB_FUNCTIONS), ran_on
    used = set().union(*ran_on.values())
    assert not used & head, f"job work ran on the head: {ran_on}"
    assert used == workers, f"job work did not use both workers: {ran_on}"
    # The model actor filled one worker, so decoding ran on the other.
    assert not ran_on["PredictorActor"] & ran_on["decode_segments"], ran_on
