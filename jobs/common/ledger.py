"""Run ledger: what has been done to each input video, so backfills resume and stay idempotent.

One small JSON object per video at `<output>/_ledger/<video_id>.json`, written
atomically after the video's outputs are committed (or when it fails). Writers
never share an object, so any number of concurrent tasks can update the ledger.

A video counts as done, and is skipped by the next run, when its record says
`ok` and the record's input identity (size + modification time), model version
and output settings digest all equal the current ones. Anything else (no record,
`failed`, a changed file, another model, other settings) is processed again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from typing import Literal

from jobs.common import storage
from jobs.common.storage import StorageConfig

LEDGER_SCHEMA_VERSION = 1
Status = Literal["ok", "failed"]


@dataclass(frozen=True)
class SourceIdentity:
    """What makes an input file the same file: its size and modification time (S3: LastModified)."""

    size_bytes: int
    mtime_ns: int | None


@dataclass(frozen=True)
class LedgerRecord:
    """The outcome of processing one video in one run."""

    video_id: str
    source_uri: str
    size_bytes: int
    mtime_ns: int | None
    model_version: str
    settings_digest: str
    status: Status
    run_id: str
    finished_at: str
    """UTC ISO-8601 time the record was written."""
    error: str | None = None
    frames: int | None = None
    detected_frames: int | None = None
    schema_version: int = LEDGER_SCHEMA_VERSION

    @property
    def identity(self) -> SourceIdentity:
        return SourceIdentity(self.size_bytes, self.mtime_ns)

    def is_done(self, identity: SourceIdentity, model_version: str, settings_digest: str) -> bool:
        """True when this record lets a run skip the video."""
        return (
            self.status == "ok"
            and self.identity == identity
            and self.model_version == model_version
            and self.settings_digest == settings_digest
        )

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, uri: str) -> LedgerRecord:
        try:
            values = json.loads(data)
            known = {f.name for f in fields(cls)}
            return cls(**{k: v for k, v in values.items() if k in known})
        except (ValueError, TypeError) as exc:
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
        uri = self.uri_for(video_id)
        if not storage.exists(uri, self.storage):
            return None
        return LedgerRecord.from_json(storage.read_bytes(uri, self.storage), uri)

    def read_many(self, video_ids: Iterable[str], threads: int = 16) -> dict[str, LedgerRecord]:
        """Records of the given videos that exist; one listing, then parallel reads.

        A record that cannot be parsed (e.g. hand-edited) counts as absent, so the
        video is processed again and its record rewritten.
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
