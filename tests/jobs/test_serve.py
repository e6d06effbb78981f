"""jobs.serve end to end: the application on local Ray Serve, real HTTP requests to 127.0.0.1.

Served results are checked against the library's batch path on the same frames: images
resized with `resize_frame`, `Predictor.heatmaps` (model.predict) on `to_model_input`,
`heatmap.decode_to_source`; clips against `Predictor.predict_video` (what jobs.infer runs).
The model is the packaged synthetic-data checkpoint's weights at a 160x96 input (the network
is fully convolutional), so it finds the ball on small synthetic frames and runs fast on CPU.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
import torch

from jobs.common.config import ConfigError, load_config
from jobs.serve import APP_NAME, EXIT_USAGE, app_builder, build_app, main
from jobs.serving.config import ServeConfig
from jobs.serving.streams import BACKGROUND_STEP, StreamBuffers, StreamFrameError, StreamLimitError, UnknownStreamError
from tracknet.background import median_background
from tracknet.checkpoint import load_checkpoint, save_checkpoint
from tracknet.heatmap import Detection, decode_to_source
from tracknet.inference import Predictor
from tracknet.labels import write_tracknet_csv
from tracknet.model import TrackNet, load_widened
from tracknet.model_defaults import ModelDefaults
from tracknet.preprocess import decode_image, encode_jpeg, resize_frame, to_model_input
from tracknet.predictor_settings import PredictorSettings
from tracknet.synth import SynthConfig, write_clip
from tracknet.video import probe, read_frames
from tracknet.weights import synthetic_checkpoint_path

pytestmark = pytest.mark.slow  # a Ray Serve application on 127.0.0.1
BATCH_WAIT_S = 0.05

CONF = Path(__file__).resolve().parents[2] / "conf" / "serve.yaml"
SOURCE_SIZE = (200, 120)
CLIP_FRAMES = 12
MAX_STREAMS = 4
TIMEOUT_S = 60


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packaged synthetic-data weights with a 160x96 input, and a threshold of their own (0.45)."""
    loaded = load_checkpoint(synthetic_checkpoint_path())
    model = TrackNet(dataclasses.replace(loaded.model.config, width=160, height=96))
    model.load_state_dict(loaded.model.state_dict())
    path = tmp_path_factory.mktemp("serve_model") / "synthetic_160x96.pt"
    save_checkpoint(path, model, ModelDefaults(sport="synthetic", threshold=0.45).as_metadata(), name="synthetic-160x96")
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("serve_clips") / "rally.mp4"
    write_clip(path, SynthConfig(width=SOURCE_SIZE[0], height=SOURCE_SIZE[1], frames=CLIP_FRAMES, seed=1))
    return path


@pytest.fixture(scope="module")
def pngs(clip: Path) -> list[bytes]:
    """The clip's frames at source size, PNG-encoded (lossless: client and reference see the same pixels)."""
    import cv2

    frames = read_frames(clip, 0, CLIP_FRAMES)
    return [cv2.imencode(".png", cv2.cvtColor(f.image, cv2.COLOR_RGB2BGR))[1].tobytes() for f in frames]


@pytest.fixture(scope="module")
def reference(model_path: Path) -> Predictor:
    return Predictor(model_path, serve_settings())


def serve_settings(*overrides: str) -> PredictorSettings:
    """The predictor settings of conf/serve.yaml on the CPU (what the replicas run)."""
    return load_config(ServeConfig, CONF, ["predictor.device=cpu", *overrides]).predictor


