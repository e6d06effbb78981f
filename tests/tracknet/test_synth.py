import math

import numpy as np
import pandas as pd
import pytest

from tracknet.labels import read_labels
from tracknet.synth import SynthConfig, generate, main, shots_truth, write_clip
from tracknet.video import iter_frames, probe

BALL = (250, 245, 190)
SMALL = dict(width=320, height=180, frames=60)


def _clip(**overrides):
    return list(generate(SynthConfig(**{**SMALL, **overrides})))


def _pixel(image, x, y):
    return tuple(int(v) for v in image[math.floor(y + 0.5), math.floor(x + 0.5)])


@pytest.fixture(scope="module")
def clean_clip():
    """Noise-free frames with a known ball colour; 100 frames hold a hit and a lob."""
    return _clip(frames=100, seed=8, noise_std=0.0, ball_rgb=BALL)


def test_frames_have_configured_shape_and_dtype():
    frames = _clip(frames=5, width=321, height=181)
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    for frame in frames:
        assert frame.image.shape == (181, 321, 3)
        assert frame.image.dtype == np.uint8


def test_same_seed_gives_identical_frames_and_labels():
    first, second = _clip(seed=3, frames=20), _clip(seed=3, frames=20)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.image, b.image)
        assert (a.visible, a.ball_state) == (b.visible, b.ball_state)
        np.testing.assert_array_equal([a.x_px, a.y_px], [b.x_px, b.y_px])


def test_different_seed_gives_different_clip():
    first, second = _clip(seed=3, frames=10), _clip(seed=4, frames=10)
    assert not np.array_equal(first[0].image, second[0].image)
    assert [f.true_x_px for f in first] != [f.true_x_px for f in second]


def test_ball_is_drawn_at_its_label(clean_clip):
    visible = [f for f in clean_clip if f.visible]
    assert len(visible) > 0.6 * len(clean_clip)
    for frame in visible:
        assert _pixel(frame.image, frame.x_px, frame.y_px) == BALL, frame.index
        # The fully ball-coloured pixels (the disc, not its fainter motion smear) are
        # centred on the label.
        x0, y0 = max(int(frame.x_px) - 6, 0), max(int(frame.y_px) - 6, 0)
        window = frame.image[y0:int(frame.y_px) + 7, x0:int(frame.x_px) + 7]
        ys, xs = np.nonzero(np.all(window == BALL, axis=2))
        assert abs(xs.mean() + x0 - frame.x_px) <= 1.0, frame.index
        assert abs(ys.mean() + y0 - frame.y_px) <= 1.0, frame.index


def test_ball_moves_and_is_motion_blurred(clean_clip):
    visible = [f for f in clean_clip if f.visible]
    steps = [
        math.hypot(b.x_px - a.x_px, b.y_px - a.y_px)
        for a, b in zip(visible, visible[1:])
        if b.index == a.index + 1
    ]
    assert np.median(steps) > 1.5
    # Smear pixels: ball-tinted but not the full ball colour, trailing the ball.
    frame = max(visible[1:], key=lambda f: math.hypot(
        f.x_px - clean_clip[f.index - 1].true_x_px, f.y_px - clean_clip[f.index - 1].true_y_px))
    prev = clean_clip[frame.index - 1]
    mid_x, mid_y = (frame.x_px + prev.true_x_px) / 2, (frame.y_px + prev.true_y_px) / 2
    smear = np.array(_pixel(frame.image, mid_x, mid_y))
    undisturbed = np.array(_pixel(prev.image, mid_x, mid_y))
    assert not np.array_equal(smear, np.array(BALL))
    assert np.abs(smear.astype(int) - undisturbed.astype(int)).sum() > 10


