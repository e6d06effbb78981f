"""Training helpers that need no Ray: window rows to model samples, heatmap scoring.

A window row holds F JPEG frames at model resolution with per-frame labels (visible,
x, y in model pixels, NaN when not visible); see jobs/common/windows.py. Samples use
the library's `decode_image` and `to_model_input`'s channel order, so training sees exactly what
inference sees.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tracknet.augment import AugmentConfig, augment_window
from tracknet.heatmap import decode_heatmap
from tracknet.metrics import DEFAULT_TOLERANCE_PX, Confusion, confusion
from tracknet.preprocess import decode_image


def decode_window_frames(images: Sequence[bytes]) -> np.ndarray:
    """F JPEG/PNG images -> (F, H, W, 3) uint8 RGB; ValueError if one is not an image."""
    return np.stack([decode_image(bytes(image)) for image in images])


def window_samples(
    frames: Sequence[Sequence[bytes]],
    visible: Sequence[Sequence[int]],
    x: Sequence[Sequence[float]],
    y: Sequence[Sequence[float]],
    augment: AugmentConfig | None = None,
    rng: np.random.Generator | None = None,
    copies: int = 1,
    backgrounds: Sequence[bytes] | None = None,
) -> dict[str, np.ndarray]:
    """Model samples from N window rows (columns as lists), optionally augmented.

    Each row gives `copies` samples (different random crops and flips when augmenting).
    With `backgrounds` (one JPEG per row, for `ModelConfig.background`), the background
    is cropped, flipped and jittered with its frames and follows them as 3 more channels.

    Returns:
        inputs: (N * copies, 3F (+3 with backgrounds), h, w) uint8, to_model_input's layout times 255 (a quarter of
            float32's bytes through Ray's object store; the trainer scales on its device);
        visible: (N * copies, F) int8;
        xy: (N * copies, F, 2) float32 in sample pixels, NaN where not visible.
        h, w are the crop size when augment.crops, else the frames' size.
    """
    if augment is not None and rng is None:
        rng = np.random.default_rng()
    inputs, shown, positions = [], [], []
    for images, vis, xs, ys, background in zip(frames, visible, x, y, backgrounds or [None] * len(frames)):
        window = decode_window_frames(images)  # (F, H, W, 3)
        labels = np.asarray(vis, dtype=np.int8)
        xy = np.stack([np.asarray(xs, dtype=np.float32), np.asarray(ys, dtype=np.float32)], axis=-1)  # (F, 2)
        frame_count = len(labels)
        if background is not None:
            # An extra ball-free frame, so every augmentation moves it exactly as the frames.
            window = np.concatenate([window, decode_image(bytes(background))[None]])
            labels = np.append(labels, np.int8(0))
            xy = np.concatenate([xy, np.full((1, 2), np.nan, np.float32)])
        for _ in range(copies):
            if augment is not None:
                sample, sample_visible, sample_xy = augment_window(window, labels, xy, augment, rng)
            else:
                sample, sample_visible, sample_xy = window, labels, xy
            inputs.append(_channels_first(sample))
            shown.append(sample_visible[:frame_count])
            positions.append(sample_xy[:frame_count])
    if not inputs:
        return {
            "inputs": np.zeros((0, 0, 0, 0), np.uint8),
            "visible": np.zeros((0, 0), np.int8),
            "xy": np.zeros((0, 0, 2), np.float32),
        }
    return {"inputs": np.stack(inputs), "visible": np.stack(shown), "xy": np.stack(positions)}


def _channels_first(frames: np.ndarray) -> np.ndarray:
    """(F, H, W, 3) uint8 -> (3F, H, W) uint8 in to_model_input's channel order."""
    f, h, w, _ = frames.shape
    return np.ascontiguousarray(frames.transpose(0, 3, 1, 2).reshape(3 * f, h, w))


def heatmap_confusion(
    heatmaps: np.ndarray,
    visible: np.ndarray,
    xy: np.ndarray,
    threshold: float = 0.5,
    tolerance_px: float = DEFAULT_TOLERANCE_PX,
) -> Confusion:
    """Score predicted heatmaps against labels with the TrackNet protocol.

    Each heatmap is decoded with `decode_heatmap` (threshold, largest blob); distances
    are measured at the protocol's 512x288 evaluation size.

    Args:
        heatmaps: (B, F, H, W) float in [0, 1], at the labels' resolution.
        visible: (B, F) int, 1 where a ball is labelled.
        xy: (B, F, 2) float ball positions in the heatmaps' pixels (ignored where not visible).
    """
    batch, frames, height, width = heatmaps.shape
    detections = [decode_heatmap(h, threshold) for h in heatmaps.reshape(batch * frames, height, width)]
    pred_visible = np.array([d.visible for d in detections], dtype=bool)
    pred_xy = np.array([(d.x, d.y) for d in detections], dtype=np.float64).reshape(-1, 2)
    return confusion(
        pred_visible, pred_xy,
        np.asarray(visible).reshape(-1) > 0, np.asarray(xy, dtype=np.float64).reshape(-1, 2),
        source_size=(width, height), tolerance_px=tolerance_px,
    )
