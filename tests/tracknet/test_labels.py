"""Label reading (four formats, chosen by content), validation and TrackNet CSV export."""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tracknet.errors import LabelError
from tracknet.labels import (
    LabelFormat,
    detect_format,
    read_label_studio,
    read_labels,
    validate_labels,
    write_tracknet_csv,
)

SIZE = (1280, 720)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def _rows(labels: pd.DataFrame) -> list[tuple]:
    """Rows as plain tuples with NaN mapped to None, so == compares them exactly."""
    return [
        tuple(None if isinstance(v, float) and math.isnan(v) else v for v in row)
        for row in labels[["frame", "visible", "x_px", "y_px"]].itertuples(index=False)
    ]


def _assert_canonical_dtypes(labels: pd.DataFrame) -> None:
    assert labels["frame"].dtype == np.int64
    assert labels["visible"].dtype == np.int8
    assert labels["x_px"].dtype == np.float64
    assert labels["y_px"].dtype == np.float64


def test_tracknet_csv_with_extra_columns_bom_and_blank_lines(tmp_path: Path) -> None:
    # Column order differs, TrackNetV3 adds Z, header names are padded, rows are unsorted.
    text = "\ufeff X , Frame ,Y,Visibility,Z\n101.5,2,40.25,1,0.3\n0,0,0,0,0\n7,1,8,1,0\n\n\n"
    labels = read_labels(_write(tmp_path, "a.csv", text))
    assert _rows(labels) == [(0, 0, None, None), (1, 1, 7.0, 8.0), (2, 1, 101.5, 40.25)]
    assert list(labels.columns) == ["frame", "visible", "x_px", "y_px"]
    _assert_canonical_dtypes(labels)


def test_labelling_tool_csv_converts_normalised_coordinates(tmp_path: Path) -> None:
    text = "Frame,Ball,x,y\n0,1,0.523,0.401\n1,0,,\n2,0,-1.000,-1.000\n3,1,1.0,0.0\n"
    labels = read_labels(_write(tmp_path, "00001.csv", text), video_size=SIZE)
    assert _rows(labels) == [
        (0, 1, pytest.approx(0.523 * 1280), pytest.approx(0.401 * 720)),
        (1, 0, None, None),
        (2, 0, None, None),
        (3, 1, 1280.0, 0.0),
    ]
    assert labels.loc[0, "x_px"] == pytest.approx(669.44)
    assert labels.loc[0, "y_px"] == pytest.approx(288.72)


def test_labelling_tool_csv_needs_video_size(tmp_path: Path) -> None:
    path = _write(tmp_path, "clip.csv", "Frame,Ball,x,y\n0,1,0.5,0.5\n")
    with pytest.raises(LabelError, match=r"video_size") as info:
        read_labels(path)
    assert "clip.csv" in str(info.value)


def test_tennis_label_csv_visibility_and_status(tmp_path: Path) -> None:
    text = (
        "file name,visibility,x-coordinate,y-coordinate,status\n"
        "0000.jpg,1,599,423,0\n"
        "0001.jpg,2,600.5,420,1\n"
        "0002.jpg,3,610,400,2\n"
        "0003.jpg,0,,,\n"
        "0004.jpg,1,620,390,Bounce\n"
        "0005.jpg,1,630,380,hit\n"
    )
    labels = read_labels(_write(tmp_path, "Label.csv", text))
    assert _rows(labels) == [
        (0, 1, 599.0, 423.0),
        (1, 1, 600.5, 420.0),
        (2, 0, None, None),  # occluded: position only guessed
        (3, 0, None, None),
        (4, 1, 620.0, 390.0),
        (5, 1, 630.0, 380.0),
    ]
    assert labels["visibility_code"].tolist() == [1, 2, 3, 0, 1, 1]
    assert labels["visibility_code"].dtype == np.int8
    assert labels["status"].tolist()[:3] == ["flying", "hit", "bounce"]
    assert labels["status"].isna().tolist() == [False, False, False, True, False, False]
    assert labels["status"].tolist()[4:] == ["bounce", "hit"]


def test_tennis_frame_number_comes_from_file_name(tmp_path: Path) -> None:
    text = (
        "file name,visibility,x-coordinate,y-coordinate,status\n"
        "clip3/frame_0042.jpg,1,1,2,0\nclip3/frame_0007.jpg,1,3,4,0\n"
    )
    labels = read_labels(_write(tmp_path, "Label.csv", text))
    assert labels["frame"].tolist() == [7, 42]


