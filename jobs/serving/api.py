"""TrackingAPI: the FastAPI ingress deployment of jobs.serve.

It validates and decodes requests, resizes images to model resolution
(`tracknet.preprocess.resize_frame`, as featurize does for training), keeps the live
streams' last frames, and hands model windows and clips to the BallTracker
deployment. Every bad request is refused here with a 4xx and `{"detail": "..."}` before it
reaches a model replica, so it cannot disturb other clients' batches.

One replica: it holds the stream buffers, so every frame of a stream must reach the
same process. Decoding runs on worker threads (OpenCV releases the GIL), so that replica
can use several cores; the model scales out in BallTracker replicas.
"""

# No `from __future__ import annotations` here: Serve rebuilds the route signatures and
# FastAPI must see real types (Request, Query) in them, not strings. Helpers the routes
# call are defined above the deployment class: Serve captures the class when it is
# decorated.

import asyncio
import dataclasses
import io
from collections import Counter
from typing import Any, Literal

import numpy as np
import pandas as pd
from fastapi import FastAPI, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from ray import serve
from ray.serve.handle import DeploymentHandle

from jobs.serving.config import ServeConfig
from jobs.serving.payloads import RequestError, decode_images, read_images, read_video
from jobs.serving.streams import StreamBuffers, StreamFrameError, StreamLimitError, UnknownStreamError
from jobs.serving.tracker import ModelInfo, VideoResult, Window, WindowResult
from tracknet.background import median_background
from tracknet.errors import VideoError
from tracknet.heatmap import Detection
from tracknet.inference import FrameDetections
from tracknet.labels import write_tracknet_csv
from tracknet.preprocess import resize_frame
from tracknet.video import probe

HEALTH_TIMEOUT_S = 5.0
"""/healthz fails when the model deployment does not answer within this time."""


class BallPosition(BaseModel):
    """The ball in one frame, in the pixels of the images (or video) the client sent."""

    frame: int = Field(description="Frame index: position in the request's images, in the stream, or in the video.")
    visible: bool = Field(description="A ball was found (a heatmap blob above the threshold).")
    x: float | None = Field(description="Ball centre, source pixels from the left; null when not visible.")
    y: float | None = Field(description="Ball centre, source pixels from the top; null when not visible.")
    score: float = Field(description="Peak heat of the chosen blob in [0, 1]; 0 when not visible.")


class FramesResponse(BaseModel):
    model_version: str
    width: int = Field(description="Width of the images sent, in pixels.")
    height: int = Field(description="Height of the images sent, in pixels.")
    batch_size: int = Field(description="Model windows in the server-side batch this request ran in.")
    frames: list[BallPosition] = Field(description="One per frame the model predicts (all of them for MIMO models).")


class StreamCreated(BaseModel):
    stream_id: str
    frames_in: int = Field(description="Frames per model window; the answer for a frame uses the last frames_in.")
    ttl_s: float = Field(description="The stream is forgotten after this long without a frame.")


class StreamResponse(BallPosition):
    stream_id: str
    model_version: str
    batch_size: int = Field(description="Model windows in the server-side batch this request ran in.")


class VideoFrame(BallPosition):
    timestamp_s: float = Field(description="Presentation time of the frame.")


class VideoResponse(BaseModel):
    model_version: str
    frame_count: int
    fps: float
    width: int
    height: int
    frames: list[VideoFrame]


class HealthResponse(BaseModel):
    status: Literal["ok"]
    model_version: str


class ModelResponse(BaseModel):
    model_version: str
    model_config_: dict[str, Any] = Field(alias="model_config", description="Checkpoint's ModelConfig.")
    metrics: dict[str, Any] = Field(description="Validation metrics saved with the checkpoint, if any.")
    defaults: dict[str, Any] = Field(
        description="The model's own defaults saved with it (sport, threshold, trajectory limits); "
        "serve_config.predictor shows what the replicas use."
    )
    frames_in: int
    frames_out: int
    input_size: tuple[int, int] = Field(description="Model (width, height); images are resized to it.")
    serve_config: dict[str, Any] = Field(description="The ServeConfig the application runs with.")


