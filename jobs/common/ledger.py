"""Run ledger: what has been done to each input video, stage by stage, so backfills resume,
stay idempotent, and redo only the stages whose inputs or settings changed.

One small JSON object per video at `<output>/_ledger/<video_id>.json`, replaced atomically
after each stage's outputs are committed (or when the video fails). One task works on a
video at a time, so writers never share an object and any number of concurrent tasks can
update the ledger.

A record holds, per stage (`predict`, `analysis`, `csv`, `json`, `overlay`, `clips`), the
key the stage's outputs were made with: a digest of everything they depend on (the model
version and detection settings for `predict`; the analysis settings for `analysis`; the
keys of the stages an output shows, plus its own settings, for the outputs). A stage is
done when its recorded key equals the current one and the input file is the same one
(size + modification time); a changed input file drops every stage. A stage whose outputs
were not all committed has no entry, so a crash never leaves a file a later run trusts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from jobs.common import storage
from jobs.common.storage import StorageConfig

# 2: per-stage keys (`stages`) instead of one settings digest; version 1 records count as absent.
LEDGER_SCHEMA_VERSION = 2
Status = Literal["ok", "failed"]


def key_digest(*parts: Any) -> str:
    """A stable 16-hex-digit digest of JSON-serialisable parts."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SourceIdentity:
    """What makes an input file the same file: its size and modification time (S3: LastModified)."""

    size_bytes: int
    mtime_ns: int | None


@dataclass(frozen=True)
class StageRecord:
    """One stage's committed outputs for a video."""

    key: str
    """Digest of everything the stage's outputs depend on."""
    run_id: str
    """The run that committed them."""


@dataclass(frozen=True)
class LedgerRecord:
    """A video's stages, and the outcome of the last run that worked on it."""

    video_id: str
    source_uri: str
    size_bytes: int
    mtime_ns: int | None
    status: Status
    """Outcome of the last run that worked on the video (its stages stay valid after a failure)."""
    run_id: str
    """The last run that worked on the video."""
    finished_at: str
    """UTC ISO-8601 time the record was written."""
    model_version: str | None = None
    """The model of the committed predictions (None before any)."""
    stages: dict[str, StageRecord] = field(default_factory=dict)
    error: str | None = None
    frames: int | None = None
    detected_frames: int | None = None
    analysis: dict[str, Any] = field(default_factory=dict)
    """The run summary's shot/player fields of the committed analysis (empty without one)."""
    video: dict[str, Any] = field(default_factory=dict)
    """The probed video (tracknet.video.VideoInfo's fields) the predictions were made from, so
    outputs derived later need not open it again (empty before any)."""
    schema_version: int = LEDGER_SCHEMA_VERSION

    @property
    def identity(self) -> SourceIdentity:
        return SourceIdentity(self.size_bytes, self.mtime_ns)

    def stage_done(self, stage: str, identity: SourceIdentity, key: str | None) -> bool:
        """True when `stage` was committed for this very input file with this key."""
        entry = self.stages.get(stage)
        return entry is not None and key is not None and entry.key == key and self.identity == identity

    def stage_key(self, stage: str) -> str | None:
        entry = self.stages.get(stage)
        return entry.key if entry is not None else None

    def with_stages(self, done: Mapping[str, StageRecord], dropped: Iterable[str] = ()) -> LedgerRecord:
        """This record with `done` stages set and `dropped` ones removed."""
        stages = {name: entry for name, entry in self.stages.items() if name not in set(dropped)}
        return replace(self, stages=stages | dict(done))

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, uri: str) -> LedgerRecord:
        """Parse a record; raises ValueError naming `uri` for anything but a current-schema record."""
        try:
            values = json.loads(data)
            if values.get("schema_version") != LEDGER_SCHEMA_VERSION:
                raise ValueError(f"schema_version {values.get('schema_version')!r}, expected {LEDGER_SCHEMA_VERSION}")
            known = {f.name for f in fields(cls)}
            values = {k: v for k, v in values.items() if k in known}
            values["stages"] = {name: StageRecord(**entry) for name, entry in values.get("stages", {}).items()}
            return cls(**values)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"{uri}: not a ledger record ({exc})") from exc


class RunLedger:
    """The per-video records under `<output>/_ledger/`."""

    def __init__(self, output_uri: str, storage_config: StorageConfig | None = None) -> None:
        self.root = storage.join(output_uri, "_ledger")
        self.storage = storage_config

    def uri_for(self, video_id: str) -> str:
        return storage.join(self.root, f"{video_id}.json")

    def write(self, record: LedgerRecord) -> None:
        """Replace the video's record in one atomic write."""
        storage.write_bytes(self.uri_for(record.video_id), record.to_json(), self.storage)

    def read(self, video_id: str) -> LedgerRecord | None:
        """The video's record; None when there is none or it cannot be parsed (an older schema)."""
        uri = self.uri_for(video_id)
        if not storage.exists(uri, self.storage):
            return None
        try:
            return LedgerRecord.from_json(storage.read_bytes(uri, self.storage), uri)
        except ValueError:
            return None

    def read_many(self, video_ids: Iterable[str], threads: int = 16) -> dict[str, LedgerRecord]:
        """Records of the given videos that exist; one listing, then parallel reads.

        A record that cannot be parsed (hand-edited, or of an older schema) counts as
        absent, so the video is processed again and its record rewritten.
        """
        wanted = set(video_ids)
        if not storage.exists(self.root, self.storage):
            return {}
        present = {
            entry.relative_path.removesuffix(".json"): entry.uri
            for entry in storage.list_files(self.root, (".json",), self.storage)
        }
        targets = [(video_id, uri) for video_id, uri in present.items() if video_id in wanted]

        def load(item: tuple[str, str]) -> tuple[str, LedgerRecord | None]:
            video_id, uri = item
            try:
                return video_id, LedgerRecord.from_json(storage.read_bytes(uri, self.storage), uri)
            except ValueError:
                return video_id, None

        with ThreadPoolExecutor(max_workers=max(1, min(threads, len(targets)))) as pool:
            loaded = list(pool.map(load, targets))
        return {video_id: record for video_id, record in loaded if record is not None}
