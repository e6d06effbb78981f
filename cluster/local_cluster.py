"""A local multi-node Ray cluster on one machine: a head and N worker nodes, each with its own raylet.

    python -m cluster.local_cluster start --workers 2 --cpus-per-worker 1 [--head-cpus 0] \\
        [--gpus-per-worker 0] [--object-store-mb 512] [--temp-dir /tmp/tracknet-ray]
    python -m cluster.local_cluster stop [--temp-dir /tmp/tracknet-ray]

`start` prints the GCS address, the dashboard URL (what `ray job submit` talks to) and
the environment variables that point Ray clients at them; `stop` ends exactly the
processes `start` began. It never runs `ray stop`, which ends every Ray on the machine.
The same from Python (tests, fault drills):

    with LocalCluster(workers=2, cpus_per_worker=1) as cluster:
        subprocess.run(["ray", "job", "submit", ...], env=cluster.client_env(), check=True)
        cluster.kill_worker(0)
        cluster.wait_for_nodes(alive=2, dead=1)
        cluster.tasks(cluster.job("my-submission")["job_id"])  # which node ran each task (state API)

Each node is one `ray start --block` process in a session of its own; every process of
the node (raylet, agents, Ray workers) descends from it. `kill_worker` SIGKILLs that
whole tree at once, as if the machine lost power. Worker node i carries the custom
resource `worker_<i>: 1`, so a test can pin work to it. GPUs are logical: a node
advertises exactly `--gpus-per-worker` (0 on the head), so placement on GPU actors can
be tried on a machine without one, and a machine with GPUs is not counted once per node.

Each node keeps its Ray session under <temp_dir>/<node>/ (a shared session dir would make
nodes starting together race for the same socket names); the output of each `ray start`
goes to <temp_dir>/node-logs/<node>.log. The dashboard listens on 127.0.0.1 only. Ray itself replaces a loopback
`--node-ip-address` with the machine's own address, so that is the GCS address printed.
Token authentication is off (`RAY_AUTH_MODE=disabled`) on every node and in
`client_env()`: Ray turns it on by default once a token exists in ~/.ray, and a node or
client whose setting differs from the head's cannot connect.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

DEFAULT_TEMP_DIR = "/tmp/tracknet-ray"
"""Where the CLI keeps Ray's session (logs, sockets) and its own state file; short, see _short_temp_dir."""
STATE_FILE = "local_cluster.json"

HEALTH_CHECK_ENV = {
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "2000",
    "RAY_health_check_failure_threshold": "5",
}
"""The GCS declares a silent node dead after about 5 s instead of Ray's default of about 30 s,
so a killed worker shows up quickly; the 2 s timeout leaves headroom on a busy 2-core machine."""

LIFECYCLE_ENV = {
    "RAY_DASHBOARD_STARTUP_TIMEOUT_S": "300",
    "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
}
"""`ray start --head` waits up to 5 min for its dashboard instead of Ray's 60 s, after which it gives
up and takes the head down: on a busy 2-core machine the dashboard alone can take longer than that.
On SIGTERM a node stops its processes at once instead of first draining for up to 30 s, which only
matters where traffic must move to other nodes (Ray Serve); stop() ends every node anyway."""

PORT_RANGE = (20000, 32000)
"""Where the nodes' ports come from: above Ray's worker ports (10002-19999) and below the
ephemeral ports of Linux (32768-60999) and macOS (49152-65535)."""
_issued_ports: set[int] = set()

_CLIENT_ONLY_VARS = ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")


class LocalClusterError(RuntimeError):
    """The local cluster could not start, stop or answer; the message names the log to read."""


@dataclass
class _Node:
    name: str
    """'head' or 'worker-<i>'."""
    pid: int
    """PID of the node's `ray start --block` process."""
    log_path: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    """Set when this process started the node, so it can reap it; None when attached from a state file."""


