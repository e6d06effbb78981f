"""ServeConfig: the typed config of jobs.serve; maps 1:1 onto conf/serve.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobs.common.storage import StorageConfig
from tracknet.predictor_settings import PredictorSettings
from tracknet.weights import DEFAULT_MODEL


@dataclass(frozen=True)
class BatchingConfig:
    """How @serve.batch groups model windows from concurrent requests on a model replica."""

    max_batch_size: int = 8
    """Most windows (one per frames or stream request) handed to the model in one batch."""
    batch_wait_timeout_s: float = 0.005
    """Longest wait for a batch to fill once its first window arrived (adds to latency when idle)."""

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if self.batch_wait_timeout_s < 0:
            raise ValueError(f"batch_wait_timeout_s must be >= 0, got {self.batch_wait_timeout_s}")


@dataclass(frozen=True)
class IngressConfig:
    """The HTTP ingress deployment (one replica: it parses requests and holds the stream buffers)."""

    cpus: float = 1.0
    """Logical CPUs reserved by the ingress replica (image decoding and resizing run there)."""
    max_ongoing_requests: int = 128
    """Requests the ingress works on at once; more wait in the HTTP proxy."""

    def __post_init__(self) -> None:
        if self.cpus < 0:
            raise ValueError(f"cpus must be >= 0, got {self.cpus}")
        if self.max_ongoing_requests < 1:
            raise ValueError(f"max_ongoing_requests must be >= 1, got {self.max_ongoing_requests}")


@dataclass(frozen=True)
class LimitsConfig:
    """Request size limits; larger requests get 413."""

    max_request_mb: float = 16.0
    """Largest body of a frames or stream request (all images together), in MiB."""
    max_image_pixels: int = 36_000_000
    """Largest decoded image (width x height); guards the ingress against decompression bombs."""
    max_video_mb: float = 64.0
    """Largest video upload, in MiB."""
    max_video_frames: int = 900
    """Most frames in an uploaded clip (longer videos belong to jobs.infer)."""

    def __post_init__(self) -> None:
        for name in ("max_request_mb", "max_video_mb"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("max_image_pixels", "max_video_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def max_request_bytes(self) -> int:
        return int(self.max_request_mb * 2**20)

    @property
    def max_video_bytes(self) -> int:
        return int(self.max_video_mb * 2**20)


@dataclass(frozen=True)
class StreamsConfig:
    """Live streams: the ingress keeps the last frames of each open stream."""

    max_streams: int = 64
    """Most open streams at once; creating another gets 429 until one is deleted or expires."""
    ttl_s: float = 60.0
    """A stream with no frame for this long is forgotten (its id then gets 404)."""

    def __post_init__(self) -> None:
        if self.max_streams < 1:
            raise ValueError(f"max_streams must be >= 1, got {self.max_streams}")
        if self.ttl_s <= 0:
            raise ValueError(f"ttl_s must be > 0, got {self.ttl_s}")


@dataclass(frozen=True)
class HttpConfig:
    """Where `python -m jobs.serve` listens (`serve run` takes --host/--port instead)."""

    host: str = "127.0.0.1"
    """Interface to bind; 0.0.0.0 to accept requests from other machines."""
    port: int = 8000
    """TCP port."""

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be in 1..65535, got {self.port}")


@dataclass(frozen=True)
class ServeConfig:
    """Config of jobs.serve; maps 1:1 onto conf/serve.yaml."""

    model: str | None = DEFAULT_MODEL
    """A packaged model's name (badminton, tennis, synthetic: tracknet/weights) or a checkpoint path or URI
    readable from every replica; None = badminton. Its own defaults fill predictor keys left null."""
    predictor: PredictorSettings = field(default_factory=lambda: PredictorSettings(precision="auto"))
    """How each replica runs the model (as jobs.infer's `predictor`; a batch runs in pieces of batch_size)."""
    replicas: int = 1
    """Model replicas (each loads the model once)."""
    cpus_per_replica: float = 1.0
    """Logical CPUs reserved by each model replica."""
    gpus_per_replica: float = 0.0
    """GPUs reserved by each model replica (0 on CPU-only clusters)."""
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    """Request batching on the model replicas."""
    ingress: IngressConfig = field(default_factory=IngressConfig)
    """The HTTP ingress deployment."""
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    """Request size limits."""
    streams: StreamsConfig = field(default_factory=StreamsConfig)
    """Live stream buffers."""
    http: HttpConfig = field(default_factory=HttpConfig)
    """Listening address of `python -m jobs.serve`."""
    storage: StorageConfig = field(default_factory=StorageConfig)
    """S3 endpoint and region, for a model on S3."""

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise ValueError(f"replicas must be >= 1, got {self.replicas}")
        if self.cpus_per_replica < 0 or self.gpus_per_replica < 0:
            raise ValueError("cpus_per_replica and gpus_per_replica must be >= 0")
        if self.predictor.device == "cuda" and self.gpus_per_replica <= 0:
            raise ValueError(
                "predictor.device 'cuda' needs gpus_per_replica > 0 (Ray hides GPUs from replicas without them)"
            )