class StatsResponse(BaseModel):
    requests: dict[str, int] = Field(description="Answered requests by endpoint and status code.")
    batch_size_counts: dict[int, int] = Field(
        description="Frames and stream requests answered from a model batch of each size "
        "(a batch of n windows counts n times; batches formed = count / size)."
    )
    open_streams: int


def _images_body(field: str, count: str) -> dict[str, Any]:
    """OpenAPI request body for routes that read images themselves (multipart or base64 JSON)."""
    binary = {"type": "string", "format": "binary"}
    encoded = {"type": "string", "format": "byte"}
    many = field == "images"
    return {
        "requestBody": {
            "required": True,
            "description": f"{count} JPEG/PNG image{'s' if many else ''}, as file parts or base64 JSON.",
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [field],
                        "properties": {field: {"type": "array", "items": binary} if many else binary},
                    }
                },
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": [field],
                        "properties": {field: {"type": "array", "items": encoded} if many else encoded},
                    }
                },
            },
        }
    }


_VIDEO_BODY = {
    "requestBody": {
        "required": True,
        "description": "A short clip (limits.max_video_mb, limits.max_video_frames), as a file part or raw body.",
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["video"],
                           "properties": {"video": {"type": "string", "format": "binary"}}}
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "video/mp4": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}

_ERRORS = {status: {"description": text} for status, text in [
    (400, "Bad request (wrong number of images, different sizes, undecodable data, ...)"),
    (413, "Payload over a size limit"),
    (415, "Unsupported content type"),
]}

api = FastAPI(
    title="TrackNet realtime ball tracking",
    description="Ball positions for frames, live streams and short clips (jobs.serve). "
    "Errors are JSON: {\"detail\": \"...\"}.",
    version="1",
)


def _position(frame: int, found: Detection) -> dict[str, Any]:
    visible = bool(found.visible)
    return {
        "frame": frame,
        "visible": visible,
        "x": float(found.x) if visible else None,
        "y": float(found.y) if visible else None,
        "score": float(found.score),
    }


def _tracknet_csv(found: FrameDetections) -> str:
    """TrackNet Frame,Visibility,X,Y text for FrameDetections (as jobs.infer's CSV export)."""
    labels = pd.DataFrame(
        {"frame": found.frame, "visible": found.visible.astype(np.int8), "x_px": found.x, "y_px": found.y}
    )
    text = io.StringIO()
    write_tracknet_csv(labels, text)
    return text.getvalue()


