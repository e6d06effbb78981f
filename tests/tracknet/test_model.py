import io

import numpy as np
import pytest
import torch

from tracknet.checkpoint import load_checkpoint, save_checkpoint
from tracknet.errors import CheckpointError
from tracknet.model import ModelConfig, TrackNet, count_parameters, load_widened, weighted_bce


def test_default_is_tracknetv2_size():
    model = TrackNet()
    assert model.config == ModelConfig(frames_in=3, frames_out=3, width_mult=1.0, height=288, width=512)
    assert count_parameters(model) == pytest.approx(11.33e6, rel=0.01)
    assert model.encoder[0][0].in_channels == 9


def test_default_output_shape_and_range():
    model = TrackNet().eval()
    heat = model.predict(torch.rand(2, 9, 288, 512))
    assert heat.shape == (2, 3, 288, 512)
    assert heat.dtype == torch.float32
    assert float(heat.min()) >= 0.0 and float(heat.max()) <= 1.0


def test_options_change_shapes():
    model = TrackNet(frames_in=5, frames_out=1, width_mult=0.25, height=64, width=96)
    assert model(torch.rand(1, 15, 64, 96)).shape == (1, 1, 64, 96)
    # channels scale quadratically into the parameter count
    assert count_parameters(TrackNet(width_mult=0.25)) == pytest.approx(11.33e6 / 16, rel=0.05)


@pytest.mark.parametrize("bad", [{"height": 100}, {"width_mult": 0}, {"frames_in": 0}])
def test_bad_config_rejected(bad):
    with pytest.raises(ValueError):
        ModelConfig(**bad)


def test_weighted_bce_rewards_right_answers():
    target = torch.zeros(1, 1, 8, 8)
    target[0, 0, 3:5, 3:5] = 1
    good = (target * 2 - 1) * 8  # confident and right
    bad = -good
    assert float(weighted_bce(good, target)) < 1e-3
    assert float(weighted_bce(bad, target)) > 1.0
    # focal weighting: an uncertain prediction costs less than BCE would
    plain = torch.nn.functional.binary_cross_entropy_with_logits(torch.zeros_like(target), target)
    assert float(weighted_bce(torch.zeros_like(target), target)) == pytest.approx(0.25 * float(plain), rel=1e-5)


def test_training_step_reduces_loss():
    torch.manual_seed(0)
    model = TrackNet(width_mult=0.125, height=32, width=32)
    x = torch.rand(2, 9, 32, 32)
    target = torch.zeros(2, 3, 32, 32)
    target[:, :, 10:13, 20:23] = 1
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = weighted_bce(model(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.3


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(1)
    model = TrackNet(width_mult=0.125, height=32, width=64).eval()
    path = tmp_path / "m.pt"
    version = save_checkpoint(path, model, {"epoch": 3, "f1": 0.5}, name="tiny")
    loaded = load_checkpoint(path)
    assert loaded.model.config == model.config
    assert loaded.metadata == {"epoch": 3, "f1": 0.5}
    assert loaded.model_version == version and version.startswith("tiny-")
    x = torch.rand(1, 9, 32, 64)
    assert torch.equal(loaded.model.predict(x), model.predict(x))
    # same weights -> same version; different weights -> different version
    assert save_checkpoint(tmp_path / "again.pt", model, {}, name="tiny") == version
    with torch.no_grad():
        model.head.bias.add_(1)
    assert save_checkpoint(io.BytesIO(), model, {}, name="tiny") != version


class Evil:
    """Any class: loading must refuse to unpickle it."""


def test_checkpoint_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "tracknet-checkpoint", "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_checkpoint(path)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint"])
def test_corrupt_checkpoint_names_file(tmp_path, content):
    path = tmp_path / "broken.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="broken.pt"):
        load_checkpoint(path)


def test_checkpoint_metadata_must_be_json(tmp_path):
    with pytest.raises(ValueError, match="JSON"):
        save_checkpoint(tmp_path / "m.pt", TrackNet(width_mult=0.125, height=32, width=32), {"x": object()})


def test_widening_adds_background_channels_that_start_at_zero():
    torch.manual_seed(0)
    plain = TrackNet(ModelConfig(width_mult=0.125, height=32, width=48)).eval()
    widened = TrackNet(ModelConfig(width_mult=0.125, height=32, width=48, background=True)).eval()
    assert widened.config.in_channels == 12
    load_widened(widened, plain.state_dict())
    frames = torch.rand(2, 9, 32, 48)
    with torch.no_grad():  # whatever the background, the widened model answers as the plain one
        np.testing.assert_allclose(
            widened(torch.cat([frames, torch.rand(2, 3, 32, 48)], 1)).numpy(), plain(frames).numpy(), atol=1e-6
        )
    with pytest.raises(ValueError, match="cannot widen"):
        load_widened(plain, widened.state_dict())
    with pytest.raises(RuntimeError):  # any other shape must match
        load_widened(widened, TrackNet(ModelConfig(width_mult=0.25, height=32, width=48)).state_dict())
