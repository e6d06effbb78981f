"""The realtime endpoint behind jobs.serve: config, request parsing, stream buffers, deployments.

    config.py    ServeConfig (conf/serve.yaml)
    payloads.py  request bodies -> image / video bytes, with size limits and 4xx errors
    streams.py   bounded, expiring per-stream frame buffers (no Ray)
    tracker.py   BallTracker: the model deployment (one Predictor per replica, @serve.batch)
    api.py       TrackingAPI: the FastAPI ingress deployment (routes, validation, streams)
"""
