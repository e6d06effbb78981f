"""Label Studio tasks for the selection, under `<output>/labelstudio/`.

    config.xml    the labelling config: the frame, a keypoint for the ball, a 'no ball' choice
    tasks.json    one task per frame: data {image, video_id, frame, width, height, timestamp_s} and the
                  model's answer as a prediction (a ball point, or 'no ball'), so annotators correct it

Create a project with config.xml, import tasks.json, label, export as JSON, then
`python -m jobs.label steps=[import] annotations=<export.json>` (tracknet.labels reads it).
"""

from __future__ import annotations

import json

import pandas as pd

from jobs.common import storage
from jobs.label.config import LabelConfig
from jobs.label.frames import frame_name, frame_uri
from tracknet.labels import LS_BALL, LS_IMAGE, LS_NO_BALL, LS_VISIBILITY

LABELSTUDIO_DIR = "labelstudio"

LABEL_CONFIG = f"""<View>
  <Header value="Click the centre of the ball; choose '{LS_NO_BALL}' when it cannot be seen"/>
  <Image name="{LS_IMAGE}" value="${LS_IMAGE}" zoom="true" zoomControl="true"/>
  <KeyPointLabels name="{LS_BALL}" toName="{LS_IMAGE}" strokeWidth="2">
    <Label value="{LS_BALL}" background="#ff2d55"/>
  </KeyPointLabels>
  <Choices name="{LS_VISIBILITY}" toName="{LS_IMAGE}" choice="single-radio">
    <Choice value="{LS_NO_BALL}"/>
  </Choices>
</View>
"""
"""A keypoint (percent of the image, read back by tracknet.labels) or the no-ball choice per frame."""


def labelstudio_uri(config: LabelConfig, name: str) -> str:
    return storage.join(config.output, LABELSTUDIO_DIR, name)


def image_url(config: LabelConfig, video_id: str, frame: int) -> str:
    """Where Label Studio loads a frame from: under labelstudio.image_root, else the frame's own URI."""
    root = config.labelstudio.image_root
    if root is None:
        return frame_uri(config, video_id, frame)
    return f"{root.rstrip('/')}/{video_id}/{frame_name(frame)}"


def prediction_result(visible: bool, x: float, y: float, width: int, height: int) -> list[dict]:
    """One frame's answer in Label Studio's result format (what an annotation of it looks like too)."""
    if not visible:
        return [{"from_name": LS_VISIBILITY, "to_name": LS_IMAGE, "type": "choices",
                 "value": {"choices": [LS_NO_BALL]}}]
    return [{
        "from_name": LS_BALL, "to_name": LS_IMAGE, "type": "keypointlabels",
        "original_width": int(width), "original_height": int(height), "image_rotation": 0,
        "value": {"x": 100.0 * x / width, "y": 100.0 * y / height, "width": 0.6, "keypointlabels": [LS_BALL]},
    }]


def tasks(selection: pd.DataFrame, config: LabelConfig) -> list[dict]:
    """One task per selected frame, in stretch and frame order."""
    out = []
    for row in selection.sort_values(["stretch", "frame"]).itertuples(index=False):
        frame, width, height = int(row.frame), int(row.width), int(row.height)
        out.append({
            "data": {
                LS_IMAGE: image_url(config, row.video_id, frame), "video_id": row.video_id, "frame": frame,
                "width": width, "height": height, "timestamp_s": float(row.timestamp_s), "stretch": int(row.stretch),
            },
            "predictions": [{
                "model_version": row.model_version, "score": float(row.score),
                "result": prediction_result(bool(row.visible), row.x, row.y, width, height),
            }],
        })
    return out


def export_labelstudio(selection: pd.DataFrame, config: LabelConfig) -> int:
    """Write config.xml and tasks.json; returns the number of tasks."""
    made = tasks(selection, config)
    storage.write_bytes(labelstudio_uri(config, "config.xml"), LABEL_CONFIG.encode(), config.storage)
    storage.write_bytes(labelstudio_uri(config, "tasks.json"), json.dumps(made, indent=1).encode(), config.storage)
    return len(made)

