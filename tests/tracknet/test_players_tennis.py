"""Players on tennis: the run-off behind and beside the court, the zones beside the net, ranking
by size in perspective, the surface detector, and whole synthetic tennis clips with exact boxes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracknet.broadcast import BroadcastConfig, analyze_broadcast
from tracknet.court import CourtColour, court_quad, court_region, court_hull, to_hsv
from tracknet.players import Candidate, PlayerConfig, ShotContext, make_detector, select_players
from tracknet.players.surface import SurfaceDetector
from tracknet.synth import SynthConfig, write_clip
from tracknet.video import probe

BLUE = (40, 80, 170)
GREEN = (60, 125, 80)


def trapezoid(h: int = 180, w: int = 320) -> np.ndarray:
    """A court seen from behind its near end: far edge 120 px wide at row 50, near edge 240 px at row 150."""
    mask = np.zeros((h, w), bool)
    for row in range(50, 151):
        half = 60 + 60 * (row - 50) / 100
        mask[row, int(160 - half) : int(160 + half)] = True
    return mask


def person(x0, y0, x1, y1) -> Candidate:
    return Candidate(x0, y0, x1, y1, 1.0, np.tile(np.array([[x0, x1]], np.int32), (y1 - y0, 1)))


# ---------------------------------------------------------------- the court region


def test_court_quad_finds_the_corners_far_edge_first():
    quad = court_quad(court_hull(trapezoid()))
    assert quad is not None
    np.testing.assert_allclose(quad, [[100, 50], [219, 50], [279, 150], [40, 150]], atol=2)


def test_run_off_extends_the_region_in_perspective_but_not_beside_the_net():
    court = trapezoid()
    plain = court_region(court, margin_px=3)
    assert np.array_equal(plain, court_region(court, 3, 0.0, 0.0))  # no run-off: as before
    extended = court_region(court, 3, beyond_ends=0.4, beyond_sides=0.3)
    # Behind the far baseline, below the near one and wide of a sideline in the near half.
    for row, col in ((40, 160), (170, 160), (140, 20)):
        assert extended[row, col] and not plain[row, col], (row, col)
    # Beyond the far end the court narrows with depth: the run-off does too.
    assert extended[40].sum() < extended[160].sum()
    # Beside the net (the middle in depth is row 83 here: widths 120 and 240 have harmonic mean 160)
    # stand the umpire's chair and ball kids: not in the region, though the court itself is.
    assert not extended[83, 30] and not extended[83, 290]
    assert extended[83, 160]


def test_perspective_size_prefers_a_far_player_to_a_bigger_blob_nearer_the_camera():
    court = trapezoid()
    region = court_region(court, 3, 0.4, 0.3)
    far_player = person(150, 30, 158, 48)  # 8 x 18 px behind the far baseline, where the court is 110 px wide
    big_blob = person(60, 100, 74, 124)  # 14 x 24 px where the court is ~200 px wide: smaller for its row
    near_player = person(150, 120, 170, 160)
    frames = [[far_player, big_blob, near_player]] * 6
    chosen, _ = select_players(frames, region, surface=court_region(court, 3))
    np.testing.assert_array_equal(chosen[0, 1, :4], [150, 30, 158, 48])
    np.testing.assert_array_equal(chosen[0, 0, :4], [150, 120, 170, 160])


# ---------------------------------------------------------------- the surface detector


def test_surface_detector_finds_a_still_player_and_skips_net_paint_and_shadows():
    image = np.zeros((180, 320, 3), np.uint8)
    image[:] = GREEN  # run-off
    court = trapezoid()
    image[court] = BLUE
    image[50:52, 100:220] = 240  # far baseline (paint)
    image[82:86, 60:260] = (20, 20, 25)  # the net, wider than the court
    image[118:128, 200:215] = (28, 56, 120)  # a player's shadow: the court's colour, darker
    image[100:130, 150:158] = (200, 40, 40)  # a player in red, standing still
    detector = SurfaceDetector(min_height_fraction=0.05)
    colour = CourtColour(float(to_hsv(np.array([[BLUE]], np.uint8))[0, 0, 0]) * 2)
    detector.begin_shot(ShotContext(court_region(court, 3, 0.4, 0.3), colour, None))
    found = detector.detect(image)
    assert [(c.x0, c.y0, c.x1, c.y1) for c in found] == [(150, 100, 158, 130)]


def test_surface_detector_config():
    assert isinstance(make_detector(PlayerConfig(detector="surface")), SurfaceDetector)
    with pytest.raises(ValueError, match="detector must be"):
        PlayerConfig(detector="yolo")
    with pytest.raises(ValueError, match="beyond_ends"):
        PlayerConfig(beyond_ends=1.5)


# ---------------------------------------------------------------- whole synthetic tennis clips


def on_the_right_person(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(N, 2) bool: the box's feet (bottom centre) within the lower half of the true box (10% slack).

    The test of a box on the right person rather than of its tightness: a player whose shirt has the
    court's colour, or who stands in front of the boards, is boxed in pieces.
    """
    fx, fy = (found[..., 0] + found[..., 2]) / 2, found[..., 3]
    w, h = truth[..., 2] - truth[..., 0], truth[..., 3] - truth[..., 1]
    with np.errstate(invalid="ignore"):
        return ((fx >= truth[..., 0] - 0.1 * w) & (fx <= truth[..., 2] + 0.1 * w)
                & (fy >= truth[..., 1] + 0.5 * h) & (fy <= truth[..., 3] + 0.1 * h))


@pytest.mark.slow
@pytest.mark.parametrize("seed, surface", [(0, "hard"), (5, "hard"), (1, "clay"), (2, "grass")])
def test_synthetic_tennis_both_players_with_officials_around(tmp_path, seed, surface):
    """Hard courts green on dark green (seed 0) and purple on green (seed 5), clay, grass: not the
    shared match's blue on green; an umpire, ball kids and line judges stand on the run-off. The
    synthetic camera is fixed, as the background detector wants; the run-off comes from the tennis
    model's defaults (players_beyond_ends 0.4, players_beyond_sides 0.3)."""
    path = tmp_path / "tennis.mp4"
    write_clip(path, SynthConfig(width=1280, height=720, frames=150, seed=seed, court="tennis", surface=surface,
                                 crf=18, truth=True))
    config = PlayerConfig(detector="background", beyond_ends=0.4, beyond_sides=0.3)
    analysis = analyze_broadcast(str(path), probe(path), BroadcastConfig(players=config), make_detector(config))
    players = pd.read_csv(path.with_suffix(".players.csv"))
    truth = np.stack([players[[f"{side}_{k}" for k in ("x0", "y0", "x1", "y1")]].to_numpy()
                      for side in ("near", "far")], axis=1)
    assert analysis.court_view.all()
    both = on_the_right_person(analysis.players[..., :4], truth).all(axis=1)
    assert both.mean() >= 0.85, f"both players boxed in {both.sum()}/{len(both)} frames"
