"""Ball label files: read five common formats into one per-frame table, validate, export.

The format is chosen from the file's content (CSV header or JSON keys), never its name:

- ``TRACKNET_CSV``: TrackNetV2/V3, header ``Frame,Visibility,X,Y`` in source pixels.
  Column order is free and extra columns (TrackNetV3's ``Z`` and others) are ignored.
- ``LABELLING_TOOL_CSV``: the TrackNetV2 labelling tool, header ``Frame,Ball,x,y`` with
  x, y normalised to [0, 1]; reading it needs the video size to convert to pixels.
- ``TENNIS_CSV``: the TrackNet tennis ``Label.csv``, header
  ``file name,visibility,x-coordinate,y-coordinate,status``.
- ``SAGEMAKER_JSON``: SageMaker Ground Truth video-frame object tracking output
  (``SeqLabel.json``, top-level key ``tracking-annotations``); the ball is the centre of
  its box, or the point itself for keypoint annotations.
- ``LABEL_STUDIO_JSON``: Label Studio's JSON export of tasks made by ``jobs.label`` (a
  top-level list of tasks with ``data`` and ``annotations``): one task per frame, the
  ball a keypoint (``LS_BALL``) in percent of the image, or the ``LS_NO_BALL`` choice.
  One export covers many videos (``read_label_studio`` splits it by ``data.video_id``);
  ``read_labels`` reads an export of one video.

Canonical table (a pandas DataFrame, one row per labelled frame, sorted, frames unique):

================  =======  ===========================================================
column            dtype    meaning
================  =======  ===========================================================
frame             int64    0-based frame index as written in the file
visible           int8     1 when the ball is in view at a known position, else 0
x_px, y_px        float64  ball centre in source-video pixels; NaN when not visible
visibility_code   int8     tennis only: raw code, 0 not in frame, 1 easily visible,
                           2 hard to see, 3 occluded (visible is 1 for codes 1 and 2)
status            string   tennis only: "flying", "hit", "bounce", or NA
================  =======  ===========================================================

Coordinates written for frames without a visible ball (TrackNet's ``0,0``, the labelling
tool's ``-1,-1``, empty cells) are ignored. Frames absent from the file are absent from
the table: reading never fills gaps.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from dataclasses import dataclass
from enum import StrEnum
from collections.abc import Callable, Iterator
from typing import IO, Any, BinaryIO

import numpy as np
import pandas as pd

from tracknet.errors import LabelError

LabelSource = str | os.PathLike[str] | BinaryIO


class LabelFormat(StrEnum):
    """The label file formats ``read_labels`` understands."""

    TRACKNET_CSV = "tracknet_csv"
    LABELLING_TOOL_CSV = "labelling_tool_csv"
    TENNIS_CSV = "tennis_csv"
    SAGEMAKER_JSON = "sagemaker_json"
    LABEL_STUDIO_JSON = "label_studio_json"


# The names the Label Studio labelling config (jobs.label's export) and the reader agree on.
LS_IMAGE = "image"
"""Task data key of the frame's image, and the name of the <Image> tag."""
LS_BALL = "ball"
"""Name of the <KeyPointLabels> tag and of its one label."""
LS_VISIBILITY = "visibility"
"""Name of the <Choices> tag saying whether the ball can be seen."""
LS_NO_BALL = "no ball"
"""The choice an annotator picks for a frame without a visible ball."""


# Lower-cased header names that identify each CSV format; the first match wins.
_CSV_HEADERS: dict[LabelFormat, tuple[str, ...]] = {
    LabelFormat.TRACKNET_CSV: ("frame", "visibility", "x", "y"),
    LabelFormat.LABELLING_TOOL_CSV: ("frame", "ball", "x", "y"),
    LabelFormat.TENNIS_CSV: ("file name", "visibility", "x-coordinate", "y-coordinate"),
}

_SUPPORTED = (
    "supported: 'Frame,Visibility,X,Y' (TrackNet, pixels), "
    "'Frame,Ball,x,y' (TrackNetV2 labelling tool, normalised), "
    "'file name,visibility,x-coordinate,y-coordinate,status' (TrackNet tennis Label.csv), "
    "SageMaker Ground Truth JSON with 'tracking-annotations', "
    "or a Label Studio JSON export (a list of tasks with 'data' and 'annotations')"
)