@pytest.fixture(scope="module")
def server(ray_local: None, model_path: Path) -> Iterator[str]:
    """Base URL of the application, served once for the module on 127.0.0.1 and a free port."""
    from ray import serve

    config = load_config(ServeConfig, CONF, [
        f"model={model_path}", "predictor.device=cpu", "cpus_per_replica=1", "ingress.cpus=0.5",
        f"streams.max_streams={MAX_STREAMS}", "limits.max_request_mb=1", "limits.max_image_pixels=100000",
        "limits.max_video_mb=1", "limits.max_video_frames=20",
        # Long enough that concurrent clients share batches however fast the model is (the
        # shipped 5 ms makes that a race with the ingress); a lone request waits this much.
        f"batching.batch_wait_timeout_s={BATCH_WAIT_S}",
    ])
    # A free port can be taken by another process between the probe and Serve's bind: then the
    # application never answers, and it is started again on another port.
    for _ in range(3):
        with socket.socket() as probe_socket:
            probe_socket.bind(("127.0.0.1", 0))
            port = probe_socket.getsockname()[1]
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build_app(config), name=APP_NAME, route_prefix="/")
        url = f"http://127.0.0.1:{port}"
        if _answers(url, timeout_s=60):
            break
        serve.shutdown()
    else:
        raise RuntimeError("the application never answered /healthz on three free ports")
    yield url
    serve.shutdown()


def _answers(url: str, timeout_s: float) -> bool:
    """True once `url`/healthz answers 200 with this project's application (not another server)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            response = requests.get(f"{url}/healthz", timeout=5)
            if response.status_code == 200 and "model_version" in response.json():
                return True
        except (requests.RequestException, ValueError):  # not listening yet, or the app not deployed yet
            pass
        time.sleep(0.5)
    return False


# ---------------------------------------------------------------- helpers


def batch_path(reference: Predictor, blobs: list[bytes]) -> list[Detection]:
    """The library's batch path on a window of encoded frames: resize, model.predict, decode."""
    images = [decode_image(blob) for blob in blobs]
    source_size = (images[0].shape[1], images[0].shape[0])
    resized = np.stack([resize_frame(image, reference.input_size) for image in images])
    heat = reference.heatmaps(to_model_input(resized)[None])[0]  # (frames_out, H, W)
    return [decode_to_source(frame_heat, source_size, reference.threshold) for frame_heat in heat]


def assert_position(got: dict, want: Detection) -> None:
    assert got["visible"] == want.visible
    if want.visible:
        assert got["x"] == pytest.approx(want.x, abs=1e-3)
        assert got["y"] == pytest.approx(want.y, abs=1e-3)
    else:
        assert got["x"] is None and got["y"] is None
    assert got["score"] == pytest.approx(want.score, abs=1e-5)


def multipart(field: str, blobs: list[bytes]) -> dict:
    return {"files": [(field, (f"{i}.png", blob, "image/png")) for i, blob in enumerate(blobs)]}


def as_json(field: str, blobs: list[bytes]) -> dict:
    encoded = [base64.b64encode(blob).decode() for blob in blobs]
    return {"json": {field: encoded if field == "images" else encoded[0]}}


def png_of_size(width: int, height: int) -> bytes:
    import cv2

    return cv2.imencode(".png", np.full((height, width, 3), 90, np.uint8))[1].tobytes()


# ---------------------------------------------------------------- config (no Ray)


def test_conf_file_maps_onto_config():
    assert load_config(ServeConfig, CONF) == ServeConfig()


