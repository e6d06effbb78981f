"""Runtimes of the forward pass (torch, OpenVINO, ONNX Runtime): same detections, a safe cache, fallback.

    .venv/bin/python -m pytest -q tests/tracknet/test_runtimes.py

The models are the packaged synthetic-data model's weights at 256x144 (a convolutional
net runs at any multiple of 8), so they find the synthetic ball; the background-input one
adds random weights for its background channels, so its detections depend on them.
"""

from __future__ import annotations

import importlib.util
import logging
import multiprocessing
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tracknet.checkpoint import LoadedCheckpoint, load_checkpoint, save_checkpoint
from tracknet.inference import FrameDetections, Predictor
from tracknet.model import ModelConfig, TrackNet, load_widened
from tracknet.predictor_settings import PredictorSettings, resolve_runtime
from tracknet.runtimes import build_engine, default_threads
from tracknet.runtimes.onnx_cache import entry_path, read_entry
from tracknet.synth import SynthConfig, write_clip
from tracknet.weights import synthetic_checkpoint_path

WIDTH, HEIGHT, FRAMES = 256, 144, 90
CPU = torch.device("cpu")
# (runtime, precision) compared with torch fp32; the package each needs.
VARIANTS = [
    ("torch", "bf16", "torch"),
    ("onnxruntime", "fp32", "onnxruntime"),
    ("openvino", "fp32", "openvino"),
    ("openvino", "bf16", "openvino"),
]


def needs(package: str) -> None:
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed")


def tiny_model(background: bool) -> LoadedCheckpoint:
    """The synthetic model's weights at 256x144; with `background`, random weights for those channels."""
    state = load_checkpoint(synthetic_checkpoint_path()).model.state_dict()
    model = TrackNet(ModelConfig(width_mult=0.125, height=HEIGHT, width=WIDTH, background=background))
    if background:
        load_widened(model, state)
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            first = model.encoder[0][0].weight  # (C_out, 12, 3, 3): channels 9.. see the background
            first[:, 9:] = 0.05 * torch.randn(first[:, 9:].shape, generator=generator)
    else:
        model.load_state_dict(state)
    return LoadedCheckpoint(model.eval(), {}, f"runtime-test-bg{int(background)}")


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch) -> Path:
    """Every test exports into a cache of this module, never into ~/.cache."""
    root = tmp_path_factory.getbasetemp() / "runtime-cache"
    monkeypatch.setenv("TRACKNET_CACHE_DIR", str(root))
    return root


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("clip") / "rally.mp4"
    # A badminton clip (the synthetic model's training look; tennis synth changes with the tennis
    # work) whose shuttle the model sees clearly: with 90 frames, 99.5% means every frame, and a
    # frame whose heat sits on the threshold flips under bf16's rounding whatever the runtime.
    write_clip(path, SynthConfig(width=WIDTH, height=HEIGHT, frames=FRAMES, seed=1, court="badminton"))
    return str(path)


@pytest.fixture(scope="module")
def models() -> dict[bool, LoadedCheckpoint]:
    return {background: tiny_model(background) for background in (False, True)}


@pytest.fixture(scope="module")
def references(models, clip) -> dict[bool, FrameDetections]:
    """torch fp32 detections with flip_tta, per model."""
    return {
        background: detect(loaded, clip, PredictorSettings(device="cpu", runtime="torch", flip_tta=True))
        for background, loaded in models.items()
    }


class TorchEngineRef:
    """torch fp32 heatmaps of the model, as TrackNet.predict gives them."""

    def __init__(self, loaded: LoadedCheckpoint) -> None:
        self.model = loaded.model

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.model.predict(x)


def detect(loaded: LoadedCheckpoint, clip: str, settings: PredictorSettings) -> FrameDetections:
    return Predictor(loaded, settings).predict_video(clip, FRAMES, (WIDTH, HEIGHT))


def assert_same_detections(found: FrameDetections, reference: FrameDetections) -> None:
    """Same visibility on >= 99.5% of frames; within 1 px (model pixels = source pixels here) where both see it."""
    assert 0.2 < reference.visible.mean() < 1.0, "the clip must have frames with and without a detection"
    assert (found.visible == reference.visible).mean() >= 0.995
    both = found.visible & reference.visible
    distance = np.hypot(found.x[both] - reference.x[both], found.y[both] - reference.y[both])
    assert distance.max() <= 1.0, f"positions differ by up to {distance.max():.2f} px"


