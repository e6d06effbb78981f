"""Realtime endpoint: ball positions over HTTP with Ray Serve.

    python -m jobs.serve --config conf/serve.yaml [key=value ...]

starts (or joins, with RAY_ADDRESS) Ray, deploys the application and serves until Ctrl-C
on http.host:http.port. On a cluster, with the Serve CLI (host and port from its flags):

    serve run jobs.serve:app_builder config=conf/serve.yaml replicas=4 gpus_per_replica=1 \\
        predictor.batch_size=32 batching.max_batch_size=32

Routes (OpenAPI docs at /docs, schema at /openapi.json):

    POST   /v1/track/frames               frames_in images -> ball per frame
    POST   /v1/track/stream               open a live stream -> stream_id
    POST   /v1/track/stream/{stream_id}   one frame -> ball in it
    DELETE /v1/track/stream/{stream_id}   close a stream
    POST   /v1/track/video[?format=csv]   a short clip -> ball per frame (JSON or TrackNet CSV)
    GET    /healthz, /v1/model, /v1/stats

The application is two deployments (jobs/serving): the TrackingAPI ingress (FastAPI,
one replica: parsing, validation, stream buffers) and BallTracker, the model
(`replicas` x `gpus_per_replica`, requests batched with @serve.batch). The checkpoint is
read once on the driver to validate it, then once per model replica.

Exit codes of `python -m jobs.serve`: 0 stopped with Ctrl-C; 2 bad config or model.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ray import serve
from ray.serve import Application

from jobs.common.cli import EXIT_OK, EXIT_USAGE, run_main
from jobs.common.config import load_config, parse_args
from jobs.common.ray_env import init_ray
from jobs.serving.api import TrackingAPI
from jobs.serving.config import ServeConfig
from jobs.serving.tracker import BallTracker, describe_model

log = logging.getLogger("jobs.serve")

APP_NAME = "tracknet"

__all__ = ["APP_NAME", "EXIT_OK", "EXIT_USAGE", "ServeConfig", "app_builder", "build_app", "main"]


def build_app(config: ServeConfig) -> Application:
    """The Serve application for `config`; raises CheckpointError for an unreadable model."""
    model = describe_model(config.model, config.storage)
    config = dataclasses.replace(config, predictor=config.predictor.for_model(model.defaults))
    tracker = BallTracker.options(
        num_replicas=config.replicas,
        ray_actor_options={"num_cpus": config.cpus_per_replica, "num_gpus": config.gpus_per_replica},
        # Room for one batch computing while the next one fills.
        max_ongoing_requests=2 * config.batching.max_batch_size,
    ).bind(
        config.model, model.model_version, config.predictor, config.predictor.threads_for(config.cpus_per_replica),
        config.batching, config.storage,
    )
    return TrackingAPI.options(
        num_replicas=1,  # it holds the stream buffers
        max_ongoing_requests=config.ingress.max_ongoing_requests,
        ray_actor_options={
            "num_cpus": config.ingress.cpus,
            # OpenCV refuses to decode larger images instead of allocating gigabytes.
            "runtime_env": {"env_vars": {"OPENCV_IO_MAX_IMAGE_PIXELS": str(config.limits.max_image_pixels)}},
        },
    ).bind(tracker, model, config)


def _overrides(args: Mapping[str, Any], prefix: str = "") -> list[str]:
    """{'batching': {'max_batch_size': 4}, 'replicas': 2} -> ['batching.max_batch_size=4', 'replicas=2']."""
    items = []
    for key, value in args.items():
        if isinstance(value, Mapping):
            items += _overrides(value, f"{prefix}{key}.")
        else:
            items.append(f"{prefix}{key}={value}")
    return items


def app_builder(args: dict[str, Any]) -> Application:
    """Serve CLI entry point: `serve run jobs.serve:app_builder [config=FILE] [key=value ...]`.

    `config` names the YAML file; every other argument overrides a key of it (also when
    given as `args:` in a Serve config file, nested sections included).
    """
    args = dict(args)
    path = args.pop("config", None)
    return build_app(load_config(ServeConfig, path, _overrides(args)))


def main(argv: Sequence[str] | None = None) -> int:
    """Deploy and serve until Ctrl-C; returns the exit code (jobs.common.cli: 0 stopped, 2 bad config or model)."""
    return run_main(lambda: _serve(argv))


def _serve(argv: Sequence[str] | None) -> int:
    config = parse_args(ServeConfig, argv, prog="python -m jobs.serve", conf="serve.yaml", description=__doc__.splitlines()[0])
    app = build_app(config)
    try:
        init_ray()
        serve.start(http_options={"host": config.http.host, "port": config.http.port})
        serve.run(app, name=APP_NAME, route_prefix="/")
        print(f"jobs.serve: listening on http://{config.http.host}:{config.http.port} (docs at /docs); Ctrl-C stops")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        log.info("stopping")
        serve.shutdown()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
