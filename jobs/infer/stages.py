"""The stages of a video in jobs.infer, their keys, and what a run must do per video.

    predict    the model pass: predictions parquet (ball columns)      decode + model
    analysis   shots and players: shots table + prediction columns      decode at analysis width
    csv, json  files from the predictions (and shots) tables            no decode, no model
    overlay    ball, trail and players drawn on the source frames       decode, no model
    clips      each court-view shot as its own clip                     decode, no model

Each stage's key is a digest of exactly what its outputs depend on, so a new or changed
output redoes that output only: a run that adds `outputs.json=true` reads the predictions
and writes JSON; one that adds overlays decodes but never starts the model. Turning an
output off never deletes it (its ledger entry stays, and a later run with the same key
skips it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from jobs.common import outputs
from jobs.common.inputs import VideoInput
from jobs.common.ledger import LedgerRecord, key_digest
from jobs.infer.config import InferConfig

PREDICT = "predict"
ANALYSIS = "analysis"
OUTPUT_STAGES = ("csv", "json", "overlay", "clips")
VIDEO_STAGES = ("overlay", "clips")
"""Outputs that decode the source frames again (one decode writes both)."""


@dataclass(frozen=True)
class StageKeys:
    """The keys of this run's settings: what committed outputs must have been made with."""

    predict: str
    analysis: str | None
    """None when this run does not split shots."""
    trail_frames: int

    def output(self, stage: str, predict: str, analysis: str | None) -> str:
        """The key of output `stage` derived from predictions `predict` and analysis `analysis`."""
        if stage == "csv":
            return key_digest(stage, predict)
        if stage == "json":
            return key_digest(stage, predict, analysis, outputs.POSITIONS_JSON_SCHEMA_VERSION)
        if stage == "overlay":
            return key_digest(stage, predict, analysis, self.trail_frames)
        if stage == "clips":
            return key_digest(stage, analysis)
        raise ValueError(f"unknown output stage {stage!r}")


def stage_keys(config: InferConfig, model_version: str) -> StageKeys:
    """The keys of `config` with the model `model_version`."""
    predict = key_digest(
        PREDICT, model_version, config.predictor.detection_settings(), dataclasses.asdict(config.cleanup),
        outputs.PREDICTIONS_SCHEMA_VERSION,
    )
    analysis = None
    if config.shots.enabled:
        shots = {k: v for k, v in dataclasses.asdict(config.shots).items() if k != "enabled"}
        players = {k: v for k, v in dataclasses.asdict(config.players).items() if k != "enabled"}
        analysis = key_digest(
            ANALYSIS, shots, players if config.players.enabled else None, config.analysis.width,
            outputs.SHOTS_SCHEMA_VERSION,
        )
    return StageKeys(predict, analysis, config.outputs.trail_frames)


def wanted_outputs(config: InferConfig) -> tuple[str, ...]:
    """The output stages this run's config asks for."""
    asked = {"csv": config.outputs.csv, "json": config.outputs.json, "overlay": config.outputs.overlays,
             "clips": config.outputs.clips}
    return tuple(stage for stage in OUTPUT_STAGES if asked[stage])


@dataclass(frozen=True)
class VideoPlan:
    """What this run does to one video."""

    video: VideoInput
    record: LedgerRecord | None
    """The video's ledger record when it is about this very input file, else None."""
    predict: bool
    """Run the model."""
    analysis: bool
    """Split shots (and find players)."""
    outputs: tuple[str, ...]
    """Output stages to write."""
    asked: tuple[str, ...]
    """Every stage this run's config asks for (done now or already done)."""

    @property
    def idle(self) -> bool:
        """Nothing to do: every stage asked for is already done."""
        return not (self.predict or self.analysis or self.outputs)

    @property
    def files_only(self) -> bool:
        """Only outputs written from the committed tables (no decode, no model), and the video's
        description is in the ledger: the driver does it without Ray and without opening the video."""
        return (not (self.predict or self.analysis) and not set(self.outputs) & set(VIDEO_STAGES)
                and self.record is not None and bool(self.record.video))


def plan_video(
    video: VideoInput, record: LedgerRecord | None, keys: StageKeys, wanted: tuple[str, ...], overwrite: bool
) -> VideoPlan:
    """The stages to run for `video`, given its ledger record (None: no record)."""
    if record is not None and record.identity != video.identity:
        record = None  # another file under the same name: nothing of the old one holds
    asked = (PREDICT,) + ((ANALYSIS,) if keys.analysis else ()) + wanted
    if overwrite or record is None:
        return VideoPlan(video, record, True, keys.analysis is not None, wanted, asked)
    predict = not record.stage_done(PREDICT, video.identity, keys.predict)
    analysis = keys.analysis is not None and (
        predict or not record.stage_done(ANALYSIS, video.identity, keys.analysis)
    )
    analysis_after = keys.analysis if analysis else record.stage_key(ANALYSIS)
    todo = tuple(
        stage for stage in wanted
        if predict or not record.stage_done(stage, video.identity, keys.output(stage, keys.predict, analysis_after))
    )
    return VideoPlan(video, record, predict, analysis, todo, asked)