def _sagemaker_document() -> dict:
    return {
        "tracking-annotations": [
            {
                "frame-no": 2,
                "frame": "frame0002.jpg",
                "annotations": [
                    {"top": 10, "left": 20, "width": 50, "height": 40,
                     "label": "player", "object-id": "a", "object-name": "player:1"},
                    {"top": 100, "left": 200, "width": 8, "height": 6,
                     "object-id": "b", "object-name": "Shuttle:1"},
                ],
            },
            {
                "frame-no": 0,
                "frame": "frame0000.jpg",
                "annotations": [
                    {"top": 10, "left": 20, "width": 5, "height": 3,
                     "label": "racket", "object-id": "c", "object-name": "racket:1"},
                    {"top": 50, "left": 60, "width": 4, "height": 4,
                     "label": "person", "object-id": "d", "object-name": "person:1"},
                ],
            },
            {"frame-no": 1, "frame": "frame0001.jpg", "annotations": []},
            {
                "frame-no": 3,
                "frame": "frame0003.jpg",
                "annotations": [{"x": 321.5, "y": 123.25, "label": "Ball", "object-id": "e"}],
            },
            {
                "frame-no": 4,
                "frame": "frame0004.jpg",
                "annotations": [],
                "keypoints": [{"x": 11, "y": 12, "object-name": "ball:1"}],
            },
            {
                "frame-no": 5,
                "frame": "frame0005.jpg",
                "annotations": [{"object-name": "ball:1", "keypoints": [{"x": 5, "y": 6}]}],
            },
        ]
    }


def test_sagemaker_json_box_centres_keypoints_and_ball_preference(tmp_path: Path) -> None:
    path = _write(tmp_path, "SeqLabel.json", json.dumps(_sagemaker_document(), indent=2))
    labels = read_labels(path)
    assert _rows(labels) == [
        (0, 1, 22.5, 11.5),  # no ball-like label: the first annotation's box centre
        (1, 0, None, None),  # no annotations: not visible
        (2, 1, 204.0, 103.0),  # the shuttle, not the first (player) box
        (3, 1, 321.5, 123.25),  # keypoint annotation
        (4, 1, 11.0, 12.0),  # frame-level keypoints list
        (5, 1, 5.0, 6.0),  # keypoints nested in an annotation
    ]
    _assert_canonical_dtypes(labels)


@pytest.mark.parametrize(
    ("file_name", "text", "expected", "first_row"),
    [
        (
            "SeqLabel.json",
            "Frame,Visibility,X,Y\n0,1,5,6\n",
            LabelFormat.TRACKNET_CSV,
            (0, 1, 5.0, 6.0),
        ),
        (
            "Label.csv",
            "Frame,Ball,x,y\n0,1,0.5,0.5\n",
            LabelFormat.LABELLING_TOOL_CSV,
            (0, 1, 640.0, 360.0),
        ),
        (
            "labels.json",
            "file name,visibility,x-coordinate,y-coordinate,status\n0009.jpg,1,7,8,0\n",
            LabelFormat.TENNIS_CSV,
            (9, 1, 7.0, 8.0),
        ),
        (
            "ball.csv",
            '{"tracking-annotations": [{"frame-no": 4, "annotations": [{"x": 1, "y": 2}]}]}',
            LabelFormat.SAGEMAKER_JSON,
            (4, 1, 1.0, 2.0),
        ),
    ],
)
def test_format_is_chosen_from_content_not_name(
    tmp_path: Path, file_name: str, text: str, expected: LabelFormat, first_row: tuple
) -> None:
    path = _write(tmp_path, file_name, text)
    assert detect_format(path) is expected
    assert _rows(read_labels(path, video_size=SIZE)) == [first_row]


def _ls_task(video_id: str, frame: int, result: list[dict] | None, cancelled: bool = False) -> dict:
    """One task of a Label Studio JSON export, as Label Studio writes it."""
    annotations = [] if result is None else [
        {"id": frame + 1, "completed_by": 1, "was_cancelled": cancelled, "result": result, "lead_time": 1.5}
    ]
    return {"id": frame + 1000, "data": {"image": f"/data/local-files/?d=frames/{video_id}/{frame:06d}.jpg",
                                        "video_id": video_id, "frame": frame, "width": 1280, "height": 720},
            "annotations": annotations, "predictions": []}


def _ls_point(x_pct: float, y_pct: float) -> dict:
    return {"id": "p", "from_name": "ball", "to_name": "image", "type": "keypointlabels", "original_width": 1280,
            "original_height": 720, "value": {"x": x_pct, "y": y_pct, "width": 0.5, "keypointlabels": ["ball"]}}


NO_BALL = {"id": "c", "from_name": "visibility", "to_name": "image", "type": "choices",
           "value": {"choices": ["no ball"]}}