@pytest.mark.parametrize("background", [False, True], ids=["plain", "background"])
@pytest.mark.parametrize("runtime,precision,package", VARIANTS, ids=[f"{r}-{p}" for r, p, _ in VARIANTS])
def test_every_runtime_detects_what_torch_fp32_does(models, references, clip, background, runtime, precision, package):
    needs(package)
    for batch_size in (1, 3):
        settings = PredictorSettings(
            device="cpu", runtime=runtime, precision=precision, flip_tta=True, batch_size=batch_size
        )
        predictor = Predictor(models[background], settings)
        assert (predictor.engine.runtime, predictor.engine.precision) == (runtime, precision)
        found = predictor.predict_video(clip, FRAMES, (WIDTH, HEIGHT))
        assert_same_detections(found, references[background])


@pytest.mark.parametrize("runtime,precision,package", VARIANTS, ids=[f"{r}-{p}" for r, p, _ in VARIANTS])
def test_heatmaps_match_torch_at_any_batch_size(models, runtime, precision, package):
    needs(package)
    loaded = models[True]
    config = loaded.model.config
    reference = TorchEngineRef(loaded)
    engine = build_engine(loaded, PredictorSettings(device="cpu", runtime=runtime, precision=precision), CPU)
    assert engine.runtime == runtime
    tolerance = 1e-4 if precision == "fp32" else 0.05
    for batch_size in (1, 3, 2):
        generator = torch.Generator().manual_seed(batch_size)
        x = torch.rand(batch_size, config.in_channels, config.height, config.width, generator=generator)
        heat = engine(x)
        assert heat.dtype == torch.float32 and heat.shape == (batch_size, config.frames_out, config.height, config.width)
        assert (heat - reference(x)).abs().max() < tolerance


def test_exporting_leaves_the_callers_model_as_it_was(models):
    needs("onnxruntime")
    loaded = tiny_model(background=False)
    before = {name: tensor.clone() for name, tensor in loaded.model.state_dict().items()}
    Predictor(loaded, PredictorSettings(device="cpu", runtime="onnxruntime"))
    assert not loaded.model.training, "the export must not switch the model to training mode"
    after = loaded.model.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)


