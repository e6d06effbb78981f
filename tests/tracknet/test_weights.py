"""Packaged models by name, and the defaults a checkpoint carries for its sport."""

from __future__ import annotations

import pytest
import torch

from tracknet.checkpoint import load_checkpoint, save_checkpoint
from tracknet.errors import CheckpointError
from tracknet.inference import Predictor
from tracknet.model import ModelConfig, TrackNet
from tracknet.model_defaults import ModelDefaults
from tracknet.predictor_settings import PredictorSettings
from tracknet.weights import DEFAULT_MODEL, PACKAGED_MODELS, packaged_path, resolve_model


@pytest.mark.parametrize("name", sorted(PACKAGED_MODELS))
def test_every_packaged_name_is_a_loadable_checkpoint(name):
    path = resolve_model(name)
    assert path == str(packaged_path(name))
    loaded = load_checkpoint(path)
    assert loaded.model_version


@pytest.mark.parametrize("sport", ["badminton", "tennis"])
def test_sport_models_carry_their_sport(sport):
    assert ModelDefaults.from_metadata(load_checkpoint(resolve_model(sport)).metadata).sport == sport


def test_none_is_the_default_model():
    assert DEFAULT_MODEL == "badminton"
    assert resolve_model(None) == str(packaged_path("badminton"))


@pytest.mark.parametrize("uri", ["s3://bucket/models/tennis.pt", "file:///tmp/m.pt", "out/models/tennis/model.pt",
                                 "/abs/model.pt", "model.pt"])
def test_paths_and_uris_pass_through(uri):
    assert resolve_model(uri) == uri


def test_unknown_name_lists_the_packaged_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError) as raised:
        resolve_model("squash")
    message = str(raised.value)
    assert message.startswith("squash: no packaged model of that name")
    for name in PACKAGED_MODELS:
        assert name in message


def test_a_bare_word_that_is_a_local_file_is_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mymodel").write_bytes(b"x")
    assert resolve_model("mymodel") == "mymodel"


def test_defaults_round_trip_and_old_checkpoints_get_the_field_defaults(tmp_path):
    model = TrackNet(ModelConfig(width_mult=0.125, height=64, width=96))
    plain = tmp_path / "plain.pt"
    save_checkpoint(plain, model)
    assert ModelDefaults.from_metadata(load_checkpoint(plain).metadata) == ModelDefaults()
    tennis = ModelDefaults(sport="tennis", threshold=0.35, max_jump_px=210.0, max_gap_frames=2)
    path = tmp_path / "tennis.pt"
    save_checkpoint(path, model, {**tennis.as_metadata(), "other": 1})
    assert ModelDefaults.from_metadata(load_checkpoint(path).metadata) == tennis


def test_predictor_takes_the_threshold_from_the_model_unless_given(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "m.pt"
    save_checkpoint(path, TrackNet(ModelConfig(width_mult=0.125, height=64, width=96)),
                    ModelDefaults(threshold=0.35).as_metadata())
    assert Predictor(str(path), PredictorSettings(device="cpu")).threshold == 0.35
    assert Predictor(str(path), PredictorSettings(device="cpu", threshold=0.6)).threshold == 0.6


def test_predictor_takes_a_packaged_name():
    assert Predictor("tennis", PredictorSettings(device="cpu", runtime="torch")).defaults.sport == "tennis"
