"""A model's own defaults (tracknet.model_defaults) reach jobs.infer and jobs.serve; explicit keys win."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.common.config import load_config
from jobs.infer import run_inference
from jobs.serving.config import ServeConfig
from jobs.serving.tracker import describe_model
from tests.jobs.test_infer import infer_config, make_clip, read_predictions
from tracknet.checkpoint import load_checkpoint, save_checkpoint
from tracknet.errors import CheckpointError
from tracknet.model_defaults import ModelDefaults
from tracknet.weights import synthetic_checkpoint_path

SERVE_CONF = Path(__file__).resolve().parents[2] / "conf" / "serve.yaml"
# A clean-up limit no moving ball keeps: the model's defaults visibly reject its jumps.
STRICT = ModelDefaults(sport="strict", threshold=0.45, max_jump_px=0.5, max_gap_frames=2)


@pytest.fixture()
def strict_model(tmp_path) -> Path:
    """The synthetic model (it finds the synthetic ball) saved with STRICT defaults."""
    loaded = load_checkpoint(synthetic_checkpoint_path())
    path = tmp_path / "strict.pt"
    save_checkpoint(path, loaded.model, {**loaded.metadata, **STRICT.as_metadata()}, name="strict")
    return path


def test_shipped_confs_leave_the_sport_keys_to_the_model():
    infer = infer_config("videos", "out", "badminton")
    assert infer.model == "badminton"
    assert (infer.predictor.threshold, infer.cleanup.max_jump_px, infer.cleanup.max_gap_frames) == (None, None, None)
    assert load_config(ServeConfig, SERVE_CONF).predictor.threshold is None


@pytest.mark.slow
def test_infer_uses_the_models_defaults_and_explicit_keys_win(ray_local, tmp_path, strict_model):
    make_clip(tmp_path / "videos" / "a.mp4", width=320, height=180, frames=24)
    videos = str(tmp_path / "videos")

    report = run_inference(infer_config(videos, str(tmp_path / "model_defaults"), str(strict_model)))
    assert report.sport == "strict"
    assert report.config.predictor.threshold == 0.45
    assert (report.config.cleanup.max_jump_px, report.config.cleanup.max_gap_frames) == (0.5, 2)
    strict = read_predictions(str(tmp_path / "model_defaults"))
    assert strict["raw_visible"].sum() >= 10  # the synthetic model sees the ball
    assert strict["rejected"].sum() >= strict["raw_visible"].sum() // 2  # every jump > 0.5 px is rejected

    report = run_inference(infer_config(videos, str(tmp_path / "explicit"), str(strict_model),
                                        "cleanup.max_jump_px=150", "predictor.threshold=0.5"))
    assert report.config.predictor.threshold == 0.5
    assert report.config.cleanup.max_jump_px == 150
    explicit = read_predictions(str(tmp_path / "explicit"))
    assert explicit["rejected"].sum() < strict["rejected"].sum()


def test_serve_shows_and_uses_the_models_defaults(strict_model):
    info = describe_model(str(strict_model), ServeConfig().storage)
    assert info.defaults == STRICT
    config = load_config(ServeConfig, SERVE_CONF, [f"model={strict_model}"])
    assert config.predictor.for_model(info.defaults).threshold == 0.45
    explicit = load_config(ServeConfig, SERVE_CONF, [f"model={strict_model}", "predictor.threshold=0.3"])
    assert explicit.predictor.for_model(info.defaults).threshold == 0.3


def test_an_unknown_model_name_is_a_usage_error_listing_the_packaged_ones(tmp_path):
    from jobs.infer import EXIT_USAGE, main

    code = main(["--config", str(Path(__file__).resolve().parents[2] / "conf" / "infer.yaml"),
                 f"input={tmp_path}", f"output={tmp_path / 'out'}", "model=squash"])
    assert code == EXIT_USAGE
    with pytest.raises(CheckpointError, match="badminton, synthetic, tennis"):
        describe_model("squash", ServeConfig().storage)