_STATUS_NAMES = ("flying", "hit", "bounce")
# The tennis dataset writes status as 0/1/2; spreadsheets re-save it as 0.0/1.0/2.0.
_STATUS_BY_TEXT = {
    **{name: name for name in _STATUS_NAMES},
    **{str(code): name for code, name in enumerate(_STATUS_NAMES)},
    **{f"{code}.0": name for code, name in enumerate(_STATUS_NAMES)},
}

_BALL_WORDS = ("ball", "shuttle")

# Labels are clicked by hand and normalised coordinates of 1.0 land exactly on the far
# edge, so validation lets positions stray this far past the frame border.
_EDGE_TOLERANCE_PX = 1.0


@dataclass(frozen=True)
class _Record:
    """One frame's label before it becomes a table row."""

    frame: int
    visible: bool
    x_px: float = math.nan
    y_px: float = math.nan
    visibility_code: int | None = None
    status: str | None = None


def detect_format(source: LabelSource) -> LabelFormat:
    """Return the format of a label file, judged by its header or JSON keys.

    ``source`` is a path or a binary file object (read to its end). Raises ``LabelError``
    naming the file for an empty, unreadable or unrecognised file.
    """
    name, text = _read_text(source)
    return _classify(name, text)[0]


def read_labels(
    source: LabelSource, video_size: tuple[int, int] | None = None
) -> pd.DataFrame:
    """Read a label file of any supported format into the canonical per-frame table.

    ``video_size`` is (width, height) in pixels; it is required for the normalised
    labelling-tool CSV and unused by the pixel formats (checking positions against the
    frame is ``validate_labels``' job). Raises ``LabelError`` naming the file, the
    1-based line where one applies (the header is line 1) and the problem.
    """
    name, text = _read_text(source)
    fmt, content = _classify(name, text)
    if fmt is LabelFormat.SAGEMAKER_JSON:
        records = _sagemaker_records(name, content)
    elif fmt is LabelFormat.LABEL_STUDIO_JSON:
        by_video = _label_studio_records(name, content)
        if len(by_video) > 1:
            raise LabelError(
                name,
                f"this Label Studio export covers {len(by_video)} videos "
                f"({', '.join(sorted(by_video)[:3])}, ...); read it with read_label_studio "
                "(or python -m jobs.label steps=[import])",
            )
        records = next(iter(by_video.values()), [])
    else:
        header_line, header, rows = content
        parse_row = _row_parser(name, fmt, video_size)
        records = _csv_records(name, header_line, header, rows, parse_row)
    return _table(records, with_tennis_columns=fmt is LabelFormat.TENNIS_CSV)


def read_label_studio(source: LabelSource) -> dict[str, pd.DataFrame]:
    """Read a Label Studio JSON export into one canonical table per video_id.

    A task is one frame (``data.video_id``, ``data.frame``); its last submitted (not
    cancelled) annotation decides: an ``LS_BALL`` keypoint is the ball (percent of the
    image, converted with the result's ``original_width``/``original_height``, else the
    task's ``data.width``/``data.height``), the ``LS_NO_BALL`` choice a frame without one.
    Tasks without a submitted annotation are unlabelled and left out. Raises
    ``LabelError`` naming the file and task for anything else.
    """
    name, text = _read_text(source)
    fmt, content = _classify(name, text)
    if fmt is not LabelFormat.LABEL_STUDIO_JSON:
        raise LabelError(name, f"not a Label Studio JSON export (found {fmt.value})")
    return {
        video_id: _table(records, with_tennis_columns=False)
        for video_id, records in _label_studio_records(name, content).items()
    }


def validate_labels(
    labels: pd.DataFrame,
    frame_count: int | None,
    video_size: tuple[int, int] | None,
    path: str,
) -> None:
    """Check that labels fit their video; raise ``LabelError`` naming ``path`` if not.

    ``labels`` is a canonical table. Frames must be below ``frame_count`` and visible
    positions inside the (width, height) ``video_size``, give or take 1 px. Either check
    is skipped when its argument is None.
    """
    if frame_count is not None:
        beyond = labels["frame"] >= frame_count
        if beyond.any():
            raise LabelError(
                path,
                f"{int(beyond.sum())} labelled frame(s) are beyond the video's "
                f"{frame_count} frames (frames are 0-based; last labelled frame is "
                f"{int(labels['frame'].max())})",
            )
    if video_size is not None:
        width, height = video_size
        seen = labels[labels["visible"] == 1]
        x, y = seen["x_px"], seen["y_px"]
        tol = _EDGE_TOLERANCE_PX
        outside = (x < -tol) | (x > width + tol) | (y < -tol) | (y > height + tol)
        if outside.any():
            first = seen[outside].iloc[0]
            raise LabelError(
                path,
                f"{int(outside.sum())} visible label(s) lie outside the {width}x{height} "
                f"video frame, first at frame {int(first['frame'])}: "
                f"({first['x_px']:.1f}, {first['y_px']:.1f}) px",
            )


