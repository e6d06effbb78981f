import numpy as np
import pytest

from tracknet.metrics import Confusion, Outcome, classify_frames, confusion


def test_hand_computed_confusion():
    # source 1024x576 -> eval 512x288 halves distances; tolerance 4 px at eval = 8 px at source
    pred_visible = [1, 1, 1, 0, 0, 1, 1]
    pred_xy = [[100, 100], [100, 100], [50, 50], [0, 0], [0, 0], [300, 200], [10, 10]]
    true_visible = [1, 1, 0, 1, 0, 1, 1]
    true_xy = [[107, 100], [109, 100], [0, 0], [40, 40], [0, 0], [305, 206], [10, 10]]
    outcomes = classify_frames(pred_visible, pred_xy, true_visible, true_xy, (1024, 576))
    assert list(outcomes) == [Outcome.TP, Outcome.FP1, Outcome.FP2, Outcome.FN, Outcome.TN, Outcome.TP, Outcome.TP]
    c = confusion(pred_visible, pred_xy, true_visible, true_xy, (1024, 576))
    assert c == Confusion(tp=3, fp1=1, fp2=1, fn=1, tn=1)
    assert c.precision == pytest.approx(3 / 5)
    assert c.recall == pytest.approx(3 / 4)
    assert c.f1 == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert c.accuracy == pytest.approx(4 / 7)


def test_tolerance_and_resolution_are_configurable():
    args = ([1], [[0, 0]], [1], [[6, 0]], (512, 288))
    assert confusion(*args).tp == 0  # 6 px > 4 px
    assert confusion(*args, tolerance_px=6).tp == 1
    assert confusion(*args, eval_size=(256, 144)).tp == 1  # 3 px at half resolution


def test_sum_and_empty_scores():
    total = Confusion(tp=1, fn=1) + Confusion(fp2=2, tn=3)
    assert total == Confusion(tp=1, fp1=0, fp2=2, fn=1, tn=3)
    assert Confusion().f1 == 0.0 and Confusion().precision == 0.0
    assert total.as_dict()["recall"] == 0.5


def test_length_mismatch_rejected():
    with pytest.raises(ValueError, match="frame counts differ"):
        classify_frames(np.ones(3), np.zeros((3, 2)), np.ones(4), np.zeros((4, 2)), (512, 288))