def test_hidden_frames_are_occluded_or_out_of_frame(clean_clip):
    states = {f.ball_state for f in clean_clip}
    assert states == {"visible", "occluded", "out_of_frame"}
    for frame in clean_clip:
        assert frame.visible == (frame.ball_state == "visible")
        if not frame.visible:
            assert math.isnan(frame.x_px) and math.isnan(frame.y_px)
        if frame.ball_state == "occluded":
            # A player is drawn over the ball centre.
            assert _pixel(frame.image, frame.true_x_px, frame.true_y_px) != BALL
        if frame.ball_state == "out_of_frame":
            inside_x = -0.5 <= frame.true_x_px < 320 - 0.5
            inside_y = -0.5 <= frame.true_y_px < 180 - 0.5
            assert not (inside_x and inside_y)


def test_default_length_clip_is_mostly_visible_with_hidden_stretches():
    frames = list(generate(SynthConfig(width=160, height=90, frames=150, seed=11)))
    states = [f.ball_state for f in frames]
    assert 0.65 <= states.count("visible") / 150 <= 0.95
    assert "occluded" in states and "out_of_frame" in states


def test_noise_and_jpeg_change_pixels():
    clean = _clip(frames=1, seed=2, noise_std=0.0)[0].image
    noisy = _clip(frames=1, seed=2, noise_std=5.0)[0].image
    jpeg = _clip(frames=1, seed=2, noise_std=0.0, jpeg_quality=30)[0].image
    diff = noisy.astype(int) - clean.astype(int)
    assert 2.0 < diff.std() < 8.0
    assert abs(diff.mean()) < 1.0
    assert not np.array_equal(jpeg, clean)


def test_courts_differ():
    badminton = _clip(frames=1, seed=1, court="badminton")[0].image
    tennis = _clip(frames=1, seed=1, court="tennis")[0].image
    assert not np.array_equal(badminton, tennis)


def test_write_clip_writes_video_and_matching_csv(tmp_path):
    config = SynthConfig(width=320, height=180, fps=25.0, frames=40, seed=5)
    video = tmp_path / "clip.mp4"
    labels = write_clip(video, config)

    info = probe(video)
    assert (info.frame_count, info.width, info.height) == (40, 320, 180)
    assert info.fps == pytest.approx(25.0)
    decoded = list(iter_frames(video))
    assert len(decoded) == 40 and decoded[0].image.shape == (180, 320, 3)

    assert list(labels.columns) == ["frame", "visible", "x_px", "y_px"]
    assert labels["frame"].tolist() == list(range(40))
    expected = list(generate(config))
    assert labels["visible"].tolist() == [int(f.visible) for f in expected]
    np.testing.assert_allclose(labels["x_px"], [f.x_px for f in expected])
    # The encoded frames are the generated ones, up to compression.
    error = np.abs(decoded[10].image.astype(int) - expected[10].image.astype(int)).mean()
    assert error < 12

    read = read_labels(tmp_path / "clip.csv")
    assert read["frame"].tolist() == labels["frame"].tolist()
    assert read["visible"].tolist() == labels["visible"].tolist()
    shown = labels["visible"] == 1
    np.testing.assert_allclose(read.loc[shown, "x_px"], labels.loc[shown, "x_px"], atol=0.5)
    np.testing.assert_allclose(read.loc[shown, "y_px"], labels.loc[shown, "y_px"], atol=0.5)
    assert read.loc[~shown, "x_px"].isna().all()


def test_write_clip_supports_odd_sizes(tmp_path):
    labels = write_clip(tmp_path / "odd.mp4", SynthConfig(width=97, height=65, frames=3))
    info = probe(tmp_path / "odd.mp4")
    assert (info.frame_count, info.width, info.height) == (3, 97, 65)
    assert isinstance(labels, pd.DataFrame) and len(labels) == 3


