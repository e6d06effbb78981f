"""The training-window parquet dataset written by `jobs.featurize` and read by `jobs.train`.

Layout under a featurize output root (local path, `file://` or `s3://`):

    <root>/windows/split=train/*.parquet   training windows (Hive partition folder)
    <root>/windows/split=val/*.parquet     validation windows, whole videos held out
    <root>/summary.parquet                 one row per input video (status, reason, counts)
    <root>/summary.json                    totals, the featurize config, and the split

One row per window of `frames_in` consecutive frames, at model resolution:

==============  ===============  ==============================================================
column          type             meaning
==============  ===============  ==============================================================
video_id        string           input path relative to the input root, no extension, '/'-separated
start_frame     int64            0-based source frame index of the window's first frame
fps             float32          source frame rate
source_width    int32            source video width in pixels
source_height   int32            source video height in pixels
width           int32            frame width in the row (model resolution), pixels
height          int32            frame height in the row (model resolution), pixels
frames          list<binary>     frames_in JPEG images, RGB, width x height, in time order
visible         list<int8>       per frame: 1 when the ball is visible, else 0
x, y            list<float32>    per frame: ball centre in MODEL pixels (pixel centres at
                                 integers); NaN when not visible
background      binary (null)    JPEG of the median background of the window's segment
                                 (tracknet.background), width x height; null unless featurized
                                 with background=true. One value per segment, so parquet's
                                 dictionary encoding stores it once per row group.
split           (folder)         'train' or 'val', from the Hive folder `split=...`
==============  ===============  ==============================================================

Every file carries `tracknet.schema_version` (and `tracknet.schema = windows`) in its
parquet key-value metadata; readers refuse a version they do not know.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from jobs.common import storage
from jobs.common.storage import StorageConfig
from tracknet.errors import TrackNetError

SCHEMA_NAME = "windows"
SCHEMA_VERSION = 2
SPLITS = ("train", "val")
_META_VERSION = b"tracknet.schema_version"
_META_NAME = b"tracknet.schema"

WINDOW_SCHEMA = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("start_frame", pa.int64(), nullable=False),
        pa.field("fps", pa.float32(), nullable=False),
        pa.field("source_width", pa.int32(), nullable=False),
        pa.field("source_height", pa.int32(), nullable=False),
        pa.field("width", pa.int32(), nullable=False),
        pa.field("height", pa.int32(), nullable=False),
        pa.field("frames", pa.list_(pa.binary()), nullable=False),
        pa.field("visible", pa.list_(pa.int8()), nullable=False),
        pa.field("x", pa.list_(pa.float32()), nullable=False),
        pa.field("y", pa.list_(pa.float32()), nullable=False),
        pa.field("background", pa.binary(), nullable=True),
        pa.field("split", pa.string(), nullable=False),
    ],
    metadata={_META_VERSION: str(SCHEMA_VERSION).encode(), _META_NAME: SCHEMA_NAME.encode()},
)
"""Schema of the rows featurize builds; `split` becomes the Hive folder when written."""

PARQUET_COMPRESSION = {
    (f"{field.name}.list.element" if pa.types.is_list(field.type) else field.name): (
        "none" if field.name == "frames" else "zstd"
    )
    for field in WINDOW_SCHEMA
    if field.name != "split"
}
"""Per-column parquet codecs: JPEG frames are stored as they are (they do not compress), the rest zstd."""


class WindowsError(TrackNetError, ValueError):
    """A windows dataset is missing, empty or of an unknown schema version; names the URI."""


def windows_uri(root: str) -> str:
    """The folder holding every split's windows under a featurize output root."""
    return storage.join(root, "windows")


