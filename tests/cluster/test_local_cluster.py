"""The local multi-node cluster: a head and 2 workers come up with their own resources, run work on
both workers, notice a SIGKILLed worker, and stop without leaving a process behind.

    .venv/bin/python -m pytest tests/cluster/test_local_cluster.py -q

Ray clients run in subprocesses: this pytest process may hold its own local Ray (the
session-scoped `ray_local` fixture), and one process can be connected to only one cluster.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.local_cluster import LocalCluster

ROOT = Path(__file__).resolve().parents[2]
RAY_CLI = Path(sys.executable).parent / "ray"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not RAY_CLI.exists() and shutil.which("ray") is None,
                                reason="the `ray` command is not installed")]

CLIENT = """
import json, sys
import ray

ray.init(log_to_driver=False)  # RAY_ADDRESS comes from LocalCluster.client_env()

@ray.remote(num_cpus=1)
def node_id():
    return ray.get_runtime_context().get_node_id()

targets = json.loads(sys.argv[1])
placed = dict(zip(targets, ray.get([node_id.options(resources={t: 1}).remote() for t in targets])))
nodes = [{"id": n["NodeID"], "alive": n["Alive"], "cpus": n["Resources"].get("CPU", 0.0),
          "head": "node:__internal_head__" in n["Resources"]} for n in ray.nodes()]
print("RESULT " + json.dumps({"nodes": nodes, "placed": placed}))
"""


def run_client(cluster: LocalCluster, resources: list[str]) -> dict:
    """Connect a driver to the cluster, run one task needing each of `resources`; nodes + placement."""
    done = subprocess.run([sys.executable, "-c", CLIENT, json.dumps(resources)], env=cluster.client_env(),
                          cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(l for l in done.stdout.splitlines() if l.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def processes_under(temp_dir: str) -> list[str]:
    """Command lines of live processes that belong to a Ray session under `temp_dir`."""
    listing = subprocess.run(["ps", "-A", "-ww", "-o", "args="], capture_output=True, text=True, check=True).stdout
    return [line for line in listing.splitlines() if temp_dir in line]


@pytest.fixture(scope="module")
def temp_dir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="ray-test-", dir="/tmp")  # short: Ray's socket paths live below it
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(temp_dir: str) -> Iterator[LocalCluster]:
    local = LocalCluster(workers=2, cpus_per_worker=2, head_cpus=1, object_store_mb=128, temp_dir=temp_dir)
    try:
        local.start()
        yield local
    finally:
        local.stop()


def test_head_and_two_workers_are_alive_with_their_cpus(cluster: LocalCluster) -> None:
    result = run_client(cluster, [])
    alive = [n for n in result["nodes"] if n["alive"]]
    assert len(alive) == 3
    assert sorted((n["head"], n["cpus"]) for n in alive) == [(False, 2.0), (False, 2.0), (True, 1.0)]
    rows = cluster.nodes()
    assert {r["node_id"] for r in rows} == {n["id"] for n in alive}
    for index in range(2):
        assert sum(r["resources_total"].get(cluster.worker_resource(index), 0) for r in rows) == 1


def test_work_lands_on_each_worker_node(cluster: LocalCluster) -> None:
    result = run_client(cluster, [cluster.worker_resource(0), cluster.worker_resource(1)])
    placed = result["placed"]
    head = next(n["id"] for n in result["nodes"] if n["head"])
    assert len(set(placed.values())) == 2, "both tasks ran on the same node"
    assert head not in placed.values()
    by_resource = {r: n["node_id"] for n in cluster.nodes() for r in n["resources_total"] if r.startswith("worker_")}
    assert placed == by_resource


def test_killed_worker_becomes_dead_and_leaves_no_process(cluster: LocalCluster, temp_dir: str) -> None:
    assert [p for p in processes_under(temp_dir) if f"{temp_dir}/worker-1" in p], "worker 1 has no processes to kill"
    cluster.kill_worker(1)
    rows = cluster.wait_for_nodes(alive=2, dead=1, timeout_s=45)
    dead = next(r for r in rows if r["state"] == "DEAD")
    assert cluster.worker_resource(1) in dead["resources_total"]
    assert not [p for p in processes_under(temp_dir) if f"{temp_dir}/worker-1" in p]
    # The rest of the cluster still runs work.
    assert run_client(cluster, [cluster.worker_resource(0)])["placed"]


def test_stop_ends_every_process(cluster: LocalCluster, temp_dir: str) -> None:
    assert processes_under(temp_dir)
    cluster.stop()
    assert not cluster.is_running()
    assert processes_under(temp_dir) == []


def test_cli_starts_and_stops_a_cluster() -> None:
    temp = tempfile.mkdtemp(prefix="ray-cli-", dir="/tmp")
    command = [sys.executable, "-m", "cluster.local_cluster"]
    try:
        started = subprocess.run([*command, "start", "--workers", "1", "--object-store-mb", "128", "--temp-dir", temp],
                                 cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert started.returncode == 0, started.stderr[-3000:]
        attached = LocalCluster.from_state(temp)
        assert attached.dashboard_url in started.stdout and attached.address in started.stdout
        assert len(attached.wait_for_nodes(alive=2, timeout_s=10)) == 2
        again = subprocess.run([*command, "start", "--temp-dir", temp], cwd=ROOT, capture_output=True, text=True,
                               timeout=60)
        assert again.returncode == 1 and "already running" in again.stderr
        stopped = subprocess.run([*command, "stop", "--temp-dir", temp], cwd=ROOT, capture_output=True, text=True,
                                 timeout=90)
        assert stopped.returncode == 0, stopped.stderr[-3000:]
        assert processes_under(temp) == []
    finally:
        if Path(temp, "local_cluster.json").exists():
            LocalCluster.from_state(temp).stop()
        shutil.rmtree(temp, ignore_errors=True)
