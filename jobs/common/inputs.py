"""Input videos of every job: what a video_id is, how an input URI is listed, how a video is opened.

video_id is a data contract (README, "Data contracts"): the input path relative to the
input root, without extension, '/'-separated (`2024/wimbledon/final` for
`s3://arch/2024/wimbledon/final.mp4`). jobs.featurize, jobs.infer and jobs.evaluate
all compute it here.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import posixpath
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow.fs as pafs

from jobs.common import storage
from jobs.common.ledger import SourceIdentity
from jobs.common.storage import StorageConfig
from tracknet.errors import TrackNetError

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".ts")
"""File name endings that count as videos when a folder or glob is listed."""
_GLOB_CHARS = re.compile(r"[*?\[]")


class InputError(TrackNetError):
    """The input URI names nothing usable (no videos, unreadable manifest, missing path)."""


def video_id_for(relative_path: str) -> str:
    """'season=2024/final.mp4' -> 'season=2024/final'."""
    return posixpath.splitext(relative_path.replace(os.sep, "/").replace("\\", "/").lstrip("/"))[0]


@dataclass(frozen=True)
class VideoInput:
    """A listed input video."""

    video_id: str
    uri: str
    size_bytes: int
    mtime_ns: int | None

    @property
    def identity(self) -> SourceIdentity:
        return SourceIdentity(self.size_bytes, self.mtime_ns)


@dataclass(frozen=True)
class ListedInputs:
    """Videos found under the input, and entries that cannot be processed (with reasons)."""

    videos: list[VideoInput]
    problems: list[tuple[VideoInput, str]]


def input_root(input_uri: str, storage_config: StorageConfig | None = None) -> str:
    """The folder video_ids are relative to: `input_uri`, or its folder when it names one file."""
    fs, path = storage.resolve(input_uri, storage_config)
    if fs.get_file_info(path).type != pafs.FileType.File:
        return input_uri
    if storage.is_s3(input_uri):
        return posixpath.dirname(input_uri.rstrip("/"))
    return os.path.dirname(path)


def list_videos(
    input_uri: str, suffixes: Sequence[str] = VIDEO_SUFFIXES, storage_config: StorageConfig | None = None
) -> ListedInputs:
    """Videos named by `input_uri`: a folder/prefix, a glob, a manifest file, or one video.

    Raises InputError naming the URI when it names nothing usable.
    """
    suffixes = tuple(s.lower() for s in suffixes)
    if _GLOB_CHARS.search(input_uri):
        found = _list_glob(input_uri, suffixes, storage_config)
    else:
        fs, path = storage.resolve(input_uri, storage_config)
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            raise InputError(f"{input_uri}: no such file or folder")
        if info.type == pafs.FileType.File and not info.base_name.lower().endswith(suffixes):
            return _list_manifest(input_uri, path, storage_config)
        found = [
            VideoInput(video_id_for(e.relative_path), e.uri, e.size_bytes, e.mtime_ns)
            for e in storage.list_files(input_uri, suffixes, storage_config)
        ]
    if not found:
        raise InputError(f"{input_uri}: no videos found (looked for {', '.join(suffixes)})")
    return _reject_duplicates(found, [])


def _list_glob(pattern: str, suffixes: tuple[str, ...], storage_config: StorageConfig | None) -> list[VideoInput]:
    scheme, sep, rest = pattern.partition("://")
    if not sep:
        scheme, rest = "", pattern
    parts = rest.split("/")
    first = next(i for i, part in enumerate(parts) if _GLOB_CHARS.search(part))
    root_path = "/".join(parts[:first]) or ("/" if rest.startswith("/") else ".")
    root = f"{scheme}://{root_path}" if sep else root_path
    relative_pattern = "/".join(parts[first:])
    if not storage.exists(root, storage_config):
        raise InputError(f"{pattern}: folder {root} does not exist")
    return [
        VideoInput(video_id_for(e.relative_path), e.uri, e.size_bytes, e.mtime_ns)
        for e in storage.list_files(root, suffixes, storage_config)
        if fnmatch.fnmatchcase(e.relative_path, relative_pattern)
    ]


def _list_manifest(manifest_uri: str, path: str, storage_config: StorageConfig | None) -> ListedInputs:
    """One video per line; relative entries are relative to the manifest's folder."""
    try:
        text = storage.read_bytes(manifest_uri, storage_config).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{manifest_uri}: not a video (by its name) and not a text manifest ({exc})") from exc
    base = manifest_uri.rsplit("/", 1)[0] if "://" in manifest_uri else os.path.dirname(path)
    base_path = storage.resolve(base, storage_config)[1].rstrip("/")
    videos, problems = [], []
    for line in text.splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        uri = entry if "://" in entry or os.path.isabs(entry) else storage.join(base, entry)
        entry_fs, entry_path = storage.resolve(uri, storage_config)
        if entry_path.startswith(base_path + "/"):
            video_id = video_id_for(entry_path[len(base_path) + 1 :])
        else:
            video_id = video_id_for(entry_path)
        info = entry_fs.get_file_info(entry_path)
        video = VideoInput(video_id, uri, info.size or 0, info.mtime_ns)
        if info.type != pafs.FileType.File:
            problems.append((video, f"{uri}: listed in {manifest_uri} but no such file"))
        else:
            videos.append(video)
    if not videos and not problems:
        raise InputError(f"{manifest_uri}: manifest lists no videos")
    return _reject_duplicates(videos, problems)


def _reject_duplicates(videos: list[VideoInput], problems: list[tuple[VideoInput, str]]) -> ListedInputs:
    """Two files with the same video_id (a.mp4 and a.mov) cannot both own its outputs."""
    by_id: dict[str, list[VideoInput]] = {}
    for video in videos:
        by_id.setdefault(video.video_id, []).append(video)
    kept = []
    for video_id, group in by_id.items():
        if len(group) == 1:
            kept.append(group[0])
            continue
        names = ", ".join(v.uri for v in group)
        problems += [(v, f"video_id {video_id!r} is shared by {names}; rename one") for v in group]
    return ListedInputs(kept, problems)


@contextlib.contextmanager
def open_source(uri: str, storage_config: StorageConfig | None) -> Iterator[str | pafs.NativeFile]:
    """A local path for local files (fastest for PyAV), else a seekable streaming reader (S3 ranged GETs)."""
    fs, path = storage.resolve(uri, storage_config)
    if isinstance(fs, pafs.LocalFileSystem):
        yield path
        return
    with fs.open_input_file(path) as handle:
        yield handle
