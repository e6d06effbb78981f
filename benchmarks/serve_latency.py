"""Realtime endpoint latency and throughput: POST /v1/track/frames at 1 and 8 concurrent clients.

    python benchmarks/serve_latency.py [--url http://127.0.0.1:8000] [--requests 200]
        [--clients 1 8] [--width 1280 --height 720] [--port 8123] [key=value ...]

Without --url it starts the real command, `python -m jobs.serve --config conf/serve.yaml
http.port=PORT [key=value ...]` (local Ray, the packaged default model unless model=...),
waits for /healthz, and stops it with Ctrl-C (SIGINT) at the end. Each request sends
three consecutive JPEG frames of a synthetic broadcast clip (tracknet.synth, --width x
--height) as multipart. For every concurrency level, `--requests` requests are spread
over that many client threads (one HTTP session each) after a short warm-up, and it
prints latency p50 / p95 / p99, requests/s, and the batches the server formed: every
response carries `batch_size`, the number of windows in the model batch it ran in, so n
requests answered at size b are n / b batches. The server's own counters (/v1/stats) are
printed at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tracknet.preprocess import encode_jpeg  # noqa: E402
from tracknet.synth import SynthConfig, write_clip  # noqa: E402
from tracknet.video import read_frames  # noqa: E402

CONF = REPO / "conf" / "serve.yaml"
WARMUP_REQUESTS = 8


def make_windows(width: int, height: int, count: int = 4) -> list[list[bytes]]:
    """`count` windows of three consecutive JPEG frames of a synthetic clip."""
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as work:
        path = Path(work) / "clip.mp4"
        write_clip(path, SynthConfig(width=width, height=height, frames=3 * count, seed=7))
        jpegs = [encode_jpeg(frame.image) for frame in read_frames(path, 0, 3 * count)]
    return [jpegs[i : i + 3] for i in range(0, len(jpegs), 3)]


def start_server(port: int, overrides: list[str], log_path: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "jobs.serve", "--config", str(CONF), f"http.port={port}", *overrides]
    print("starting:", " ".join(command), f"(log: {log_path})", flush=True)
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)


def wait_healthy(url: str, server: subprocess.Popen | None, timeout_s: float = 300) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise RuntimeError(f"jobs.serve exited with code {server.returncode} before answering (see its log)")
        try:
            response = requests.get(f"{url}/healthz", timeout=5)
            if response.status_code == 200:
                return response.json()
        except requests.RequestException:  # not listening yet, or the app not deployed yet
            pass
        time.sleep(1)
    raise RuntimeError(f"{url}/healthz did not answer 200 within {timeout_s:g} s")


def run_level(url: str, windows: list[list[bytes]], clients: int, total: int) -> dict:
    """`total` requests over `clients` threads; latencies (s), batch sizes, wall time."""
    latencies: list[float] = []
    batch_sizes: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(index: int, count: int) -> None:
        with requests.Session() as session:
            for j in range(count):
                window = windows[(index + j) % len(windows)]
                files = [("images", (f"{k}.jpg", blob, "image/jpeg")) for k, blob in enumerate(window)]
                started = time.perf_counter()
                response = session.post(f"{url}/v1/track/frames", files=files, timeout=120)
                elapsed = time.perf_counter() - started
                with lock:
                    if response.status_code == 200:
                        latencies.append(elapsed)
                        batch_sizes.append(response.json()["batch_size"])
                    else:
                        errors.append(f"{response.status_code} {response.text[:200]}")

    shares = [total // clients + (i < total % clients) for i in range(clients)]
    threads = [threading.Thread(target=client, args=(i, n)) for i, n in enumerate(shares)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"latencies": latencies, "batch_sizes": batch_sizes, "errors": errors,
            "wall_s": time.perf_counter() - started}


def format_level(clients: int, result: dict) -> str:
    ms = np.array(result["latencies"]) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    counts = Counter(result["batch_sizes"])
    batches = ", ".join(f"{size}: {counts[size] // size}" for size in sorted(counts))
    return (
        f"| {clients} | {len(ms)} | {p50:.0f} | {p95:.0f} | {p99:.0f} | {len(ms) / result['wall_s']:.1f} "
        f"| {np.mean(result['batch_sizes']):.2f} | {batches} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="benchmark a running server instead of starting one")
    parser.add_argument("--port", type=int, default=0, help="port for the started server (0 = a free one)")
    parser.add_argument("--requests", type=int, default=200, help="requests per concurrency level")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="jobs.serve config overrides")
    args = parser.parse_args()

    windows = make_windows(args.width, args.height)
    server = None
    url = args.url
    if url is None:
        port = args.port
        if not port:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
        server = start_server(port, args.overrides, Path(tempfile.gettempdir()) / f"serve_latency_{port}.log")
        url = f"http://127.0.0.1:{port}"
    try:
        health = wait_healthy(url, server)
        model = requests.get(f"{url}/v1/model", timeout=30).json()
        config = model["serve_config"]
        run_level(url, windows, 1, WARMUP_REQUESTS)
        print(f"model {health['model_version']} at {model['input_size'][0]}x{model['input_size'][1]}; "
              f"frames {args.width}x{args.height} JPEG, 3 per request; replicas={config['replicas']} "
              f"predictor={config['predictor']} batching={config['batching']}")
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
        print("| clients | requests | p50 ms | p95 ms | p99 ms | requests/s | mean batch "
              "| batches formed (size: count) |")
        print("|---|---|---|---|---|---|---|---|")
        for clients in args.clients:
            result = run_level(url, windows, clients, args.requests)
            if result["errors"]:
                print(f"{len(result['errors'])} failed requests, e.g. {result['errors'][0]}")
            print(format_level(clients, result), flush=True)
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
        print("server /v1/stats:", requests.get(f"{url}/v1/stats", timeout=30).json())
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=120)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    main()