def write_tracknet_csv(
    labels: pd.DataFrame, path_or_file: str | os.PathLike[str] | IO[Any]
) -> None:
    """Write labels as a TrackNet ``Frame,Visibility,X,Y`` CSV, sorted by frame.

    Positions are rounded half up to whole source pixels and written as ``0,0`` when
    not visible, the convention existing TrackNet tooling expects. ``path_or_file`` is a
    path, a text file or a binary file (written as UTF-8). Raises ``ValueError`` when a
    visible row has no position.
    """
    ordered = labels.sort_values("frame")
    visible = ordered["visible"].to_numpy() == 1
    xy = ordered[["x_px", "y_px"]].to_numpy(dtype=np.float64)  # (N, 2)
    missing = visible & np.isnan(xy).any(axis=1)
    if missing.any():
        frame = int(ordered["frame"].to_numpy()[missing][0])
        raise ValueError(f"frame {frame} is marked visible but has no x_px/y_px")
    pixels = np.where(visible[:, None], np.floor(xy + 0.5), 0).astype(np.int64)  # (N, 2)

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["Frame", "Visibility", "X", "Y"])
    writer.writerows(
        zip(ordered["frame"].tolist(), visible.astype(int).tolist(),
            pixels[:, 0].tolist(), pixels[:, 1].tolist())
    )
    text = buffer.getvalue()
    if isinstance(path_or_file, (str, os.PathLike)):
        with open(path_or_file, "w", encoding="utf-8", newline="") as file:
            file.write(text)
    elif isinstance(path_or_file, io.TextIOBase):
        path_or_file.write(text)
    else:
        path_or_file.write(text.encode("utf-8"))


def _read_text(source: LabelSource) -> tuple[str, str]:
    """Return (name for messages, decoded text without a BOM)."""
    if isinstance(source, (str, os.PathLike)):
        name = os.fsdecode(source)
        try:
            with open(name, "rb") as file:
                data: bytes | str = file.read()
        except FileNotFoundError:
            raise LabelError(name, "file not found") from None
        except OSError as exc:
            raise LabelError(name, f"cannot read file: {exc.strerror or exc}") from exc
    else:
        name = str(getattr(source, "name", "<stream>"))
        try:
            data = source.read()
        except OSError as exc:
            raise LabelError(name, f"cannot read stream: {exc}") from exc
    if isinstance(data, str):
        return name, data.removeprefix("\ufeff")
    try:
        return name, data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabelError(name, f"not UTF-8 text (bad byte at offset {exc.start})") from None


def _classify(name: str, text: str) -> tuple[LabelFormat, Any]:
    """Detect the format and return it with what the parser needs.

    For JSON that is the parsed document; for CSV it is (header line, header, rows),
    where rows yields (line number, fields) for each non-blank record after the header.
    """
    start = text.lstrip()
    if not start:
        raise LabelError(name, "empty file")
    if start[0] in "{[":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LabelError(name, f"invalid JSON: {exc.msg}", line=exc.lineno) from None
        if _is_label_studio_export(document):
            return LabelFormat.LABEL_STUDIO_JSON, document
        if not isinstance(document, dict) or "tracking-annotations" not in document:
            raise LabelError(
                name,
                "JSON has no top-level 'tracking-annotations' key (expected SageMaker "
                f"Ground Truth video object tracking output); {_SUPPORTED}",
            )
        return LabelFormat.SAGEMAKER_JSON, document

    rows = _csv_rows(name, text)
    first = next(rows, None)
    if first is None:
        raise LabelError(name, "empty file (no header)")
    header_line, header = first
    names = [column.strip().lower() for column in header]
    for fmt, required in _CSV_HEADERS.items():
        if set(required) <= set(names):
            return fmt, (header_line, header, rows)
    raise LabelError(
        name, f"unknown label header {','.join(h.strip() for h in header)!r}; {_SUPPORTED}",
        line=header_line,
    )