@pytest.mark.parametrize(
    "override,message",
    [
        ("batching.max_batch_size=0", "max_batch_size must be >= 1"),
        ("predictor.device=cuda", "needs gpus_per_replica > 0"),
        ("predictor.threshold=0", "threshold must be in"),
        ("streams.ttl_s=0", "ttl_s must be > 0"),
        ("limits.max_video_mb=-1", "max_video_mb must be > 0"),
        ("batching.max_batch=4", "unknown key 'batching.max_batch'"),
    ],
)
def test_bad_config_is_named(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(ServeConfig, CONF, [override])


def test_main_refuses_bad_config_and_model(tmp_path, capsys):
    assert main(["--config", str(CONF), "replicas=0"]) == EXIT_USAGE
    assert "replicas must be >= 1" in capsys.readouterr().err
    assert main(["--config", str(CONF), f"model={tmp_path / 'nope.pt'}"]) == EXIT_USAGE
    assert "nope.pt" in capsys.readouterr().err


def test_app_builder_reads_config_and_nested_overrides(model_path):
    app = app_builder({"config": str(CONF), "model": str(model_path), "batching": {"max_batch_size": 4}})
    assert type(app).__name__ == "Application"
    with pytest.raises(ConfigError, match="unknown key 'batching.nope'"):
        app_builder({"config": str(CONF), "batching": {"nope": 1}})


# ---------------------------------------------------------------- stream buffers (no Ray)


def test_stream_buffers_window_padding_and_size():
    streams = StreamBuffers(frames_in=3, max_streams=2, ttl_s=10)
    stream_id = streams.create()
    frames = [np.full((2, 2, 3), i, np.uint8) for i in range(4)]
    first = streams.push(stream_id, frames[0], (8, 6))
    assert first.frame == 0 and [int(f[0, 0, 0]) for f in first.images] == [0, 0, 0]
    streams.push(stream_id, frames[1], (8, 6))
    streams.push(stream_id, frames[2], (8, 6))
    fourth = streams.push(stream_id, frames[3], (8, 6))
    assert fourth.frame == 3 and [int(f[0, 0, 0]) for f in fourth.images] == [1, 2, 3]
    with pytest.raises(StreamFrameError, match="8x6"):
        streams.push(stream_id, frames[0], (16, 12))


def test_stream_buffers_keep_a_background_of_sampled_frames():
    streams = StreamBuffers(frames_in=3, max_streams=1, ttl_s=10, background=True)
    stream_id = streams.create()
    frames = [np.full((2, 2, 3), i, np.uint8) for i in range(2 * BACKGROUND_STEP + 1)]
    pushed = [streams.push(stream_id, frame, (8, 6)) for frame in frames]
    # Frame 0 is the first sample; frames 10 and 20 join it: the median of 0, 10, 20 is 10.
    assert int(pushed[0].background[0, 0, 0]) == 0 and int(pushed[BACKGROUND_STEP - 1].background[0, 0, 0]) == 0
    assert int(pushed[-1].background[0, 0, 0]) == BACKGROUND_STEP
    plain = StreamBuffers(frames_in=3, max_streams=1, ttl_s=10)
    assert plain.push(plain.create(), frames[0], (8, 6)).background is None


def test_stream_buffers_expire_and_are_bounded():
    now = [0.0]
    streams = StreamBuffers(frames_in=3, max_streams=2, ttl_s=10, clock=lambda: now[0])
    a, b = streams.create(), streams.create()
    with pytest.raises(StreamLimitError, match="2 streams are open"):
        streams.create()
    now[0] = 8.0
    streams.push(a, np.zeros((2, 2, 3), np.uint8), (2, 2))  # keeps a alive
    now[0] = 12.0  # b idle for 12 s > ttl
    with pytest.raises(UnknownStreamError, match="idle for more than 10 s"):
        streams.check(b)
    assert len(streams) == 1
    streams.create()  # b's slot is free again
    streams.delete(a)
    with pytest.raises(UnknownStreamError):
        streams.push(a, np.zeros((2, 2, 3), np.uint8), (2, 2))
    with pytest.raises(UnknownStreamError):
        streams.check("never-created")


# ---------------------------------------------------------------- HTTP


def test_frames_match_batch_path(server, pngs, reference):
    jpegs = [encode_jpeg(decode_image(png)) for png in pngs]
    visible = 0
    for start in range(0, CLIP_FRAMES, 3):
        for body in (multipart("images", pngs[start : start + 3]), as_json("images", jpegs[start : start + 3])):
            blobs = pngs[start : start + 3] if "files" in body else jpegs[start : start + 3]
            response = requests.post(f"{server}/v1/track/frames", timeout=TIMEOUT_S, **body)
            assert response.status_code == 200, response.text
            answer = response.json()
            assert (answer["width"], answer["height"]) == SOURCE_SIZE
            assert [f["frame"] for f in answer["frames"]] == [0, 1, 2]
            for got, want in zip(answer["frames"], batch_path(reference, blobs), strict=True):
                assert_position(got, want)
                visible += want.visible
    assert visible >= 4  # the comparison covers found balls, not only empty frames


def test_stream_matches_batch_path(server, pngs, reference):
    opened = requests.post(f"{server}/v1/track/stream", timeout=TIMEOUT_S)
    assert opened.status_code == 201
    stream_id = opened.json()["stream_id"]
    url = f"{server}/v1/track/stream/{stream_id}"
    for n in range(6):
        body = multipart("image", [pngs[n]]) if n % 2 else as_json("image", [pngs[n]])
        response = requests.post(url, timeout=TIMEOUT_S, **body)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["frame"] == n and answer["stream_id"] == stream_id
        window = [pngs[max(i, 0)] for i in range(n - 2, n + 1)]  # the first frame repeated at the start
        assert_position(answer, batch_path(reference, window)[-1])
    assert requests.delete(url, timeout=TIMEOUT_S).status_code == 204
    gone = requests.post(url, timeout=TIMEOUT_S, **multipart("image", [pngs[0]]))
    assert gone.status_code == 404 and "unknown stream" in gone.json()["detail"]


def test_video_matches_predictor_json_and_csv(server, clip, reference):
    info = probe(clip)
    want = reference.predict_video(clip, info.frame_count, (info.width, info.height))
    data = clip.read_bytes()
    response = requests.post(
        f"{server}/v1/track/video", files={"video": ("rally.mp4", data, "video/mp4")}, timeout=TIMEOUT_S
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["frame_count"] == CLIP_FRAMES and (answer["width"], answer["height"]) == SOURCE_SIZE
    assert [f["frame"] for f in answer["frames"]] == list(range(CLIP_FRAMES))
    for i, got in enumerate(answer["frames"]):
        assert got["timestamp_s"] == pytest.approx(want.timestamp_s[i])
        assert_position(got, Detection(bool(want.visible[i]), want.x[i], want.y[i], float(want.score[i])))

    as_csv = requests.post(
        f"{server}/v1/track/video?format=csv", data=data,
        headers={"content-type": "application/octet-stream"}, timeout=TIMEOUT_S,
    )
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    expected = io.StringIO()
    write_tracknet_csv(
        pd.DataFrame({"frame": want.frame, "visible": want.visible.astype(np.int8), "x_px": want.x, "y_px": want.y}),
        expected,
    )
    assert as_csv.text == expected.getvalue()


def test_health_model_docs_and_stats(server, model_path):
    health = requests.get(f"{server}/healthz", timeout=TIMEOUT_S).json()
    version = load_checkpoint(model_path).model_version
    assert health == {"status": "ok", "model_version": version}
    model = requests.get(f"{server}/v1/model", timeout=TIMEOUT_S).json()
    assert model["model_version"] == version
    assert model["model_config"]["width"] == 160 and model["input_size"] == [160, 96]
    assert model["defaults"]["sport"] == "synthetic"
    assert model["serve_config"]["predictor"]["threshold"] == 0.45  # the model's own: conf/serve.yaml leaves it null
    schema = requests.get(f"{server}/openapi.json", timeout=TIMEOUT_S).json()
    assert {"/v1/track/frames", "/v1/track/stream/{stream_id}", "/v1/track/video"} <= set(schema["paths"])
    assert "multipart/form-data" in schema["paths"]["/v1/track/frames"]["post"]["requestBody"]["content"]
    assert requests.get(f"{server}/docs", timeout=TIMEOUT_S).status_code == 200
    stats = requests.get(f"{server}/v1/stats", timeout=TIMEOUT_S).json()
    assert set(stats) == {"requests", "batch_size_counts", "open_streams"}


def test_bad_requests_get_4xx_and_the_server_goes_on(server, pngs, reference, tmp_path):
    frames, video = f"{server}/v1/track/frames", f"{server}/v1/track/video"
    long_clip = tmp_path / "long.mp4"
    write_clip(long_clip, SynthConfig(width=64, height=48, frames=24, seed=1))
    truncated = long_clip.read_bytes()[:2000]
    octet = {"content-type": "application/octet-stream"}
    cases = [
        (frames, multipart("images", pngs[:2]), 400, "expected 3 images in 'images', got 2"),
        (frames, multipart("images", pngs[:4]), 400, "expected 3 images in 'images', got 4"),
        (frames, as_json("images", []), 400, "expected 3 images"),
        (frames, multipart("images", [pngs[0], pngs[1], png_of_size(100, 60)]), 400, "must all have the same size"),
        (frames, multipart("images", [pngs[0], b"not an image", pngs[2]]), 400, "images[1]: data is not a decodable"),
        (frames, {"json": {"images": ["%%%", "a", "b"]}}, 400, "images[0] is not valid base64"),
        (frames, {"json": {"frames": []}}, 400, "with the key 'images'"),
        (frames, {"data": b"{", "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
        (frames, {**multipart("images", pngs[:3]), "data": {"extra": "1"}}, 400, "unexpected field(s) 'extra'"),
        (frames, {"data": b"abc", "headers": {"content-type": "text/plain"}}, 415, "multipart/form-data"),
        (frames, multipart("images", [pngs[0], pngs[1], b"x" * (2**20 + 1)]), 413, "larger than the limit of 1 MiB"),
        (frames, multipart("images", [png_of_size(400, 300)] * 3), 413, "more than 100000 pixels"),
        (f"{server}/v1/track/stream/never-created", multipart("image", pngs[:1]), 404, "unknown stream"),
        (video, {"data": b"not a video", "headers": octet}, 400, "the video cannot be read"),
        (video, {"data": truncated, "headers": octet}, 400, "the video cannot be"),
        (video, {"data": b"", "headers": octet}, 400, "the video is empty"),
        (video, {"data": b"x" * (2**20 + 1), "headers": octet}, 413, "larger than the limit of 1 MiB"),
        (video, {"data": long_clip.read_bytes(), "headers": octet}, 413, "24 frames, more than the limit of 20"),
        (video, {"data": b"x", "headers": {"content-type": "image/png"}}, 415, "send the video"),
        (f"{video}?format=xml", {"data": b"x", "headers": octet}, 422, "format"),
    ]
    for url, body, status, message in cases:
        response = requests.post(url, timeout=TIMEOUT_S, **body)
        assert response.status_code == status, (message, response.text)
        assert response.headers["content-type"] == "application/json"
        assert message in str(response.json()["detail"]), response.text

    response = requests.post(frames, timeout=TIMEOUT_S, **multipart("images", pngs[:3]))
    assert response.status_code == 200
    for got, want in zip(response.json()["frames"], batch_path(reference, pngs[:3]), strict=True):
        assert_position(got, want)


def test_streams_are_bounded(server, pngs):
    opened = [requests.post(f"{server}/v1/track/stream", timeout=TIMEOUT_S) for _ in range(MAX_STREAMS)]
    assert [r.status_code for r in opened] == [201] * MAX_STREAMS
    refused = requests.post(f"{server}/v1/track/stream", timeout=TIMEOUT_S)
    assert refused.status_code == 429 and "streams.max_streams" in refused.json()["detail"]
    stream_id = opened[0].json()["stream_id"]
    requests.post(f"{server}/v1/track/stream/{stream_id}", timeout=TIMEOUT_S, **multipart("image", pngs[:1]))
    other_size = requests.post(
        f"{server}/v1/track/stream/{stream_id}", timeout=TIMEOUT_S, **multipart("image", [png_of_size(100, 60)])
    )
    assert other_size.status_code == 400 and "size of its first frame" in other_size.json()["detail"]
    for r in opened:
        closed = requests.delete(f"{server}/v1/track/stream/{r.json()['stream_id']}", timeout=TIMEOUT_S)
        assert closed.status_code == 204


def test_concurrent_clients_are_all_answered_correctly(server, pngs, reference):
    windows = [pngs[start : start + 3] for start in range(0, CLIP_FRAMES, 3)]
    expected = [batch_path(reference, window) for window in windows]
    clients, per_client = 8, 50
    failures: list[str] = []
    batch_sizes: list[int] = []

    def client(index: int) -> None:
        with requests.Session() as session:
            for j in range(per_client):
                k = (index + j) % len(windows)
                body = multipart("images", windows[k])
                response = session.post(f"{server}/v1/track/frames", timeout=TIMEOUT_S, **body)
                if response.status_code != 200:
                    failures.append(f"client {index} request {j}: {response.status_code} {response.text}")
                    continue
                answer = response.json()
                batch_sizes.append(answer["batch_size"])
                try:
                    for got, want in zip(answer["frames"], expected[k], strict=True):
                        assert_position(got, want)
                except AssertionError as exc:
                    failures.append(f"client {index} request {j}: {exc}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:3]
    assert len(batch_sizes) == clients * per_client
    assert max(batch_sizes) > 1  # requests from different clients shared model batches
    counts = requests.get(f"{server}/v1/stats", timeout=TIMEOUT_S).json()["batch_size_counts"]
    assert sum(counts.values()) >= clients * per_client


def test_background_model_gets_its_background_on_every_route(server, model_path, pngs, clip, tmp_path):
    """A second app serves a model with a background input (and flip_tta on): a lone window uses
    its own frames' median, a stream the median of its sampled frames, a clip the clip's median."""
    from ray import serve

    loaded = load_checkpoint(model_path)
    widened = TrackNet(dataclasses.replace(loaded.model.config, background=True))
    load_widened(widened, loaded.model.state_dict())
    with torch.no_grad():  # as if trained: the background now changes the answers
        widened.encoder[0][0].weight[:, 9:] = 0.2 * widened.encoder[0][0].weight[:, 3:6]
    path = tmp_path / "background.pt"
    save_checkpoint(path, widened, name="synthetic-background")
    config = load_config(ServeConfig, CONF, [f"model={path}", "predictor.device=cpu", "cpus_per_replica=0.5", "ingress.cpus=0",
                                                 "predictor.flip_tta=true", "predictor.threshold=0.1"])
    serve.run(build_app(config), name="background", route_prefix="/background")
    url = f"{server}/background"
    # A low threshold: big blobs whose centroids show any change of the heatmaps.
    reference = Predictor(path, serve_settings("predictor.threshold=0.1", "predictor.flip_tta=true"))
    frames = [resize_frame(decode_image(png), reference.input_size) for png in pngs]

    def heat(window: list[np.ndarray], background: np.ndarray) -> np.ndarray:
        return reference.heatmaps(to_model_input([*window, background])[None])[0]

    def want(window: list[np.ndarray], background: np.ndarray) -> list[Detection]:
        return [decode_to_source(h, SOURCE_SIZE, reference.threshold) for h in heat(window, background)]

    try:
        response = requests.post(f"{url}/v1/track/frames", timeout=TIMEOUT_S, **multipart("images", pngs[3:6]))
        assert response.status_code == 200, response.text
        lone = want(frames[3:6], median_background(frames[3:6]))
        # The background does change the answer.
        assert np.abs(heat(frames[3:6], median_background(frames[3:6])) - heat(frames[3:6], frames[0])).max() > 0.01
        for got, expected in zip(response.json()["frames"], lone, strict=True):
            assert_position(got, expected)

        stream = requests.post(f"{url}/v1/track/stream", timeout=TIMEOUT_S).json()["stream_id"]
        for n in range(CLIP_FRAMES):
            answer = requests.post(f"{url}/v1/track/stream/{stream}", timeout=TIMEOUT_S,
                                   **multipart("image", [pngs[n]])).json()
        sampled = median_background(frames[: CLIP_FRAMES : BACKGROUND_STEP])
        assert_position(answer, want(frames[CLIP_FRAMES - 3 :], sampled)[-1])

        info = probe(clip)
        video = reference.predict_video(clip, info.frame_count, SOURCE_SIZE)
        unmirrored = Predictor(path, serve_settings("predictor.threshold=0.1")).predict_video(
            clip, info.frame_count, SOURCE_SIZE)
        assert np.nanmax(np.abs(video.x - unmirrored.x)) > 1  # flip_tta changes the answer
        response = requests.post(f"{url}/v1/track/video", files={"video": ("rally.mp4", clip.read_bytes(), "video/mp4")},
                                 timeout=TIMEOUT_S)
        assert response.status_code == 200, response.text
        for i, got in enumerate(response.json()["frames"]):
            assert_position(got, Detection(bool(video.visible[i]), video.x[i], video.y[i], float(video.score[i])))
    finally:
        serve.delete("background")