def test_label_studio_export_is_read_per_video(tmp_path: Path) -> None:
    tasks = [
        _ls_task("2024/final", 11, [_ls_point(50.0, 25.0)]),
        _ls_task("2024/final", 10, [NO_BALL]),
        _ls_task("2024/final", 12, None),  # not labelled yet: absent, not "no ball"
        _ls_task("2024/final", 13, [_ls_point(1.0, 1.0)], cancelled=True),  # skipped by the annotator
        _ls_task("semi", 3, [_ls_point(10.0, 100.0)]),
    ]
    path = _write(tmp_path, "export.json", json.dumps(tasks))
    assert detect_format(path) is LabelFormat.LABEL_STUDIO_JSON
    by_video = read_label_studio(path)
    assert sorted(by_video) == ["2024/final", "semi"]
    assert _rows(by_video["2024/final"]) == [(10, 0, None, None), (11, 1, 640.0, 180.0)]
    assert _rows(by_video["semi"]) == [(3, 1, 128.0, 720.0)]
    _assert_canonical_dtypes(by_video["semi"])
    # read_labels reads an export of one video, and names the videos of a wider one.
    with pytest.raises(LabelError, match="covers 2 videos"):
        read_labels(path)
    one = _write(tmp_path, "one.json", json.dumps(tasks[:2]))
    assert _rows(read_labels(one)) == [(10, 0, None, None), (11, 1, 640.0, 180.0)]


@pytest.mark.parametrize(
    "task, problem",
    [
        (_ls_task("v", 1, [_ls_point(5, 5), NO_BALL]), "a ball point and the 'no ball' choice at once"),
        (_ls_task("v", 1, [_ls_point(5, 5), _ls_point(6, 6)]), "2 ball points in one frame"),
        (_ls_task("v", 1, []), "neither a ball point nor the 'no ball' choice"),
        ({"id": 7, "data": {"image": "x.jpg", "frame": 1}, "annotations": []}, "task 7: data has no 'video_id'"),
        (_ls_task("v", 1, [{**_ls_point(5, 5), "value": {"x": "left", "y": 5}}]), "'x' must be a number"),
    ],
)
def test_bad_label_studio_tasks_name_file_and_task(tmp_path: Path, task: dict, problem: str) -> None:
    path = _write(tmp_path, "export.json", json.dumps([task]))
    with pytest.raises(LabelError, match=re.escape(problem)) as caught:
        read_label_studio(path)
    assert str(path) in str(caught.value)


def test_reads_from_binary_stream() -> None:
    stream = io.BytesIO(b"Frame,Visibility,X,Y\n0,1,5,6\n")
    assert _rows(read_labels(stream)) == [(0, 1, 5.0, 6.0)]


TRACKNET = "Frame,Visibility,X,Y\n"
BALL = "Frame,Ball,x,y\n"
TENNIS = "file name,visibility,x-coordinate,y-coordinate,status\n"


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        pytest.param("", None, "empty file", id="empty"),
        pytest.param("\n\n", None, "empty file", id="blank-lines-only"),
        pytest.param("a,b,c\n1,2,3\n", 1, "Frame,Visibility,X,Y", id="unknown-header"),
        pytest.param(TRACKNET + "0,1,10,20\n1,1,abc,20\n", 3, "not a number", id="non-numeric"),
        pytest.param(TRACKNET + "zero,1,10,20\n", 2, "not a number", id="non-numeric-frame"),
        pytest.param(TRACKNET + "0.5,1,10,20\n", 2, "not an integer", id="fractional-frame"),
        pytest.param(TRACKNET + "-1,1,10,20\n", 2, "negative frame", id="negative-frame"),
        pytest.param(TRACKNET + "0,0,0,0\n1,2,10,20\n", 3, "must be 0 or 1", id="visibility"),
        pytest.param(BALL + "0,3,0.5,0.5\n", 2, "must be 0 or 1", id="ball-flag"),
        pytest.param(BALL + "0,1,0.5,0.5\n1,1,1.2,0.5\n", 3, "outside [0, 1]", id="normalised"),
        pytest.param(BALL + "0,1,0.5,-0.1\n", 2, "outside [0, 1]", id="normalised-negative"),
        pytest.param(TRACKNET + "0,1,,\n", 2, "missing coordinates", id="missing-coordinates"),
        pytest.param(TRACKNET + "0,1,5\n", 2, "expected 4 fields", id="short-row"),
        pytest.param(TRACKNET + "0,0,0,0\n1,0,0,0\n0,1,5,5\n", 4, "duplicate frame 0",
                     id="duplicate-frame"),
        pytest.param(TRACKNET + "0,0,0,0\n\n1,1,x,5\n", 4, "not a number",
                     id="line-counts-blank-lines"),
        pytest.param(TENNIS + "0000.jpg,4,1,2,0\n", 2, "must be 0, 1, 2 or 3",
                     id="tennis-visibility"),
        pytest.param(TENNIS + "0000.jpg,1,1,2,rolling\n", 2, "flying/hit/bounce",
                     id="tennis-status"),
        pytest.param(TENNIS + "cover.jpg,1,1,2,0\n", 2, "no frame number", id="tennis-name"),
        pytest.param('{\n  "tracking-annotations": [\n    {"frame-no": 0,,}\n  ]\n}\n', 3,
                     "invalid JSON", id="invalid-json"),
        pytest.param('{"frames": []}', None, "tracking-annotations", id="json-without-key"),
        pytest.param('{"tracking-annotations": [{"frame-no": 1}, {"frame-no": 1}]}', None,
                     "duplicate frame-no 1", id="json-duplicate-frame"),
        pytest.param('{"tracking-annotations": [{"frame-no": "one"}]}', None,
                     "'frame-no' must be a number", id="json-frame-no"),
        pytest.param('{"tracking-annotations": [{"frame-no": 0, "annotations": [{"a": 1}]}]}',
                     None, "neither a box", id="json-annotation-shape"),
    ],
)
def test_malformed_files_are_rejected_with_file_and_line(
    tmp_path: Path, text: str, line: int | None, problem: str
) -> None:
    path = _write(tmp_path, "broken_labels.txt", text)
    with pytest.raises(LabelError) as info:
        read_labels(path, video_size=SIZE)
    message = str(info.value)
    assert info.value.line == line
    assert message.startswith(str(path))
    assert problem in message
    if line is not None:
        assert f"line {line}:" in message