@serve.deployment
@serve.ingress(api)
class TrackingAPI:
    """HTTP routes; see the module docstring and README "Realtime endpoint".

    Args:
        tracker: handle of the BallTracker deployment.
        model: the model the tracker replicas serve.
        config: the application's config (limits, streams; shown by /v1/model).
    """

    def __init__(self, tracker: DeploymentHandle, model: ModelInfo, config: ServeConfig) -> None:
        self.tracker = tracker
        self.model = model
        self.config = config
        self.limits = config.limits
        self.streams = StreamBuffers(
            model.frames_in, config.streams.max_streams, config.streams.ttl_s, background=model.background
        )
        self.requests: Counter[str] = Counter()
        self.batch_size_counts: Counter[int] = Counter()

    # ------------------------------------------------------------------ helpers

    def _count(self, route: str, status: int) -> None:
        self.requests[f"{route} {status}"] += 1

    def _refuse(self, route: str, error: RequestError | StreamFrameError) -> HTTPException:
        status = error.status if isinstance(error, RequestError) else 400
        self._count(route, status)
        return HTTPException(status, error.message if isinstance(error, RequestError) else str(error))

    def _to_model_frames(self, blobs: list[bytes], field: str) -> tuple[np.ndarray, tuple[int, int]]:
        """Decode and resize on a worker thread: (F, H, W, 3) uint8 at model size, source (w, h)."""
        images = decode_images(blobs, field, self.limits.max_image_pixels)
        source_size = (images[0].shape[1], images[0].shape[0])
        return np.stack([resize_frame(image, self.model.input_size) for image in images]), source_size

    async def _track(self, window: Window) -> WindowResult:
        result: WindowResult = await self.tracker.track_window.remote(window)
        self.batch_size_counts[result.batch_size] += 1
        return result

    # ------------------------------------------------------------------ routes

    @api.get("/healthz", response_model=HealthResponse, responses={503: {"description": "Model not answering"}})
    async def healthz(self) -> dict[str, Any]:
        """OK when the model deployment answers."""
        try:
            version = await asyncio.wait_for(self.tracker.model_version.remote(), HEALTH_TIMEOUT_S)
        except TimeoutError as exc:
            raise HTTPException(503, f"model deployment did not answer within {HEALTH_TIMEOUT_S:g} s") from exc
        return {"status": "ok", "model_version": version}

    @api.get("/v1/model", response_model=ModelResponse)
    async def model_info(self) -> dict[str, Any]:
        """The served model (version, config, saved metrics) and the serving config."""
        return {
            "model_version": self.model.model_version,
            "model_config": self.model.model_config,
            "metrics": self.model.metrics,
            "defaults": dataclasses.asdict(self.model.defaults),
            "frames_in": self.model.frames_in,
            "frames_out": self.model.frames_out,
            "input_size": self.model.input_size,
            "serve_config": dataclasses.asdict(self.config),
        }

    @api.get("/v1/stats", response_model=StatsResponse)
    async def stats(self) -> dict[str, Any]:
        """Counters since the ingress started: requests by route and status, batch sizes formed."""
        return {
            "requests": dict(self.requests),
            "batch_size_counts": dict(sorted(self.batch_size_counts.items())),
            "open_streams": len(self.streams),
        }

    @api.post(
        "/v1/track/frames", response_model=FramesResponse, responses=_ERRORS,
        openapi_extra=_images_body("images", "frames_in (3) consecutive"),
    )
    async def track_frames(self, request: Request) -> dict[str, Any]:
        """Ball in each of frames_in consecutive images (same size), in the images' pixels."""
        route = "frames"
        try:
            blobs = await read_images(request, "images", self.model.frames_in, self.limits.max_request_bytes)
            frames, source_size = await asyncio.to_thread(self._to_model_frames, blobs, "images")
        except RequestError as exc:
            raise self._refuse(route, exc) from exc
        # A lone window has no history: its own frames' median stands in for the background
        # (the moving shuttle is in a different place in each, so it drops out).
        background = median_background(frames) if self.model.background else None
        result = await self._track(Window(frames, source_size, background))
        first = self.model.frames_in - self.model.frames_out  # images before the predicted ones are context
        self._count(route, 200)
        return {
            "model_version": self.model.model_version,
            "width": source_size[0],
            "height": source_size[1],
            "batch_size": result.batch_size,
            "frames": [_position(first + k, found) for k, found in enumerate(result.detections)],
        }

    @api.post("/v1/track/stream", response_model=StreamCreated, status_code=201,
              responses={429: {"description": "Too many open streams"}})
    async def open_stream(self) -> dict[str, Any]:
        """Open a live stream; send its frames to /v1/track/stream/{stream_id}, one at a time."""
        try:
            stream_id = self.streams.create()
        except StreamLimitError as exc:
            self._count("stream_open", 429)
            raise HTTPException(429, str(exc)) from exc
        self._count("stream_open", 201)
        return {"stream_id": stream_id, "frames_in": self.model.frames_in, "ttl_s": self.config.streams.ttl_s}

    @api.post(
        "/v1/track/stream/{stream_id}", response_model=StreamResponse,
        responses={**_ERRORS, 404: {"description": "Unknown or expired stream"}},
        openapi_extra=_images_body("image", "One"),
    )
    async def track_stream_frame(self, stream_id: str, request: Request) -> dict[str, Any]:
        """Add the stream's next frame; answers with the ball in that frame (source pixels).

        The model sees this frame and the stream's previous frames_in - 1 (the first frame
        repeated while there are fewer). Send a stream's frames in order, waiting for each answer.
        """
        route = "stream"
        try:
            self.streams.check(stream_id)
            blobs = await read_images(request, "image", 1, self.limits.max_request_bytes)
            frames, source_size = await asyncio.to_thread(self._to_model_frames, blobs, "image")
            pushed = self.streams.push(stream_id, frames[0], source_size)
        except UnknownStreamError as exc:
            self._count(route, 404)
            raise HTTPException(404, exc.args[0]) from exc
        except (RequestError, StreamFrameError) as exc:
            raise self._refuse(route, exc) from exc
        result = await self._track(Window(pushed.images, pushed.source_size, pushed.background))
        self._count(route, 200)
        return {
            **_position(pushed.frame, result.detections[-1]),
            "stream_id": stream_id,
            "model_version": self.model.model_version,
            "batch_size": result.batch_size,
        }

    @api.delete("/v1/track/stream/{stream_id}", status_code=204, responses={404: {"description": "Unknown stream"}})
    async def close_stream(self, stream_id: str) -> Response:
        """Forget a stream and its frames."""
        try:
            self.streams.delete(stream_id)
        except UnknownStreamError as exc:
            self._count("stream_close", 404)
            raise HTTPException(404, exc.args[0]) from exc
        self._count("stream_close", 204)
        return Response(status_code=204)

    @api.post(
        "/v1/track/video", response_model=VideoResponse,
        responses={**_ERRORS, 200: {"content": {"text/csv": {}}, "description": "JSON, or TrackNet CSV"}},
        openapi_extra=_VIDEO_BODY,
    )
    async def track_video(
        self,
        request: Request,
        output: Literal["json", "csv"] = Query(
            "json", alias="format", description="json, or csv: TrackNet Frame,Visibility,X,Y (integer source pixels)"
        ),
    ) -> Any:
        """Ball in every frame of a short clip, decoded and predicted exactly as jobs.infer does
        (raw detections: no trajectory clean-up)."""
        route = "video"
        try:
            data = await read_video(request, self.limits.max_video_bytes)
            info = await asyncio.to_thread(probe, io.BytesIO(data))
        except RequestError as exc:
            raise self._refuse(route, exc) from exc
        except VideoError as exc:
            raise self._refuse(route, RequestError(400, f"the video cannot be read: {exc.problem}")) from exc
        if info.frame_count > self.limits.max_video_frames:
            raise self._refuse(route, RequestError(
                413, f"the video has {info.frame_count} frames, more than the limit of {self.limits.max_video_frames} "
                "(limits.max_video_frames); use jobs.infer for long videos",
            ))
        result: VideoResult = await self.tracker.track_video.remote(data, info.frame_count, (info.width, info.height))
        if result.detections is None:
            raise self._refuse(route, RequestError(400, result.error or "the video cannot be decoded"))
        found = result.detections
        self._count(route, 200)
        if output == "csv":
            return Response(_tracknet_csv(found), media_type="text/csv")
        return {
            "model_version": self.model.model_version,
            "frame_count": info.frame_count,
            "fps": info.fps,
            "width": info.width,
            "height": info.height,
            "frames": [
                {
                    "frame": int(found.frame[i]),
                    "timestamp_s": float(found.timestamp_s[i]),
                    "visible": bool(found.visible[i]),
                    "x": float(found.x[i]) if found.visible[i] else None,
                    "y": float(found.y[i]) if found.visible[i] else None,
                    "score": float(found.score[i]),
                }
                for i in range(len(found))
            ],
        }

