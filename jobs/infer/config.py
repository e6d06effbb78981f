"""InferConfig: the typed config of jobs.infer; maps 1:1 onto conf/infer.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from jobs.common.inputs import VIDEO_SUFFIXES
from jobs.common.storage import StorageConfig
from tracknet.model_defaults import ModelDefaults
from tracknet.players import PlayerConfig
from tracknet.predictor_settings import PredictorSettings
from tracknet.shots import ShotConfig
from tracknet.weights import DEFAULT_MODEL


@dataclass(frozen=True)
class CleanupConfig:
    """Trajectory clean-up applied to the raw detections (raw values are kept alongside)."""

    enabled: bool = True
    """Reject impossible jumps and fill short gaps; false writes the raw detections as cleaned."""
    max_jump_px: float | None = None
    """Largest plausible ball movement per frame, in source pixels; None = the model's (its sport's)."""
    max_gap_frames: int | None = None
    """Longest run of missing frames filled by linear interpolation; None = the model's."""

    def __post_init__(self) -> None:
        if self.max_jump_px is not None and self.max_jump_px <= 0:
            raise ValueError(f"max_jump_px must be > 0, got {self.max_jump_px}")
        if self.max_gap_frames is not None and self.max_gap_frames < 0:
            raise ValueError(f"max_gap_frames must be >= 0, got {self.max_gap_frames}")

    def for_model(self, defaults: ModelDefaults) -> CleanupConfig:
        """This config with what it leaves to the model (None) taken from the model's defaults."""
        return replace(
            self,
            max_jump_px=defaults.max_jump_px if self.max_jump_px is None else self.max_jump_px,
            max_gap_frames=defaults.max_gap_frames if self.max_gap_frames is None else self.max_gap_frames,
        )


@dataclass(frozen=True)
class OutputsConfig:
    """Which per-video outputs to write besides the predictions parquet (derived from it, no model pass)."""

    csv: bool = True
    """TrackNet `Frame,Visibility,X,Y` CSV at <output>/csv/<video_id>.csv."""
    json: bool = False
    """Video metadata + per-frame positions at <output>/json/<video_id>.json."""
    overlays: bool = False
    """H.264 video with ball and trail at <output>/overlays/<video_id>.mp4 (re-decodes the source)."""
    trail_frames: int = 8
    """Length of the fading trail drawn on overlays, in frames."""
    clips: bool = False
    """Each court-view shot as its own H.264 clip at <output>/clips/<video_id>/ (needs shots.enabled)."""

    def __post_init__(self) -> None:
        if self.trail_frames < 0:
            raise ValueError(f"trail_frames must be >= 0, got {self.trail_frames}")


@dataclass(frozen=True)
class ShotsConfig(ShotConfig):
    """Shot splitting: camera cuts, and which shots show the main court view (tracknet.shots.ShotConfig)."""

    enabled: bool = False
    """Split each video into shots: shots table, `shot` and `court_view` prediction columns."""


@dataclass(frozen=True)
class PlayersConfig(PlayerConfig):
    """The two players (near and far side of the net) per court-view frame; singles (tracknet.players)."""

    enabled: bool = False
    """Find the players: prediction columns, JSON, overlay boxes, summary (needs shots.enabled)."""
    onnx_model: str | None = None
    """Path or URI of a YOLO-style person detection ONNX model (detector 'onnx'; format in README)."""

    def for_model(self, defaults: ModelDefaults) -> PlayersConfig:
        """This config with what it leaves null (detector, beyond_ends, beyond_sides) from the model's sport."""
        return replace(
            self,
            detector=defaults.players_detector if self.detector is None else self.detector,
            beyond_ends=defaults.players_beyond_ends if self.beyond_ends is None else self.beyond_ends,
            beyond_sides=defaults.players_beyond_sides if self.beyond_sides is None else self.beyond_sides,
        )


@dataclass(frozen=True)
class AnalysisConfig:
    """Resources and resolution of the per-video shot/player task."""

    width: int = 640
    """Frames are analysed at this width (aspect kept, never above the source's)."""
    cpus: float = 1.0
    """Logical CPUs reserved by each per-video analysis task; 0 shares those the pipeline reserved
    (one machine: the tasks then never wait for the model actors and decode tasks to finish)."""
    memory_mb: int = 1024
    """Memory Ray reserves per analysis task, in MiB (a few shots' sampled frames)."""

    def __post_init__(self) -> None:
        if self.width < 64:
            raise ValueError(f"analysis.width must be >= 64, got {self.width}")
        if self.cpus < 0 or self.memory_mb < 1:
            raise ValueError("analysis.cpus must be >= 0 and analysis.memory_mb >= 1")


