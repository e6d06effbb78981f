"""The picked frames as JPEG files at source resolution: `<output>/frames/<video_id>/<frame>.jpg`.

One Ray task per video decodes just its stretches (keyframe seek to each) and writes each
frame once; re-running writes the same bytes to the same names.
"""

from __future__ import annotations

import pandas as pd
import ray

from jobs.common import storage
from jobs.common.inputs import InputError, list_videos, open_source
from jobs.label.config import LabelConfig
from tracknet.errors import VideoError
from tracknet.preprocess import encode_jpeg
from tracknet.video import iter_frames

FRAMES_DIR = "frames"


def frame_name(frame: int) -> str:
    """File name of a frame; the number in it is the video's 0-based frame index (import reads it back)."""
    return f"{frame:06d}.jpg"


def frames_prefix(config: LabelConfig, video_id: str) -> str:
    """URI of the folder holding one video's exported frames, with a trailing slash."""
    return storage.join(config.output, FRAMES_DIR, video_id) + "/"


def frame_uri(config: LabelConfig, video_id: str, frame: int) -> str:
    return frames_prefix(config, video_id) + frame_name(frame)


def export_frames(selection: pd.DataFrame, config: LabelConfig) -> int:
    """Write every selected frame; returns the number written. Raises VideoError naming a video that fails."""
    uris = {v.video_id: v.uri for v in list_videos(config.input, config.video_suffixes, config.storage).videos}
    missing = sorted(set(selection["video_id"]) - set(uris))
    if missing:
        raise InputError(f"{config.input}: the selection names videos not found there: {', '.join(missing[:5])}")
    tasks = [
        _write_video_frames.remote(uris[video_id], video_id, sorted(rows["frame"].tolist()), config)
        for video_id, rows in selection.groupby("video_id")
    ]
    return sum(ray.get(tasks))


@ray.remote(num_cpus=1)
def _write_video_frames(video_uri: str, video_id: str, frames: list[int], config: LabelConfig) -> int:
    wanted = set(frames)
    # Consecutive frames form one decode range, so each stretch costs one seek.
    ranges: list[list[int]] = []
    for frame in frames:
        if ranges and frame == ranges[-1][1]:
            ranges[-1][1] += 1
        else:
            ranges.append([frame, frame + 1])
    written = 0
    with open_source(video_uri, config.storage) as source:
        for start, stop in ranges:
            for decoded in iter_frames(source, start, stop):
                if decoded.index in wanted:
                    data = encode_jpeg(decoded.image, config.jpeg_quality)
                    storage.write_bytes(frame_uri(config, video_id, decoded.index), data, config.storage)
                    written += 1
    if written != len(wanted):
        raise VideoError(video_uri, f"decoded {written} of the {len(wanted)} selected frames (video shorter?)")
    return written
