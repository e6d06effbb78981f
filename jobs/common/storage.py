"""Storage addressed by URI: a local path, `file://...`, or `s3://bucket/prefix`.

S3 goes through pyarrow's S3 filesystem with the standard AWS credential chain.
An S3-compatible endpoint comes from the job config (`storage.endpoint_url`) or
the standard `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` variables; pyarrow does
not read those variables itself, so they are passed as `endpoint_override`.
"""

from __future__ import annotations

import os
import posixpath
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs


@dataclass(frozen=True)
class StorageConfig:
    """Where S3 lives; credentials always come from the standard AWS chain, never from here."""

    endpoint_url: str | None = None
    """S3-compatible endpoint (e.g. http://127.0.0.1:9000); default: AWS_ENDPOINT_URL(_S3) or AWS."""
    region: str | None = None
    """S3 region; default: AWS_REGION / AWS_DEFAULT_REGION or us-east-1."""

    def __post_init__(self) -> None:
        if self.endpoint_url is not None and urlparse(self.endpoint_url).scheme not in ("http", "https"):
            raise ValueError(f"endpoint_url must start with http:// or https://, got {self.endpoint_url!r}")


@dataclass(frozen=True)
class FileEntry:
    """A file found under a listing root."""

    uri: str
    relative_path: str
    """Path below the listing root, '/'-separated."""
    size_bytes: int
    mtime_ns: int | None


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def resolve(uri: str, storage: StorageConfig | None = None) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem for a URI and the path to use with it."""
    storage = storage or StorageConfig()
    if is_s3(uri):
        return _s3_filesystem(storage), uri.removeprefix("s3://").rstrip("/")
    if uri.startswith("file://"):
        uri = urlparse(uri).path
    elif "://" in uri:
        raise ValueError(f"unsupported URI scheme in {uri!r}: use a local path, file:// or s3://")
    return pafs.LocalFileSystem(), str(Path(uri).expanduser().resolve())


def _s3_filesystem(storage: StorageConfig) -> pafs.S3FileSystem:
    endpoint = storage.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    region = storage.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    kwargs: dict[str, object] = {"region": region}
    if endpoint:
        parsed = urlparse(endpoint)
        kwargs |= {"endpoint_override": parsed.netloc, "scheme": parsed.scheme}
    return pafs.S3FileSystem(**kwargs)


def join(uri: str, *parts: str) -> str:
    """Join path parts onto a URI with '/' (local paths keep the OS separator semantics)."""
    if "://" in uri:
        return posixpath.join(uri.rstrip("/"), *parts)
    return os.path.join(uri, *parts)


def list_files(uri: str, suffixes: tuple[str, ...], storage: StorageConfig | None = None) -> list[FileEntry]:
    """Files under `uri` (recursively) whose names end in one of `suffixes`, sorted by path.

    `uri` may also name a single file. Raises FileNotFoundError naming the URI when absent.
    """
    fs, root = resolve(uri, storage)
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"{uri}: no such file or folder")
    if info.type == pafs.FileType.File:
        infos, base = [info], posixpath.dirname(root)
    else:
        infos, base = fs.get_file_info(pafs.FileSelector(root, recursive=True)), root
    wanted = tuple(s.lower() for s in suffixes)
    entries = []
    for item in infos:
        if item.type != pafs.FileType.File or not item.base_name.lower().endswith(wanted):
            continue
        relative = posixpath.relpath(item.path.replace(os.sep, "/"), base.replace(os.sep, "/"))
        entries.append(
            FileEntry(
                uri=join(uri if info.type != pafs.FileType.File else _parent(uri), relative),
                relative_path=relative,
                size_bytes=item.size,
                mtime_ns=item.mtime_ns,
            )
        )
    return sorted(entries, key=lambda e: e.relative_path)


def _parent(uri: str) -> str:
    return posixpath.dirname(uri.rstrip("/")) if "://" in uri else os.path.dirname(os.path.abspath(uri))


def open_input(uri: str, storage: StorageConfig | None = None) -> pafs.NativeFile:
    """A seekable, streaming reader (S3 uses ranged GETs): fit for PyAV and label parsers."""
    fs, path = resolve(uri, storage)
    return fs.open_input_file(path)


def read_bytes(uri: str, storage: StorageConfig | None = None) -> bytes:
    with open_input(uri, storage) as f:
        return f.read()


def write_bytes(uri: str, data: bytes, storage: StorageConfig | None = None) -> None:
    """Write a whole object; a reader never sees it half-written (temp file + rename locally)."""
    fs, path = resolve(uri, storage)
    if isinstance(fs, pafs.LocalFileSystem):
        fs.create_dir(os.path.dirname(path), recursive=True)
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        with fs.open_output_stream(tmp) as out:
            out.write(data)
        os.replace(tmp, path)
    else:
        # A single S3 PUT is atomic: the object appears whole or not at all.
        with fs.open_output_stream(path) as out:
            out.write(data)


def upload_file(local_path: str | os.PathLike, uri: str, storage: StorageConfig | None = None) -> None:
    """Copy a local file to a URI, atomically as in write_bytes, streaming in chunks."""
    fs, path = resolve(uri, storage)
    local = os.fspath(local_path)
    if isinstance(fs, pafs.LocalFileSystem):
        fs.create_dir(os.path.dirname(path), recursive=True)
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        pafs.copy_files(local, tmp, destination_filesystem=fs)
        os.replace(tmp, path)
    else:
        pafs.copy_files(local, path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs)


def exists(uri: str, storage: StorageConfig | None = None) -> bool:
    fs, path = resolve(uri, storage)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def delete_tree(uri: str, storage: StorageConfig | None = None) -> None:
    """Remove a folder/prefix and everything under it; absent is fine."""
    fs, path = resolve(uri, storage)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.Directory:
        fs.delete_dir(path)
    elif info.type == pafs.FileType.File:
        fs.delete_file(path)