def _csv_rows(name: str, text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, fields) for each record with any non-blank field."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for fields in reader:
            if any(field.strip() for field in fields):
                yield reader.line_num, fields
    except csv.Error as exc:
        raise LabelError(name, f"malformed CSV: {exc}", line=reader.line_num) from None


class _Cells:
    """One CSV record addressed by lower-cased header name; errors name file and line."""

    def __init__(
        self, name: str, line: int, header: list[str], columns: dict[str, int],
        fields: list[str],
    ) -> None:
        self.name = name
        self.line = line
        self._header = header
        self._columns = columns
        self._fields = fields

    def fail(self, problem: str) -> LabelError:
        return LabelError(self.name, problem, line=self.line)

    def has(self, key: str) -> bool:
        return key in self._columns

    def label(self, key: str) -> str:
        """The column's name as spelled in the file, for messages."""
        return self._header[self._columns[key]].strip()

    def text(self, key: str) -> str:
        return self._fields[self._columns[key]].strip()

    def number(self, key: str) -> float:
        text = self.text(key)
        try:
            value = float(text)
        except ValueError:
            raise self.fail(f"{self.label(key)}: not a number: {text!r}") from None
        if not math.isfinite(value):
            raise self.fail(f"{self.label(key)}: not a finite number: {text!r}")
        return value

    def integer(self, key: str) -> int:
        text = self.text(key)
        if not text:
            raise self.fail(f"{self.label(key)}: missing value")
        value = self.number(key)
        if not value.is_integer():
            raise self.fail(f"{self.label(key)}: not an integer: {text!r}")
        return int(value)

    def point(self, x_key: str, y_key: str) -> tuple[float, float]:
        """Both coordinates of a visible ball, which must be present."""
        if not self.text(x_key) or not self.text(y_key):
            raise self.fail(
                f"missing coordinates ({self.label(x_key)}, {self.label(y_key)}) "
                "for a visible frame"
            )
        return self.number(x_key), self.number(y_key)


def _row_parser(
    name: str, fmt: LabelFormat, video_size: tuple[int, int] | None
) -> Callable[[_Cells], _Record]:
    if fmt is LabelFormat.TRACKNET_CSV:
        return _tracknet_row
    if fmt is LabelFormat.TENNIS_CSV:
        return _tennis_row
    if video_size is None:
        raise LabelError(
            name,
            "Frame,Ball,x,y labels are normalised to [0, 1]; pass "
            "video_size=(width, height) to convert them to pixels",
        )
    width, height = video_size
    return lambda cells: _labelling_tool_row(cells, width, height)


def _csv_records(
    name: str,
    header_line: int,
    header: list[str],
    rows: Iterator[tuple[int, list[str]]],
    parse_row: Callable[[_Cells], _Record],
) -> list[_Record]:
    columns: dict[str, int] = {}
    for index, column in enumerate(header):
        columns.setdefault(column.strip().lower(), index)
    first_line: dict[int, int] = {}
    records = []
    for line, fields in rows:
        # A trailing comma or spreadsheet padding adds empty fields; anything else is
        # a row that does not match the header.
        if len(fields) < len(header) or any(f.strip() for f in fields[len(header):]):
            raise LabelError(
                name,
                f"expected {len(header)} fields as in the header (line {header_line}), "
                f"found {len(fields)}",
                line=line,
            )
        record = parse_row(_Cells(name, line, header, columns, fields))
        if record.frame in first_line:
            raise LabelError(
                name,
                f"duplicate frame {record.frame} (first on line {first_line[record.frame]})",
                line=line,
            )
        first_line[record.frame] = line
        records.append(record)
    return records


def _frame(cells: _Cells, key: str) -> int:
    frame = cells.integer(key)
    if frame < 0:
        raise cells.fail(f"{cells.label(key)}: negative frame {frame}")
    return frame


def _flag(cells: _Cells, key: str) -> bool:
    value = cells.integer(key)
    if value not in (0, 1):
        raise cells.fail(f"{cells.label(key)}: must be 0 or 1, got {value}")
    return value == 1