def test_command_writes_clips(tmp_path, capsys):
    out = tmp_path / "synth"
    main(["--out", str(out), "--clips", "2", "--seed", "9", "--width", "160",
          "--height", "96", "--fps", "20", "--frames", "12"])
    for i in range(2):
        video = out / f"synth_{i:03d}.mp4"
        info = probe(video)
        assert (info.frame_count, info.width, info.height) == (12, 160, 96)
        assert len(read_labels(video.with_suffix(".csv"))) == 12
    printed = capsys.readouterr().out
    assert "synth_000.mp4" in printed and "synth_001.mp4" in printed
    # Clip i uses seed + i.
    second = read_labels(out / "synth_001.csv")
    direct = list(generate(SynthConfig(width=160, height=96, fps=20, frames=12, seed=10)))
    assert second["visible"].tolist() == [int(f.visible) for f in direct]


def test_command_rejects_bad_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path), "--width", "16"])
    assert exit_info.value.code == 2
    assert "width must be an integer >= 32" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("width", 31, "width must be an integer >= 32"),
        ("height", 0, "height must be an integer >= 32"),
        ("width", 64.0, "width must be an integer"),
        ("fps", 0, "fps must be a number > 0"),
        ("fps", float("nan"), "fps must be a number > 0"),
        ("frames", 0, "frames must be an integer >= 1"),
        ("seed", -1, "seed must be an integer >= 0"),
        ("court", "squash", "court must be"),
        ("ball_radius_px", 0, "ball_radius_px must be None or a number > 0"),
        ("surface", "carpet", "surface must be one of"),
        ("officials", 1, "officials must be a bool"),
        ("ball_rgb", (255, 255), "ball_rgb must be"),
        ("ball_rgb", (255, 255, 300), "ball_rgb must be"),
        ("noise_std", -1.0, "noise_std must be a number >= 0"),
        ("jpeg_quality", 0, "jpeg_quality must be None or an integer in 1..100"),
        ("crf", 60, "crf must be an integer in 0..51"),
    ],
)
def test_bad_config_is_rejected(field, value, message):
    with pytest.raises(ValueError, match=message):
        SynthConfig(**{field: value})


def test_generate_rejects_non_config():
    with pytest.raises(TypeError, match="SynthConfig"):
        next(generate({"width": 320}))


def test_write_clip_names_missing_folder(tmp_path):
    missing = tmp_path / "nope" / "clip.mp4"
    with pytest.raises(FileNotFoundError, match="nope"):
        write_clip(missing, SynthConfig(width=64, height=64, frames=2))


# ---------------------------------------------------------------- cut-aways and player truth


@pytest.fixture(scope="module")
def cut_clip():
    config = SynthConfig(width=320, height=180, frames=160, seed=4, court="badminton", cutaways=2, noise_std=0.0)
    return config, list(generate(config))


def test_cutaways_are_off_by_default_and_leave_court_frames_unchanged(cut_clip):
    config, frames = cut_clip
    plain = list(generate(SynthConfig(width=320, height=180, frames=160, seed=4, court="badminton", noise_std=0.0)))
    assert {f.shot for f in plain} == {0} and all(f.court_view for f in plain)
    for cut, same in zip(frames, plain, strict=True):
        if cut.court_view:  # the cut-aways draw from their own random stream
            np.testing.assert_array_equal(cut.image, same.image)
            assert (cut.visible, cut.x_px) == (same.visible, same.x_px) or math.isnan(cut.x_px)
            np.testing.assert_array_equal(cut.players, same.players)


def test_cutaway_shots_alternate_with_court_shots(cut_clip):
    config, frames = cut_clip
    shots = shots_truth(frames)
    assert shots["kind"].tolist() == ["court", "closeup", "court", "crowd", "court"]
    assert shots["shot"].tolist() == list(range(5))
    assert shots["first_frame"].iloc[0] == 0 and shots["last_frame"].iloc[-1] == 159
    assert (shots["first_frame"].iloc[1:].to_numpy() == shots["last_frame"].iloc[:-1].to_numpy() + 1).all()
    lengths = shots["last_frame"] - shots["first_frame"] + 1
    assert (lengths[shots["court_view"]] >= 20).all()
    assert lengths[~shots["court_view"]].between(*config.cutaway_frames).all()
    for frame in frames:
        if not frame.court_view:
            assert frame.ball_state == "cutaway" and not frame.visible and np.isnan(frame.players).all()
    # A close-up is the court camera zoomed 2.5x: mostly court, nothing like the frame before it.
    first_closeup = int(shots.loc[shots["kind"] == "closeup", "first_frame"].iloc[0])
    assert np.abs(frames[first_closeup].image.astype(int) - frames[first_closeup - 1].image).mean() > 20


