"""tracknet.picking: per-frame uncertainty from a model's own output, and stretches within a budget."""

from __future__ import annotations

import numpy as np
import pytest

from tracknet.checkpoint import save_checkpoint
from tracknet.inference import Predictor
from tracknet.model import ModelConfig, TrackNet
from tracknet.picking import frame_uncertainty, pick_stretches, second_look, stretch_scores
from tracknet.predictor_settings import PredictorSettings
from tracknet.synth import SynthConfig, write_clip


def test_each_signal_marks_its_frames() -> None:
    n = 12
    visible = np.zeros(n, dtype=bool)
    raw = np.zeros(n, dtype=bool)
    score = np.zeros(n)
    visible[0:5] = True  # a steady track over frames 0..4
    raw[1], score[1] = True, 0.99  # a confident detection: certain
    raw[3], score[3] = True, 0.52  # just above the 0.5 threshold: doubtful
    filled = np.zeros(n, dtype=bool)
    filled[6] = True
    rejected = np.zeros(n, dtype=bool)
    rejected[9] = True
    u = frame_uncertainty(visible, raw, score, filled, rejected, threshold=0.5, flicker_frames=1)
    assert u[3] > 0.9 and u[1] < 0.05
    assert u[4] == 0.5  # the track ends after it: one switch
    assert u[6] == 1.0 and u[9] == 1.0
    assert u[11] == 0.0  # no ball, no switch nearby, nothing done by the clean-up
    assert ((0 <= u) & (u <= 1)).all()


def test_flicker_counts_switches_around_a_frame() -> None:
    visible = np.array([0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0], dtype=bool)
    none = np.zeros_like(visible)
    u = frame_uncertainty(visible, none, np.zeros(12), none, none, threshold=0.5, flicker_frames=2)
    assert u[5] == 1.0  # four switches within two frames
    assert u[0] == 0.0 and u[11] == 0.0


def test_stretch_scores_are_window_means() -> None:
    assert np.allclose(stretch_scores(np.array([0, 1, 1, 0, 0.5]), 2), [0.5, 1.0, 0.5, 0.25])
    assert len(stretch_scores(np.zeros(3), 4)) == 0


def test_uncertainty_picks_the_doubtful_stretches_and_spreads_over_videos() -> None:
    a = np.zeros(100)
    a[20:30] = 1.0  # the most doubtful stretch
    a[60:70] = 0.8
    b = np.zeros(100)
    b[40:50] = 0.7
    picked = pick_stretches({"a": a, "b": b}, budget_frames=30, stretch_frames=10, min_gap_frames=5,
                            video_decay=0.5)
    # a's second stretch (0.8) is discounted by a's first pick (0.8 * 0.5 < 0.7): b comes second.
    assert [(s.video_id, s.start) for s in picked] == [("a", 20), ("b", 40), ("a", 60)]
    assert picked[0].score == 1.0 and all(s.length == 10 for s in picked)


def test_picks_never_overlap_nor_crowd_and_stop_when_there_is_no_room() -> None:
    u = {"a": np.ones(50)}
    for strategy in ("uncertainty", "random"):
        picked = pick_stretches(u, budget_frames=500, stretch_frames=10, min_gap_frames=5, strategy=strategy, seed=3)
        starts = sorted(s.start for s in picked)
        assert all(b - a >= 15 for a, b in zip(starts, starts[1:]))
        assert all(0 <= s and s + 10 <= 50 for s in starts)
        assert 2 <= len(picked) <= 4  # 50 frames hold at most 4 stretches 5 frames apart


def test_random_is_seeded_and_ignores_the_scores() -> None:
    u = {"a": np.linspace(0, 1, 200), "b": np.zeros(150)}
    first = pick_stretches(u, 60, 10, 0, strategy="random", seed=1)
    assert first == pick_stretches(u, 60, 10, 0, strategy="random", seed=1)
    assert first != pick_stretches(u, 60, 10, 0, strategy="random", seed=2)
    assert len(first) == 6


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="strategy must be one of"):
        pick_stretches({"a": np.zeros(10)}, 10, 5, 0, strategy="smart")
    with pytest.raises(ValueError, match="threshold must be in"):
        frame_uncertainty(*(np.zeros(3),) * 5, threshold=1.0)


def test_second_look_compares_the_plain_and_mirrored_views(tmp_path, monkeypatch) -> None:
    clip = tmp_path / "clip.mp4"
    write_clip(clip, SynthConfig(width=96, height=64, frames=6, seed=0))
    save_checkpoint(tmp_path / "tiny.pt", TrackNet(ModelConfig(width_mult=0.125, height=64, width=96)), name="tiny")
    settings = PredictorSettings(device="cpu", runtime="torch", threshold=0.5, batch_size=2)
    predictor = Predictor(str(tmp_path / "tiny.pt"), settings)

    def forward(x):
        """Heatmaps by output slot: 0 both views agree, confidently; 1 only the plain view finds a ball;
        2 neither does, but the peak is just under the threshold."""
        views = len(x) // 2  # plain windows, then the same windows mirrored
        heat = np.zeros((len(x), 3, 64, 96), dtype=np.float32)
        heat[:views, 0, 20, 30] = heat[views:, 0, 20, 95 - 30] = 0.95  # mirrored: found at the mirrored column
        heat[:views, 1, 40, 50] = 0.9
        heat[:, 2, 10, 10] = 0.45
        return heat

    monkeypatch.setattr(predictor, "forward", forward)
    doubt = second_look(predictor, str(clip), 6, 0, 6, heat_margin=0.25)
    assert np.allclose(doubt, [0.0, 1.0, 0.8, 0.0, 1.0, 0.8])  # 1 - |0.45 - 0.5| / 0.25 = 0.8
    assert np.allclose(second_look(predictor, str(clip), 6, 2, 4, heat_margin=0.25), [0.8, 0.0])
    with pytest.raises(ValueError, match="without flip_tta"):
        second_look(Predictor(str(tmp_path / "tiny.pt"), PredictorSettings(device="cpu", runtime="torch",
                                                                           flip_tta=True)), str(clip), 6, 0, 6)
