"""Tennis broadcasts from tracknet.synth: surfaces, ball look and speed, players, officials."""

import colorsys
import math

import numpy as np
import pytest

from tracknet.labels import read_labels
from tracknet.synth import SynthConfig, _Scene, generate, main

SMALL = dict(width=320, height=180, court="tennis")
HALF_LENGTH_M = 23.77 / 2


def _scene(**overrides) -> _Scene:
    return _Scene(SynthConfig(**{**SMALL, "frames": 1, **overrides}))


def _hue_deg(rgb) -> float:
    return 360.0 * colorsys.rgb_to_hsv(*(float(v) / 255 for v in rgb))[0]


def _ground_rgb(scene: _Scene, x_m: float, y_m: float) -> np.ndarray:
    """Mean background colour of a 3x3 patch around where ground point (x, y) projects."""
    u, v = (int(round(c)) for c in scene.camera.project(np.array([x_m, y_m, 0.0]))[0])
    return scene.background[v - 1:v + 2, u - 1:u + 2].reshape(-1, 3).mean(axis=0)


# Inside the near deuce service box (off every line, in front of the net) and on the run-off
# beside the near half.
COURT_POINT, RUN_OFF_POINT = (2.05, -3.2), (7.5, -3.2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clay_is_terracotta_inside_and_outside_the_lines(seed):
    scene = _scene(seed=seed, surface="clay")
    for point in (COURT_POINT, RUN_OFF_POINT):
        rgb = _ground_rgb(scene, *point)
        assert _hue_deg(rgb) < 35 or _hue_deg(rgb) > 350, rgb  # orange-red
        assert rgb[0] > rgb[1] + 40 > rgb[2] + 40, rgb


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grass_is_green_inside_and_outside_the_lines(seed):
    scene = _scene(seed=seed, surface="grass")
    for point in (COURT_POINT, RUN_OFF_POINT):
        rgb = _ground_rgb(scene, *point)
        assert 75 < _hue_deg(rgb) < 150, rgb
        assert rgb[1] > rgb[0] + 30 and rgb[1] > rgb[2] + 30, rgb


def test_grass_is_worn_near_the_baselines():
    scene = _scene(seed=3, surface="grass", width=640, height=360)
    grass = _ground_rgb(scene, *COURT_POINT)
    # Worn patches are browner (more red) than the lawn somewhere around the baselines.
    reds = [_ground_rgb(scene, x, sign * (HALF_LENGTH_M + dy))[0] - grass[0]
            for sign in (-1, 1) for x in np.arange(-2.0, 2.1, 0.5) for dy in (-1.0, -0.5, 0.5, 1.0)]
    assert max(reds) > 25


def test_hard_courts_come_in_several_colour_pairs():
    scenes = [_scene(seed=seed, surface="hard") for seed in range(12)]
    court_hues = set()
    for scene in scenes:
        court, run_off = _ground_rgb(scene, *COURT_POINT), _ground_rgb(scene, *RUN_OFF_POINT)
        # The court pixel shows the palette's court colour (up to lighting).
        assert abs(_hue_deg(court) - _hue_deg(scene.court_rgb)) < 10
        assert np.abs(court - run_off).sum() > 20  # court and run-off differ
        court_hues.add(int(_hue_deg(court) // 60))
    assert len(court_hues) >= 3  # e.g. blue, green, purple or red courts
    assert len({tuple(np.round(s.court_rgb)) for s in scenes}) == len(scenes)


def test_random_surface_picks_every_tennis_surface_and_mat_for_badminton():
    assert {_scene(seed=seed).surface for seed in range(12)} == {"hard", "clay", "grass"}
    assert _scene(seed=0, court="badminton").surface == "mat"


def test_same_seed_gives_identical_tennis_frames():
    first = list(generate(SynthConfig(**SMALL, frames=3, seed=5)))
    second = list(generate(SynthConfig(**SMALL, frames=3, seed=5)))
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.players, b.players)
        assert (a.ball_state, a.true_x_px, a.true_y_px) == (b.ball_state, b.true_x_px, b.true_y_px)


def test_ball_is_small_and_yellow_green_at_its_label():
    frames = list(generate(SynthConfig(width=1280, height=720, frames=24, seed=2, court="tennis")))
    visible = [f for f in frames if f.visible]
    assert len(visible) > 12
    for frame in visible:
        r, g, b = (int(v) for v in frame.image[math.floor(frame.y_px + 0.5), math.floor(frame.x_px + 0.5)])
        assert g > 200 and r > 170 and g - b > 90, (frame.index, (r, g, b))


def test_ball_is_a_few_pixels_across_at_720p():
    magenta = (255, 0, 255)
    frames = generate(SynthConfig(width=1280, height=720, frames=40, seed=0, court="tennis",
                                  noise_std=0.0, ball_rgb=magenta))
    widths = []
    for frame in frames:
        if frame.visible:
            x, y = int(round(frame.x_px)), int(round(frame.y_px))
            window = frame.image[max(y - 8, 0):y + 9, max(x - 8, 0):x + 9]
            xs = np.nonzero(np.all(window == magenta, axis=2))[1]
            widths.append(xs.max() - xs.min() + 1)  # fully ball-coloured pixels: the disc
    assert 2 <= min(widths) <= 3 and 5 <= max(widths) <= 7


def _launch_speeds(scene: _Scene) -> list[float]:
    """Speed (m/s) of the ball leaving each racket (segments that do not start on the floor)."""
    return [float(np.linalg.norm(s.velocity)) for s in scene.rally.segments if s.position[2] > 0]


def test_tennis_ball_flies_at_tennis_speeds():
    tennis = [_scene(seed=seed, frames=150) for seed in range(8)]
    badminton = [_scene(seed=seed, frames=150, court="badminton") for seed in range(8)]
    speeds = np.concatenate([_launch_speeds(s) for s in tennis])
    assert speeds.max() >= 45  # serves
    assert np.mean((speeds >= 19) & (speeds <= 35.5)) > 0.7  # groundstrokes and volleys
    assert speeds.max() > 2.5 * max(max(_launch_speeds(s)) for s in badminton)

    def max_px_per_frame(scene: _Scene) -> float:
        ball = np.stack([scene.rally.ball_at(i / 30.0) for i in range(150)])
        uv = scene.camera.project(ball)[0]
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < 320) & (uv[:, 1] >= 0) & (uv[:, 1] < 180)
        steps = np.hypot(*np.diff(uv, axis=0).T)[inside[1:] & inside[:-1]]
        return float(steps.max())

    # Four times the court area is on screen, so pixels per frame gain less than speed.
    assert (np.median([max_px_per_frame(s) for s in tennis])
            > 1.2 * np.median([max_px_per_frame(s) for s in badminton]))


def test_most_returns_bounce_first():
    bounced = taken = 0
    for seed in range(6):
        rally = _scene(seed=seed, frames=150).rally
        for before, hit in zip(rally.hits, rally.hits[1:]):
            taken += 1
            bounced += any(before.time_s < s.start_s < hit.time_s and s.position[2] == 0 for s in rally.segments)
    assert 0.65 < bounced / taken < 1.0  # some volleys


def test_players_are_boxed_and_often_behind_the_baseline():
    behind = []
    for seed in range(3):
        config = SynthConfig(**SMALL, frames=45, seed=seed, noise_std=0.0)
        scene = _Scene(config)
        near_baseline_row = scene.camera.project(np.array([0.0, -HALF_LENGTH_M, 0.0]))[0][1]
        for frame in generate(config):
            assert not np.isnan(frame.players).any(), frame.index
            near, far = frame.players
            assert near[3] > far[3]
            behind.append(near[3] > near_baseline_row + 1)  # feet below the near baseline
        t_s = np.arange(45) / config.fps
        far_y = [scene.rally.player_at(1, t)[1] for t in t_s]
        assert max(far_y) > HALF_LENGTH_M + 0.5
    assert 0.2 < np.mean(behind) < 1.0


def test_officials_are_drawn_but_never_boxed():
    config = SynthConfig(**SMALL, frames=30, seed=4, noise_std=0.0)
    with_officials = list(generate(config))
    without = list(generate(SynthConfig(**{**SMALL, "frames": 30, "seed": 4, "noise_std": 0.0,
                                           "officials": False})))
    assert not np.array_equal(with_officials[0].image, without[0].image)
    for a, b in zip(with_officials, without, strict=True):
        np.testing.assert_array_equal(a.players, b.players)
        assert (a.true_x_px, a.true_y_px) == (b.true_x_px, b.true_y_px)
        # An official can only hide the ball, never reveal it.
        assert not a.visible or b.visible
    # The officials stand outside the players' boxes: at the back, by the net posts, at the sides.
    changed = np.abs(with_officials[0].image.astype(int) - without[0].image).max(axis=2) > 0
    for x0, y0, x1, y1 in with_officials[0].players.astype(int):
        changed[y0:y1, x0:x1] = False
    assert changed.sum() > 200


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(court="badminton", surface="clay"), "'clay' is a tennis surface, so court must be 'tennis'"),
        (dict(court="random", surface="grass"), "so court must be 'tennis', got court='random'"),
        (dict(court="tennis", surface="mat"), "'mat' is a badminton surface"),
        (dict(surface="sand"), "surface must be one of clay, grass, hard, mat or 'random'"),
    ],
)
def test_surface_must_fit_the_court(overrides, message):
    with pytest.raises(ValueError, match=message):
        SynthConfig(**overrides)


def test_command_renders_clay_clips(tmp_path, capsys):
    out = tmp_path / "clay"
    main(["--out", str(out), "--clips", "2", "--court", "tennis", "--surface", "clay",
          "--width", "160", "--height", "96", "--frames", "4", "--no-officials"])
    for i in range(2):
        assert len(read_labels(out / f"synth_{i:03d}.csv")) == 4
    direct = next(generate(SynthConfig(width=160, height=96, frames=1, seed=1, court="tennis",
                                       surface="clay", officials=False)))
    assert _hue_deg(direct.image[80, 80]) < 35
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "bad"), "--surface", "clay"])
    assert "clay' is a tennis surface" in capsys.readouterr().err