def test_missing_file_is_a_label_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.csv"
    with pytest.raises(LabelError, match="file not found") as info:
        read_labels(path)
    assert info.value.path == str(path)
    with pytest.raises(LabelError, match="file not found"):
        detect_format(path)


def test_directory_is_an_unreadable_label_file(tmp_path: Path) -> None:
    with pytest.raises(LabelError, match="cannot read file") as info:
        read_labels(tmp_path)
    assert info.value.path == str(tmp_path)


def _table(frames: list[int], xy: list[tuple[float, float] | None]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "frame": np.array(frames, dtype=np.int64),
            "visible": np.array([p is not None for p in xy], dtype=np.int8),
            "x_px": [math.nan if p is None else p[0] for p in xy],
            "y_px": [math.nan if p is None else p[1] for p in xy],
        }
    )


def test_validate_labels_accepts_labels_inside_the_video() -> None:
    # 1280.5 is past the edge but within the 1 px tolerance; invisible NaNs are ignored.
    labels = _table([0, 1, 2], [(0.0, 0.0), None, (1280.5, 720.0)])
    validate_labels(labels, frame_count=3, video_size=SIZE, path="clip.csv")


@pytest.mark.parametrize(
    "xy", [(1281.5, 10.0), (-1.5, 10.0), (10.0, 721.5), (10.0, -2.0)]
)
def test_validate_labels_rejects_positions_outside_the_frame(xy: tuple[float, float]) -> None:
    labels = _table([0, 1], [(5.0, 5.0), xy])
    with pytest.raises(LabelError, match=r"outside the 1280x720 video frame, first at frame 1"):
        validate_labels(labels, frame_count=None, video_size=SIZE, path="clip.csv")


def test_validate_labels_rejects_frames_beyond_the_video() -> None:
    labels = _table([0, 3, 4], [None, None, (1.0, 1.0)])
    beyond = r"2 labelled frame\(s\) are beyond the video's 3 frames"
    with pytest.raises(LabelError, match=beyond) as info:
        validate_labels(labels, frame_count=3, video_size=None, path="clip.csv")
    assert info.value.path == "clip.csv"
    validate_labels(labels, frame_count=5, video_size=None, path="clip.csv")


def test_write_tracknet_csv_round_trip(tmp_path: Path) -> None:
    labels = _table([2, 0, 1], [(10.5, 20.49), (3.2, 4.7), None])
    path = tmp_path / "out.csv"
    write_tracknet_csv(labels, path)
    assert path.read_text(encoding="utf-8") == (
        "Frame,Visibility,X,Y\n0,1,3,5\n1,0,0,0\n2,1,11,20\n"
    )
    assert _rows(read_labels(path)) == [(0, 1, 3.0, 5.0), (1, 0, None, None), (2, 1, 11.0, 20.0)]


def test_write_tracknet_csv_to_text_and_binary_files() -> None:
    labels = _table([0], [(1.6, 2.4)])
    text, binary = io.StringIO(), io.BytesIO()
    write_tracknet_csv(labels, text)
    write_tracknet_csv(labels, binary)
    assert text.getvalue() == "Frame,Visibility,X,Y\n0,1,2,2\n"
    assert binary.getvalue() == text.getvalue().encode("utf-8")


def test_write_tracknet_csv_refuses_visible_rows_without_position() -> None:
    labels = _table([0], [None])
    labels["visible"] = np.int8(1)
    with pytest.raises(ValueError, match="frame 0 is marked visible"):
        write_tracknet_csv(labels, io.StringIO())
