import numpy as np
import pytest

from tracknet.overlay import OverlayRenderer
from tracknet.trajectory import clean_trajectory


def test_rejects_impossible_jump_and_fills_short_gaps():
    visible = np.array([1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1], bool)
    x = np.array([10, 12, 500, 16, 0, 0, 22, 24, 0, 0, 0, 0, 0, 40], float)
    y = np.zeros(14)
    out = clean_trajectory(visible, x, y, max_jump_px=20, max_gap_frames=3)
    assert list(np.flatnonzero(out.rejected)) == [2]
    # frame 2 (rejected) is filled back between 12 and 16; frames 4-5 fill between 16 and 22
    assert list(np.flatnonzero(out.filled)) == [2, 4, 5]
    assert out.x[2] == pytest.approx(14.0) and out.x[4] == pytest.approx(18.0) and out.x[5] == pytest.approx(20.0)
    # the 5-frame gap is too long to fill
    assert not out.visible[8:13].any() and np.isnan(out.x[8:13]).all()
    assert out.visible[13] and out.x[13] == 40  # no neighbour within the window: kept


def test_disabled_gap_filling_keeps_raw():
    visible = np.array([1, 0, 1], bool)
    out = clean_trajectory(visible, np.array([0.0, 0, 2]), np.zeros(3), max_jump_px=5, max_gap_frames=0)
    assert list(out.visible) == [True, False, True] and not out.filled.any() and not out.rejected.any()
    with pytest.raises(ValueError):
        clean_trajectory(visible, np.zeros(3), np.zeros(3), max_jump_px=0, max_gap_frames=1)


def test_overlay_draws_ball_and_fading_trail():
    renderer = OverlayRenderer(trail_frames=3, radius_px=3)
    image = np.zeros((60, 100, 3), np.uint8)
    outs = [renderer.draw(image, f, True, 10 + 10 * f, 30) for f in range(6)]
    last = outs[-1]
    assert tuple(last[30, 60]) == (255, 40, 40)  # ball at the newest position
    assert last[30, 45].any()  # trail between recent positions
    assert not last[30, 15].any()  # positions older than the trail are gone
    assert not image.any()  # input untouched
    blank = renderer.draw(image, 6, False, 0, 0)
    assert not blank[30, 70].any() and blank[30, 55].any()  # no ball, trail still fading