def test_player_boxes_are_tight_around_the_people(cut_clip):
    config, frames = cut_clip
    court = [f for f in frames if f.court_view]
    for frame in court:
        near, far = frame.players
        assert not np.isnan(frame.players).any()
        assert near[3] > far[3]  # the near player stands lower in the image
        assert (near[3] - near[1]) > (far[3] - far[1])  # and looks taller
        assert 0 <= near[0] < near[2] <= 320 and 0 <= far[1] < far[3] <= 180
    # Tight: every edge of the box holds a pixel of the person, i.e. one that differs from
    # a frame where nobody stands there.
    frame = court[0]
    x0, y0, x1, y1 = (int(v) for v in frame.players[0])

    def apart(other: np.ndarray) -> bool:
        return other[0] >= x1 + 2 or other[2] <= x0 - 2 or other[1] >= y1 + 2 or other[3] <= y0 - 2

    empty = next(f.image for f in court if apart(f.players[0]) and apart(f.players[1]))
    changed = np.abs(frame.image[y0:y1, x0:x1].astype(int) - empty[y0:y1, x0:x1]).max(axis=2) > 0
    assert changed[0].any() and changed[-1].any() and changed[:, 0].any() and changed[:, -1].any()


def test_write_clip_writes_truth_files(tmp_path):
    config = SynthConfig(width=160, height=96, frames=110, seed=6, court="badminton", cutaways=1, truth=True)
    video = tmp_path / "cuts.mp4"
    write_clip(video, config)
    expected = list(generate(config))
    players = pd.read_csv(tmp_path / "cuts.players.csv")
    shots = pd.read_csv(tmp_path / "cuts.shots.csv")
    assert list(players.columns) == ["frame", "shot", "court_view", "near_x0", "near_y0", "near_x1", "near_y1",
                                     "far_x0", "far_y0", "far_x1", "far_y1"]
    assert players["frame"].tolist() == list(range(110))
    np.testing.assert_array_equal(players[["near_x0", "near_y0", "near_x1", "near_y1"]].to_numpy(),
                                  np.stack([f.players[0] for f in expected]))
    assert players["court_view"].tolist() == [f.court_view for f in expected]
    assert shots.to_dict("list") == shots_truth(expected).to_dict("list")
    assert probe(video).frame_count == 110
    # Without truth=True no truth files are written (the default, as before).
    write_clip(tmp_path / "plain.mp4", SynthConfig(width=64, height=64, frames=2))
    assert sorted(p.name for p in tmp_path.iterdir() if p.stem.startswith("plain")) == ["plain.csv", "plain.mp4"]


def test_command_writes_cutaways_and_truth(tmp_path):
    out = tmp_path / "synth"
    main(["--out", str(out), "--clips", "1", "--width", "160", "--height", "96", "--frames", "90",
          "--cutaways", "1", "--truth"])
    shots = pd.read_csv(out / "synth_000.shots.csv")
    assert len(shots) == 3 and shots["court_view"].tolist() == [True, False, True]
    assert len(pd.read_csv(out / "synth_000.players.csv")) == 90


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("cutaways", -1, "cutaways must be an integer >= 0"),
        ("cutaway_frames", (1, 5), "cutaway_frames must be"),
        ("cutaway_frames", (30, 20), "cutaway_frames must be"),
        ("cutaways", 3, "frames must be >= 200 for 3 cut-aways"),
    ],
)
def test_bad_cutaway_config_is_rejected(field, value, message):
    with pytest.raises(ValueError, match=message):
        SynthConfig(**{field: value})
