"""Label-preserving augmentation of training windows at model resolution.

A window is F consecutive frames (F, H, W, 3) uint8 RGB with per-frame labels:
visible (F,) int8 and xy (F, 2) float32 ball centres in pixels (pixel centres at
integers, NaN when not visible). Every function returns new arrays with the labels
moved exactly as the pixels moved; the same random draw applies to all F frames, so
the ball's motion across the window stays consistent.

- `random_crop`: a crop_width x crop_height crop, placed around a visible ball with
  probability `positive_fraction` (the ball lands uniformly inside the crop, at least
  `crop_margin_px` from its border), anywhere otherwise (mostly ball-free negatives).
  TrackNet is fully convolutional, so training on crops and predicting on whole
  frames works and is several times cheaper on CPU.
- `hflip`: mirror left-right; x becomes (W - 1) - x.
- `recolor_surfaces`: the hue of the window's two dominant colours (court, surround)
  rotated by random angles, other colours kept: courts of colours training never saw.
- `color_jitter`: brightness, contrast and saturation factors in [1 - a, 1 + a].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# ITU-R BT.601 luma weights, for contrast means and saturation.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class AugmentConfig:
    """How training windows are augmented; the defaults suit TrackNet on CPU."""

    hflip_prob: float = 0.5
    """Probability of mirroring a window left-right."""
    brightness: float = 0.2
    """Brightness factor drawn from [1 - brightness, 1 + brightness]; 0 disables."""
    contrast: float = 0.2
    """Contrast factor drawn from [1 - contrast, 1 + contrast]; 0 disables."""
    saturation: float = 0.2
    """Saturation factor drawn from [1 - saturation, 1 + saturation]; 0 disables."""
    surface_hue_deg: float = 0.0
    """Rotate the hue of the frame's two dominant colours (court and surround) by independent random
    angles up to this many degrees, leaving other colours (the ball, lines, players) alone: a blue
    hard court in training then also looks green, purple or red-clay; 0 disables, 180 is any colour."""
    crop_width: int = 0
    """Width of random training crops in pixels (a multiple of 8); 0 trains on whole frames."""
    crop_height: int = 0
    """Height of random training crops in pixels (a multiple of 8); 0 trains on whole frames."""
    positive_fraction: float = 0.8
    """Share of crops placed around a visible ball; the rest are placed anywhere."""
    crop_margin_px: int = 8
    """A ball in a positive crop lies at least this far inside the crop's border."""

    def __post_init__(self) -> None:
        for name in ("hflip_prob", "positive_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        for name in ("brightness", "contrast", "saturation"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        if not 0.0 <= self.surface_hue_deg <= 180.0:
            raise ValueError(f"surface_hue_deg must be in [0, 180], got {self.surface_hue_deg}")
        if (self.crop_width == 0) != (self.crop_height == 0):
            raise ValueError(
                f"crop_width and crop_height must both be 0 or both > 0, got {self.crop_width}, {self.crop_height}"
            )
        for name in ("crop_width", "crop_height"):
            value = getattr(self, name)
            if value < 0 or value % 8:
                raise ValueError(f"{name} must be 0 or a positive multiple of 8, got {value}")
        if self.crop_margin_px < 0:
            raise ValueError(f"crop_margin_px must be >= 0, got {self.crop_margin_px}")

    @property
    def crops(self) -> bool:
        return self.crop_width > 0


def hflip(frames: np.ndarray, visible: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mirror a window left-right: frames (F, H, W, 3), visible (F,), xy (F, 2) -> same shapes."""
    width = frames.shape[2]
    flipped = np.ascontiguousarray(frames[:, :, ::-1])
    moved = xy.astype(np.float32, copy=True)
    moved[:, 0] = (width - 1) - moved[:, 0]
    return flipped, visible.copy(), moved


def color_jitter(
    frames: np.ndarray,
    rng: np.random.Generator,
    brightness: float = 0.2,
    contrast: float = 0.2,
    saturation: float = 0.2,
) -> np.ndarray:
    """Random brightness, contrast and saturation, the same for every frame of the window.

    Args:
        frames: (F, H, W, 3) uint8 RGB.
    Returns:
        (F, H, W, 3) uint8 RGB; labels are unchanged by colour.
    """
    image = frames.astype(np.float32)
    if brightness:
        image *= rng.uniform(1 - brightness, 1 + brightness)
    if contrast:
        mean = float((image @ _LUMA).mean())
        image = (image - mean) * rng.uniform(1 - contrast, 1 + contrast) + mean
    if saturation:
        grey = (image @ _LUMA)[..., None]  # (F, H, W, 1)
        image = (image - grey) * rng.uniform(1 - saturation, 1 + saturation) + grey
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


# OpenCV's 8-bit hue runs 0..179 (2 degrees a step).
_HUE_STEPS = 180
_SURFACE_MIN_SATURATION = 40
"""Less saturated pixels (white lines, grey stands, shadows) have no hue to rotate."""
_SURFACE_BAND = 8
"""Half-width of a dominant colour's hue band, in OpenCV steps (16 degrees)."""


def surface_hues(frames: np.ndarray, count: int = 2) -> list[int]:
    """The `count` most common hues (OpenCV steps) among the saturated pixels of a window, most common first.

    Hues closer than a band to one already taken are skipped, so a court's two shades count once.
    """
    hsv = cv2.cvtColor(frames.reshape(-1, frames.shape[-2], 3), cv2.COLOR_RGB2HSV)
    saturated = hsv[..., 1] >= _SURFACE_MIN_SATURATION
    histogram = np.bincount(hsv[..., 0][saturated], minlength=_HUE_STEPS).astype(np.float64)
    # Hue is circular: smooth over the band with wrap-around before picking peaks.
    smooth = sum(np.roll(histogram, shift) for shift in range(-_SURFACE_BAND // 2, _SURFACE_BAND // 2 + 1))
    peaks: list[int] = []
    for hue in np.argsort(smooth)[::-1]:
        if smooth[hue] <= 0 or len(peaks) == count:
            break
        if all(_hue_distance(int(hue), peak) > 2 * _SURFACE_BAND for peak in peaks):
            peaks.append(int(hue))
    return peaks


def _hue_distance(a: np.ndarray | int, b: int) -> np.ndarray | int:
    d = np.abs(np.asarray(a, dtype=np.int32) - b) % _HUE_STEPS
    return np.minimum(d, _HUE_STEPS - d)


def recolor_surfaces(frames: np.ndarray, rng: np.random.Generator, max_deg: float) -> np.ndarray:
    """Rotate the hue of each dominant colour band of a window by its own random angle.

    The same rotation applies to every frame (and the background frame stacked with them), so
    the window stays consistent in time. Pixels outside the bands keep their colour, and within
    a band the rotation fades out towards its edge, so no hard seams appear.

    Args:
        frames: (F, H, W, 3) uint8 RGB.
    Returns:
        (F, H, W, 3) uint8 RGB; labels are unchanged by colour.
    """
    peaks = surface_hues(frames)
    if not peaks:
        return frames
    shape = frames.shape
    hsv = cv2.cvtColor(frames.reshape(-1, shape[-2], 3), cv2.COLOR_RGB2HSV)
    hue = hsv[..., 0].astype(np.float32)
    saturated = hsv[..., 1] >= _SURFACE_MIN_SATURATION
    shift = np.zeros_like(hue)
    for peak in peaks:
        angle = rng.uniform(-max_deg, max_deg) / 2  # degrees -> OpenCV steps
        weight = np.clip(1.5 - _hue_distance(hsv[..., 0], peak) / _SURFACE_BAND, 0.0, 1.0)
        shift += np.where(saturated, weight * angle, 0.0)
    hsv[..., 0] = np.mod(np.rint(hue + shift), _HUE_STEPS).astype(np.uint8)
    recolored = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).reshape(shape)
    # Pixels outside the bands keep their exact values (an HSV round trip is not lossless).
    return np.where((shift != 0).reshape(shape[:-1])[..., None], recolored, frames)


def random_crop(
    frames: np.ndarray,
    visible: np.ndarray,
    xy: np.ndarray,
    size: tuple[int, int],
    rng: np.random.Generator,
    positive_fraction: float = 0.8,
    margin_px: int = 8,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A (width, height) crop of every frame at one offset; xy shifted into the crop.

    With probability `positive_fraction`, and when some frame has a visible ball, the
    crop is placed so that ball (of a randomly chosen visible frame) lies inside it;
    otherwise the crop is placed uniformly. Balls of other frames keep their visibility
    and shifted position even when they fall outside the crop (their target disc is
    then empty or cut at the border, which is what the crop shows).

    Args:
        frames: (F, H, W, 3) uint8; visible: (F,) int8; xy: (F, 2) float32.
        size: (width, height) of the crop, at most the frame size.
    Returns:
        frames (F, height, width, 3), visible (F,), xy (F, 2).
    """
    crop_w, crop_h = size
    height, width = frames.shape[1:3]
    if crop_w > width or crop_h > height:
        raise ValueError(f"crop {crop_w}x{crop_h} is larger than the frames ({width}x{height})")
    shown = np.flatnonzero(np.asarray(visible) > 0)
    if len(shown) and rng.random() < positive_fraction:
        bx, by = xy[rng.choice(shown)]
        x0 = _offset_around(float(bx), crop_w, width, margin_px, rng)
        y0 = _offset_around(float(by), crop_h, height, margin_px, rng)
    else:
        x0 = int(rng.integers(0, width - crop_w + 1))
        y0 = int(rng.integers(0, height - crop_h + 1))
    cropped = np.ascontiguousarray(frames[:, y0 : y0 + crop_h, x0 : x0 + crop_w])
    moved = xy.astype(np.float32, copy=True) - np.array([x0, y0], dtype=np.float32)
    return cropped, visible.copy(), moved


def _offset_around(centre: float, crop: int, full: int, margin: int, rng: np.random.Generator) -> int:
    """A crop offset in [0, full - crop] that keeps `centre` inside the crop, `margin` from its edges."""
    margin = min(margin, (crop - 1) // 2)
    low = max(0, math.ceil(centre + margin - (crop - 1)))
    high = min(full - crop, math.floor(centre - margin))
    if low > high:  # too near the frame border for the margin: the nearest offset that holds it
        return int(np.clip(round(centre - crop / 2), 0, full - crop))
    return int(rng.integers(low, high + 1))


def augment_window(
    frames: np.ndarray,
    visible: np.ndarray,
    xy: np.ndarray,
    config: AugmentConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crop (if configured), maybe flip, recolour the surfaces (if configured), then colour-jitter one window.

    Args:
        frames: (F, H, W, 3) uint8 RGB; visible: (F,) int8; xy: (F, 2) float32 pixels.
    Returns:
        frames (F, h, w, 3) uint8 with h, w the crop size (or H, W), visible (F,), xy (F, 2).
    """
    if config.crops:
        frames, visible, xy = random_crop(
            frames, visible, xy, (config.crop_width, config.crop_height), rng,
            config.positive_fraction, config.crop_margin_px,
        )
    if config.hflip_prob and rng.random() < config.hflip_prob:
        frames, visible, xy = hflip(frames, visible, xy)
    if config.surface_hue_deg:
        frames = recolor_surfaces(frames, rng, config.surface_hue_deg)
    if config.brightness or config.contrast or config.saturation:
        frames = color_jitter(frames, rng, config.brightness, config.contrast, config.saturation)
    return frames, visible, xy
