"""Players: court logic, the background detector, the ONNX detector, and the whole analysis
on synthetic clips with exact boxes and on the real badminton clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tracknet.broadcast import BroadcastConfig, analysis_size, analyze_broadcast
from tracknet.court import CourtColour
from tracknet.players import Candidate, PlayerConfig, ShotContext, make_detector, select_players
from tracknet.players.background import BackgroundDetector, consensus_background
from tracknet.players.selection import HeightModel
from tracknet.synth import SynthConfig, write_clip
from tracknet.video import probe

REAL_CLIPS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "badminton" / "clips"
GREEN = (45, 160, 120)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of (..., 4) boxes (x0, y0, x1, y1); NaN boxes give 0."""
    ix = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    iy = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = ix * iy
    union = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter
    return np.nan_to_num(inter / union)


def court(h: int = 180, w: int = 320) -> np.ndarray:
    region = np.zeros((h, w), bool)
    region[60:175, 40:280] = True
    return region


def person(x0, y0, x1, y1, score=1.0) -> Candidate:
    rows = np.tile(np.array([[x0, x1]], np.int32), (y1 - y0, 1))
    return Candidate(x0, y0, x1, y1, score, rows)


# ---------------------------------------------------------------- court logic


def frames_with_both_players(n: int = 10) -> list[list[Candidate]]:
    """Far player ~40 px tall at feet row 90, near player ~80 px tall at feet row 160."""
    return [[person(150 + i, 50, 165 + i, 90), person(120 - i, 80, 150 - i, 160)] for i in range(n)]


def test_select_players_near_and_far_by_feet_and_size():
    frames = frames_with_both_players()
    # An umpire outside the court (feet at column 20) and a small blob (the shuttle).
    frames[3] = frames[3] + [person(10, 40, 30, 120), person(200, 100, 203, 104)]
    chosen, model = select_players(frames, court())
    assert model is not None and 0 < model.slope < 1
    np.testing.assert_array_equal(chosen[3, 0, :4], [117, 80, 147, 160])  # near
    np.testing.assert_array_equal(chosen[3, 1, :4], [153, 50, 168, 90])  # far
    assert (chosen[:, :, 4] > 0.9).all()  # heights match the model


def test_select_players_splits_a_blob_holding_both_players():
    frames = frames_with_both_players()
    merged = np.zeros((110, 2), np.int32)
    merged[:40] = (150, 165)  # far player's rows
    merged[40:] = (120, 150)  # near player's rows (the far player's feet hidden behind)
    frames.append([Candidate(120, 50, 165, 160, 1.0, merged)])
    chosen, _ = select_players(frames, court())
    near, far = chosen[-1]
    assert box_iou(near[:4], np.array([120, 80, 150, 160])) > 0.9
    assert box_iou(far[:4], np.array([150, 50, 165, 90])) > 0.7
    assert near[4] <= 0.75 and far[4] <= 0.75  # split boxes score lower


def test_select_players_joins_a_body_cut_by_the_net_tape():
    frames = frames_with_both_players()
    frames.append([person(150, 50, 165, 68), person(150, 72, 165, 90), person(120, 80, 150, 160)])
    chosen, _ = select_players(frames, court())
    np.testing.assert_array_equal(chosen[-1, 1, :4], [150, 50, 165, 90])


def test_select_players_holds_a_still_player_seen_in_pieces():
    frames = frames_with_both_players()
    frames.append([person(161, 70, 170, 90), person(111, 80, 141, 160)])  # only the far player's legs move
    frames.append([person(111, 80, 141, 160)])  # and now nothing of him
    chosen, _ = select_players(frames, court())
    np.testing.assert_array_equal(chosen[-2, 1, :4], chosen[-3, 1, :4])
    np.testing.assert_array_equal(chosen[-1, 1, :4], chosen[-3, 1, :4])


def test_height_model_and_prior():
    model = HeightModel(0.5, 0.0)
    assert model(100) == 50 and model.feet_row_for_top(50) == 100
    few = frames_with_both_players(2)
    chosen, used = select_players(few, court(), prior=model)
    assert used is model and not np.isnan(chosen[:, :, 0]).any()


# ---------------------------------------------------------------- the background detector


def scene(people: list[tuple[int, int, int, int, tuple[int, int, int]]]) -> np.ndarray:
    image = np.full((180, 320, 3), 30, np.uint8)
    image[60:175, 40:280] = GREEN
    for x0, y0, x1, y1, rgb in people:
        image[y0:y1, x0:x1] = rgb
    return image


