"""LabelConfig: the typed config of jobs.label; maps 1:1 onto conf/label.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobs.common.inputs import VIDEO_SUFFIXES
from jobs.common.storage import StorageConfig
from tracknet.picking import STRATEGIES
from tracknet.predictor_settings import PredictorSettings

STEPS = ("select", "export", "import")


@dataclass(frozen=True)
class SelectConfig:
    """Which stretches of frames to label (tracknet.picking)."""

    strategy: str = "uncertainty"
    """'uncertainty' (where the model doubts itself) or 'random' (the baseline to compare with)."""
    budget_frames: int = 600
    """Most frames picked over all videos."""
    stretch_frames: int = 12
    """Consecutive frames per stretch (>= the model's frames_in, so each stretch gives training windows)."""
    min_gap_frames: int = 25
    """Least number of frames between two stretches of one video (spreads picks over time)."""
    video_decay: float = 0.7
    """Each pick in a video multiplies that video's next scores by this (spreads picks over videos)."""
    flicker_frames: int = 2
    """Frames on each side of a frame where a visibility switch counts as flicker."""
    heat_margin: float = 0.25
    """Heat within this much of the threshold counts as near it (linearly more the nearer)."""
    refine_factor: int = 3
    """Candidates (this many times budget_frames, by the predictions' signals) get a second look at the model's
    plain and mirrored heatmaps (a model pass over those frames only); 0: the predictions alone, no model."""
    seed: int = 0
    """Seed of the random strategy."""

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"select.strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if self.budget_frames < self.stretch_frames:
            raise ValueError(
                f"select.budget_frames ({self.budget_frames}) must be >= select.stretch_frames ({self.stretch_frames})"
            )
        if self.stretch_frames < 1 or self.min_gap_frames < 0 or self.flicker_frames < 1:
            raise ValueError("select.stretch_frames and select.flicker_frames must be >= 1, select.min_gap_frames >= 0")
        if not 0.0 < self.heat_margin < 1.0 or self.refine_factor < 0:
            raise ValueError("select.heat_margin must be in (0, 1) and select.refine_factor >= 0")
        if not 0.0 < self.video_decay <= 1.0:
            raise ValueError(f"select.video_decay must be in (0, 1], got {self.video_decay}")


@dataclass(frozen=True)
class GroundTruthConfig:
    """SageMaker Ground Truth video-frame tracking tasks (groundtruth/ under output; needs output on S3 to run)."""

    enabled: bool = True
    """Write the sequence files, input manifest, label categories and CreateLabelingJob request."""
    job_name: str = "tracknet-ball"
    """LabelingJobName of the request."""
    region: str = "us-east-1"
    """AWS region of the job (picks the region's built-in task UI and Lambda ARNs)."""
    role_arn: str = "arn:aws:iam::ACCOUNT:role/SageMakerGroundTruth"
    """IAM role Ground Truth runs as (reads the frames, writes the output)."""
    workteam_arn: str = "arn:aws:sagemaker:us-east-1:ACCOUNT:workteam/private-crowd/ball-labellers"
    """Private or vendor work team that labels."""
    task_time_limit_s: int = 3600
    """Time a worker has for one sequence."""

    def __post_init__(self) -> None:
        if not self.job_name.replace("-", "").isalnum() or len(self.job_name) > 63:
            raise ValueError(f"groundtruth.job_name must be letters, digits and '-' (<= 63), got {self.job_name!r}")
        if not 30 <= self.task_time_limit_s <= 7 * 24 * 3600:
            raise ValueError(f"groundtruth.task_time_limit_s must be in 30..604800, got {self.task_time_limit_s}")


@dataclass(frozen=True)
class LabelStudioConfig:
    """Label Studio tasks and labelling config (labelstudio/ under output)."""

    enabled: bool = True
    """Write tasks.json (with the model's positions as pre-annotations) and config.xml."""
    image_root: str | None = None
    """URL prefix under which Label Studio reaches the frames/ folder (e.g. '/data/local-files/?d=frames' with
    local file serving); None: each task names the frame's own URI (s3:// with a connected S3 storage)."""


@dataclass(frozen=True)
class LabelConfig:
    """Config of jobs.label; maps 1:1 onto conf/label.yaml."""

    steps: tuple[str, ...] = ("select", "export")
    """Which steps to run, in order: select, export, import (import runs after the annotators)."""
    input: str = ""
    """Videos: folder/prefix (recursive), glob, manifest or one video; local path, file:// or s3://."""
    output: str = ""
    """Workspace of the labelling round: selection.parquet, frames/, groundtruth/, labelstudio/, infer/."""
    predictions: str | None = None
    """An existing jobs.infer output root to select from (no model pass); None: run jobs.infer into <output>/infer."""
    model: str | None = None
    """Checkpoint of the model pass (without predictions=) and of the candidates' second look; with predictions=,
    the model that made them (path, URI or packaged name; None: the packaged default)."""
    predictor: PredictorSettings = field(
        default_factory=lambda: PredictorSettings(precision="auto", flip_tta=True, torch_threads=2)
    )
    """How the model runs in that pass (as jobs.infer); the uncertainty is measured against its threshold (None:
    the model's own), so with predictions= made at another threshold, set that one."""
    select: SelectConfig = field(default_factory=SelectConfig)
    """How frames are picked."""
    jpeg_quality: int = 95
    """Quality of the exported frames (source resolution)."""
    groundtruth: GroundTruthConfig = field(default_factory=GroundTruthConfig)
    """SageMaker Ground Truth export."""
    labelstudio: LabelStudioConfig = field(default_factory=LabelStudioConfig)
    """Label Studio export."""
    annotations: str | None = None
    """For import: a Label Studio JSON export, or a Ground Truth output manifest (output.manifest)."""
    labels: str | None = None
    """Root where import writes <video_id>.csv (merged with any file there); None: beside each video."""
    video_suffixes: tuple[str, ...] = VIDEO_SUFFIXES
    """File name endings that count as videos."""
    ray_progress_bars: bool = False
    """Show Ray Data's own progress bars."""
    storage: StorageConfig = field(default_factory=StorageConfig)
    """S3 endpoint and region."""

    def __post_init__(self) -> None:
        if not self.steps or any(step not in STEPS for step in self.steps):
            raise ValueError(f"steps must name some of {', '.join(STEPS)}, got {list(self.steps)}")
        if not self.input:
            raise ValueError("input is required: python -m jobs.label input=VIDEOS output=WORKSPACE (--help lists keys)")
        if not self.output and ("select" in self.steps or "export" in self.steps):
            raise ValueError("output is required for select and export (the workspace of the labelling round)")
        if "import" in self.steps and not self.annotations:
            raise ValueError("import needs annotations=FILE (a Label Studio JSON export or a Ground Truth output manifest)")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")
