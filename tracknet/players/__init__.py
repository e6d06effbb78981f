"""Per-frame positions of the two competing players (singles), near and far side of the net.

A `PersonDetector` finds people in analysis frames (the source shrunk to a working
width); the court logic in `selection` keeps the two players. Detectors:

- ``background`` (default, no weights): moving blobs against each court-view shot's
  background (`background.BackgroundDetector`);
- ``surface`` (no weights): whatever stands on the court's colours, frame by frame, for
  cameras that follow the play and players who stand still (`surface.SurfaceDetector`;
  the tennis model's choice);
- ``onnx``: a user-supplied YOLO-style person detection model run with onnxruntime
  (`onnx.OnnxPersonDetector`; output format in that module).

Doubles (four players on court) is out of scope: the court logic keeps one player per
side of the net.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tracknet.players.base import SIDES, Candidate, PersonDetector, ShotContext
from tracknet.players.selection import BOX_FIELDS, select_players

__all__ = [
    "BOX_FIELDS", "SIDES", "Candidate", "PersonDetector", "PlayerConfig", "ShotContext", "make_detector",
    "select_players",
]


@dataclass(frozen=True)
class PlayerConfig:
    """Which detector finds the players, and its settings."""

    detector: Literal["background", "surface", "onnx"] | None = None
    """'background' (moving blobs against each shot's background, no weights), 'surface' (whatever stands
    on the court's colours, frame by frame: moving cameras, still players; no weights) or 'onnx' (a person
    detection model). None = 'background' here; jobs.infer takes the ball model's (its sport's)."""
    onnx_model: str | None = None
    """Local path of the ONNX person detector (detector 'onnx' only)."""
    onnx_layout: Literal["yolov8", "yolov5"] = "yolov8"
    """Output layout of the ONNX model: see tracknet.players.onnx."""
    onnx_person_class: int = 0
    """Class index of 'person' in the ONNX model's classes (0 in COCO)."""
    onnx_min_score: float = 0.25
    """Least person score of an ONNX detection."""
    background_samples: int = 6
    """Evenly spread frames per shot that go into the shot backgrounds."""
    diff_threshold: int = 30
    """Background detector: least colour difference (0..255) of a foreground pixel."""
    min_height_fraction: float = 0.04
    """Least person height, as a fraction of the frame height."""
    court_margin_fraction: float = 0.03
    """Feet may be this fraction of the frame width outside the court region."""
    beyond_ends: float | None = None
    """Feet may also be this fraction of the court's length behind each end (in the court's perspective):
    tennis players rally from well behind the baseline, on a run-off of another colour. None = 0 here;
    jobs.infer fills it from the ball model's sport (`tracknet.model_defaults`)."""
    beyond_sides: float | None = None
    """Feet may also be this fraction of the court's width wide of each side; None as for beyond_ends."""
    split_ratio: float = 1.25
    """A near blob taller than this times a player's height there holds both players."""

    def __post_init__(self) -> None:
        if self.detector not in (None, "background", "surface", "onnx"):
            raise ValueError(f"detector must be 'background', 'surface' or 'onnx', got {self.detector!r}")
        if self.detector == "onnx" and not self.onnx_model:
            raise ValueError("detector 'onnx' needs onnx_model (path of a person detection .onnx file)")
        if self.onnx_layout not in ("yolov8", "yolov5"):
            raise ValueError(f"onnx_layout must be 'yolov8' or 'yolov5', got {self.onnx_layout!r}")
        if not 0 < self.onnx_min_score < 1:
            raise ValueError(f"onnx_min_score must be in (0, 1), got {self.onnx_min_score}")
        if self.onnx_person_class < 0 or self.background_samples < 1:
            raise ValueError("onnx_person_class must be >= 0 and background_samples >= 1")
        if not 0 < self.diff_threshold < 255:
            raise ValueError(f"diff_threshold must be in (0, 255), got {self.diff_threshold}")
        if not 0 < self.min_height_fraction < 1 or not 0 <= self.court_margin_fraction < 1:
            raise ValueError("min_height_fraction must be in (0, 1) and court_margin_fraction in [0, 1)")
        if not 0 <= (self.beyond_ends or 0.0) <= 1 or not 0 <= (self.beyond_sides or 0.0) <= 1:
            raise ValueError(f"beyond_ends and beyond_sides must be in [0, 1], got {self.beyond_ends}, {self.beyond_sides}")
        if self.split_ratio <= 1:
            raise ValueError(f"split_ratio must be > 1, got {self.split_ratio}")


def make_detector(config: PlayerConfig) -> PersonDetector:
    """The detector `config` names (loads the ONNX model for 'onnx')."""
    if config.detector == "onnx":
        from tracknet.players.onnx import OnnxPersonDetector  # onnxruntime only when asked for

        return OnnxPersonDetector(
            config.onnx_model, config.onnx_layout, config.onnx_person_class, config.onnx_min_score,
            config.min_height_fraction,
        )
    if config.detector == "surface":
        from tracknet.players.surface import SurfaceDetector

        return SurfaceDetector(config.min_height_fraction)
    from tracknet.players.background import BackgroundDetector

    return BackgroundDetector(config.diff_threshold, config.min_height_fraction)