def _tracknet_row(cells: _Cells) -> _Record:
    frame = _frame(cells, "frame")
    if not _flag(cells, "visibility"):
        return _Record(frame, False)
    return _Record(frame, True, *cells.point("x", "y"))


def _labelling_tool_row(cells: _Cells, width: int, height: int) -> _Record:
    frame = _frame(cells, "frame")
    if not _flag(cells, "ball"):
        return _Record(frame, False)
    x, y = cells.point("x", "y")
    for key, value in (("x", x), ("y", y)):
        if not 0.0 <= value <= 1.0:
            raise cells.fail(
                f"{cells.label(key)}: normalised coordinate {value} outside [0, 1]"
            )
    return _Record(frame, True, x * width, y * height)


def _tennis_row(cells: _Cells) -> _Record:
    file_name = cells.text("file name")
    digits = re.findall(r"\d+", os.path.splitext(os.path.basename(file_name))[0])
    if not digits:
        raise cells.fail(f"{cells.label('file name')}: no frame number in {file_name!r}")
    frame = int(digits[-1])

    code = cells.integer("visibility")
    if code not in (0, 1, 2, 3):
        raise cells.fail(f"{cells.label('visibility')}: must be 0, 1, 2 or 3, got {code}")

    status = None
    if cells.has("status"):
        text = cells.text("status").lower()
        if text:
            if text not in _STATUS_BY_TEXT:
                raise cells.fail(
                    f"{cells.label('status')}: must be 0/1/2 or flying/hit/bounce, "
                    f"got {cells.text('status')!r}"
                )
            status = _STATUS_BY_TEXT[text]

    # Occluded balls (code 3) have only a guessed position, so they count as not visible.
    if code not in (1, 2):
        return _Record(frame, False, visibility_code=code, status=status)
    x, y = cells.point("x-coordinate", "y-coordinate")
    return _Record(frame, True, x, y, visibility_code=code, status=status)


def _sagemaker_records(name: str, document: dict[str, Any]) -> list[_Record]:
    entries = document["tracking-annotations"]
    if not isinstance(entries, list):
        raise LabelError(name, "'tracking-annotations' must be a list of frames")
    first_entry: dict[int, int] = {}
    records = []
    for index, entry in enumerate(entries):
        where = f"tracking-annotations[{index}]"
        if not isinstance(entry, dict):
            raise LabelError(name, f"{where}: expected an object, got {entry!r}")
        frame = _json_number(name, where, entry, "frame-no")
        if not float(frame).is_integer() or frame < 0:
            raise LabelError(name, f"{where}: 'frame-no' must be an integer >= 0, got {frame}")
        frame = int(frame)
        if frame in first_entry:
            raise LabelError(
                name,
                f"{where}: duplicate frame-no {frame} "
                f"(first in tracking-annotations[{first_entry[frame]}])",
            )
        first_entry[frame] = index

        candidates = []
        for key in ("annotations", "keypoints"):
            items = entry.get(key) or []
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise LabelError(name, f"{where}: '{key}' must be a list of objects")
            candidates.extend(items)
        if not candidates:
            records.append(_Record(frame, False))
            continue
        chosen = next((a for a in candidates if _names_ball(a)), candidates[0])
        records.append(_Record(frame, True, *_annotation_point(name, where, chosen)))
    return records


def _is_label_studio_export(document: Any) -> bool:
    return (
        isinstance(document, list) and bool(document) and isinstance(document[0], dict)
        and "data" in document[0] and "annotations" in document[0]
    )


def _label_studio_records(name: str, tasks: list[Any]) -> dict[str, list[_Record]]:
    by_video: dict[str, dict[int, _Record]] = {}
    for index, task in enumerate(tasks):
        where = f"task {task.get('id', index) if isinstance(task, dict) else index}"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise LabelError(name, f"{where}: expected a task object with 'data'")
        data = task["data"]
        video_id = data.get("video_id")
        if not isinstance(video_id, str) or not video_id:
            raise LabelError(name, f"{where}: data has no 'video_id' (tasks must come from jobs.label's export)")
        frame = _json_number(name, where, data, "frame")
        if not frame.is_integer() or frame < 0:
            raise LabelError(name, f"{where}: 'frame' must be an integer >= 0, got {frame}")
        annotations = task.get("annotations") or []
        if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
            raise LabelError(name, f"{where}: 'annotations' must be a list of objects")
        submitted = [a for a in annotations if not a.get("was_cancelled")]
        if not submitted:
            continue  # not labelled (yet), or skipped by the annotator
        record = _label_studio_frame(name, where, int(frame), data, submitted[-1].get("result") or [])
        frames = by_video.setdefault(video_id, {})
        if record.frame in frames:
            raise LabelError(name, f"{where}: a second task for frame {record.frame} of {video_id}")
        frames[record.frame] = record
    return {video_id: list(frames.values()) for video_id, frames in by_video.items()}


