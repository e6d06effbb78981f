"""Frames to model input, the same way everywhere (featurize, train, infer, serve).

Frames are RGB uint8, resized to model resolution with area interpolation and
stacked in time order as channels: [f0 R, f0 G, f0 B, f1 R, ...]. Decoded video
is resized before colour conversion (`resize_yuv420`): the same area filter on
the Y, U and V planes, then YUV->RGB at model size, which costs a fraction of
converting full 720p frames and differs from `resize_frame` on the converted
frame by about 2 grey levels on average.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def resize_frame(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (size[1], size[0], 3) uint8; size is (width, height)."""
    if (image.shape[1], image.shape[0]) == size:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def resize_yuv420(
    planes: Sequence[np.ndarray], size: tuple[int, int]
) -> np.ndarray:
    """Y, U, V planes of a 4:2:0 frame -> (size[1], size[0], 3) uint8 RGB.

    Args:
        planes: Y (H, W) and U, V (ceil(H/2), ceil(W/2)) uint8, limited range BT.601
            (what H.264 broadcast decodes to and what PyAV's rgb24 conversion assumes).
        size: (width, height), both even.
    """
    width, height = size
    if width % 2 or height % 2:
        raise ValueError(f"4:2:0 output needs an even size, got {width}x{height}")
    y, u, v = planes
    # I420 layout: the full Y plane, then U and V planes back to back.
    i420 = np.empty(height * width * 3 // 2, np.uint8)
    luma, chroma = height * width, (height // 2) * (width // 2)
    i420[:luma] = cv2.resize(y, (width, height), interpolation=cv2.INTER_AREA).reshape(-1)
    for offset, plane in ((luma, u), (luma + chroma, v)):
        resized = cv2.resize(plane, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
        i420[offset : offset + chroma] = resized.reshape(-1)
    return cv2.cvtColor(i420.reshape(height * 3 // 2, width), cv2.COLOR_YUV2RGB_I420)


def to_model_input(frames: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Stack F frames at model resolution into one input.

    Args:
        frames: F images, each (H, W, 3) uint8 RGB, or an (F, H, W, 3) array.

    Returns:
        (3F, H, W) float32 in [0, 1].
    """
    stacked = np.asarray(frames)  # (F, H, W, 3)
    if stacked.ndim != 4 or stacked.shape[-1] != 3:
        raise ValueError(f"expected frames of shape (F, H, W, 3), got {stacked.shape}")
    f, h, w, _ = stacked.shape
    return (stacked.transpose(0, 3, 1, 2).reshape(3 * f, h, w).astype(np.float32)) / 255.0


def scale_xy(
    x: np.ndarray | float, y: np.ndarray | float, from_size: tuple[int, int], to_size: tuple[int, int]
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Map pixel positions between resolutions; sizes are (width, height)."""
    return x * (to_size[0] / from_size[0]), y * (to_size[1] / from_size[1])


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """(H, W, 3) uint8 RGB -> JPEG bytes."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"cannot JPEG-encode an image of shape {image.shape}")
    return data.tobytes()


def decode_image(data: bytes) -> np.ndarray:
    """JPEG/PNG bytes -> (H, W, 3) uint8 RGB; ValueError if the bytes are not an image."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("data is not a decodable JPEG or PNG image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