@pytest.mark.parametrize("damage", ["truncate", "flip_byte"])
@pytest.mark.parametrize("runtime,package", [("openvino", "openvino"), ("onnxruntime", "onnxruntime")])
def test_a_damaged_cache_entry_is_rebuilt_never_trusted(models, tmp_path, monkeypatch, caplog, damage, runtime, package):
    needs(package)
    monkeypatch.setenv("TRACKNET_CACHE_DIR", str(tmp_path))
    loaded = models[False]
    config = loaded.model.config
    x = torch.rand(2, config.in_channels, config.height, config.width, generator=torch.Generator().manual_seed(0))
    settings = PredictorSettings(device="cpu", runtime=runtime)
    first = build_engine(loaded, settings, CPU)(x)
    path = entry_path(loaded)
    assert path.is_file() and read_entry(path) is not None
    good = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(good[: len(good) // 2])
    else:
        broken = bytearray(good)
        broken[len(good) // 2] ^= 0xFF
        path.write_bytes(bytes(broken))
    with caplog.at_level(logging.WARNING, logger="tracknet"):
        engine = build_engine(loaded, settings, CPU)
    assert engine.runtime == runtime, "a damaged entry is rebuilt, not a reason to fall back"
    assert any("damaged" in record.getMessage() for record in caplog.records)
    assert read_entry(path) is not None and path.stat().st_size == len(good)
    torch.testing.assert_close(engine(x), first, rtol=0, atol=1e-6)
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temporary files left"


def test_entries_are_keyed_by_the_weights_not_only_the_version(models, tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKNET_CACHE_DIR", str(tmp_path))
    plain = models[False]
    other = TrackNet(plain.model.config).eval()  # different weights under the same version string
    same_name = LoadedCheckpoint(other, {}, plain.model_version)
    assert entry_path(plain) != entry_path(same_name)
    assert entry_path(plain).parent == tmp_path / "onnx"


def _load_concurrently(checkpoint: str, cache: str, barrier, results) -> None:
    os.environ["TRACKNET_CACHE_DIR"] = cache
    torch.set_num_threads(1)
    loaded = load_checkpoint(checkpoint)
    config = loaded.model.config
    barrier.wait()  # every process finds the cache empty and exports at once
    engine = build_engine(loaded, PredictorSettings(device="cpu", runtime="onnxruntime"), CPU, threads=1)
    x = torch.rand(1, config.in_channels, config.height, config.width, generator=torch.Generator().manual_seed(0))
    results.put((engine.runtime, engine(x).numpy()))


def test_concurrent_loaders_all_succeed_and_leave_one_valid_entry(models, tmp_path):
    needs("onnxruntime")
    checkpoint = tmp_path / "model.pt"
    save_checkpoint(checkpoint, models[True].model, name="concurrent")
    cache = tmp_path / "cache"
    context = multiprocessing.get_context("spawn")
    workers = 3
    barrier, results = context.Barrier(workers), context.Queue()
    processes = [
        context.Process(target=_load_concurrently, args=(str(checkpoint), str(cache), barrier, results))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    outputs = [results.get(timeout=180) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert [runtime for runtime, _ in outputs] == ["onnxruntime"] * workers
    for _, heat in outputs[1:]:
        np.testing.assert_array_equal(heat, outputs[0][1])
    entries = list((cache / "onnx").iterdir())
    assert len(entries) == 1 and entries[0].name.endswith(".onnx.tnc"), entries
    assert read_entry(entries[0]) is not None


def test_an_uninstalled_runtime_falls_back_to_torch_with_one_warning(models, clip, references, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` now raises ImportError
    with caplog.at_level(logging.WARNING, logger="tracknet"):
        predictor = Predictor(models[False], PredictorSettings(device="cpu", runtime="openvino", flip_tta=True))
    assert (predictor.engine.runtime, predictor.engine.precision) == ("torch", "fp32")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "'openvino' is not installed" in warnings[0], warnings
    found = predictor.predict_video(clip, FRAMES, (WIDTH, HEIGHT))
    np.testing.assert_array_equal(found.visible, references[False].visible)


def test_a_failing_export_falls_back_to_torch_with_one_warning(models, monkeypatch, caplog):
    needs("onnxruntime")

    def broken_export(loaded):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr("tracknet.runtimes.cached_onnx", broken_export)
    with caplog.at_level(logging.WARNING, logger="tracknet"):
        engine = build_engine(models[False], PredictorSettings(device="cpu", runtime="onnxruntime"), CPU)
    assert engine.runtime == "torch"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "exporter exploded" in warnings[0]


def test_settings_reject_unknown_runtimes_and_impossible_combinations():
    with pytest.raises(ValueError, match="runtime must be"):
        PredictorSettings(runtime="tensorrt")
    with pytest.raises(ValueError, match="CPU"):
        PredictorSettings(device="cuda", runtime="openvino")
    with pytest.raises(ValueError, match="fp32 only"):
        PredictorSettings(runtime="onnxruntime", precision="bf16")
    with pytest.raises(ValueError, match="precision must be"):
        PredictorSettings(precision="int4")
    assert PredictorSettings(runtime="torch", precision="auto").detection_settings()["runtime"] == "torch"
    assert PredictorSettings(precision="auto").detection_settings()["precision"] == "auto"


@pytest.mark.parametrize("native_bf16", [True, False])
def test_auto_resolves_by_device_and_cpu(monkeypatch, native_bf16):
    monkeypatch.setattr("tracknet.predictor_settings.cpu_has_native_bf16", lambda: native_bf16)
    cpu_precision = "bf16" if native_bf16 else "fp32"
    auto = PredictorSettings(precision="auto")
    assert resolve_runtime(auto, CPU) == ("openvino", cpu_precision)
    assert resolve_runtime(auto, torch.device("cuda")) == ("torch", "bf16")
    assert resolve_runtime(PredictorSettings(runtime="torch", precision="auto"), CPU) == ("torch", cpu_precision)
    assert resolve_runtime(PredictorSettings(runtime="onnxruntime", precision="auto"), CPU) == ("onnxruntime", "fp32")
    assert resolve_runtime(PredictorSettings(runtime="openvino", precision="fp32"), CPU) == ("openvino", "fp32")
    assert resolve_runtime(PredictorSettings(runtime="openvino"), torch.device("cuda")) == ("torch", "fp32")


def test_cpu_runtimes_run_the_threads_they_are_given(models, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert default_threads(PredictorSettings(torch_threads=3)) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert default_threads(PredictorSettings()) == 2
    loaded = models[False]
    if importlib.util.find_spec("openvino"):
        predictor = Predictor(loaded, PredictorSettings(device="cpu", runtime="openvino"), threads=1)
        assert int(predictor.engine.compiled.get_property("INFERENCE_NUM_THREADS")) == 1
        predictor = Predictor(loaded, PredictorSettings(device="cpu", runtime="openvino", torch_threads=2))
        assert int(predictor.engine.compiled.get_property("INFERENCE_NUM_THREADS")) == 2
    if importlib.util.find_spec("onnxruntime"):
        predictor = Predictor(loaded, PredictorSettings(device="cpu", runtime="onnxruntime"), threads=1)
        assert predictor.engine.session.get_session_options().intra_op_num_threads == 1
    with pytest.raises(ValueError, match="threads"):
        Predictor(loaded, PredictorSettings(device="cpu", runtime="torch"), threads=0)
