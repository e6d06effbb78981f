"""TrackNetV2 (Sun et al. 2020): a VGG-style U-Net from consecutive frames to ball heatmaps.

`TrackNet()` with defaults is the paper's model: 3 RGB frames in (9 channels at
288x512), 3 heatmaps out (MIMO), about 11.3M parameters. `width_mult` scales
every layer's channels for small CPU variants. `background=True` adds TrackNetV3's
background frame (tracknet.background) as 3 more input channels after the frames.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

# Channels of the paper's blocks at width 1.0; each tuple is one block's convs.
_ENCODER = ((64, 64), (128, 128), (256, 256, 256))
_BOTTLENECK = (512, 512, 512)
_DECODER = ((256, 256, 256), (128, 128), (64, 64))
_DOWNSAMPLING = 2 ** len(_ENCODER)


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a TrackNet model; everything needed to rebuild it from weights."""

    frames_in: int = 3
    """Consecutive RGB frames stacked as input channels (3 * frames_in)."""
    frames_out: int = 3
    """Heatmaps predicted, one per frame (MIMO)."""
    width_mult: float = 1.0
    """Multiplier on every layer's channel count; 0.25 gives a ~0.7M-parameter CPU model."""
    height: int = 288
    """Input height in pixels; a multiple of 8."""
    width: int = 512
    """Input width in pixels; a multiple of 8."""
    background: bool = False
    """Take the median background frame of the video as 3 more input channels, after the frames."""

    def __post_init__(self) -> None:
        if self.frames_in < 1 or self.frames_out < 1:
            raise ValueError(f"frames_in and frames_out must be >= 1, got {self.frames_in}, {self.frames_out}")
        if not 0 < self.width_mult <= 4:
            raise ValueError(f"width_mult must be in (0, 4], got {self.width_mult}")
        for name in ("height", "width"):
            size = getattr(self, name)
            if size <= 0 or size % _DOWNSAMPLING:
                raise ValueError(f"{name} must be a positive multiple of {_DOWNSAMPLING}, got {size}")

    @property
    def in_channels(self) -> int:
        return 3 * self.frames_in + (3 if self.background else 0)

    def channels(self, base: int) -> int:
        return max(1, round(base * self.width_mult))

    def to_dict(self) -> dict[str, int | float | bool]:
        return asdict(self)


class ConvBlock(nn.Sequential):
    """Conv3x3 -> ReLU -> BatchNorm, repeated; the paper's order (BN after ReLU)."""

    def __init__(self, in_channels: int, out_channels: tuple[int, ...]) -> None:
        layers: list[nn.Module] = []
        for channels in out_channels:
            layers += [
                nn.Conv2d(in_channels, channels, kernel_size=3, padding=1),
                nn.ReLU(inplace=True),
                nn.BatchNorm2d(channels),
            ]
            in_channels = channels
        super().__init__(*layers)


class TrackNet(nn.Module):
    """TrackNetV2 U-Net.

    forward: (B, 3*frames_in, H, W) float in [0, 1] -> (B, frames_out, H, W) logits.
    predict: same input -> (B, frames_out, H, W) heatmaps in [0, 1] (sigmoid).
    """

    def __init__(self, config: ModelConfig | None = None, **overrides: int | float) -> None:
        super().__init__()
        if config is None:
            config = ModelConfig(**overrides)
        elif overrides:
            raise TypeError("pass either a ModelConfig or keyword overrides, not both")
        self.config = config
        c = config.channels

        self.encoder = nn.ModuleList()
        in_channels = config.in_channels
        for block in _ENCODER:
            widths = tuple(c(b) for b in block)
            self.encoder.append(ConvBlock(in_channels, widths))
            in_channels = widths[-1]
        self.bottleneck = ConvBlock(in_channels, tuple(c(b) for b in _BOTTLENECK))
        in_channels = c(_BOTTLENECK[-1])

        self.decoder = nn.ModuleList()
        skips = [c(block[-1]) for block in reversed(_ENCODER)]
        for block, skip in zip(_DECODER, skips):
            widths = tuple(c(b) for b in block)
            self.decoder.append(ConvBlock(in_channels + skip, widths))
            in_channels = widths[-1]
        self.head = nn.Conv2d(in_channels, config.frames_out, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for block, skip in zip(self.decoder, reversed(skips)):
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Heatmaps in [0, 1]: (B, 3*frames_in, H, W) -> (B, frames_out, H, W) float32."""
        return torch.sigmoid(self(x).float())


def load_widened(model: TrackNet, state: dict[str, torch.Tensor]) -> None:
    """Load weights of a model with fewer input channels (e.g. before `background`).

    The first convolution's weights for the new input channels start at zero, so the
    widened model computes exactly what the old one did until training teaches it to
    use them; every other tensor must match in shape.
    """
    first = "encoder.0.0.weight"
    target = model.state_dict()
    if first not in state or state[first].shape[1] > target[first].shape[1]:
        raise ValueError(f"cannot widen: checkpoint's first conv is {tuple(state.get(first, torch.empty(0)).shape)}, "
                         f"model's is {tuple(target[first].shape)}")
    widened = dict(state)
    weight = torch.zeros_like(target[first])
    weight[:, : state[first].shape[1]] = state[first]
    widened[first] = weight
    model.load_state_dict(widened)


def weighted_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The paper's weighted binary cross-entropy (focal-like), averaged over pixels.

    WBCE = -[(1 - p)^2 * y * log(p) + p^2 * (1 - y) * log(1 - p)], p = sigmoid(logits).
    Computed from logits in float32 so bf16 autocast cannot underflow the logs.

    Args:
        logits: (B, F, H, W) raw model output.
        target: (B, F, H, W) heatmap targets in [0, 1].
    """
    logits = logits.float()
    target = target.float()
    p = torch.sigmoid(logits)
    positive = (1 - p) ** 2 * target * F.logsigmoid(logits)
    negative = p**2 * (1 - target) * F.logsigmoid(-logits)
    return -(positive + negative).mean()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