def _label_studio_frame(
    name: str, where: str, frame: int, data: dict[str, Any], results: list[Any]
) -> _Record:
    points = [r for r in results if isinstance(r, dict) and r.get("from_name") == LS_BALL]
    choices = [
        choice for r in results if isinstance(r, dict) and r.get("from_name") == LS_VISIBILITY
        for choice in (r.get("value") or {}).get("choices") or []
    ]
    no_ball = LS_NO_BALL in choices
    if len(points) > 1:
        raise LabelError(name, f"{where}: {len(points)} ball points in one frame; keep one")
    if points and no_ball:
        raise LabelError(name, f"{where}: a ball point and the {LS_NO_BALL!r} choice at once")
    if no_ball:
        return _Record(frame, False)
    if not points:
        raise LabelError(
            name, f"{where}: the submitted annotation has neither a ball point nor the {LS_NO_BALL!r} choice"
        )
    point = points[0]
    value = point.get("value")
    if not isinstance(value, dict):
        raise LabelError(name, f"{where}: the ball point has no 'value'")
    sizes = []
    for result_key, data_key in (("original_width", "width"), ("original_height", "height")):
        size = point.get(result_key, data.get(data_key))
        if not isinstance(size, (int, float)) or isinstance(size, bool) or size <= 0:
            raise LabelError(name, f"{where}: no image size ({result_key} or data.{data_key})")
        sizes.append(float(size))
    x_pct = _json_number(name, where, value, "x")
    y_pct = _json_number(name, where, value, "y")
    return _Record(frame, True, x_pct * sizes[0] / 100.0, y_pct * sizes[1] / 100.0)


def _names_ball(annotation: dict[str, Any]) -> bool:
    names = f"{annotation.get('label', '')} {annotation.get('object-name', '')}".lower()
    return any(word in names for word in _BALL_WORDS)


def _annotation_point(
    name: str, where: str, annotation: dict[str, Any]
) -> tuple[float, float]:
    """Box centre, or the point of a keypoint annotation, in pixels."""
    if all(key in annotation for key in ("top", "left", "width", "height")):
        left, top, width, height = (
            _json_number(name, where, annotation, key)
            for key in ("left", "top", "width", "height")
        )
        return left + width / 2.0, top + height / 2.0
    if "x" in annotation and "y" in annotation:
        return (_json_number(name, where, annotation, "x"),
                _json_number(name, where, annotation, "y"))
    points = annotation.get("keypoints")
    if isinstance(points, list) and points and isinstance(points[0], dict):
        return (_json_number(name, where, points[0], "x"),
                _json_number(name, where, points[0], "y"))
    raise LabelError(
        name,
        f"{where}: annotation has neither a box (top, left, width, height) nor a "
        f"point (x, y): {annotation!r}",
    )


def _json_number(name: str, where: str, obj: dict[str, Any], key: str) -> float:
    value = obj.get(key)
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not numeric or not math.isfinite(value):
        raise LabelError(name, f"{where}: '{key}' must be a number, got {value!r}")
    return float(value)


def _table(records: list[_Record], with_tennis_columns: bool) -> pd.DataFrame:
    records.sort(key=lambda record: record.frame)
    table = pd.DataFrame(
        {
            "frame": np.array([r.frame for r in records], dtype=np.int64),
            "visible": np.array([r.visible for r in records], dtype=np.int8),
            "x_px": np.array([r.x_px for r in records], dtype=np.float64),
            "y_px": np.array([r.y_px for r in records], dtype=np.float64),
        }
    )
    if with_tennis_columns:
        table["visibility_code"] = np.array(
            [r.visibility_code for r in records], dtype=np.int8
        )
        table["status"] = pd.array([r.status for r in records], dtype="string")
    return table