@dataclass(frozen=True)
class InferConfig:
    """Config of jobs.infer; maps 1:1 onto conf/infer.yaml."""

    input: str = ""
    """Videos: folder/prefix (recursive), glob, manifest file (one URI per line) or one video."""
    output: str = ""
    """Output root URI (local path, file:// or s3://); layout in jobs/common/outputs.py."""
    model: str | None = DEFAULT_MODEL
    """A packaged model's name (badminton, tennis, synthetic: tracknet/weights), or a checkpoint path or URI;
    None = badminton. The model's own defaults (threshold, clean-up limits) fill the keys left null."""
    predictor: PredictorSettings = field(
        default_factory=lambda: PredictorSettings(precision="auto", flip_tta=True, torch_threads=2)
    )
    """How the model runs (device, runtime, precision, threshold, stride, ensemble, flip_tta, batch size,
    threads); flip_tta is on for batch jobs (accuracy first), off in jobs.serve (latency first); two
    threads per actor measured best on a 2-core CPU (raise it with cpus_per_actor on bigger nodes)."""
    chunk_frames: int = 48
    """Frames per unit of work sent to an actor (decoded at model resolution, several forward passes)."""
    num_actors: int = 1
    """Model actors in the pool (ActorPoolStrategy size)."""
    cpus_per_actor: float = 1.0
    """Logical CPUs reserved by each model actor."""
    gpus_per_actor: float = 0.0
    """GPUs reserved by each model actor (0 on CPU-only clusters)."""
    decode_cpus: float = 1.0
    """Logical CPUs reserved by each decode task."""
    decode_memory_mb: int = 1024
    """Memory Ray reserves per decode task, in MiB (frames of one chunk + the decoder)."""
    segment_frames: int = 1800
    """Frames per decode task; long videos spread over many tasks (rounded up to whole chunks)."""
    max_inflight_mb: int | None = None
    """Cap on object store memory the pipeline holds (MiB); None = 4 chunks per actor + 4."""
    cleanup: CleanupConfig = field(default_factory=CleanupConfig)
    """Trajectory clean-up."""
    outputs: OutputsConfig = field(default_factory=OutputsConfig)
    """Optional per-video outputs."""
    shots: ShotsConfig = field(default_factory=ShotsConfig)
    """Shot splitting and court-view classification."""
    players: PlayersConfig = field(default_factory=PlayersConfig)
    """Player detection on court-view frames."""
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    """The per-video shot/player task."""
    video_suffixes: tuple[str, ...] = VIDEO_SUFFIXES
    """File name endings that count as videos when listing a folder or glob."""
    overwrite: bool = False
    """Redo every stage of every video, ignoring the run ledger."""
    ray_progress_bars: bool = False
    """Show Ray Data's own progress bars too (the job prints its own progress line either way)."""
    storage: StorageConfig = field(default_factory=StorageConfig)
    """S3 endpoint and region."""

    def __post_init__(self) -> None:
        missing = [name for name in ("input", "output") if not getattr(self, name)]
        if missing:
            raise ValueError(
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} required: "
                "python -m jobs.infer input=VIDEOS output=RESULTS (folders, files or s3:// URIs; --help lists every key)"
            )
        for name in ("chunk_frames", "num_actors", "segment_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.cpus_per_actor < 0 or self.gpus_per_actor < 0 or self.decode_cpus <= 0:
            raise ValueError("cpus_per_actor and gpus_per_actor must be >= 0, decode_cpus > 0")
        if self.predictor.device == "cuda" and self.gpus_per_actor <= 0:
            raise ValueError(
                "predictor.device 'cuda' needs gpus_per_actor > 0 (Ray hides GPUs from actors without them)"
            )
        if self.decode_memory_mb < 1:
            raise ValueError(f"decode_memory_mb must be >= 1, got {self.decode_memory_mb}")
        if self.max_inflight_mb is not None and self.max_inflight_mb < 64:
            raise ValueError(f"max_inflight_mb must be >= 64, got {self.max_inflight_mb}")
        if not self.video_suffixes:
            raise ValueError("video_suffixes must not be empty")
        if self.players.enabled and not self.shots.enabled:
            raise ValueError("players.enabled needs shots.enabled (players are found on court-view shots)")
        if self.outputs.clips and not self.shots.enabled:
            raise ValueError("outputs.clips needs shots.enabled (clips are the court-view shots)")

    def for_model(self, defaults: ModelDefaults) -> InferConfig:
        """This config with the keys it leaves null (predictor.threshold, cleanup limits, the players' run-off)
        from the model's defaults."""
        return replace(self, predictor=self.predictor.for_model(defaults), cleanup=self.cleanup.for_model(defaults),
                       players=self.players.for_model(defaults))
