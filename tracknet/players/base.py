"""What a player detector gives, and the interface every detector implements.

Detectors work on analysis frames (the source frame shrunk to a working width) and find
*people*; which two of them are the players is decided by the court logic in
`tracknet.players.selection`, the same for every detector.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tracknet.court import CourtColour

SIDES = ("near", "far")
"""Player order everywhere: the player on the camera's side of the net first."""


@dataclass(frozen=True)
class Candidate:
    """A person found in one frame, in analysis pixels.

    The box is (x0, y0, x1, y1) with x1/y1 one past the last pixel, so its width is
    x1 - x0. `rows`, from blob detectors only, is (y1 - y0, 2) int32: each box row's first
    and one-past-last foreground column ((0, 0) for an empty row); it lets the court
    logic split one blob that holds both players.
    """

    x0: float
    y0: float
    x1: float
    y1: float
    score: float
    rows: np.ndarray | None = None

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def area(self) -> float:
        return (self.x1 - self.x0) * (self.y1 - self.y0)

    @property
    def feet(self) -> tuple[float, float]:
        """Bottom centre of the box: where the person stands."""
        return (self.x0 + self.x1) / 2, self.y1


@dataclass(frozen=True)
class ShotContext:
    """What is known about a court-view shot before its frames are searched."""

    court: np.ndarray
    """(H, W) bool court region at analysis size (where players' feet can be)."""
    colour: CourtColour | None
    """The court's colour (None when the video has none)."""
    background: np.ndarray | None = None
    """(H, W, 3) uint8 RGB empty-court background of the shot, for detectors that use one."""


class PersonDetector(Protocol):
    """Finds people in the frames of one shot at a time."""

    uses_background: bool
    """True when `begin_shot` needs the shot's background image."""

    def begin_shot(self, shot: ShotContext) -> None:
        """Start a court-view shot."""

    def detect(self, image: np.ndarray) -> list[Candidate]:
        """People in one (H, W, 3) uint8 RGB analysis frame of the current shot."""
