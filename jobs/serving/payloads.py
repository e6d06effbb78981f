"""Request bodies -> image or video bytes, with size limits; every problem is a RequestError (4xx).

Images come as `multipart/form-data` file parts (field `images`, repeated, or `image`)
or as JSON with base64 strings (`{"images": ["...", ...]}` or `{"image": "..."}`).
A video comes as a multipart file part `video` or as the raw body
(`application/octet-stream` or `video/*`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator

import cv2
import numpy as np
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from tracknet.preprocess import decode_image

# OpenCV refuses images over OPENCV_IO_MAX_IMAGE_PIXELS (set on the ingress from
# limits.max_image_pixels) with this assertion text; it is how an oversized image is told
# apart from a corrupt one without parsing image headers ourselves.
_OPENCV_SIZE_ASSERTION = "CV_IO_MAX_IMAGE_PIXELS"


class RequestError(Exception):
    """A request the server refuses: the HTTP status (4xx) and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request, limit_bytes: int) -> bytes:
    """The whole body, refused with 413 as soon as it exceeds `limit_bytes` (declared or streamed)."""
    too_large = RequestError(413, f"request body is larger than the limit of {limit_bytes / 2**20:g} MiB")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit_bytes:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def _parse_multipart(request: Request, body: bytes, limit_bytes: int) -> list[tuple[str, bytes | str]]:
    async def once() -> AsyncIterator[bytes]:
        yield body

    parser = MultiPartParser(request.headers, once(), max_part_size=limit_bytes)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise RequestError(400, f"malformed multipart body: {exc.message}") from exc
    items: list[tuple[str, bytes | str]] = []
    for name, value in form.multi_items():
        items.append((name, await value.read() if isinstance(value, UploadFile) else value))
    await form.close()
    return items


async def read_images(request: Request, field: str, count: int, limit_bytes: int) -> list[bytes]:
    """Exactly `count` encoded images from a multipart or base64-JSON body (field `field`).

    Raises RequestError: 413 over `limit_bytes`, 415 another content type, 400 a missing
    field, an unexpected field, bad base64 or the wrong number of images.
    """
    media_type = _media_type(request)
    if media_type not in ("multipart/form-data", "application/json"):
        raise RequestError(
            415, f"send images as multipart/form-data (field {field!r}) or application/json "
            f"({{{field!r}: base64}}), got content type {media_type or 'none'!r}"
        )
    body = await read_body(request, limit_bytes)
    if media_type == "multipart/form-data":
        items = await _parse_multipart(request, body, limit_bytes)
        _reject_other_fields([name for name, _ in items], field)
        blobs = [value for name, value in items if name == field]
        if any(isinstance(blob, str) for blob in blobs):
            raise RequestError(400, f"field {field!r} must be file parts (image bytes), not text fields")
    else:
        blobs = _base64_images(body, field)
    if len(blobs) != count:
        raise RequestError(400, f"expected {count} image{'s' if count > 1 else ''} in {field!r}, got {len(blobs)}")
    return blobs


def _reject_other_fields(names: list[str], field: str) -> None:
    others = sorted(set(names) - {field})
    if others:
        raise RequestError(400, f"unexpected field(s) {', '.join(map(repr, others))}; only {field!r} is accepted")


def _base64_images(body: bytes, field: str) -> list[bytes]:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(400, f"body is not valid JSON ({exc})") from exc
    if not isinstance(document, dict) or field not in document:
        raise RequestError(400, f"JSON body must be an object with the key {field!r}")
    _reject_other_fields(list(document), field)
    value = document[field]
    items = value if isinstance(value, list) else [value]
    blobs = []
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise RequestError(400, f"{field}[{i}] must be a base64 string, got {type(item).__name__}")
        try:
            blobs.append(base64.b64decode(item, validate=True))
        except binascii.Error as exc:
            raise RequestError(400, f"{field}[{i}] is not valid base64 ({exc})") from exc
    return blobs


def decode_images(blobs: list[bytes], field: str, max_pixels: int) -> list[np.ndarray]:
    """Decode JPEG/PNG bytes to (H, W, 3) uint8 RGB images that all have the same size.

    Raises RequestError: 400 undecodable or of different sizes, 413 over `max_pixels`.
    """
    images = []
    for i, blob in enumerate(blobs):
        name = f"{field}[{i}]" if len(blobs) > 1 else field
        try:
            images.append(decode_image(blob))
        except ValueError as exc:
            raise RequestError(400, f"{name}: {exc}") from exc
        except cv2.error as exc:
            if _OPENCV_SIZE_ASSERTION in str(exc):
                raise RequestError(413, f"{name}: image has more than {max_pixels} pixels") from exc
            raise RequestError(400, f"{name}: cannot decode image ({exc})") from exc
    sizes = [(image.shape[1], image.shape[0]) for image in images]
    if len(set(sizes)) > 1:
        listed = ", ".join(f"{w}x{h}" for w, h in sizes)
        raise RequestError(400, f"{field} must all have the same size, got {listed}")
    return images


async def read_video(request: Request, limit_bytes: int) -> bytes:
    """A video from a multipart file part `video` or a raw body (application/octet-stream, video/*).

    Raises RequestError: 413 over `limit_bytes`, 415 another content type, 400 no video.
    """
    media_type = _media_type(request)
    raw = media_type == "application/octet-stream" or media_type.startswith("video/")
    if not raw and media_type != "multipart/form-data":
        raise RequestError(
            415, "send the video as multipart/form-data (field 'video') or as the raw body "
            f"(application/octet-stream or video/*), got content type {media_type or 'none'!r}"
        )
    body = await read_body(request, limit_bytes)
    if raw:
        data = body
    else:
        items = await _parse_multipart(request, body, limit_bytes)
        _reject_other_fields([name for name, _ in items], "video")
        videos = [value for _, value in items]
        if len(videos) != 1 or isinstance(videos[0], str):
            raise RequestError(400, f"expected one file part 'video', got {len(videos)} part(s)")
        data = videos[0]
    if not data:
        raise RequestError(400, "the video is empty (0 bytes)")
    return data