def test_background_detector_boxes_people_exactly_and_drops_shadows():
    background = scene([])
    detector = BackgroundDetector()
    detector.begin_shot(ShotContext(court(), CourtColour(156.0), background))
    frame = scene([(100, 90, 120, 150, (200, 30, 40)), (200, 40, 210, 70, (30, 60, 200))])
    frame[150:156, 96:126] = (np.array(GREEN) * 0.6).astype(np.uint8)  # the near player's shadow
    found = sorted(detector.detect(frame), key=lambda c: c.y1)
    assert [(c.x0, c.y0, c.x1, c.y1) for c in found] == [(200, 40, 210, 70), (100, 90, 120, 150)]


def test_background_detector_ignores_ghosts_of_players_in_the_background():
    ghost = scene([(60, 100, 80, 160, (200, 30, 40))])  # the background still holds a player
    detector = BackgroundDetector()
    detector.begin_shot(ShotContext(court(), CourtColour(156.0), ghost))
    assert detector.detect(scene([])) == []


def test_consensus_background_removes_a_player_standing_most_of_the_time():
    empty = scene([])
    samples = []
    for i in range(12):
        # Around one spot in 7 of 12 frames (shifting a little: shirt and shorts cover a
        # pixel in turns), elsewhere in the others.
        x, y = (100 + 2 * i, 60 + 10 * i) if i < 7 else (150 + 8 * i, 90)
        samples.append(scene([(x, y, x + 20, y + 30, (200, 30, 40)), (x, y + 30, x + 20, y + 60, (20, 20, 30))]))
    def wrong_pixels(background: np.ndarray) -> int:
        return int((np.abs(background.astype(int) - empty).max(axis=2) > 30).sum())

    median_wrong = wrong_pixels(np.median(np.stack(samples), axis=0))
    assert median_wrong > 150  # the median keeps much of him
    assert wrong_pixels(consensus_background(samples)) == 0


def test_player_config_is_validated():
    with pytest.raises(ValueError, match="onnx_model"):
        PlayerConfig(detector="onnx")
    with pytest.raises(ValueError, match="detector must be"):
        PlayerConfig(detector="yolo")
    with pytest.raises(ValueError, match="split_ratio"):
        PlayerConfig(split_ratio=0.5)


# ---------------------------------------------------------------- the whole analysis, synthetic truth


@pytest.fixture(scope="module")
def analysed_clips(tmp_path_factory):
    """HD synthetic clips with cut-aways: (analysis, true player table, true shots) each."""
    folder = tmp_path_factory.mktemp("players")
    results = []
    for seed in (1, 3):
        path = folder / f"rally_{seed}.mp4"
        write_clip(path, SynthConfig(width=1280, height=720, frames=300, seed=seed, court="badminton",
                                     cutaways=2, crf=18, truth=True))
        analysis = analyze_broadcast(str(path), probe(path), BroadcastConfig(), make_detector(PlayerConfig()))
        results.append((analysis, pd.read_csv(path.with_suffix(".players.csv")),
                        pd.read_csv(path.with_suffix(".shots.csv"))))
    return results


def test_synthetic_cuts_court_view_and_players(analysed_clips):
    found = total = 0
    for analysis, players, shots in analysed_clips:
        assert [s.first_frame for s in analysis.split.shots] == shots["first_frame"].tolist()
        assert [s.court_view for s in analysis.split.shots] == shots["court_view"].tolist()
        np.testing.assert_array_equal(analysis.court_view, players["court_view"])
        truth = np.stack([players[[f"{side}_{k}" for k in ("x0", "y0", "x1", "y1")]].to_numpy()
                          for side in ("near", "far")], axis=1)  # (N, 2, 4)
        both = (box_iou(analysis.players[..., :4], truth) >= 0.7).all(axis=1)
        found += int(both[analysis.court_view].sum())
        total += int(analysis.court_view.sum())
        assert np.isnan(analysis.players[~analysis.court_view]).all()  # nothing outside court view
    assert found / total >= 0.95, f"both players IoU >= 0.7 in {found}/{total} court-view frames"


# ---------------------------------------------------------------- the ONNX detector


