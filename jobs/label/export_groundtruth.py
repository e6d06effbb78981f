"""SageMaker Ground Truth video-frame object tracking tasks for the selection, under `<output>/groundtruth/`.

As the Ground Truth documentation ("Set up Video Frame Input Data Manually") specifies:

    sequences/<video_id>/<start>.json   one sequence file per stretch: {"seq-no", "prefix",
                                        "number-of-frames", "frames": [{"frame-no", "unix-timestamp", "frame"}]}
    manifest.jsonl                      the input manifest: one {"source-ref": <sequence file>} per line
    label_categories.json               the label category configuration: one "ball" keypoint category
    create_labeling_job.json            the CreateLabelingJob request (boto3 sagemaker.create_labeling_job(**it))

Each stretch is one worker task. `frame-no` is the video's frame index and each `frame` the
exported JPEG's name, which carries the same index, so import maps labels back to video frames
whatever numbering the output uses. Ground Truth reads from S3 only: with a local `output`, upload
the workspace and rewrite the URIs, or point `output` at S3 to start with. No AWS call is made.
"""

from __future__ import annotations

import json

import pandas as pd

from jobs.common import storage
from jobs.common.config import ConfigError
from jobs.label.config import LabelConfig
from jobs.label.frames import frame_name, frames_prefix
from tracknet.labels import LS_BALL

GROUNDTRUTH_DIR = "groundtruth"
MANIFEST_FILE = "manifest.jsonl"
CATEGORIES_FILE = "label_categories.json"
REQUEST_FILE = "create_labeling_job.json"
LABEL_ATTRIBUTE = "ball-ref"
"""Video frame jobs need a label attribute name ending in -ref (the output manifest key of each SeqLabel.json)."""

# Accounts of the built-in VideoObjectTracking pre-annotation and consolidation Lambdas, per region
# (CreateLabelingJob's HumanTaskConfig reference); the worker UI is one account everywhere.
_LAMBDA_ACCOUNTS = {
    "us-east-1": "432418664414", "us-east-2": "266458841044", "us-west-2": "081040173940",
    "eu-west-1": "568282634449", "eu-central-1": "203001061592", "ap-northeast-1": "477331159723",
    "ap-southeast-2": "454466003867",
}
_UI_ACCOUNT = "394669845002"
_TASK = "VideoObjectTracking"


def groundtruth_uri(config: LabelConfig, *parts: str) -> str:
    return storage.join(config.output, GROUNDTRUTH_DIR, *parts)


def sequence_documents(selection: pd.DataFrame, config: LabelConfig) -> list[tuple[str, dict]]:
    """(sequence file URI, its document) per stretch, in stretch order; seq-no counts from 1."""
    documents = []
    for seq_no, (_, rows) in enumerate(selection.sort_values(["stretch", "frame"]).groupby("stretch", sort=True), 1):
        video_id = rows["video_id"].iloc[0]
        start = int(rows["frame"].iloc[0])
        frames = [
            # unix-timestamp orders the frames; a video's own clock (seconds from its start) does that.
            {"frame-no": int(frame), "unix-timestamp": float(ts), "frame": frame_name(int(frame))}
            for frame, ts in zip(rows["frame"], rows["timestamp_s"])
        ]
        document = {"seq-no": seq_no, "prefix": frames_prefix(config, video_id), "number-of-frames": len(frames),
                    "frames": frames}
        documents.append((groundtruth_uri(config, "sequences", video_id, f"{start:06d}.json"), document))
    return documents


def label_categories() -> dict:
    """The label category configuration: one keypoint category, the ball; a frame without a point has none."""
    return {
        "document-version": "2020-08-15",
        "annotationType": "Keypoint",
        "labels": [{"label": LS_BALL}],
        "instructions": {
            "shortInstruction": "Put one point on the centre of the ball in every frame where it can be seen.",
            "fullInstruction": (
                "Click the centre of the ball (or shuttle) in each frame where you can see it, also when blurred. "
                "Leave frames where it cannot be seen (out of view, hidden) without a point."
            ),
        },
    }


def labeling_job_request(config: LabelConfig, sequences: int) -> dict:
    """The CreateLabelingJob request, ready for boto3 once the placeholder ARNs are real."""
    gt = config.groundtruth
    if gt.region not in _LAMBDA_ACCOUNTS:
        raise ConfigError(
            f"groundtruth.region {gt.region!r}: built-in task ARNs known for {', '.join(sorted(_LAMBDA_ACCOUNTS))}"
        )
    lambdas = f"arn:aws:lambda:{gt.region}:{_LAMBDA_ACCOUNTS[gt.region]}:function"
    return {
        "LabelingJobName": gt.job_name,
        "LabelAttributeName": LABEL_ATTRIBUTE,
        "InputConfig": {
            "DataSource": {"S3DataSource": {"ManifestS3Uri": groundtruth_uri(config, MANIFEST_FILE)}},
            "DataAttributes": {"ContentClassifiers": ["FreeOfPersonallyIdentifiableInformation"]},
        },
        "OutputConfig": {"S3OutputPath": groundtruth_uri(config, "output") + "/"},
        "RoleArn": gt.role_arn,
        "LabelCategoryConfigS3Uri": groundtruth_uri(config, CATEGORIES_FILE),
        "StoppingConditions": {"MaxPercentageOfInputDatasetLabeled": 100},
        "HumanTaskConfig": {
            "WorkteamArn": gt.workteam_arn,
            "UiConfig": {"HumanTaskUiArn": f"arn:aws:sagemaker:{gt.region}:{_UI_ACCOUNT}:human-task-ui/{_TASK}"},
            "PreHumanTaskLambdaArn": f"{lambdas}:PRE-{_TASK}",
            "TaskKeywords": ["Video Frame Object Tracking", "keypoint", "ball"],
            "TaskTitle": "Ball position in broadcast frames",
            "TaskDescription": f"Mark the ball in each frame of {sequences} short sequences",
            "NumberOfHumanWorkersPerDataObject": 1,
            "TaskTimeLimitInSeconds": gt.task_time_limit_s,
            "TaskAvailabilityLifetimeInSeconds": 10 * 24 * 3600,
            "MaxConcurrentTaskCount": 100,
            "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn": f"{lambdas}:ACS-{_TASK}"},
        },
        "Tags": [{"Key": "created-by", "Value": "jobs.label"}],
    }


def export_groundtruth(selection: pd.DataFrame, config: LabelConfig) -> int:
    """Write every file of the Ground Truth job; returns the number of sequences."""
    request = labeling_job_request(config, selection["stretch"].nunique())  # bad region fails before any write
    documents = sequence_documents(selection, config)
    for uri, document in documents:
        storage.write_bytes(uri, json.dumps(document, indent=1).encode(), config.storage)
    manifest = "".join(json.dumps({"source-ref": uri}) + "\n" for uri, _ in documents)
    storage.write_bytes(groundtruth_uri(config, MANIFEST_FILE), manifest.encode(), config.storage)
    storage.write_bytes(groundtruth_uri(config, CATEGORIES_FILE), json.dumps(label_categories(), indent=2).encode(),
                        config.storage)
    storage.write_bytes(groundtruth_uri(config, REQUEST_FILE), json.dumps(request, indent=2).encode(), config.storage)
    return len(documents)
