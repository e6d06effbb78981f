"""ModelDefaults: what a model's sport sets after the network, saved in its checkpoint.

A tennis ball crosses far more of the frame per frame than a shuttle, and a model trained
on one sport may want another heatmap threshold: these travel with the weights (the
checkpoint's metadata, key `defaults`), so naming a model gives its behaviour, and the
jobs' own keys (`predictor.threshold`, `cleanup.max_jump_px`, ...) win only when set.
A checkpoint saved without them (older files, user models) gets the fields' defaults, the
values every model used before they existed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

METADATA_KEY = "defaults"


@dataclass(frozen=True)
class ModelDefaults:
    """Inference settings that belong to the model (its sport), not to the run."""

    sport: str | None = None
    """What the model tracks (badminton, tennis, ...): shown by jobs.serve's /v1/model and the run summaries."""
    threshold: float = 0.5
    """Heatmap threshold for ball blobs (validation during training decodes with it too)."""
    max_jump_px: float = 150.0
    """Largest plausible ball movement per frame in source pixels, for the trajectory clean-up."""
    max_gap_frames: int = 4
    """Longest run of missing frames the trajectory clean-up fills by interpolation."""
    players_detector: str = "background"
    """The player detector that suits the sport's broadcasts (tracknet.players: background, surface)."""
    players_beyond_ends: float = 0.0
    """Where players' feet may be behind each end of the court, as a fraction of its length (tennis: far behind)."""
    players_beyond_sides: float = 0.0
    """Where players' feet may be wide of each side of the court, as a fraction of its width."""

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if self.max_jump_px <= 0:
            raise ValueError(f"max_jump_px must be > 0, got {self.max_jump_px}")
        if self.max_gap_frames < 0:
            raise ValueError(f"max_gap_frames must be >= 0, got {self.max_gap_frames}")
        if not 0 <= self.players_beyond_ends <= 1 or not 0 <= self.players_beyond_sides <= 1:
            raise ValueError("players_beyond_ends and players_beyond_sides must be in [0, 1]")

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> ModelDefaults:
        """The defaults saved in a checkpoint's metadata; the fields' defaults for what is not there."""
        saved = metadata.get(METADATA_KEY) or {}
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in saved.items() if key in known})

    def as_metadata(self) -> dict[str, Any]:
        """The metadata entry (`{METADATA_KEY: ...}`) that `from_metadata` reads back."""
        return {METADATA_KEY: asdict(self)}
