"""jobs.train on a real local Ray (2 DDP workers over gloo) with checkpoints on a real S3 server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from jobs import featurize, train
from jobs.common import storage
from jobs.common.config import load_config
from jobs.common.storage import StorageConfig
from jobs.featurize import FeaturizeConfig
from jobs.train import TrainConfig, check_windows_match_model
from tracknet.checkpoint import load_checkpoint, save_checkpoint
from tracknet.errors import CheckpointError
from tracknet.model import ModelConfig, TrackNet
from tracknet.synth import SynthConfig, write_clip

REPO = Path(__file__).resolve().parents[2]
CLIPS = {"rally_a": 30, "rally_b": 24, "rally_c": 36}


def tiny_train_config(windows: str, *overrides: str) -> TrainConfig:
    return load_config(
        TrainConfig, None,
        [f"windows={windows}", "model.width_mult=0.125", "model.height=64", "model.width=96",
         "augment.crop_width=32", "augment.crop_height=32", "batch_size=8", "val_batch_size=4", *overrides],
    )


def featurize_clips(root: Path, output: str, *overrides: str) -> None:
    videos = root / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    for seed, (video_id, frames) in enumerate(CLIPS.items()):
        write_clip(videos / f"{video_id}.mp4", SynthConfig(width=160, height=96, frames=frames, seed=seed))
    report = featurize.run(load_config(
        FeaturizeConfig, None,
        [f"input={videos}", f"output={output}", "width=96", "height=64", "split.val_videos=[rally_c]", *overrides],
    ))
    assert report.count("ok") == 3


def test_two_workers_checkpoint_to_s3_and_resume_from_the_saved_epoch(ray_local, s3_server, s3_bucket, tmp_path):
    endpoint = s3_server
    config = StorageConfig(endpoint_url=endpoint)
    windows = f"s3://{s3_bucket}/features"
    featurize_clips(tmp_path, windows, f"storage.endpoint_url={endpoint}")
    common = (f"storage.endpoint_url={endpoint}", f"storage_path=s3://{s3_bucket}/runs",
              f"output=s3://{s3_bucket}/models", "run_name=tiny", "num_workers=2")

    first = train.run(tiny_train_config(windows, *common, "epochs=1"))
    assert [m["epoch"] for m in first.history] == [1]
    assert first.history[0]["resumed_from_epoch"] == 0
    assert first.history[0]["steps"] >= 2  # both workers stepped over their shard
    saved = storage.list_files(f"s3://{s3_bucket}/runs/tiny", (".pt", ".json"), config)
    names = [e.relative_path for e in saved]
    assert "checkpoint_manager_snapshot.json" in names
    assert sum(n.endswith("/state.pt") for n in names) == 1

    second = train.run(tiny_train_config(windows, *common, "epochs=2"))
    assert [m["epoch"] for m in second.history] == [1, 2]
    assert second.history[1]["resumed_from_epoch"] == 1  # restored epoch 1, trained only epoch 2
    assert second.history[0] == first.history[0]
    names = [e.relative_path for e in storage.list_files(f"s3://{s3_bucket}/runs/tiny", (".pt",), config)]
    assert sum(n.endswith("/state.pt") for n in names) == 2

    # The export: one self-describing file plus the curve, in the bucket.
    loaded = load_checkpoint(storage.read_bytes(second.model_uri, config))
    assert loaded.model.config.width_mult == 0.125 and loaded.model_version == second.model_version
    meta = loaded.metadata
    assert meta["training_config"]["num_workers"] == 2 and meta["training_config"]["epochs"] == 2
    assert [m["epoch"] for m in meta["history"]] == [1, 2]
    assert meta["metrics"]["epoch"] == meta["best_epoch"]
    assert {"val_f1", "val_precision", "val_recall"} <= set(meta["metrics"])
    assert meta["data"]["train_videos"] == ["rally_a", "rally_b"] and meta["data"]["val_videos"] == ["rally_c"]
    assert "testing" not in json.dumps(meta)  # no credentials in outputs
    assert storage.read_bytes(second.curve_uri, config).startswith(b"\x89PNG")
    assert storage.exists(f"s3://{s3_bucket}/models/tiny/metrics.json", config)


def test_cli_trains_locally_and_exports(ray_local, tmp_path, capsys):
    windows = str(tmp_path / "features")
    featurize_clips(tmp_path, windows)
    args = [f"windows={windows}", "model.width_mult=0.125", "model.height=64", "model.width=96",
            "augment.crop_width=0", "augment.crop_height=0", "batch_size=8", "epochs=1",
            f"storage_path={tmp_path / 'runs'}", f"output={tmp_path / 'models'}", "run_name=cli"]
    assert train.main(args) == 0
    printed = capsys.readouterr().out
    assert "best epoch 1 of 1" in printed and "val precision" in printed
    model = tmp_path / "models" / "cli" / "model.pt"
    loaded = load_checkpoint(model)
    assert loaded.metadata["data"]["windows"] == windows
    with torch.no_grad():
        assert loaded.model(torch.rand(1, 9, 64, 96)).shape == (1, 3, 64, 96)
    assert (tmp_path / "models" / "cli" / "training_curve.png").read_bytes().startswith(b"\x89PNG")


def test_windows_must_match_the_model():
    config = tiny_train_config("unused")
    check_windows_match_model({"config": {"width": 96, "height": 64, "frames_in": 3}}, config)
    with pytest.raises(ValueError, match="width=512, but model.width=96"):
        check_windows_match_model({"config": {"width": 512, "height": 64, "frames_in": 3}}, config)
    background = tiny_train_config("unused", "model.background=true")
    check_windows_match_model({"config": {"width": 96, "height": 64, "frames_in": 3, "background": True}}, background)
    with pytest.raises(ValueError, match="without background frames, but model.background=true"):
        check_windows_match_model({"config": {"width": 96, "height": 64, "frames_in": 3}}, background)


def test_init_from_widens_a_trained_model_to_take_the_background(ray_local, tmp_path):
    windows = str(tmp_path / "features")
    featurize_clips(tmp_path, windows, "background=true")
    torch.manual_seed(3)
    plain = TrackNet(ModelConfig(width_mult=0.125, height=64, width=96))
    save_checkpoint(tmp_path / "plain.pt", plain, name="plain")
    # A rate too small to move the weights: what comes out is what the run started from.
    report = train.run(tiny_train_config(
        windows, "model.background=true", f"init_from={tmp_path / 'plain.pt'}", "epochs=1", "learning_rate=1e-12",
        f"storage_path={tmp_path / 'runs'}", f"output={tmp_path / 'models'}", "run_name=widened",
    ))
    widened = load_checkpoint(report.model_uri).model
    assert widened.config.background and widened.config.in_channels == 12
    started = dict(plain.named_parameters())
    for name, value in widened.named_parameters():
        if name == "encoder.0.0.weight":
            torch.testing.assert_close(value[:, :9], started[name], atol=1e-6, rtol=0)
            assert value[:, 9:].abs().max() < 1e-6  # the background's channels start at zero
        else:
            torch.testing.assert_close(value, started[name], atol=1e-6, rtol=0)
    with pytest.raises(CheckpointError, match="missing.pt: cannot read checkpoint"):
        train.run(tiny_train_config(windows, "model.background=true", f"init_from={tmp_path / 'missing.pt'}"))


@pytest.mark.parametrize(
    "override,message",
    [
        ("model.frames_out=1", "frames_out"),
        ("augment.crop_width=128", "larger than the model"),
        ("num_workers=0", "num_workers must be >= 1"),
        ("run_name=a/b", "run_name"),
    ],
)
def test_bad_config_exits_2(override, message, capsys):
    args = ["model.height=64", "model.width=96", "augment.crop_width=32", "augment.crop_height=32", override]
    assert train.main(args) == 2
    assert message in capsys.readouterr().err


def test_missing_windows_exit_2(ray_local, tmp_path, capsys):
    assert train.main([f"windows={tmp_path / 'nothing'}"]) == 2
    assert "split=train" in capsys.readouterr().err


def test_conf_files_map_onto_config():
    for name in ("train.yaml", "train_badminton.yaml", "train_badminton_bg.yaml"):
        config = load_config(TrainConfig, REPO / "conf" / name)
        assert (config.model.height, config.model.width) == (288, 512)
        assert config.augment.crops and config.model.frames_in == 3


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_training_uses_bf16_and_channels_last(ray_local, tmp_path):
    windows = str(tmp_path / "features")
    featurize_clips(tmp_path, windows)
    report = train.run(tiny_train_config(windows, "use_gpu=true", "epochs=1",
                                         f"storage_path={tmp_path / 'runs'}", f"output={tmp_path / 'models'}"))
    assert report.history[0]["steps"] >= 1


@pytest.mark.parametrize("cache", [False, True], ids=["streamed", "cached"])
def test_the_same_seed_gives_the_same_weights(ray_local, tmp_path, cache):
    """Seeded model init, augmentation and data order: two runs give one model (demo-sized, one worker),
    whether the samples stream every epoch or are cached after the first."""
    windows = str(tmp_path / "features")
    featurize_clips(tmp_path, windows)

    def weights(run_name: str, seed: int) -> dict[str, torch.Tensor]:
        report = train.run(tiny_train_config(
            windows, f"storage_path={tmp_path / 'runs'}", f"output={tmp_path / 'models'}", f"run_name={run_name}",
            "epochs=2", f"seed={seed}", "shuffle_buffer=16", f"cache_samples={str(cache).lower()}",
        ))
        return load_checkpoint(report.model_uri).model.state_dict()

    first, again, other = weights("first", 3), weights("again", 3), weights("other", 4)
    for name, value in first.items():
        torch.testing.assert_close(again[name], value, atol=0, rtol=0, msg=name)
    assert any(not torch.equal(other[name], value) for name, value in first.items())
