"""The import step: annotators' labels back as TrackNet CSV beside the videos, for jobs.featurize.

`annotations` is either a Label Studio JSON export of jobs.label's tasks (tracknet.labels reads
it, split by video) or a Ground Truth output manifest of jobs.label's sequences (each line's
`ball-ref` names a SeqLabel.json that tracknet.labels reads; the sequence file says which video
and frames). Each video's labels are merged into `<labels or input root>/<video_id>.csv`: frames
labelled now replace the same frames there, the others are kept, so rounds of labelling add up
and importing the same export twice changes nothing. Labels are checked against their video
(frame count, frame size) before anything is written.
"""

from __future__ import annotations

import io
import json
from pathlib import PurePosixPath

import pandas as pd

from jobs.common import storage
from jobs.common.inputs import InputError, input_root, list_videos, open_source
from jobs.label.config import LabelConfig
from jobs.label.export_groundtruth import LABEL_ATTRIBUTE
from jobs.label.frames import FRAMES_DIR
from tracknet.errors import LabelError
from tracknet.labels import LabelFormat, detect_format, read_label_studio, read_labels, validate_labels, write_tracknet_csv
from tracknet.video import probe

_COLUMNS = ["frame", "visible", "x_px", "y_px"]


def _named(data: bytes, uri: str) -> io.BytesIO:
    """A file object that label errors name by its URI."""
    buffer = io.BytesIO(data)
    buffer.name = uri
    return buffer


def _read(uri: str, config: LabelConfig) -> bytes:
    try:
        return storage.read_bytes(uri, config.storage)
    except FileNotFoundError:
        raise InputError(f"{uri}: file not found") from None
    except OSError as exc:
        raise InputError(f"{uri}: cannot read ({exc})") from exc


def read_annotations(config: LabelConfig) -> dict[str, pd.DataFrame]:
    """video_id -> canonical labels table, from a Label Studio export or a Ground Truth output manifest."""
    uri = config.annotations
    data = _read(uri, config)
    if data.lstrip()[:1] == b"[":
        if detect_format(_named(data, uri)) is not LabelFormat.LABEL_STUDIO_JSON:
            raise LabelError(uri, "a JSON list, but not a Label Studio export of tasks")
        return read_label_studio(_named(data, uri))
    return _read_groundtruth_manifest(uri, data, config)


def _read_groundtruth_manifest(uri: str, data: bytes, config: LabelConfig) -> dict[str, pd.DataFrame]:
    tables: dict[str, list[pd.DataFrame]] = {}
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LabelError(uri, f"not a JSON line ({exc.msg}); expected a Label Studio JSON export or a Ground "
                                  "Truth output manifest", line=number) from None
        if not isinstance(entry, dict) or "source-ref" not in entry or LABEL_ATTRIBUTE not in entry:
            raise LabelError(uri, f"a Ground Truth output manifest line needs 'source-ref' and {LABEL_ATTRIBUTE!r} "
                                  "(the label attribute jobs.label's request names)", line=number)
        video_id, sequence = _sequence(entry["source-ref"], config)
        labels_uri = entry[LABEL_ATTRIBUTE]
        labels_data = _read(labels_uri, config)
        labels = read_labels(_named(labels_data, labels_uri))
        # Ground Truth may renumber frames; the file names carry the video's frame index.
        names = {int(e["frame-no"]): e["frame"] for e in json.loads(labels_data).get("tracking-annotations", [])
                 if isinstance(e.get("frame"), str)}
        labels["frame"] = [_frame_of(names.get(int(f), f"{int(f)}.jpg"), labels_uri) for f in labels["frame"]]
        # A worker submits the whole sequence: its frames without a point have no ball.
        unseen = sorted(set(sequence) - set(labels["frame"]))
        tables.setdefault(video_id, []).append(labels[_COLUMNS])
        tables[video_id].append(pd.DataFrame({"frame": unseen, "visible": 0, "x_px": float("nan"),
                                              "y_px": float("nan")}))
    if not tables:
        raise LabelError(uri, "no labelled sequences in the manifest")
    return {video_id: _combine(parts, uri) for video_id, parts in tables.items()}


def _sequence(uri: str, config: LabelConfig) -> tuple[str, list[int]]:
    """(video_id, frame indices) of a jobs.label sequence file: the video is the prefix after frames/."""
    document = json.loads(_read(uri, config))
    prefix = str(document.get("prefix", "")).rstrip("/")
    marker = f"/{FRAMES_DIR}/"
    if marker not in prefix:
        raise LabelError(uri, f"sequence prefix {prefix!r} is not a jobs.label frames/<video_id>/ folder")
    video_id = prefix.rsplit(marker, 1)[1]
    return video_id, [_frame_of(f["frame"], uri) for f in document.get("frames", [])]


def _frame_of(name: str, uri: str) -> int:
    stem = PurePosixPath(name).stem
    if not stem.isdigit():
        raise LabelError(uri, f"frame {name!r} is not named by its frame index (jobs.label writes 000123.jpg)")
    return int(stem)


def _combine(parts: list[pd.DataFrame], uri: str) -> pd.DataFrame:
    table = pd.concat(parts, ignore_index=True).astype({"frame": "int64", "visible": "int8"})
    duplicated = table["frame"].duplicated()
    if duplicated.any():
        raise LabelError(uri, f"frame {int(table['frame'][duplicated].iloc[0])} is labelled in two sequences")
    return table.sort_values("frame", ignore_index=True)


def import_labels(config: LabelConfig) -> dict[str, str]:
    """Merge the annotations into each video's TrackNet CSV; returns video_id -> CSV URI written."""
    annotations = read_annotations(config)
    videos = {v.video_id: v.uri for v in list_videos(config.input, config.video_suffixes, config.storage).videos}
    unknown = sorted(set(annotations) - set(videos))
    if unknown:
        raise InputError(f"{config.annotations}: labels for videos not under {config.input}: {', '.join(unknown[:5])}")
    root = config.labels or input_root(config.input, config.storage)
    merged = {}
    for video_id, labels in annotations.items():
        csv_uri = storage.join(root, f"{video_id}.csv")
        if storage.exists(csv_uri, config.storage):
            earlier = read_labels(_named(_read(csv_uri, config), csv_uri))[_COLUMNS]
            labels = pd.concat([earlier[~earlier["frame"].isin(labels["frame"])], labels], ignore_index=True)
            labels = labels.sort_values("frame", ignore_index=True)
        with open_source(videos[video_id], config.storage) as source:
            info = probe(source)
        validate_labels(labels, info.frame_count, (info.width, info.height), config.annotations)
        merged[video_id] = (csv_uri, labels)
    # Everything is checked before the first file is written.
    for video_id, (csv_uri, labels) in merged.items():
        text = io.StringIO()
        write_tracknet_csv(labels, text)
        storage.write_bytes(csv_uri, text.getvalue().encode(), config.storage)
        shown = int((labels["visible"] == 1).sum())
        print(f"import: {video_id}: {len(annotations[video_id])} frames labelled now, {len(labels)} in all "
              f"({shown} with the ball) -> {csv_uri}")
    return {video_id: csv_uri for video_id, (csv_uri, _) in merged.items()}