def split_uri(root: str, split: str) -> str:
    """The Hive partition folder of one split ('train' or 'val') under a featurize output root."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    return storage.join(root, "windows", f"split={split}")


class WindowBatch:
    """Collects window rows and turns them into a pyarrow Table with WINDOW_SCHEMA."""

    _LISTS = ("frames", "visible", "x", "y")

    def __init__(self) -> None:
        self._columns: dict[str, list] = {name: [] for name in WINDOW_SCHEMA.names}
        self._lengths: list[int] = []

    def __len__(self) -> int:
        return len(self._lengths)

    def add(
        self,
        *,
        video_id: str,
        split: str,
        start_frame: int,
        fps: float,
        source_size: tuple[int, int],
        size: tuple[int, int],
        frames: list[bytes],
        visible: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        background: bytes | None = None,
    ) -> None:
        """Add one window; sizes are (width, height); frames, visible, x, y have one entry per frame."""
        if not len(frames) == len(visible) == len(x) == len(y):
            raise ValueError(f"window of {video_id} at {start_frame}: frames and labels differ in length")
        columns = self._columns
        columns["video_id"].append(video_id)
        columns["split"].append(split)
        columns["start_frame"].append(int(start_frame))
        columns["fps"].append(float(fps))
        columns["source_width"].append(int(source_size[0]))
        columns["source_height"].append(int(source_size[1]))
        columns["width"].append(int(size[0]))
        columns["height"].append(int(size[1]))
        columns["frames"].extend(frames)  # flat; cut into lists by _lengths
        columns["visible"].append(np.asarray(visible, dtype=np.int8))
        columns["x"].append(np.asarray(x, dtype=np.float32))
        columns["y"].append(np.asarray(y, dtype=np.float32))
        columns["background"].append(background)
        self._lengths.append(len(frames))

    def to_table(self) -> pa.Table:
        """The rows so far as a Table with WINDOW_SCHEMA (metadata included); then empties itself."""
        columns = self._columns
        offsets = pa.array(np.concatenate([[0], np.cumsum(self._lengths)]).astype(np.int32))
        arrays = []
        for field in WINDOW_SCHEMA:
            if field.name not in self._LISTS:
                arrays.append(pa.array(columns[field.name], type=field.type))
                continue
            if field.name == "frames":
                values = pa.array(columns["frames"], type=pa.binary())
            else:
                values = pa.array(np.concatenate(columns[field.name]) if columns[field.name] else [],
                                  type=field.type.value_type)
            arrays.append(pa.ListArray.from_arrays(offsets, values, type=field.type))
        table = pa.Table.from_arrays(arrays, schema=WINDOW_SCHEMA)
        self._columns = {name: [] for name in WINDOW_SCHEMA.names}
        self._lengths = []
        return table


def window_labels(row: dict) -> tuple[np.ndarray, np.ndarray]:
    """A row's labels as arrays: visible (F,) int8 and xy (F, 2) float32 in model pixels."""
    visible = np.asarray(row["visible"], dtype=np.int8)
    xy = np.stack([np.asarray(row["x"], dtype=np.float32), np.asarray(row["y"], dtype=np.float32)], axis=-1)
    return visible, xy


def check_split(root: str, split: str, storage_config: StorageConfig | None = None) -> pq.ParquetSchema:
    """Check that a split has parquet files of a known schema version; returns one file's schema.

    Raises WindowsError naming the folder when it is missing, empty, or of another version.
    """
    uri = split_uri(root, split)
    try:
        files = storage.list_files(uri, (".parquet",), storage_config)
    except FileNotFoundError:
        raise WindowsError(f"{uri}: no windows for split '{split}' (run jobs.featurize first?)") from None
    if not files:
        raise WindowsError(f"{uri}: no parquet files for split '{split}'")
    fs, path = storage.resolve(files[0].uri, storage_config)
    with fs.open_input_file(path) as f:
        schema = pq.ParquetFile(f).schema_arrow
    metadata = schema.metadata or {}
    if metadata.get(_META_NAME) != SCHEMA_NAME.encode():
        raise WindowsError(f"{files[0].uri}: not a TrackNet windows file (no '{_META_NAME.decode()}' metadata)")
    version = metadata.get(_META_VERSION, b"?").decode()
    if version != str(SCHEMA_VERSION):
        raise WindowsError(
            f"{files[0].uri}: windows schema version {version} is not supported (expected {SCHEMA_VERSION})"
        )
    return schema