def tiny_onnx_model(path: Path, rows: np.ndarray, layout: str = "yolov8", size: int = 64) -> None:
    """An ONNX model with input (1, 3, size, size) whose output is always `rows` ((N, 4 + C) or (N, 5 + C)).

    yolov8 layout: output (1, 4 + C, N); yolov5: (1, N, 5 + C). The input is used (times
    zero) so the graph is a real function of it.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    constant = rows.T[None] if layout == "yolov8" else rows[None]
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["detections", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_person_detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(constant.shape))],
        initializer=[numpy_helper.from_array(constant.astype(np.float32), "detections"),
                     numpy_helper.from_array(np.zeros(1, np.float32), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def to_input(box: tuple[float, float, float, float], scale: float, pad_y: float) -> list[float]:
    """A frame box (x0, y0, x1, y1) as a letterboxed model box (cx, cy, w, h)."""
    x0, y0, x1, y1 = box
    return [(x0 + x1) / 2 * scale, (y0 + y1) / 2 * scale + pad_y, (x1 - x0) * scale, (y1 - y0) * scale]


@pytest.mark.parametrize("layout", ["yolov8", "yolov5"])
def test_onnx_detector_maps_boxes_back_and_keeps_the_players(tmp_path, layout):
    # 320x180 frames letterboxed into 64x64: scale 0.2, 14 px of padding above and below.
    scale, pad_y = 0.2, 14.0
    near, far = (100.0, 80.0, 130.0, 160.0), (200.0, 50.0, 215.0, 90.0)
    umpire = (10.0, 40.0, 30.0, 120.0)  # feet outside the court
    person_rows = [to_input(near, scale, pad_y), to_input(far, scale, pad_y), to_input(umpire, scale, pad_y),
                   to_input((102.0, 82.0, 131.0, 160.0), scale, pad_y),  # a duplicate of near: NMS drops it
                   to_input((150.0, 100.0, 170.0, 150.0), scale, pad_y),  # a chair: class 1
                   to_input((60.0, 100.0, 80.0, 150.0), scale, pad_y)]  # too unsure
    scores = [(0.9, 0.0), (0.8, 0.0), (0.95, 0.0), (0.7, 0.0), (0.0, 0.9), (0.1, 0.0)]
    if layout == "yolov8":
        rows = np.array([box + list(s) for box, s in zip(person_rows, scores)])
    else:  # objectness 1, then the class scores
        rows = np.array([box + [1.0] + list(s) for box, s in zip(person_rows, scores)])
    model = tmp_path / "people.onnx"
    tiny_onnx_model(model, rows, layout)
    detector = make_detector(PlayerConfig(detector="onnx", onnx_model=str(model), onnx_layout=layout))
    assert not detector.uses_background
    detector.begin_shot(ShotContext(court(), None))
    found = detector.detect(scene([]))
    boxes = sorted((round(c.x0, 3), round(c.y0, 3), round(c.x1, 3), round(c.y1, 3)) for c in found)
    assert boxes == sorted([near, far, umpire])
    chosen, _ = select_players([found] * 6, court())
    np.testing.assert_allclose(chosen[0, 0, :4], near, atol=1e-3)
    np.testing.assert_allclose(chosen[0, 1, :4], far, atol=1e-3)


def test_onnx_detector_runs_in_the_whole_analysis(tmp_path):
    clip = tmp_path / "clip.mp4"
    write_clip(clip, SynthConfig(width=320, height=180, frames=30, seed=2, court="badminton"))
    info = probe(clip)
    assert analysis_size(info, 640) == (320, 180)
    scale, pad_y = 0.2, 14.0
    near, far = (140.0, 120.0, 170.0, 170.0), (150.0, 70.0, 165.0, 100.0)
    rows = np.array([to_input(near, scale, pad_y) + [0.9], to_input(far, scale, pad_y) + [0.9]])
    model = tmp_path / "people.onnx"
    tiny_onnx_model(model, rows)
    config = BroadcastConfig(players=PlayerConfig(detector="onnx", onnx_model=str(model)))
    analysis = analyze_broadcast(str(clip), info, config, make_detector(config.players))
    assert analysis.court_view.all()
    np.testing.assert_allclose(analysis.players[:, 0, :4], np.tile(near, (30, 1)), atol=1e-3)
    np.testing.assert_allclose(analysis.players[:, 1, :4], np.tile(far, (30, 1)), atol=1e-3)


def test_onnx_detector_names_the_file_when_it_cannot_be_used(tmp_path):
    from tracknet.players.onnx import DetectorModelError

    with pytest.raises(DetectorModelError, match="missing.onnx: person detection model not found"):
        make_detector(PlayerConfig(detector="onnx", onnx_model=str(tmp_path / "missing.onnx")))
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(DetectorModelError, match="garbage.onnx: not a readable ONNX model"):
        make_detector(PlayerConfig(detector="onnx", onnx_model=str(garbage)))
    wrong = tmp_path / "wrong.onnx"
    tiny_onnx_model(wrong, np.zeros((3, 4)))  # yolov8 layout with no class scores at all
    detector = make_detector(PlayerConfig(detector="onnx", onnx_model=str(wrong)))
    with pytest.raises(DetectorModelError, match="wrong.onnx: output shape .* no score for class 0"):
        detector.detect(scene([]))


# ---------------------------------------------------------------- real clips


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_CLIPS.is_dir(), reason="needs ../shared/data/badminton/clips")
def test_real_clips_court_view_and_both_players():
    found = total = 0
    for path in sorted(REAL_CLIPS.glob("*.mp4")):
        analysis = analyze_broadcast(str(path), probe(path), BroadcastConfig(), make_detector(PlayerConfig()))
        assert len(analysis.split.shots) == 1 and analysis.court_view.all(), path.name
        found += int(analysis.both_players().sum())
        total += len(analysis.shot)
    assert found / total >= 0.9, f"both players in {found}/{total} frames"
