import numpy as np
import pytest
import torch

from tracknet.heatmap import Detection, decode_heatmap, decode_to_source, render_targets


def test_disc_target_has_radius_2_5():
    heat = render_targets(torch.tensor([10.0, 7.0]), torch.tensor(1), 20, 30)
    assert heat.shape == (20, 30)
    # a radius-2.5 disc on the pixel grid covers 21 pixels
    assert int(heat.sum()) == 21
    assert heat[7, 10] == 1 and heat[7, 12] == 1 and heat[7, 13] == 0 and heat[9, 12] == 0


def test_invisible_target_is_empty_and_batches_broadcast():
    xy = torch.tensor([[[5.0, 5.0], [9.0, 3.0], [0.0, 0.0]]])  # (1, 3, 2)
    visible = torch.tensor([[1, 1, 0]])
    heat = render_targets(xy, visible, 12, 16)
    assert heat.shape == (1, 3, 12, 16)
    assert heat[0, 2].sum() == 0 and heat[0, 0].sum() > 0


def test_gaussian_target_peaks_at_ball():
    heat = render_targets(torch.tensor([4.0, 6.0]), torch.tensor(1), 12, 12, kind="gaussian")
    assert heat[6, 4] == 1.0 and 0 < heat[6, 7] < 1
    with pytest.raises(ValueError):
        render_targets(torch.tensor([4.0, 6.0]), torch.tensor(1), 12, 12, kind="box")


@pytest.mark.parametrize("kind", ["disc", "gaussian"])
@pytest.mark.parametrize("x,y", [(100.3, 50.7), (5.5, 280.2), (508.6, 3.0), (256.25, 144.75)])
def test_round_trip_recovers_position(kind, x, y):
    heat = render_targets(torch.tensor([x, y]), torch.tensor(1), 288, 512, kind=kind).numpy()
    found = decode_heatmap(heat, threshold=0.5)
    assert found.visible
    assert abs(found.x - x) <= 0.5 and abs(found.y - y) <= 0.5
    assert found.score == pytest.approx(1.0, abs=0.05)
    # mapped back to a 1280x720 source: factor 2.5 on both axes
    src = decode_to_source(heat, (1280, 720), threshold=0.5)
    assert src.x == pytest.approx(found.x * 2.5) and src.y == pytest.approx(found.y * 2.5)
    assert abs(src.x - x * 2.5) <= 0.5 * 2.5


def test_strongest_blob_wins_and_empty_is_no_ball():
    heat = np.zeros((50, 80), np.float32)
    heat[10:12, 10:12] = 0.9  # small, bright
    heat[30:36, 60:66] = 0.7  # bigger: more heat mass
    heat[33, 63] = 0.95
    found = decode_heatmap(heat)
    assert 60 <= found.x <= 66 and 30 <= found.y <= 36
    assert found.score == pytest.approx(0.95)
    assert decode_heatmap(np.full((10, 10), 0.2, np.float32)) == Detection(False, 0.0, 0.0, 0.0)