class LocalCluster:
    """A Ray head plus `workers` worker nodes on this machine, started and stopped as a unit."""

    def __init__(
        self,
        workers: int = 2,
        cpus_per_worker: int = 1,
        head_cpus: int = 0,
        gpus_per_worker: int = 0,
        object_store_mb: int = 512,
        temp_dir: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Describe the cluster; nothing starts until start().

        head_cpus defaults to 0 as on the real clusters (cluster/aws.yaml, cluster/kuberay), so
        nothing may rely on work running on the head. temp_dir holds Ray's session (logs,
        sockets); default: a fresh directory under /tmp, kept after stop() for post-mortems.
        env adds or overrides environment variables of every node.
        """
        for name, value in (("workers", workers), ("cpus_per_worker", cpus_per_worker),
                            ("head_cpus", head_cpus), ("gpus_per_worker", gpus_per_worker)):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if object_store_mb < 80:
            raise ValueError(f"object_store_mb must be >= 80 (Ray needs at least 75 MiB), got {object_store_mb}")
        self.workers = workers
        self.cpus_per_worker = cpus_per_worker
        self.head_cpus = head_cpus
        self.gpus_per_worker = gpus_per_worker
        self.object_store_mb = object_store_mb
        self.temp_dir = temp_dir or _short_temp_dir()
        self.env = dict(env or {})
        self._nodes: list[_Node] = []
        self._gcs_port = 0
        self._dashboard_port = 0
        self._head_ip = ""

    # ------------------------------------------------------------------ addresses

    @property
    def address(self) -> str:
        """GCS address for `ray.init(address=...)` and `ray start --address`."""
        self._require_started()
        return f"{self._head_ip}:{self._gcs_port}"

    @property
    def dashboard_url(self) -> str:
        """Dashboard URL: the address `ray job submit`, `ray job logs` and the state API use."""
        self._require_started()
        return f"http://127.0.0.1:{self._dashboard_port}"

    def client_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for a Ray client process (a driver, `ray job submit`): `base` (default
        os.environ) plus RAY_ADDRESS, RAY_API_SERVER_ADDRESS and RAY_AUTH_MODE=disabled."""
        env = dict(os.environ if base is None else base)
        env |= {
            "RAY_ADDRESS": self.address,
            "RAY_API_SERVER_ADDRESS": self.dashboard_url,
            "RAY_AUTH_MODE": "disabled",
        }
        return env

    @staticmethod
    def worker_resource(index: int) -> str:
        """The custom resource (1 unit) that only worker node `index` has."""
        return f"worker_{index}"

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout_s: float = 90.0) -> None:
        """Start the head, then the workers; return once all nodes are alive.

        On any failure the nodes started so far are stopped and LocalClusterError names the log.
        """
        if self._nodes:
            raise LocalClusterError(f"the cluster in {self.temp_dir} is already started")
        Path(self.temp_dir, "node-logs").mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout_s
        self._gcs_port, self._dashboard_port = _free_port(), _free_port()
        try:
            self._launch("head", self._head_args())
            head = self._wait(lambda rows: [r for r in rows if r["is_head_node"] and r["state"] == "ALIVE"],
                              deadline, "the head node to come up")
            self._head_ip = head[0]["node_ip"]
            for index in range(self.workers):
                self._launch(f"worker-{index}", self._worker_args(index))
            self.wait_for_nodes(alive=self.workers + 1, timeout_s=deadline - time.monotonic())
            self._write_state()
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout_s: float = 30.0) -> None:
        """End every node still running: SIGTERM lets each `ray start --block` stop its
        own processes (workers first, then the head); whatever is left after `timeout_s` is SIGKILLed."""
        running = [n for n in sorted(self._nodes, key=lambda n: n.name == "head") if self._is_running(n)]
        # Remember each tree now: once a parent exits its orphans can no longer be found from it.
        trees = {n.pid: _process_tree(n.pid) for n in running}
        _send([n.pid for n in running], signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while any(self._is_running(n) for n in running) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pids in trees.values():
            _send(pids, signal.SIGKILL)
        for node in running:
            self._reap(node)
        self._nodes = []
        Path(self.temp_dir, STATE_FILE).unlink(missing_ok=True)

    def kill_worker(self, index: int) -> None:
        """SIGKILL worker node `index`: its raylet, agents and Ray worker processes at once, with no
        draining and no goodbye to the GCS. The GCS marks the node DEAD after its health checks fail."""
        node = next((n for n in self._nodes if n.name == f"worker-{index}"), None)
        if node is None:
            raise ValueError(f"no worker {index}; this cluster has workers 0..{self.workers - 1}")
        # Freeze the tree first so no process in it can fork a child we would miss, then kill all of it.
        frozen = _process_tree(node.pid)
        _send(frozen, signal.SIGSTOP)
        _send(sorted(set(frozen) | set(_process_tree(node.pid))), signal.SIGKILL)
        self._reap(node)
        self._nodes.remove(node)
        self._write_state()

    def is_running(self) -> bool:
        """Whether any node of this cluster still runs."""
        return any(self._is_running(n) for n in self._nodes)

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------------ observing

    def nodes(self) -> list[dict[str, Any]]:
        """Every node the GCS knows, alive or dead, as the state API lists them
        (node_id, node_ip, is_head_node, state 'ALIVE'/'DEAD', resources_total, ...)."""
        return self._state("nodes")

    def job(self, submission_id: str) -> dict[str, Any]:
        """The Jobs API's record of a submitted job: status ('PENDING', 'RUNNING', 'SUCCEEDED',
        'FAILED', 'STOPPED'), job_id (the Ray job id that tasks() and actors() filter on),
        driver_exit_code, message, ..."""
        return self._get_json(f"/api/jobs/{urllib.parse.quote(submission_id)}")

    def tasks(self, job_id: str) -> list[dict[str, Any]]:
        """Every task attempt of Ray job `job_id` the GCS has recorded (name, type, state, node_id,
        attempt_number, ...). Workers report task events every second or so, so the list lags."""
        return self._state("tasks", job_id=job_id)

    def actors(self, job_id: str) -> list[dict[str, Any]]:
        """Every actor of Ray job `job_id` (class_name, state 'ALIVE'/'RESTARTING'/'DEAD', node_id, ...)."""
        return self._state("actors", job_id=job_id)

    def worker_index(self, node_id: str) -> int | None:
        """Which worker node `node_id` is (by its `worker_<i>` resource); None for the head."""
        row = next((r for r in self.nodes() if r["node_id"] == node_id), None)
        if row is None:
            raise LocalClusterError(f"node {node_id} is not part of this cluster")
        names = [name for name in row["resources_total"] if name.startswith("worker_")]
        return int(names[0].removeprefix("worker_")) if names else None

    def wait_for_nodes(self, alive: int, dead: int = 0, timeout_s: float = 60.0) -> list[dict[str, Any]]:
        """Wait until exactly `alive` nodes are ALIVE and `dead` are DEAD; return the node rows."""

        def settled(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            states = [r["state"] for r in rows]
            return rows if states.count("ALIVE") == alive and states.count("DEAD") == dead else []

        return self._wait(settled, time.monotonic() + timeout_s, f"{alive} alive and {dead} dead nodes")

    def describe(self) -> str:
        """What a person needs to use the running cluster from a shell."""
        return "\n".join([
            f"Ray cluster up: head ({self.head_cpus} CPU) + {self.workers} workers "
            f"({self.cpus_per_worker} CPU, {self.gpus_per_worker} GPU each)",
            f"  GCS address: {self.address}",
            f"  dashboard:   {self.dashboard_url}",
            f"  Ray session: {self.temp_dir}",
            "Point Ray clients at it:",
            f"  export RAY_AUTH_MODE=disabled RAY_ADDRESS={self.address} RAY_API_SERVER_ADDRESS={self.dashboard_url}",
            "  ray job submit --working-dir . -- python -m jobs.infer --config conf/infer.yaml input=... output=...",
            f"Stop it: python -m cluster.local_cluster stop --temp-dir {self.temp_dir}",
        ])

    # ------------------------------------------------------------------ state file (CLI start/stop)

    @classmethod
    def from_state(cls, temp_dir: str) -> LocalCluster:
        """Attach to a cluster that `python -m cluster.local_cluster start` left running in `temp_dir`."""
        path = Path(temp_dir, STATE_FILE)
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            raise LocalClusterError(f"no local cluster state in {path}; was it started with this --temp-dir?") from None
        cluster = cls(**state["config"])
        cluster._gcs_port, cluster._dashboard_port = state["gcs_port"], state["dashboard_port"]
        cluster._head_ip = state["head_ip"]
        # Only keep PIDs that still run `ray start` for this session: after a reboot they may be anything.
        cluster._nodes = [_Node(**n) for n in state["nodes"] if _is_node_process(n["pid"], Path(temp_dir, n["name"]))]
        return cluster

    def _write_state(self) -> None:
        state = {
            "config": {
                "workers": self.workers, "cpus_per_worker": self.cpus_per_worker, "head_cpus": self.head_cpus,
                "gpus_per_worker": self.gpus_per_worker, "object_store_mb": self.object_store_mb,
                "temp_dir": self.temp_dir, "env": self.env,
            },
            "gcs_port": self._gcs_port,
            "dashboard_port": self._dashboard_port,
            "head_ip": self._head_ip,
            "nodes": [{"name": n.name, "pid": n.pid, "log_path": n.log_path} for n in self._nodes],
        }
        Path(self.temp_dir, STATE_FILE).write_text(json.dumps(state, indent=2))

    # ------------------------------------------------------------------ internals

    def _state(self, resource: str, **filters: str) -> list[dict[str, Any]]:
        """Rows of one state API listing ('nodes', 'tasks', 'actors', ...), filtered by equality."""
        query = [("limit", "10000"), ("detail", "1")]
        for key, value in filters.items():
            query += [("filter_keys", key), ("filter_predicates", "="), ("filter_values", value)]
        path = f"/api/v0/{resource}?{urllib.parse.urlencode(query)}"
        payload = self._get_json(path)
        if not payload.get("result"):
            raise LocalClusterError(f"state API {path} failed: {payload.get('msg')}")
        return list(payload["data"]["result"]["result"])

    def _get_json(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self._dashboard_port}{path}", timeout=10) as response:
            return json.load(response)

    def _head_args(self) -> list[str]:
        return [
            "--head",
            f"--port={self._gcs_port}",
            f"--num-cpus={self.head_cpus}",
            "--num-gpus=0",
            "--include-dashboard=true",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={self._dashboard_port}",
            f"--ray-client-server-port={_free_port()}",
            "--disable-usage-stats",
        ]

    def _worker_args(self, index: int) -> list[str]:
        return [
            f"--address={self.address}",
            f"--num-cpus={self.cpus_per_worker}",
            f"--num-gpus={self.gpus_per_worker}",
            f"--resources={json.dumps({self.worker_resource(index): 1})}",
        ]

    def _launch(self, name: str, role_args: list[str]) -> None:
        command = [
            _ray_cli(), "start", "--block", *role_args,
            "--node-ip-address=127.0.0.1",
            # Fixed defaults (52365 for the agent) would collide between nodes on one machine.
            f"--dashboard-agent-listen-port={_free_port()}",
            f"--metrics-export-port={_free_port()}",
            # A fixed port also spares the head's Ray Client server a lookup of the agent's port
            # in the GCS, which times out after 30 s (and takes the head down) on a loaded machine.
            f"--runtime-env-agent-port={_free_port()}",
            f"--object-store-memory={self.object_store_mb * 1024 * 1024}",
            f"--temp-dir={Path(self.temp_dir, name)}",
        ]
        log_path = str(Path(self.temp_dir, "node-logs", f"{name}.log"))
        with open(log_path, "ab") as log:
            process = subprocess.Popen(command, env=self._node_env(), stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self._nodes.append(_Node(name=name, pid=process.pid, log_path=log_path, process=process))

    def _node_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _CLIENT_ONLY_VARS}
        env |= HEALTH_CHECK_ENV | LIFECYCLE_ENV
        env["RAY_AUTH_MODE"] = "disabled"
        # Job entrypoints (`python -m jobs.X`) resolve `python` through the raylet's PATH: make it this interpreter.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env |= self.env
        return env

    def _wait(self, ready: Callable[[list[dict[str, Any]]], list[dict[str, Any]]], deadline: float,
              what: str) -> list[dict[str, Any]]:
        """Poll the state API until `ready(rows)` is non-empty; fail early when a node process exits."""
        last_error = "no answer yet"
        while True:
            for node in self._nodes:
                if not self._is_running(node):
                    raise LocalClusterError(f"{node.name} exited while waiting for {what}; "
                                            f"see {node.log_path}:\n{_tail(node.log_path)}")
            try:
                found = ready(self.nodes())
                if found:
                    return found
                last_error = "not there yet"
            except (OSError, ValueError, KeyError, LocalClusterError) as exc:  # dashboard still starting
                last_error = str(exc)
            if time.monotonic() >= deadline:
                logs = ", ".join(n.log_path for n in self._nodes)
                raise LocalClusterError(f"timed out waiting for {what} ({last_error}); see {logs}")
            time.sleep(0.3)

    def _is_running(self, node: _Node) -> bool:
        if node.process is not None:
            return node.process.poll() is None
        try:
            os.kill(node.pid, 0)
        except ProcessLookupError:
            return False
        return True

    @staticmethod
    def _reap(node: _Node) -> None:
        if node.process is not None:
            node.process.wait(timeout=10)

    def _require_started(self) -> None:
        if not self._head_ip:
            raise LocalClusterError("the cluster is not started")


def _short_temp_dir() -> str:
    # Ray's Unix sockets live under <temp_dir>/session_<timestamp>_<pid>/sockets/ and socket paths are
    # limited to about 107 bytes, which a default TMPDIR (macOS, pytest) easily exceeds.
    return tempfile.mkdtemp(prefix="ray-local-", dir="/tmp" if os.path.isdir("/tmp") else None)


def _free_port() -> int:
    """A port nothing is bound to now, from PORT_RANGE, never the same one twice in this process.

    A node binds its ports seconds after this picks them (tens of seconds on a loaded machine). A
    port from the ephemeral range, which any outgoing connection or port-0 server may take in the
    meantime, made nodes die at start-up ("Address already in use") while other Ray sessions ran.
    """
    for _ in range(1000):
        port = random.randrange(*PORT_RANGE)
        if port in _issued_ports:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
        _issued_ports.add(port)
        return port
    raise LocalClusterError(f"no free port between {PORT_RANGE[0]} and {PORT_RANGE[1]}")


def _ray_cli() -> str:
    beside = Path(sys.executable).parent / "ray"
    found = str(beside) if beside.exists() else shutil.which("ray")
    if found is None:
        raise LocalClusterError("the `ray` command is not installed; pip install -c constraints.txt -e .")
    return found


def _process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants, parents first, from one `ps` snapshot."""
    listing = subprocess.run(["ps", "-A", "-o", "pid=", "-o", "ppid="], capture_output=True, text=True,
                             check=True).stdout
    children: dict[int, list[int]] = {}
    for line in listing.splitlines():
        child, parent = (int(f) for f in line.split())
        children.setdefault(parent, []).append(child)
    tree = [pid]
    for member in tree:  # grows while iterating: breadth-first
        tree.extend(children.get(member, []))
    return tree


def _send(pids: Sequence[int], sig: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass  # already gone, which is the goal


def _is_node_process(pid: int, node_temp_dir: Path) -> bool:
    result = subprocess.run(["ps", "-ww", "-o", "args=", "-p", str(pid)], capture_output=True, text=True)
    args = result.stdout
    return result.returncode == 0 and " start " in args and f"--temp-dir={node_temp_dir}" in args


def _tail(path: str, lines: int = 20) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(cannot read log: {exc.strerror})"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: start or stop a local cluster; the state lives in --temp-dir."""
    parser = argparse.ArgumentParser(prog="python -m cluster.local_cluster", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start a head and N worker nodes, print how to reach them")
    start.add_argument("--workers", type=int, default=2, help="worker nodes (default 2)")
    start.add_argument("--cpus-per-worker", type=int, default=1, help="logical CPUs per worker node (default 1)")
    start.add_argument("--head-cpus", type=int, default=0, help="logical CPUs on the head (default 0: no work there)")
    start.add_argument("--gpus-per-worker", type=int, default=0, help="logical GPUs per worker node (default 0)")
    start.add_argument("--object-store-mb", type=int, default=512, help="object store per node, MiB (default 512)")
    start.add_argument("--timeout-s", type=float, default=90.0, help="give up starting after this long")
    stop = commands.add_parser("stop", help="stop the cluster started with the same --temp-dir")
    for sub in (start, stop):
        sub.add_argument("--temp-dir", default=DEFAULT_TEMP_DIR,
                         help=f"Ray sessions, logs and the state file (default {DEFAULT_TEMP_DIR})")
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            if Path(args.temp_dir, STATE_FILE).exists() and LocalCluster.from_state(args.temp_dir).is_running():
                raise LocalClusterError(f"a cluster is already running in {args.temp_dir}; stop it first")
            cluster = LocalCluster(workers=args.workers, cpus_per_worker=args.cpus_per_worker,
                                   head_cpus=args.head_cpus, gpus_per_worker=args.gpus_per_worker,
                                   object_store_mb=args.object_store_mb, temp_dir=args.temp_dir)
            cluster.start(timeout_s=args.timeout_s)
            print(cluster.describe())
        else:
            cluster = LocalCluster.from_state(args.temp_dir)
            cluster.stop()
            print(f"stopped the local cluster in {args.temp_dir}")
    except (LocalClusterError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
