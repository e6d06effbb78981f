"""Synthetic broadcast-style ball clips with exact labels, for tests and training warm-up.

A clip shows a badminton or tennis court from a high broadcast camera behind the near
baseline (perspective: the far baseline is narrower and higher in the frame), a net, ad
boards and a textured crowd band, two players (near and far side of the net) moving
around their halves, and a small fast ball flying arcs between them: a projectile in 3D
court coordinates, projected by the camera, hit back when it reaches a player and
sometimes bouncing on the floor. The ball is drawn with motion blur (smeared between its
previous and current position). It is hidden when a player's body covers its centre and
leaves the frame on high lobs; both give visibility 0. Sensor noise and compression
(H.264, optionally a JPEG round trip per frame) finish the look. Everything is seeded:
the same config gives identical frames and labels.

Tennis (``court='tennis'``) has its own look and physics: ``SynthConfig.surface`` picks a
hard court (one of several court/run-off colour pairs), clay (terracotta all over, dusty
lines) or grass (one green with mowing stripes and worn patches by the baselines); a
small yellow-green ball flies with air drag at tennis speeds (20-35 m/s drives, 45-60 m/s
opening serves), bounces before most returns (volleys are taken before it) and is taken
up to 4 m behind the baseline and wide of the sidelines; ``SynthConfig.officials`` adds an
umpire on a tall chair, line judges and ball kids, who can hide the ball but are never in
the players' boxes.

Optionally (``SynthConfig.cutaways``) the broadcast cuts away from the court camera to
close-ups of a player (the same scene through a 2.5x zoom) and to the crowd, and back:
ground truth for shot splitting. Every frame carries the players' exact boxes (the tight
box of the pixels drawn for each person, racket left out), and ``SynthConfig.truth`` makes ``write_clip``
write them and the shot boundaries beside the clip.

Command (``tracknet-synth`` is the same entry point)::

    python -m tracknet.synth --out DIR --clips 4 --seed 0 \\
        [--width 1280 --height 720 --fps 30 --frames 150] [--cutaways 2] [--truth] \\
        [--court tennis --surface clay|grass|hard] [--no-officials]

writes ``DIR/synth_000.mp4`` + ``DIR/synth_000.csv`` (TrackNet ``Frame,Visibility,X,Y``),
``DIR/synth_001.*`` and so on; clip ``i`` uses seed ``seed + i``. With ``--truth`` each clip
also gets ``synth_000.players.csv`` (``frame,shot,court_view,near_x0,near_y0,near_x1,near_y1,
far_x0,...``: source pixels, x1/y1 one past the last pixel, empty when the player is not
shown) and ``synth_000.shots.csv`` (``shot,first_frame,last_frame,court_view,kind``).
"""

from __future__ import annotations

import argparse
import bisect
import math
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from tracknet.labels import write_tracknet_csv
from tracknet.players import SIDES
from tracknet.video import VideoWriter

GRAVITY_MPS2 = 9.81
COURTS = ("badminton", "tennis")
# Floors each court can have; 'random' picks one from the seed.
SURFACES = {"badminton": ("mat",), "tennis": ("hard", "clay", "grass")}
BALL_STATES = ("visible", "occluded", "out_of_frame", "cutaway")
SHOT_KINDS = ("court", "closeup", "crowd")

# Ball radius is never drawn smaller than this, so the pixel holding the ball centre is
# always fully ball-coloured (a disc of radius >= 1.5 covers the whole centre pixel).
_MIN_BALL_RADIUS_PX = 1.5
_REFERENCE_HEIGHT_PX = 720
_NOISE_PAD_PX = 61
_PLAYER_HEIGHT_M = 1.75
# Court-view stretches around cut-aways are at least this long, so a shot detector's
# minimum shot length (PySceneDetect's default is 15 frames) never hides a cut.
_MIN_COURT_SHOT_FRAMES = 20
_CLOSEUP_ZOOM = 2.5


@dataclass(frozen=True)
class SynthConfig:
    """What one synthetic clip looks like. Every field has a default."""

    width: int = 1280
    """Frame width in pixels (>= 32; odd sizes are allowed)."""
    height: int = 720
    """Frame height in pixels (>= 32; odd sizes are allowed)."""
    fps: float = 30.0
    """Frame rate in frames per second (> 0)."""
    frames: int = 150
    """Number of frames in the clip (>= 1)."""
    seed: int = 0
    """Seed for every random choice (>= 0); the same config gives the same clip."""
    court: str = "random"
    """'badminton', 'tennis', or 'random' (picked from the seed)."""
    surface: str = "random"
    """Floor: 'hard', 'clay' or 'grass' for tennis, 'mat' for badminton, or 'random'
    (picked from the seed among the court's surfaces)."""
    ball_radius_px: float | None = None
    """Ball radius at 720 rows and mid-court depth; scales with height and perspective.
    None takes the sport's: 3.5 for a shuttle, 2.3 for a tennis ball (about 5 px across
    mid-court, 3 px at the far baseline, 7 px at the near one, as in 720p broadcasts)."""
    ball_rgb: tuple[int, int, int] | None = None
    """Ball colour (R, G, B in 0..255); None picks one from the seed: near-white for a
    shuttle, yellow-green for a tennis ball."""
    officials: bool = True
    """Tennis only: an umpire on a tall chair by the net post, line judges around the
    run-off and ball kids, drawn like people but never in the players' truth boxes."""
    noise_std: float = 3.0
    """Standard deviation of the gaussian sensor noise, in 0..255 grey levels (>= 0)."""
    jpeg_quality: int | None = None
    """JPEG round trip of each frame at this quality (1..100), or None for none."""
    crf: int = 23
    """H.264 constant rate factor used by write_clip (0..51, higher is lossier)."""
    cutaways: int = 0
    """Cut-away shots inserted into the clip, alternately a 2.5x close-up of a player and
    the crowd (>= 0); 0 keeps one continuous court-view shot."""
    cutaway_frames: tuple[int, int] = (20, 40)
    """(min, max) length of each cut-away shot, in frames."""
    truth: bool = False
    """write_clip also writes ``<stem>.players.csv`` and ``<stem>.shots.csv`` (exact truth)."""

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            value = getattr(self, name)
            if not _is_int(value) or value < 32:
                raise ValueError(f"SynthConfig.{name} must be an integer >= 32, got {value!r}")
        if not _is_number(self.fps) or not math.isfinite(self.fps) or self.fps <= 0:
            raise ValueError(f"SynthConfig.fps must be a number > 0, got {self.fps!r}")
        if not _is_int(self.frames) or self.frames < 1:
            raise ValueError(f"SynthConfig.frames must be an integer >= 1, got {self.frames!r}")
        if not _is_int(self.seed) or self.seed < 0:
            raise ValueError(f"SynthConfig.seed must be an integer >= 0, got {self.seed!r}")
        if self.court not in (*COURTS, "random"):
            raise ValueError(
                f"SynthConfig.court must be 'badminton', 'tennis' or 'random', got {self.court!r}"
            )
        all_surfaces = sorted({s for names in SURFACES.values() for s in names})
        if self.surface not in (*all_surfaces, "random"):
            raise ValueError(
                f"SynthConfig.surface must be one of {', '.join(all_surfaces)} or 'random', "
                f"got {self.surface!r}"
            )
        if self.surface != "random":
            court = next(c for c, names in SURFACES.items() if self.surface in names)
            if self.court != court:
                raise ValueError(
                    f"SynthConfig.surface {self.surface!r} is a {court} surface, so court must be "
                    f"{court!r}, got court={self.court!r}"
                )
        if self.ball_radius_px is not None and (
            not _is_number(self.ball_radius_px)
            or not math.isfinite(self.ball_radius_px)
            or self.ball_radius_px <= 0
        ):
            raise ValueError(
                f"SynthConfig.ball_radius_px must be None or a number > 0, got {self.ball_radius_px!r}"
            )
        if not isinstance(self.officials, bool):
            raise ValueError(f"SynthConfig.officials must be a bool, got {self.officials!r}")
        if self.ball_rgb is not None and (
            not isinstance(self.ball_rgb, tuple)
            or len(self.ball_rgb) != 3
            or not all(_is_int(c) and 0 <= c <= 255 for c in self.ball_rgb)
        ):
            raise ValueError(
                "SynthConfig.ball_rgb must be None or a tuple of three integers in 0..255, "
                f"got {self.ball_rgb!r}"
            )
        if not _is_number(self.noise_std) or not math.isfinite(self.noise_std) or self.noise_std < 0:
            raise ValueError(f"SynthConfig.noise_std must be a number >= 0, got {self.noise_std!r}")
        if self.jpeg_quality is not None and (
            not _is_int(self.jpeg_quality) or not 1 <= self.jpeg_quality <= 100
        ):
            raise ValueError(
                f"SynthConfig.jpeg_quality must be None or an integer in 1..100, "
                f"got {self.jpeg_quality!r}"
            )
        if not _is_int(self.crf) or not 0 <= self.crf <= 51:
            raise ValueError(f"SynthConfig.crf must be an integer in 0..51, got {self.crf!r}")
        if not _is_int(self.cutaways) or self.cutaways < 0:
            raise ValueError(f"SynthConfig.cutaways must be an integer >= 0, got {self.cutaways!r}")
        if (
            not isinstance(self.cutaway_frames, tuple)
            or len(self.cutaway_frames) != 2
            or not all(_is_int(n) for n in self.cutaway_frames)
            or not 2 <= self.cutaway_frames[0] <= self.cutaway_frames[1]
        ):
            raise ValueError(
                "SynthConfig.cutaway_frames must be a tuple (min, max) of integers with "
                f"2 <= min <= max, got {self.cutaway_frames!r}"
            )
        needed = self.cutaways * (self.cutaway_frames[1] + _MIN_COURT_SHOT_FRAMES) + _MIN_COURT_SHOT_FRAMES
        if self.cutaways and self.frames < needed:
            raise ValueError(
                f"SynthConfig.frames must be >= {needed} for {self.cutaways} cut-aways of up to "
                f"{self.cutaway_frames[1]} frames (court-view shots of >= {_MIN_COURT_SHOT_FRAMES} "
                f"frames around each), got {self.frames}"
            )


@dataclass(frozen=True)
class SynthFrame:
    """One generated frame and its exact ball label.

    ``image`` is (H, W, 3) uint8 RGB. ``x_px``, ``y_px`` are the ball centre in source
    pixels (pixel centres at integer coordinates), NaN when not visible. ``true_x_px``,
    ``true_y_px`` are where the centre projects even when hidden or outside the frame.
    """

    index: int
    image: np.ndarray
    visible: bool
    x_px: float
    y_px: float
    ball_state: str
    """'visible', 'occluded' (a player covers the ball centre), 'out_of_frame', or
    'cutaway' (the frame shows a close-up or the crowd, not the court camera)."""
    true_x_px: float
    true_y_px: float
    shot: int = 0
    """Index of the shot (camera cut to camera cut) holding the frame, from 0."""
    shot_kind: str = "court"
    """'court' (the main court camera), 'closeup' or 'crowd'."""
    players: np.ndarray = field(default_factory=lambda: np.full((2, 4), np.nan))
    """(2, 4) float64 boxes (x0, y0, x1, y1) of the near and far player in source pixels,
    x1/y1 one past the last pixel: the tight box of the pixels drawn for the person (the
    racket left out). NaN rows on cut-aways and when the player is out of the frame."""

    @property
    def court_view(self) -> bool:
        """True when the frame comes from the main court camera."""
        return self.shot_kind == "court"


def generate(config: SynthConfig) -> Iterator[SynthFrame]:
    """Generate the clip's frames one at a time (the clip is never held in memory).

    Yields ``config.frames`` SynthFrames in order, each with an (H, W, 3) uint8 RGB image.
    """
    if not isinstance(config, SynthConfig):
        raise TypeError(f"generate needs a SynthConfig, got {type(config).__name__}")
    scene = _Scene(config)
    for index in range(config.frames):
        yield scene.render(index)


def write_clip(video_path: str | os.PathLike[str], config: SynthConfig) -> pd.DataFrame:
    """Write the clip as an H.264 MP4 and its labels as ``<same stem>.csv`` beside it.

    The CSV is TrackNet's ``Frame,Visibility,X,Y`` (rounded pixels, 0,0 when not
    visible). Returns the exact labels: a DataFrame with columns frame (int64),
    visible (int8, 0/1), x_px and y_px (float64, NaN when not visible). With
    ``config.truth`` it also writes ``<stem>.players.csv`` and ``<stem>.shots.csv``
    (see ``players_truth`` and ``shots_truth``).
    """
    video_path = Path(video_path)
    if video_path.parent and not video_path.parent.is_dir():
        raise FileNotFoundError(f"{video_path}: output folder {video_path.parent} does not exist")
    frames, visible, xs, ys = [], [], [], []
    truth: list[SynthFrame] = []
    with VideoWriter(video_path, config.width, config.height, config.fps, crf=config.crf) as writer:
        for frame in generate(config):
            writer.write(frame.image)
            frames.append(frame.index)
            visible.append(frame.visible)
            xs.append(frame.x_px)
            ys.append(frame.y_px)
            if config.truth:
                # Keep the labels only: a clip's images never stay in memory.
                truth.append(replace(frame, image=frame.image[:0, :0]))
    labels = pd.DataFrame(
        {
            "frame": np.asarray(frames, dtype=np.int64),
            "visible": np.asarray(visible, dtype=np.int8),
            "x_px": np.asarray(xs, dtype=np.float64),
            "y_px": np.asarray(ys, dtype=np.float64),
        }
    )
    write_tracknet_csv(labels, video_path.with_suffix(".csv"))
    if config.truth:
        players_truth(truth).to_csv(video_path.with_suffix(".players.csv"), index=False, na_rep="")
        shots_truth(truth).to_csv(video_path.with_suffix(".shots.csv"), index=False)
    return labels


def players_truth(frames: Sequence[SynthFrame]) -> pd.DataFrame:
    """One row per frame: frame, shot, court_view and the near/far players' exact boxes.

    Columns ``near_x0, near_y0, near_x1, near_y1, far_x0, ...`` are float64 source pixels
    (x1/y1 one past the last pixel), NaN when the player is not shown.
    """
    table = pd.DataFrame(
        {
            "frame": np.array([f.index for f in frames], dtype=np.int64),
            "shot": np.array([f.shot for f in frames], dtype=np.int64),
            "court_view": np.array([f.court_view for f in frames], dtype=bool),
        }
    )
    boxes = np.stack([f.players for f in frames]) if frames else np.zeros((0, 2, 4))
    for side_index, side in enumerate(SIDES):
        for k, name in enumerate(("x0", "y0", "x1", "y1")):
            table[f"{side}_{name}"] = boxes[:, side_index, k]
    return table


def shots_truth(frames: Sequence[SynthFrame]) -> pd.DataFrame:
    """One row per shot: shot, first_frame, last_frame (inclusive), court_view, kind."""
    rows: list[dict] = []
    for frame in frames:
        if not rows or rows[-1]["shot"] != frame.shot:
            rows.append({"shot": frame.shot, "first_frame": frame.index, "last_frame": frame.index,
                         "court_view": frame.court_view, "kind": frame.shot_kind})
        rows[-1]["last_frame"] = frame.index
    return pd.DataFrame(rows, columns=["shot", "first_frame", "last_frame", "court_view", "kind"])


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: write N synthetic clips (MP4 + TrackNet CSV) into a folder."""
    parser = argparse.ArgumentParser(
        prog="tracknet-synth",
        description="Write synthetic broadcast-style ball clips (MP4) with TrackNet CSV labels.",
    )
    defaults = SynthConfig()
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--clips", type=int, default=1, help="number of clips (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first clip; clip i uses seed+i")
    parser.add_argument("--width", type=int, default=defaults.width)
    parser.add_argument("--height", type=int, default=defaults.height)
    parser.add_argument("--fps", type=float, default=defaults.fps)
    parser.add_argument("--frames", type=int, default=defaults.frames, help="frames per clip")
    parser.add_argument("--court", default=defaults.court, choices=(*COURTS, "random"))
    parser.add_argument("--surface", default=defaults.surface,
                        choices=(*sorted({s for names in SURFACES.values() for s in names}), "random"),
                        help="tennis: hard, clay or grass; badminton: mat (default random)")
    parser.add_argument("--no-officials", dest="officials", action="store_false",
                        help="tennis: leave out the umpire, line judges and ball kids")
    parser.add_argument("--noise-std", type=float, default=defaults.noise_std)
    parser.add_argument("--jpeg-quality", type=int, default=None)
    parser.add_argument("--crf", type=int, default=defaults.crf)
    parser.add_argument("--cutaways", type=int, default=defaults.cutaways,
                        help="cut-away shots (close-ups, crowd) per clip (default 0)")
    parser.add_argument("--truth", action="store_true",
                        help="also write <stem>.players.csv and <stem>.shots.csv")
    args = parser.parse_args(argv)
    if args.clips < 1:
        parser.error(f"--clips must be >= 1, got {args.clips}")
    try:
        configs = [
            SynthConfig(
                width=args.width, height=args.height, fps=args.fps, frames=args.frames,
                seed=args.seed + i, court=args.court, surface=args.surface,
                officials=args.officials, noise_std=args.noise_std,
                jpeg_quality=args.jpeg_quality, crf=args.crf, cutaways=args.cutaways, truth=args.truth,
            )
            for i in range(args.clips)
        ]
    except ValueError as exc:
        parser.error(str(exc))
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(f"cannot create output folder {out}: {exc.strerror or exc}")
    for i, config in enumerate(configs):
        video_path = out / f"synth_{i:03d}.mp4"
        labels = write_clip(video_path, config)
        shown = int(labels["visible"].sum())
        print(
            f"wrote {video_path} and {video_path.with_suffix('.csv')}: {config.frames} frames, "
            f"{config.width}x{config.height} @ {config.fps:g} fps, seed {config.seed}, "
            f"ball visible in {shown}/{config.frames} frames"
        )
    sys.stdout.flush()


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


# --------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class _Court:
    """Court dimensions in metres. Origin at the court centre, X across, Y away, Z up."""

    name: str
    length_m: float
    width_m: float
    net_centre_m: float
    net_post_m: float
    net_bottom_m: float
    net_half_width_m: float
    line_width_m: float
    apron_side_m: float
    apron_end_m: float
    back_wall_m: float
    lines: tuple[tuple[tuple[float, float], tuple[float, float]], ...]


def _badminton() -> _Court:
    half_l, half_w, single = 6.7, 3.05, 2.59
    short, long_doubles = 1.98, 5.94
    lines = [
        ((-half_w, -half_l), (half_w, -half_l)),
        ((-half_w, half_l), (half_w, half_l)),
        ((-half_w, -half_l), (-half_w, half_l)),
        ((half_w, -half_l), (half_w, half_l)),
        ((-single, -half_l), (-single, half_l)),
        ((single, -half_l), (single, half_l)),
    ]
    for sign in (-1, 1):
        lines.append(((-half_w, sign * short), (half_w, sign * short)))
        lines.append(((-half_w, sign * long_doubles), (half_w, sign * long_doubles)))
        lines.append(((0.0, sign * short), (0.0, sign * half_l)))
    return _Court(
        name="badminton", length_m=13.4, width_m=6.1, net_centre_m=1.524, net_post_m=1.55,
        net_bottom_m=0.79, net_half_width_m=3.05, line_width_m=0.045, apron_side_m=1.6,
        apron_end_m=2.2, back_wall_m=4.5, lines=tuple(lines),
    )


def _tennis() -> _Court:
    half_l, half_w, single, service = 11.885, 5.485, 4.115, 6.40
    lines = [
        ((-half_w, -half_l), (half_w, -half_l)),
        ((-half_w, half_l), (half_w, half_l)),
        ((-half_w, -half_l), (-half_w, half_l)),
        ((half_w, -half_l), (half_w, half_l)),
        ((-single, -half_l), (-single, half_l)),
        ((single, -half_l), (single, half_l)),
        ((0.0, -service), (0.0, service)),
    ]
    for sign in (-1, 1):
        lines.append(((-single, sign * service), (single, sign * service)))
        lines.append(((0.0, sign * half_l), (0.0, sign * (half_l - 0.2))))
    return _Court(
        name="tennis", length_m=23.77, width_m=10.97, net_centre_m=0.914, net_post_m=1.07,
        net_bottom_m=0.0, net_half_width_m=6.4, line_width_m=0.06, apron_side_m=3.7,
        apron_end_m=6.0, back_wall_m=6.4, lines=tuple(lines),
    )


class _Camera:
    """Pinhole camera without roll; world (X, Y, Z) metres -> image (u, v) pixels."""

    def __init__(self, position: np.ndarray, target: np.ndarray) -> None:
        forward = target - position
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        self.position = position
        self.rotation = np.stack([right, down, forward])  # (3, 3) rows: camera axes
        self.focal_px = 1.0
        self.cx = 0.0
        self.cy = 0.0

    def fit_rows(self, near: np.ndarray, far: np.ndarray, near_row: float, far_row: float,
                 cx: float) -> None:
        """Choose focal length and principal row so `near`/`far` land on the given rows."""
        self.focal_px, self.cx, self.cy = 1.0, 0.0, 0.0
        v_near = self.project(near)[0][1]
        v_far = self.project(far)[0][1]
        self.focal_px = (near_row - far_row) / (v_near - v_far)
        self.cy = far_row - self.focal_px * v_far
        self.cx = cx

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., 3) world points -> ((..., 2) float64 image points, (...,) depth in metres)."""
        cam = (np.asarray(points, dtype=np.float64) - self.position) @ self.rotation.T
        depth = cam[..., 2]
        uv = np.stack(
            [self.focal_px * cam[..., 0] / depth + self.cx,
             self.focal_px * cam[..., 1] / depth + self.cy],
            axis=-1,
        )
        return uv, depth

    def height_at_row(self, x_m: float, y_m: float, row: float) -> float:
        """The height Z at which world point (x, y, Z) projects onto image row `row`."""
        rel = np.array([x_m, y_m, 0.0]) - self.position
        down, forward = self.rotation[1], self.rotation[2]
        k = (row - self.cy) / self.focal_px
        # f*(down.rel + down_z*z) / (fw.rel + fw_z*z) = row - cy, linear in z.
        return float((k * forward @ rel - down @ rel) / (down[2] - k * forward[2]))


# --------------------------------------------------------------------------- rally plan


@dataclass(frozen=True)
class _Segment:
    """Free flight from time `start_s` at `position` (3,) with `velocity` (3,)."""

    start_s: float
    position: np.ndarray
    velocity: np.ndarray
    drag_per_s: float = 0.0
    """Air drag as a linear slow-down rate k (dv/dt = -k v - g); 0 for none."""

    def at(self, t_s: float) -> np.ndarray:
        dt = t_s - self.start_s
        k = self.drag_per_s
        if k == 0.0:
            out = self.position + self.velocity * dt
            out[2] -= 0.5 * GRAVITY_MPS2 * dt * dt
            return out
        travel = _drag_travel(k, dt)
        out = self.position + self.velocity * travel
        out[2] -= GRAVITY_MPS2 * (dt - travel) / k
        return out

    def velocity_at(self, t_s: float) -> np.ndarray:
        decay = math.exp(-self.drag_per_s * (t_s - self.start_s))
        out = self.velocity * decay
        if self.drag_per_s == 0.0:
            out[2] -= GRAVITY_MPS2 * (t_s - self.start_s)
        else:
            out[2] -= GRAVITY_MPS2 / self.drag_per_s * (1.0 - decay)
        return out


def _drag_travel(k: float, dt: float) -> float:
    """Distance per unit launch speed covered in `dt` under linear drag k: (1 - e^-kt) / k."""
    return -math.expm1(-k * dt) / k


@dataclass(frozen=True)
class _Hit:
    """A player strikes the ball at `time_s` at world point `contact` (3,)."""

    time_s: float
    player: int
    contact: np.ndarray


@dataclass
class _PlayerTrack:
    """Smooth movement of one player's feet between keyframes (time_s, x_m, y_m)."""

    keys: list[tuple[float, float, float]] = field(default_factory=list)

    def at(self, t_s: float) -> tuple[float, float]:
        times = [k[0] for k in self.keys]
        i = bisect.bisect_right(times, t_s)
        if i == 0:
            return self.keys[0][1], self.keys[0][2]
        if i == len(self.keys):
            return self.keys[-1][1], self.keys[-1][2]
        t0, x0, y0 = self.keys[i - 1]
        t1, x1, y1 = self.keys[i]
        s = (t_s - t0) / (t1 - t0)
        s = s * s * (3.0 - 2.0 * s)
        return x0 + (x1 - x0) * s, y0 + (y1 - y0) * s


class _Rally:
    """The ball's flight, the hits and the players' movement for the whole clip.

    Player 0 is on the near side (Y < 0), player 1 on the far side (Y > 0). The clip
    opens with the ball flying from the far player towards the near one (a flat shot,
    taken at body height, so the near player's body hides it around the hit); the near
    player answers with a lob that leaves the top of the frame. After that shot types are
    random: lobs, drives and shots that bounce before they are taken.
    """

    # The clip starts this far (a fraction range) into the first flight.
    opening = (0.1, 0.45)

    def __init__(self, rng: np.random.Generator, court: _Court, camera: _Camera,
                 duration_s: float, ball_margin_px: float) -> None:
        self.court = court
        self.camera = camera
        self.rng = rng
        self.top_row = -ball_margin_px
        self.segments: list[_Segment] = []
        self.hits: list[_Hit] = []
        self.tracks = [_PlayerTrack(), _PlayerTrack()]
        self.handedness = [float(rng.choice([-1.0, 1.0])), float(rng.choice([-1.0, 1.0]))]
        self._plan(duration_s)
        # Start the clip part-way through the first flight.
        first_flight = self.hits[1].time_s - self.hits[0].time_s
        self.offset_s = float(rng.uniform(*self.opening)) * first_flight
        self._add_recoveries()

    def _plan(self, duration_s: float) -> None:
        """Plan hits and flights until `duration_s` (plus a margin) is covered."""
        rng, court = self.rng, self.court
        half_l = court.length_m / 2
        self.starts = [
            np.array([rng.uniform(-0.3, 0.3) * court.width_m, -rng.uniform(0.45, 0.8) * half_l]),
            np.array([rng.uniform(-0.3, 0.3) * court.width_m, rng.uniform(0.45, 0.8) * half_l]),
        ]
        contact = self._contact_for(1, self.starts[1], kind="drive")
        t_s = 0.0
        hitter = 1
        self._add_hit(t_s, hitter, contact)
        shot = 0
        while t_s < duration_s + 1.0:
            receiver = 1 - hitter
            if shot == 0:
                kind = str(rng.choice(["drive", "bounce"]))
            elif shot == 1:
                kind = "lob"
            else:
                kind = str(rng.choice(["lob", "drive", "bounce"], p=[0.15, 0.45, 0.4]))
            t_s, contact = self._shot(t_s, contact, receiver, kind)
            self._add_hit(t_s, receiver, contact)
            hitter = receiver
            shot += 1

    # Body position relative to the contact point: the near player takes the ball in
    # front of him (further from the camera), the far player in front of him too (nearer
    # the camera), so the near player's body hides the ball around his hits.
    def _body_from_contact(self, player: int, contact: np.ndarray, body_line: bool) -> np.ndarray:
        rng = self.rng
        if body_line:
            dx = rng.uniform(-0.1, 0.1)
        else:
            dx = self.handedness[player] * rng.uniform(0.3, 0.55)
        dy = rng.uniform(0.35, 0.5) if player == 0 else -rng.uniform(0.25, 0.45)
        return np.array([contact[0] - dx, contact[1] - dy])

    def _add_hit(self, t_s: float, player: int, contact: np.ndarray) -> None:
        body_line = player == 0 and contact[2] < 1.6
        body = self._body_from_contact(player, contact, body_line)
        self.hits.append(_Hit(t_s, player, contact.copy()))
        self.tracks[player].keys.append((t_s, float(body[0]), float(body[1])))

    def _add_recoveries(self) -> None:
        """Between two hits of the same player far apart in time, step back to a home spot."""
        half_l = self.court.length_m / 2
        for player, track in enumerate(self.tracks):
            sign = -1.0 if player == 0 else 1.0
            keys = list(track.keys)
            extra = []
            for (t0, _, _), (t1, _, _) in zip(keys, keys[1:]):
                if t1 - t0 > 1.2:
                    home_x = self.rng.uniform(-0.12, 0.12) * self.court.width_m
                    home_y = sign * self._home_depth(half_l)
                    extra.append(((t0 + t1) / 2, home_x, home_y))
            track.keys = sorted(keys + extra)

    def _home_depth(self, half_l: float) -> float:
        """Distance from the net of the spot a player recovers to between shots."""
        return self.rng.uniform(0.45, 0.6) * half_l

    def _contact_for(self, player: int, near_xy: np.ndarray, kind: str) -> np.ndarray:
        """A contact point for `player` reachable from `near_xy`, height by incoming shot."""
        rng, court = self.rng, self.court
        half_l, half_w = court.length_m / 2, court.width_m / 2
        sign = -1.0 if player == 0 else 1.0
        x = float(np.clip(near_xy[0] + rng.uniform(-0.35, 0.35) * court.width_m,
                          -0.9 * half_w, 0.9 * half_w))
        depth = float(np.clip(abs(near_xy[1]) + rng.uniform(-0.25, 0.25) * half_l,
                              0.35 * half_l, 0.95 * half_l))
        if kind == "lob":
            depth = float(rng.uniform(0.75, 1.0)) * half_l
            z = rng.uniform(2.1, 2.6)
        elif player == 0:
            z = rng.uniform(0.95, 1.25)
        else:
            z = rng.uniform(0.8, 1.8)
        return np.array([x, sign * depth, z])

    def _shot(self, t0: float, start: np.ndarray, receiver: int, kind: str) -> tuple[float, np.ndarray]:
        """Plan one flight from `start` to the receiver; returns (arrival time, contact)."""
        keys = self.tracks[receiver].keys
        previous_body = np.array(keys[-1][1:]) if keys else self.starts[receiver]
        if kind == "bounce":
            planned = self._bounce_shot(t0, start, receiver, previous_body)
            if planned is not None:
                return planned
            kind = "drive"
        end = self._contact_for(receiver, previous_body, kind)
        if kind == "lob":
            apex = self._lob_apex(start, end)
        else:
            apex = max(start[2], end[2]) + self.rng.uniform(0.3, 1.4)
        while True:
            velocity, flight_s = _ballistic(start, end, apex)
            segment = _Segment(t0, start.copy(), velocity)
            if kind == "lob" or self._clears_net(segment, flight_s):
                break
            apex += 0.25
        self.segments.append(segment)
        return t0 + flight_s, end

    def _lob_apex(self, start: np.ndarray, end: np.ndarray) -> float:
        """An apex height that takes the ball just above the top edge of the frame."""
        apex = 6.0
        for _ in range(4):
            rise = math.sqrt(2 * (apex - start[2]) / GRAVITY_MPS2)
            fall = math.sqrt(2 * (apex - end[2]) / GRAVITY_MPS2)
            s = rise / (rise + fall)
            xy = start[:2] + (end[:2] - start[:2]) * s
            needed = self.camera.height_at_row(float(xy[0]), float(xy[1]), self.top_row)
            apex = min(max(needed, end[2] + 1.0, start[2] + 1.0) + self.rng.uniform(0.1, 0.6), 30.0)
        return apex

    def _clears_net(self, segment: _Segment, flight_s: float) -> bool:
        vy = segment.velocity[1]
        if abs(vy) < 1e-9:
            return True
        t_net = -segment.position[1] / vy
        if not 0.0 <= t_net <= flight_s:
            return True
        return segment.at(segment.start_s + t_net)[2] > self.court.net_centre_m + 0.15

    def _bounce_shot(self, t0: float, start: np.ndarray, receiver: int,
                     previous_body: np.ndarray) -> tuple[float, np.ndarray] | None:
        """A flight that bounces once in the receiver's half before being taken."""
        rng, court = self.rng, self.court
        half_l = court.length_m / 2
        sign = -1.0 if receiver == 0 else 1.0
        bounce_xy = np.array([
            float(np.clip(previous_body[0] + rng.uniform(-0.3, 0.3) * court.width_m,
                          -0.45 * court.width_m, 0.45 * court.width_m)),
            sign * rng.uniform(0.4, 0.75) * half_l,
        ])
        restitution = rng.uniform(0.65, 0.78)
        z_take = rng.uniform(0.95, 1.25) if receiver == 0 else rng.uniform(0.7, 1.5)
        # After the bounce the ball rises to restitution**2 * apex: high enough to be taken.
        apex = max(start[2], court.net_centre_m + 0.4, z_take / (0.9 * restitution**2))
        apex += rng.uniform(0.2, 1.2)
        for _ in range(20):
            rise = math.sqrt(2 * (apex - start[2]) / GRAVITY_MPS2)
            fall = math.sqrt(2 * apex / GRAVITY_MPS2)
            bounce_s = rise + fall
            v_xy = (bounce_xy - start[:2]) / bounce_s
            first = _Segment(t0, start.copy(), np.array([v_xy[0], v_xy[1], rise * GRAVITY_MPS2]))
            if self._clears_net(first, bounce_s):
                break
            apex += 0.25
        vz_up = restitution * fall * GRAVITY_MPS2
        v_after = v_xy * rng.uniform(0.75, 0.85)
        root = math.sqrt(max(vz_up * vz_up - 2 * GRAVITY_MPS2 * z_take, 0.0))
        for after_s in ((vz_up + root) / GRAVITY_MPS2, (vz_up - root) / GRAVITY_MPS2):
            end_xy = bounce_xy + v_after * after_s
            inside = abs(end_xy[0]) <= court.width_m / 2 + 0.8 and abs(end_xy[1]) <= half_l + 1.0
            if inside and after_s > 0.05:
                break
        else:
            return None
        second = _Segment(t0 + bounce_s, np.array([bounce_xy[0], bounce_xy[1], 0.0]),
                          np.array([v_after[0], v_after[1], vz_up]))
        self.segments.extend([first, second])
        end = second.at(t0 + bounce_s + after_s)
        return t0 + bounce_s + after_s, end

    def ball_at(self, t_s: float) -> np.ndarray:
        """Ball centre (3,) in world metres at clip time `t_s`."""
        t_s += self.offset_s
        starts = [s.start_s for s in self.segments]
        i = max(bisect.bisect_right(starts, t_s) - 1, 0)
        return self.segments[i].at(t_s)

    def player_at(self, player: int, t_s: float) -> tuple[float, float]:
        return self.tracks[player].at(t_s + self.offset_s)

    def nearest_hit(self, player: int, t_s: float) -> _Hit:
        t_s += self.offset_s
        own = [h for h in self.hits if h.player == player]
        return min(own, key=lambda h: abs(h.time_s - t_s))


# Tennis ball in air: quadratic drag 0.5 rho Cd A v^2 / m ~ 0.02 v per second, taken as
# linear at groundstroke speed, so a 30 m/s drive slows to about 20 m/s by its bounce.
_TENNIS_DRAG_PER_S = 0.5
# Per surface: (share of horizontal speed kept, share of vertical speed returned) at a
# bounce. Clay is slow and high, grass fast and low.
_TENNIS_BOUNCE = {"hard": (0.68, 0.78), "clay": (0.6, 0.82), "grass": (0.78, 0.68)}
# Players take the ball at most this far behind the baseline and outside the doubles lines.
_TENNIS_REACH_BACK_M = 4.0
_TENNIS_REACH_SIDE_M = 2.5


class _TennisRally(_Rally):
    """A tennis rally: flat fast flights slowed by air drag, one bounce before most returns.

    About half the clips open with a serve by the far player (45-60 m/s into the near
    service box, started early in its flight); otherwise with a rally drive. Drives leave
    the racket at 20-35 m/s, bounce deep in the other half and are taken after the bounce,
    often 1-4 m behind the baseline or wide of the sidelines; some are volleyed before the
    bounce. As in badminton the second shot is often a lob, which can leave the frame.
    """

    opening = (0.0, 0.3)

    def __init__(self, rng: np.random.Generator, court: _Court, camera: _Camera,
                 duration_s: float, ball_margin_px: float, surface: str) -> None:
        self.keep_xy, self.restitution = _TENNIS_BOUNCE[surface]
        super().__init__(rng, court, camera, duration_s, ball_margin_px)

    def _plan(self, duration_s: float) -> None:
        rng, court = self.rng, self.court
        half_l = court.length_m / 2
        self.starts = [np.array([rng.uniform(-1.5, 1.5), sign * (half_l + rng.uniform(0.3, 2.5))])
                       for sign in (-1.0, 1.0)]
        serve = rng.random() < 0.5
        if serve:
            side = float(rng.choice([-1.0, 1.0]))
            contact = np.array([side * rng.uniform(0.3, 2.0), half_l + rng.uniform(0.1, 0.5),
                                rng.uniform(2.7, 3.0)])
        else:
            contact = np.array([*self.starts[1], rng.uniform(0.8, 1.2)])
        t_s, hitter = 0.0, 1
        self._add_hit(t_s, hitter, contact)
        shot = 0
        while t_s < duration_s + 1.0:
            if shot == 0 and serve:
                kind = "serve"
            elif shot == 1 and rng.random() < 0.5:
                kind = "lob"
            else:
                kind = str(rng.choice(["drive", "volley", "lob"], p=[0.82, 0.12, 0.06]))
            t_s, contact = self._tennis_shot(t_s, contact, 1 - hitter, kind)
            hitter = 1 - hitter
            self._add_hit(t_s, hitter, contact)
            shot += 1

    def _home_depth(self, half_l: float) -> float:
        # Baseliners recover to just behind the baseline's centre.
        return half_l + self.rng.uniform(0.3, 2.0)

    def _tennis_shot(self, t0: float, start: np.ndarray, receiver: int, kind: str
                     ) -> tuple[float, np.ndarray]:
        """Plan one shot to the receiver; returns (contact time, contact point)."""
        for attempt in range(30):
            # Flat shots from close to the net bounce too low to be taken: each failed try
            # slows the shot, which arcs it more and steepens the bounce.
            flight = self._flight_to_bounce(t0, start, receiver, kind, pace=0.93**attempt)
            if flight is None:
                continue
            first, bounce_s = flight
            if kind == "volley":
                taken = self._take(first, bounce_s, receiver, before_bounce=True)
                if taken is not None:
                    self.segments.append(first)
                    return taken
            bounce = first.at(t0 + bounce_s)
            bounce[2] = 0.0
            v = first.velocity_at(t0 + bounce_s)
            after = _Segment(t0 + bounce_s, bounce,
                             np.array([v[0] * self.keep_xy, v[1] * self.keep_xy, -v[2] * self.restitution]),
                             _TENNIS_DRAG_PER_S)
            taken = self._take(after, 2.5, receiver, before_bounce=False)
            if taken is not None:
                self.segments.extend([first, after])
                return taken
        raise RuntimeError(f"no playable tennis {kind} found from {start.tolist()}")

    def _flight_to_bounce(self, t0: float, start: np.ndarray, receiver: int, kind: str, pace: float
                          ) -> tuple[_Segment, float] | None:
        """A flight from `start` that clears the net and bounces in the receiver's half."""
        rng, court = self.rng, self.court
        half_l = court.length_m / 2
        sign = -1.0 if receiver == 0 else 1.0
        if kind == "serve":
            # Diagonally across into the service box, deep towards the service line.
            target = np.array([-np.sign(start[0]) * rng.uniform(0.3, 3.9), sign * rng.uniform(4.5, 6.3)])
            speed = rng.uniform(45.0, 60.0)
        else:
            target = np.array([rng.uniform(-0.9, 0.9) * 4.115, sign * rng.uniform(0.45, 0.95) * half_l])
            # Lobs peak 4-10 m up: the higher ones leave the top of the frame for a while.
            speed = rng.uniform(13.0, 17.0) if kind == "lob" else rng.uniform(20.0, 35.0)
        speed *= pace
        k = _TENNIS_DRAG_PER_S
        offset = target - start[:2]
        distance = float(np.linalg.norm(offset))
        # Slower shots need more arc: slow down until the ball clears the net.
        for _ in range(16):
            if distance * k >= 0.95 * speed:
                return None
            flight_s = -math.log1p(-distance * k / speed) / k
            travel = _drag_travel(k, flight_s)
            vz = (GRAVITY_MPS2 / k * (flight_s - travel) - start[2]) / travel
            segment = _Segment(t0, start.copy(), np.array([*(offset / distance * speed), vz]), k)
            if self._over_net(segment):
                return segment, flight_s
            speed *= 0.95
        return None

    def _over_net(self, segment: _Segment) -> bool:
        """Whether the ball passes above the net (with a margin) where it crosses it."""
        c = self.court
        # y(t) = y0 + vy * travel(t): the net (y = 0) is reached at travel = -y0 / vy.
        travel = -segment.position[1] / segment.velocity[1]
        k = segment.drag_per_s
        if travel <= 0 or travel * k >= 1:
            return False
        t_net = segment.start_s - math.log1p(-travel * k) / k
        x, _, z = segment.at(t_net)
        net_z = c.net_centre_m + (c.net_post_m - c.net_centre_m) * min(abs(x) / c.net_half_width_m, 1.0)
        return z > net_z + 0.03

    def _take(self, segment: _Segment, within_s: float, receiver: int, before_bounce: bool
              ) -> tuple[float, np.ndarray] | None:
        """Where and when the receiver takes the ball on `segment` within `within_s`."""
        c = self.court
        half_l, half_w = c.length_m / 2, c.width_m / 2
        times = segment.start_s + np.arange(0.05, within_s, 0.01)
        points = np.stack([segment.at(t) for t in times])
        depth = points[:, 1] * (-1.0 if receiver == 0 else 1.0)
        ok = ((np.abs(points[:, 0]) <= half_w + _TENNIS_REACH_SIDE_M)
              & (depth <= half_l + _TENNIS_REACH_BACK_M))
        if before_bounce:
            # A volley, taken near the net at a comfortable height.
            ok &= (depth >= 1.5) & (depth <= 7.0) & (points[:, 2] >= 0.4) & (points[:, 2] <= 2.0)
        else:
            ok &= (points[:, 2] >= 0.3) & (points[:, 2] <= 1.8)
            # Taken at the top of the bounce or falling, rarely on the rise.
            falling = ok & (np.gradient(points[:, 2]) <= 0)
            if falling.any() and self.rng.random() < 0.8:
                ok = falling
        candidates = np.nonzero(ok)[0]
        if len(candidates) == 0:
            return None
        i = int(self.rng.choice(candidates))
        return float(times[i]), points[i]


def _ballistic(start: np.ndarray, end: np.ndarray, apex: float) -> tuple[np.ndarray, float]:
    """Launch velocity (3,) and flight time for an arc from `start` to `end` via `apex`."""
    rise = math.sqrt(2 * max(apex - start[2], 0.0) / GRAVITY_MPS2)
    fall = math.sqrt(2 * max(apex - end[2], 0.0) / GRAVITY_MPS2)
    flight_s = max(rise + fall, 0.1)
    v_xy = (end[:2] - start[:2]) / flight_s
    return np.array([v_xy[0], v_xy[1], rise * GRAVITY_MPS2]), flight_s


# --------------------------------------------------------------------------- drawing

_SHIRTS = [
    (200, 30, 40), (30, 70, 200), (25, 25, 30), (240, 120, 20), (120, 45, 170),
    (20, 150, 140), (235, 235, 235), (230, 70, 140), (60, 180, 60),
]
_SHORTS = [(20, 20, 30), (30, 40, 90), (230, 230, 230), (60, 60, 60)]
_SKINS = [(235, 195, 160), (200, 150, 110), (140, 95, 65), (95, 65, 45)]
_OFFICIAL_SHIRTS = [(30, 40, 80), (190, 200, 215), (60, 90, 150), (35, 35, 40)]
_OFFICIAL_TROUSERS = [(225, 215, 190), (35, 40, 60), (90, 90, 95)]
_HAIR = [(30, 25, 20), (70, 45, 25), (150, 110, 60), (20, 20, 20)]


# Tennis hard courts: (court, run-off) colour pairs seen on the tours.
_HARD_COURTS = (
    ((50, 95, 165), (65, 130, 85)),  # blue in green, like the US Open
    ((40, 115, 180), (30, 75, 140)),  # light blue in darker blue, like the Australian Open
    ((65, 135, 85), (150, 75, 55)),  # green in red-brown
    ((100, 70, 140), (60, 125, 85)),  # purple in green
    ((100, 125, 145), (65, 120, 85)),  # grey-blue in green
    ((175, 60, 55), (45, 75, 145)),  # red in blue
    ((60, 130, 80), (50, 105, 70)),  # green in darker green
)
_CLAY_RGB = (185, 95, 60)
_GRASS_RGB = (80, 140, 60)
_WORN_GRASS_RGB = (170, 155, 105)
_LINE_RGB = (238, 238, 238)


def _jitter(rgb: tuple, rng: np.random.Generator, amount: float = 12.0) -> tuple[float, float, float]:
    return tuple(float(np.clip(v + rng.uniform(-amount, amount), 0, 255)) for v in rgb)


def _tennis_colours(surface: str, rng: np.random.Generator) -> tuple[tuple, tuple, tuple]:
    """(court, run-off, line) RGB for a tennis `surface`, jittered."""
    line = _jitter(_LINE_RGB, rng)
    if surface == "hard":
        court, run_off = _HARD_COURTS[int(rng.integers(len(_HARD_COURTS)))]
        return _jitter(court, rng), _jitter(run_off, rng), line
    # Clay and grass courts are one colour inside and outside the lines.
    ground = _jitter(_CLAY_RGB if surface == "clay" else _GRASS_RGB, rng)
    if surface == "clay":
        # Clay dust settles on the lines.
        line = tuple(v + (g - v) * rng.uniform(0.12, 0.25) for v, g in zip(line, ground))
    return ground, ground, line


@dataclass(frozen=True)
class _Look:
    """One player's colours."""

    shirt: tuple[int, int, int]
    shorts: tuple[int, int, int]
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    shoes: tuple[int, int, int]


class _Sprite:
    """A player's body as drawing primitives in image pixels (non-antialiased, exact)."""

    def __init__(self) -> None:
        self.ops: list[tuple] = []
        self.points: list[np.ndarray] = []
        self.equipment: set[int] = set()  # indices of ops that draw the racket, not the body

    def poly(self, pts: np.ndarray, colour: tuple[int, int, int]) -> None:
        self.ops.append(("poly", pts, colour))
        self.points.append(pts)

    def line(self, p0: np.ndarray, p1: np.ndarray, thickness: float, colour: tuple[int, int, int],
             equipment: bool = False) -> None:
        t = max(int(round(thickness)), 1)
        if equipment:
            self.equipment.add(len(self.ops))
        self.ops.append(("line", p0, p1, t, colour))
        self.points.append(np.stack([p0, p1]) + np.array([[-t, -t], [t, t]]))
        self.points.append(np.stack([p0, p1]) + np.array([[t, t], [-t, -t]]))

    def circle(self, centre: np.ndarray, radius: float, colour: tuple[int, int, int]) -> None:
        r = max(int(round(radius)), 1)
        self.ops.append(("circle", centre, r, colour))
        self.points.append(np.stack([centre - r, centre + r]))

    def ring(self, centre: np.ndarray, radius: float, thickness: float,
             colour: tuple[int, int, int], equipment: bool = False) -> None:
        r = max(int(round(radius)), 1)
        t = max(int(round(thickness)), 1)
        if equipment:
            self.equipment.add(len(self.ops))
        self.ops.append(("ring", centre, r, t, colour))
        self.points.append(np.stack([centre - r - t, centre + r + t]))

    def bbox(self, width: int, height: int) -> tuple[int, int, int, int] | None:
        """(x0, y0, x1, y1) clipped to the image, or None when off-screen."""
        pts = np.concatenate(self.points)
        x0 = max(int(math.floor(pts[:, 0].min())) - 2, 0)
        y0 = max(int(math.floor(pts[:, 1].min())) - 2, 0)
        x1 = min(int(math.ceil(pts[:, 0].max())) + 3, width)
        y1 = min(int(math.ceil(pts[:, 1].max())) + 3, height)
        if x1 <= x0 or y1 <= y0:
            return None
        return x0, y0, x1, y1

    def draw(self, target: np.ndarray, origin: tuple[int, int], mask_value: int | None = None,
             equipment: bool = True) -> None:
        """Draw onto `target` (an ROI whose top-left is `origin`); a mask if mask_value.

        `equipment=False` leaves the racket out (the person alone).
        """
        ox, oy = origin
        offset = np.array([ox, oy], dtype=np.float64)
        for i, op in enumerate(self.ops):
            if not equipment and i in self.equipment:
                continue
            colour = op[-1] if mask_value is None else mask_value
            if op[0] == "poly":
                pts = np.rint(op[1] - offset).astype(np.int32)
                cv2.fillPoly(target, [pts], colour, lineType=cv2.LINE_8)
            elif op[0] == "line":
                p0 = tuple(int(v) for v in np.rint(op[1] - offset))
                p1 = tuple(int(v) for v in np.rint(op[2] - offset))
                cv2.line(target, p0, p1, colour, op[3], lineType=cv2.LINE_8)
            else:
                c = tuple(int(v) for v in np.rint(op[1] - offset))
                thickness = -1 if op[0] == "circle" else op[3]
                cv2.circle(target, c, op[2], colour, thickness, lineType=cv2.LINE_8)


@dataclass(frozen=True)
class _Stamp:
    """A still sprite rendered once: its mask and colours in the box at `origin`."""

    origin: tuple[int, int]
    mask: np.ndarray  # (h, w) uint8, 1 where the sprite is drawn
    rgb: np.ndarray  # (h, w, 3) uint8

    @classmethod
    def of(cls, sprite: _Sprite, width: int, height: int) -> _Stamp | None:
        box = sprite.bbox(width, height)
        if box is None:
            return None
        x0, y0, x1, y1 = box
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        sprite.draw(mask, (x0, y0), mask_value=1)
        rgb = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
        sprite.draw(rgb, (x0, y0))
        return cls((x0, y0), mask, rgb)

    def draw(self, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """Paste onto `image`; returns the mask and its top-left, as _draw_player does."""
        x0, y0 = self.origin
        h, w = self.mask.shape
        np.copyto(image[y0:y0 + h, x0:x0 + w], self.rgb, where=self.mask[..., None].astype(bool))
        return self.mask, self.origin


@dataclass(frozen=True)
class _Cutaway:
    """Frames [start, stop) show a zoom into `crop` (x0, y0, x1, y1) or a panning crowd."""

    start: int
    stop: int
    kind: str
    crop: tuple[float, float, float, float] | None = None
    crowd: np.ndarray | None = None
    pan_px: int = 0

    def render(self, court_image: np.ndarray, index: int) -> np.ndarray:
        """The cut-away's (H, W, 3) uint8 frame, from the court camera's frame at `index`."""
        h, w = court_image.shape[:2]
        if self.kind == "closeup":
            x0, y0, x1, y1 = self.crop
            # An affine warp zooms with sub-pixel accuracy (a crop would round the window).
            scale_x, scale_y = w / (x1 - x0), h / (y1 - y0)
            matrix = np.array([[scale_x, 0.0, -x0 * scale_x], [0.0, scale_y, -y0 * scale_y]])
            return cv2.warpAffine(court_image, matrix, (w, h), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE)
        offset = (index - self.start) * self.pan_px
        return np.ascontiguousarray(self.crowd[:, offset:offset + w])


class _Scene:
    """Everything fixed for one clip (background, camera, rally) and the per-frame renderer."""

    def __init__(self, config: SynthConfig) -> None:
        self.config = config
        rng = np.random.default_rng(config.seed)
        h = config.height
        court_name = config.court if config.court != "random" else str(rng.choice(COURTS))
        self.court = _badminton() if court_name == "badminton" else _tennis()
        # The surface, its colours and the officials draw from their own stream, so badminton
        # clips (which use none of them) are the same as before they existed.
        self.style_rng = np.random.default_rng([config.seed, 2])
        self.surface = (config.surface if config.surface != "random"
                        else str(self.style_rng.choice(SURFACES[court_name])))
        self.camera = self._make_camera(rng)
        radius = config.ball_radius_px
        if radius is None:
            radius = 3.5 if court_name == "badminton" else 2.3
        self.base_radius_px = radius * h / _REFERENCE_HEIGHT_PX
        self.reference_depth = float(self.camera.project(np.zeros(3))[1])
        if config.ball_rgb is not None:
            self.ball_rgb = np.array(config.ball_rgb, dtype=np.float32)
        elif self.court.name == "badminton":
            self.ball_rgb = np.array(
                [rng.integers(235, 256), rng.integers(235, 256), rng.integers(205, 246)], np.float32)
        else:
            # Optic yellow-green, as tennis balls are.
            self.ball_rgb = np.array(
                [rng.integers(200, 236), rng.integers(230, 256), rng.integers(40, 110)], np.float32)
        duration_s = config.frames / config.fps
        margin_px = 3 * max(self.base_radius_px, _MIN_BALL_RADIUS_PX)
        if court_name == "badminton":
            self.rally = _Rally(rng, self.court, self.camera, duration_s, ball_margin_px=margin_px)
        else:
            self.rally = _TennisRally(rng, self.court, self.camera, duration_s, margin_px, self.surface)
        shirts = rng.choice(len(_SHIRTS), size=2, replace=False)
        self.looks = [
            _Look(
                shirt=_SHIRTS[int(shirts[p])],
                shorts=_SHORTS[int(rng.integers(len(_SHORTS)))],
                skin=_SKINS[int(rng.integers(len(_SKINS)))],
                hair=_HAIR[int(rng.integers(len(_HAIR)))],
                shoes=(240, 240, 240) if rng.random() < 0.7 else (40, 40, 40),
            )
            for p in range(2)
        ]
        self.background, self.net = self._make_background(rng)
        # Officials stand still: their sprites are built once, drawn each frame in depth order.
        self.officials: list[tuple[float, None, _Stamp]] = []
        if config.officials and court_name == "tennis":
            self.officials = self._make_officials(self.style_rng)
        self.noise = self._make_noise(rng)
        self.frame_rng = np.random.default_rng(rng.integers(2**63))
        self.walked_m = [0.0, 0.0]
        self.last_xy: list[tuple[float, float] | None] = [None, None]
        # Cut-aways draw from their own stream, so clips without them are unchanged.
        self.cutaways = self._plan_cutaways(np.random.default_rng([config.seed, 1]))

    def _plan_cutaways(self, rng: np.random.Generator) -> list[_Cutaway]:
        """Place `cutaways` shots between court-view stretches of >= _MIN_COURT_SHOT_FRAMES."""
        cfg = self.config
        n = cfg.cutaways
        if n == 0:
            return []
        low, high = cfg.cutaway_frames
        lengths = [int(v) for v in rng.integers(low, high + 1, size=n)]
        spare = cfg.frames - sum(lengths) - (n + 1) * _MIN_COURT_SHOT_FRAMES
        # Share the spare court-view frames among the n + 1 court stretches at random.
        cuts = np.sort(rng.integers(0, spare + 1, size=n))
        extra = np.diff(np.concatenate([[0], cuts, [spare]]))
        planned, start = [], 0
        for i, length in enumerate(lengths):
            start += _MIN_COURT_SHOT_FRAMES + int(extra[i])
            kind = "closeup" if i % 2 == 0 else "crowd"
            planned.append(self._make_cutaway(rng, kind, start, length))
            start += length
        return planned

    def _make_cutaway(self, rng: np.random.Generator, kind: str, start: int, length: int) -> _Cutaway:
        w, h = self.config.width, self.config.height
        if kind == "closeup":
            # Zoom on a player's body as it is when the cut-away starts.
            player = int(rng.integers(2))
            x, y = self.rally.player_at(player, start / self.config.fps)
            centre = self.camera.project(np.array([x, y, 0.9]))[0]
            half_w, half_h = w / _CLOSEUP_ZOOM / 2, h / _CLOSEUP_ZOOM / 2
            cx = float(np.clip(centre[0], half_w, w - half_w))
            cy = float(np.clip(centre[1], half_h, h - half_h))
            return _Cutaway(start, start + length, kind, crop=(cx - half_w, cy - half_h, cx + half_w, cy + half_h))
        # The crowd, panning slowly sideways: a texture wider than the frame.
        pan_px = max(int(round(0.004 * w)), 1)
        texture = self._crowd(rng, h, w + pan_px * length)
        crowd = np.clip(np.rint(texture * rng.uniform(1.3, 1.8)), 0, 255).astype(np.uint8)
        return _Cutaway(start, start + length, kind, crowd=crowd, pan_px=pan_px)

    def _cutaway_at(self, index: int) -> tuple[int, _Cutaway | None]:
        """(shot index, the cut-away showing at frame `index` or None)."""
        for i, cutaway in enumerate(self.cutaways):
            if index < cutaway.start:
                return 2 * i, None
            if index < cutaway.stop:
                return 2 * i + 1, cutaway
        return 2 * len(self.cutaways), None

    # ---------------------------------------------------------------- static parts

    def _make_camera(self, rng: np.random.Generator) -> _Camera:
        c, h, w = self.court, self.config.height, self.config.width
        half_l = c.length_m / 2
        if c.name == "badminton":
            back, up = rng.uniform(17, 22), rng.uniform(5.5, 7.0)
            far_row, near_row = rng.uniform(0.50, 0.56), rng.uniform(0.89, 0.93)
        else:
            back, up = rng.uniform(12, 17), rng.uniform(7.0, 9.0)
            far_row, near_row = rng.uniform(0.28, 0.34), rng.uniform(0.85, 0.9)
        pan = rng.uniform(-0.3, 0.3)
        camera = _Camera(np.array([0.0, -half_l - back, up]), np.array([pan, 0.0, 0.0]))
        camera.fit_rows(np.array([0.0, -half_l, 0.0]), np.array([0.0, half_l, 0.0]),
                        near_row * h, far_row * h, cx=w / 2 + rng.uniform(-0.02, 0.02) * w)
        return camera

    def _ground_poly(self, x0: float, x1: float, y0: float, y1: float, z: float = 0.0) -> np.ndarray:
        corners = np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]])
        return self.camera.project(corners)[0]

    def _make_background(self, rng: np.random.Generator) -> tuple[np.ndarray, tuple]:
        cfg, c = self.config, self.court
        w, h = cfg.width, cfg.height
        half_l, half_w = c.length_m / 2, c.width_m / 2
        if c.name == "badminton":
            court_rgb, apron_rgb = [((45, 160, 120), (60, 175, 140)), ((40, 95, 165), (55, 115, 180)),
                                    ((55, 140, 75), (70, 155, 90))][int(rng.integers(3))]
            floor_rgb = [(45, 45, 52), (70, 45, 40), (35, 50, 70)][int(rng.integers(3))]
            court_rgb, apron_rgb, floor_rgb = (_jitter(rgb, rng) for rgb in (court_rgb, apron_rgb, floor_rgb))
            line_rgb = _jitter(_LINE_RGB, rng)
        else:
            court_rgb, apron_rgb, line_rgb = _tennis_colours(self.surface, self.style_rng)
            floor_rgb = apron_rgb
        self.court_rgb = court_rgb

        img = np.empty((h, w, 3), np.float32)
        img[:] = floor_rgb
        shift = 4
        scale = float(1 << shift)

        def fill(poly: np.ndarray, rgb: tuple) -> None:
            cv2.fillPoly(img, [np.rint(poly * scale).astype(np.int32)], rgb, cv2.LINE_AA, shift)

        fill(self._ground_poly(-half_w - c.apron_side_m, half_w + c.apron_side_m,
                               -half_l - c.apron_end_m, half_l + c.apron_end_m), apron_rgb)
        fill(self._ground_poly(-half_w, half_w, -half_l, half_l), court_rgb)
        if self.surface == "grass":
            self._paint_grass(fill, court_rgb)
        lw = c.line_width_m / 2
        for (ax, ay), (bx, by) in c.lines:
            if ax == bx:
                fill(self._ground_poly(ax - lw, ax + lw, min(ay, by) - lw, max(ay, by) + lw), line_rgb)
            else:
                fill(self._ground_poly(min(ax, bx) - lw, max(ax, bx) + lw, ay - lw, ay + lw), line_rgb)
        if c.name == "tennis":
            # Real floors are not flat colour: blotchy clay, uneven grass, a faint sheen on
            # hard courts. Low-frequency grain, so it reads as floor and never as a ball.
            amount = {"hard": 3.0, "clay": 9.0, "grass": 6.0}[self.surface]
            grain = self.style_rng.standard_normal((h // 12 + 2, w // 12 + 2, 1)).astype(np.float32)
            img += cv2.resize(grain, (w, h), interpolation=cv2.INTER_LINEAR)[..., None] * amount

        # Back wall: ad boards, then a dark arena with a crowd band above them.
        wall_y = half_l + c.back_wall_m
        board_bottom = float(self.camera.project(np.array([0.0, wall_y, 0.0]))[0][1])
        board_top = float(self.camera.project(np.array([0.0, wall_y, 1.0]))[0][1])
        b0, b1 = int(np.clip(round(board_top), 0, h)), int(np.clip(round(board_bottom), 0, h))
        if b1 > 0:
            arena = rng.uniform(18, 35)
            img[:b1] = (arena, arena, arena * 1.1)
            crowd_rows = int(b0 * rng.uniform(0.75, 0.95))
            if crowd_rows > 0:
                img[:crowd_rows] = self._crowd(rng, crowd_rows, w)
            x = 0.0
            board_h = max(b1 - b0, 1)
            while x < w and b1 > b0:
                seg = rng.uniform(0.08, 0.25) * w
                base = rng.integers(20, 230, size=3).astype(np.float32)
                xs, xe = int(x), int(min(x + seg, w))
                img[b0:b1, xs:xe] = base
                for _ in range(int(rng.integers(1, 4))):
                    lx = int(rng.uniform(xs, max(xe - 2, xs + 1)))
                    lwid = int(rng.uniform(0.1, 0.4) * (xe - xs))
                    ly0 = b0 + int(board_h * rng.uniform(0.2, 0.4))
                    ly1 = b0 + int(board_h * rng.uniform(0.6, 0.8))
                    img[ly0:ly1, lx:min(lx + lwid, xe)] = 255 - base * 0.3
                x += seg

        # Broadcast lighting: brighter over the court, darker towards the corners.
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        centre = self.camera.project(np.zeros(3))[0]
        light = 1.08 - 0.28 * (((xx - centre[0]) / w) ** 2 + ((yy - centre[1]) / h) ** 2)
        img *= light[..., None]

        net = self._make_net(rng)
        if net is not None:
            (x0, y0, x1, y1), net_rgb, net_alpha = net
            roi = img[y0:y1, x0:x1]
            roi[:] = roi * (1 - net_alpha[..., None]) + net_rgb * net_alpha[..., None]
        return np.clip(np.rint(img), 0, 255).astype(np.uint8), net

    def _paint_grass(self, fill, grass_rgb: tuple) -> None:
        """Mowing stripes across the whole lawn and worn patches where players stand most."""
        c, rng = self.court, self.style_rng
        half_l, half_w = c.length_m / 2, c.width_m / 2
        outer_x, outer_y = half_w + c.apron_side_m, half_l + c.apron_end_m
        light = tuple(min(v * 1.07, 255.0) for v in grass_rgb)
        stripe = rng.uniform(2.0, 3.0)
        for y0 in np.arange(-outer_y, outer_y, 2 * stripe):
            fill(self._ground_poly(-outer_x, outer_x, y0, min(y0 + stripe, outer_y)), light)
        worn = _jitter(_WORN_GRASS_RGB, rng)
        for sign in (-1.0, 1.0):
            # Baseline rallies wear the grass bare a metre or two either side of the baseline.
            for _ in range(int(rng.integers(2, 4))):
                centre = (rng.uniform(-2.5, 2.5), sign * (half_l + rng.uniform(-1.5, 1.5)))
                radii = (rng.uniform(0.8, 2.0), rng.uniform(0.5, 1.1))
                mix = rng.uniform(0.35, 0.7)
                fill(self._ground_ellipse(centre, radii),
                     tuple(g + (t - g) * mix for g, t in zip(grass_rgb, worn)))

    def _ground_ellipse(self, centre: tuple[float, float], radii: tuple[float, float]) -> np.ndarray:
        angles = np.linspace(0, 2 * math.pi, 32, endpoint=False)
        pts = np.stack([centre[0] + radii[0] * np.cos(angles), centre[1] + radii[1] * np.sin(angles),
                        np.zeros_like(angles)], axis=1)
        return self.camera.project(pts)[0]

    def _crowd(self, rng: np.random.Generator, rows: int, w: int) -> np.ndarray:
        """(rows, w, 3) float32 texture of seated spectators: dim, many colours."""
        cell = max(int(round(self.config.height / 90)), 1)
        grid = rng.uniform(0, 1, size=(rows // cell + 2, w // cell + 2, 3)).astype(np.float32)
        palette = np.array([[200, 60, 50], [40, 60, 150], [220, 220, 220], [30, 30, 30],
                            [230, 190, 60], [90, 140, 90], [180, 140, 110]], np.float32)
        pick = rng.integers(len(palette), size=grid.shape[:2])
        colours = palette[pick] * (0.3 + 0.5 * grid[..., :1])
        texture = cv2.resize(colours, (w, rows), interpolation=cv2.INTER_NEAREST)
        texture = cv2.GaussianBlur(texture, (0, 0), max(cell * 0.35, 0.5))
        for row in range(int(rng.uniform(0.1, 0.3) * rows), rows, max(rows // 3, 4)):
            texture[row:row + max(cell // 2, 1)] *= 0.4
        grey = texture.mean(axis=2, keepdims=True)
        return (0.6 * texture + 0.4 * grey) * rng.uniform(0.5, 0.8)

    def _make_net(self, rng: np.random.Generator) -> tuple | None:
        """The net as an ROI (x0, y0, x1, y1), its colour (h, w, 3) and alpha (h, w)."""
        c, w, h = self.court, self.config.width, self.config.height
        alpha = np.zeros((h, w), np.float32)
        colour = np.zeros((h, w, 3), np.float32)
        shift, scale = 4, 16.0
        hw = c.net_half_width_m
        mesh = np.array([[-hw, 0, c.net_bottom_m], [hw, 0, c.net_bottom_m],
                         [hw, 0, c.net_post_m], [0, 0, c.net_centre_m], [-hw, 0, c.net_post_m]])
        mesh_uv = self.camera.project(mesh)[0]
        cv2.fillPoly(alpha, [np.rint(mesh_uv * scale).astype(np.int32)], 0.22, cv2.LINE_AA, shift)
        dark = (20.0, 22.0, 25.0)
        cv2.fillPoly(colour, [np.rint(mesh_uv * scale).astype(np.int32)], dark, cv2.LINE_AA, shift)
        thin = max(int(round(h / 720)), 1)
        for x in np.arange(-hw, hw, 0.2):
            top = c.net_centre_m + (c.net_post_m - c.net_centre_m) * abs(x) / hw
            (p0, p1), _ = self.camera.project(np.array([[x, 0, c.net_bottom_m], [x, 0, top]]))
            cv2.line(alpha, _pt(p0), _pt(p1), 0.5, thin, cv2.LINE_AA)
        (p0, p1), _ = self.camera.project(np.array([[-hw, 0, c.net_bottom_m], [hw, 0, c.net_bottom_m]]))
        cv2.line(alpha, _pt(p0), _pt(p1), 0.6, thin, cv2.LINE_AA)
        tape = np.array([[-hw, 0, c.net_post_m], [0, 0, c.net_centre_m], [hw, 0, c.net_post_m],
                         [hw, 0, c.net_post_m - 0.07], [0, 0, c.net_centre_m - 0.07],
                         [-hw, 0, c.net_post_m - 0.07]])
        tape_uv = np.rint(self.camera.project(tape)[0] * scale).astype(np.int32)
        for poly in (tape_uv[[0, 1, 4, 5]], tape_uv[[1, 2, 3, 4]]):
            cv2.fillPoly(alpha, [poly], 1.0, cv2.LINE_AA, shift)
            cv2.fillPoly(colour, [poly], (240.0, 240.0, 240.0), cv2.LINE_AA, shift)
        post_rgb = tuple(float(v) for v in rng.integers(20, 200, size=3))
        for x in (-hw, hw):
            (p0, p1), depth = self.camera.project(np.array([[x, 0, 0], [x, 0, c.net_post_m]]))
            thick = max(int(round(0.05 * self.camera.focal_px / depth[0])), 1)
            cv2.line(alpha, _pt(p0), _pt(p1), 1.0, thick, cv2.LINE_AA)
            cv2.line(colour, _pt(p0), _pt(p1), post_rgb, thick, cv2.LINE_AA)
        # Mesh pixels keep the dark colour wherever no tape or post was drawn.
        unset = colour.sum(axis=2) == 0
        colour[unset] = dark
        ys, xs = np.nonzero(alpha > 0)
        if len(xs) == 0:
            return None
        x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
        return (int(x0), int(y0), int(x1), int(y1)), colour[y0:y1, x0:x1].copy(), alpha[y0:y1, x0:x1].copy()

    def _make_noise(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
        """A bank of gaussian noise, split into its positive and negative parts (uint8)."""
        std = self.config.noise_std
        if std == 0:
            return None
        h, w = self.config.height + _NOISE_PAD_PX, self.config.width + _NOISE_PAD_PX
        noise = rng.standard_normal((h, w, 3), dtype=np.float32) * std
        positive = np.clip(np.rint(noise), 0, 255).astype(np.uint8)
        negative = np.clip(np.rint(-noise), 0, 255).astype(np.uint8)
        return positive, negative

    # ---------------------------------------------------------------- per frame

    def render(self, index: int) -> SynthFrame:
        cfg = self.config
        w, h = cfg.width, cfg.height
        t_s = index / cfg.fps
        dt_s = 1.0 / cfg.fps
        image = self.background.copy()  # (H, W, 3) uint8 RGB

        ball = self.rally.ball_at(t_s)
        ball_prev = self.rally.ball_at(t_s - dt_s)
        (ball_uv, prev_uv), (ball_depth, _) = self.camera.project(np.stack([ball, ball_prev]))
        radius = max(
            self.base_radius_px * float(np.clip(self.reference_depth / ball_depth, 0.6, 1.6)),
            _MIN_BALL_RADIUS_PX,
        )

        shot, cutaway = self._cutaway_at(index)
        boxes = np.full((2, 4), np.nan)
        sprites = []
        for player in range(2):
            x, y = self.rally.player_at(player, t_s)
            self._walk(player, x, y)
            sprite, depth = self._player_sprite(player, x, y, t_s)
            self._shadow(image, np.array([x, y, 0.0]), 0.45, 0.55)
            sprites.append((depth, player, sprite))
        if ball[2] < 4.0:
            self._shadow(image, np.array([ball[0], ball[1], 0.0]), 0.05 + 0.01 * ball[2], 0.35)

        # Paint far to near: objects behind the ball first, then the ball, then the rest.
        # Officials (player None) are drawn and hide the ball like players, without a box.
        sprites += self.officials
        behind = [s for s in sprites if s[0] >= ball_depth]
        in_front = [s for s in sprites if s[0] < ball_depth]
        for _, player, sprite in sorted(behind, key=lambda s: -s[0]):
            _, person = self._draw(image, player, sprite)
            if player is not None:
                boxes[player] = person
        self._draw_ball(image, ball_uv, prev_uv, radius)
        u, v = float(ball_uv[0]), float(ball_uv[1])
        col, row = math.floor(u + 0.5), math.floor(v + 0.5)
        in_frame = 0 <= col < w and 0 <= row < h
        occluded = False
        for _, player, sprite in sorted(in_front, key=lambda s: -s[0]):
            box, person = self._draw(image, player, sprite)
            if player is not None:
                boxes[player] = person
            if in_frame and box is not None and not occluded:
                mask, (x0, y0) = box
                if 0 <= row - y0 < mask.shape[0] and 0 <= col - x0 < mask.shape[1]:
                    occluded = bool(mask[row - y0, col - x0])

        if cutaway is not None:
            image = cutaway.render(image, index)
            boxes[:] = np.nan
        image = self._degrade(image)
        if cutaway is not None:
            state = "cutaway"
        else:
            state = "out_of_frame" if not in_frame else ("occluded" if occluded else "visible")
        visible = state == "visible"
        return SynthFrame(
            index=index,
            image=image,
            visible=visible,
            x_px=u if visible else math.nan,
            y_px=v if visible else math.nan,
            ball_state=state,
            true_x_px=u,
            true_y_px=v,
            shot=shot,
            shot_kind="court" if cutaway is None else cutaway.kind,
            players=boxes,
        )

    def _walk(self, player: int, x: float, y: float) -> None:
        last = self.last_xy[player]
        if last is not None:
            self.walked_m[player] += math.hypot(x - last[0], y - last[1])
        self.last_xy[player] = (x, y)

    def _player_sprite(self, player: int, x: float, y: float, t_s: float) -> tuple[_Sprite, float]:
        """Build the player's body in pixels; returns it and its camera depth (metres)."""
        look = self.looks[player]
        pts = np.array([[x, y, 0.0], [x, y, _PLAYER_HEIGHT_M], [x + 0.5, y, 0.0]])
        uv, depth = self.camera.project(pts)
        feet = uv[0]
        sv = (uv[0][1] - uv[1][1]) / _PLAYER_HEIGHT_M  # pixels per metre, vertical
        sh = (uv[2][0] - uv[0][0]) / 0.5  # pixels per metre, horizontal

        def at(lateral: float, height: float) -> np.ndarray:
            return np.array([feet[0] + lateral * sh, feet[1] - height * sv])

        sprite = _Sprite()
        phase = self.walked_m[player] / 0.9 * 2 * math.pi
        swing = 0.16 * math.sin(phase)
        lift = [0.06 * max(math.sin(phase), 0.0), 0.06 * max(-math.sin(phase), 0.0)]
        leg = 0.13 * sh
        for side, sgn in ((0, -1.0), (1, 1.0)):
            foot_lat = sgn * 0.13 + (swing if side == 0 else -swing)
            knee = at(sgn * 0.12 + (swing if side == 0 else -swing) * 0.5, 0.45 + lift[side])
            hip = at(sgn * 0.1, 0.85)
            foot = at(foot_lat, 0.04 + lift[side])
            sprite.line(hip, knee, leg, look.skin)
            sprite.line(knee, foot, leg * 0.85, look.skin)
            sprite.line(foot, at(foot_lat + sgn * 0.05, lift[side]), leg, look.shoes)
        sprite.poly(np.stack([at(-0.2, 0.88), at(0.2, 0.88), at(0.2, 0.62), at(-0.2, 0.62)]),
                    look.shorts)
        sprite.poly(np.stack([at(-0.22, 1.45), at(0.22, 1.45), at(0.18, 0.84), at(-0.18, 0.84)]),
                    look.shirt)
        sprite.line(at(0, 1.45), at(0, 1.52), 0.09 * sh, look.skin)
        head_r = 0.11 * sh
        if player == 0:
            sprite.circle(at(0, 1.62), head_r, look.hair)  # seen from behind
        else:
            sprite.circle(at(0, 1.63), head_r, look.hair)
            sprite.circle(at(0, 1.6), head_r * 0.9, look.skin)

        # Arms: the racket arm reaches for the ball around this player's hits.
        hand_side = self.rally.handedness[player]
        hit = self.rally.nearest_hit(player, t_s)
        reach = math.exp(-(((t_s + self.rally.offset_s) - hit.time_s) / 0.18) ** 2)
        contact = np.array([hit.contact[0] - x, hit.contact[2]])
        rest_hand = np.array([hand_side * 0.32, 1.0])
        rest_head = np.array([hand_side * 0.45, 1.45])
        to_contact = contact - np.array([hand_side * 0.22, 1.4])
        norm = max(float(np.linalg.norm(to_contact)), 1e-6)
        hit_hand = np.array([hand_side * 0.22, 1.4]) + to_contact / norm * min(0.6, norm)
        hand = rest_hand + (hit_hand - rest_hand) * reach
        head = rest_head + (contact - rest_head) * reach
        arm = 0.08 * sh
        sprite.line(at(hand_side * 0.2, 1.4), at(*hand), arm, look.skin)
        other = -hand_side
        sprite.line(at(other * 0.2, 1.4), at(other * 0.3, 0.95 + 0.1 * math.sin(phase)), arm, look.skin)
        racket = (40, 40, 45)
        shaft = head - hand
        neck = head - shaft / max(float(np.linalg.norm(shaft)), 1e-6) * 0.12
        sprite.line(at(*hand), at(*neck), max(0.03 * sh, 1.0), racket, equipment=True)
        sprite.ring(at(*head), 0.12 * sh, max(0.025 * sh, 1.0), racket, equipment=True)
        return sprite, float(depth[1] * 0.5 + depth[0] * 0.5)

    def _draw(self, image: np.ndarray, player: int | None, sprite: _Sprite | _Stamp
              ) -> tuple[tuple[np.ndarray, tuple[int, int]] | None, np.ndarray | None]:
        """Draw a player's sprite (see _draw_player) or an official's stamp (no box)."""
        if isinstance(sprite, _Stamp):
            return sprite.draw(image), None
        return self._draw_player(image, player, sprite)

    def _make_officials(self, rng: np.random.Generator) -> list[tuple[float, None, _Stamp]]:
        """An umpire's tall chair by a net post, line judges and ball kids on the run-off.

        All stand where the players do not go (beyond the net posts, at the back wall,
        at the outer edge of the side run-off) and cast a shadow baked into the background.
        """
        c = self.court
        half_l, half_w = c.length_m / 2, c.width_m / 2
        judge = _Look(shirt=_OFFICIAL_SHIRTS[int(rng.integers(len(_OFFICIAL_SHIRTS)))],
                      shorts=_OFFICIAL_TROUSERS[int(rng.integers(len(_OFFICIAL_TROUSERS)))],
                      skin=_SKINS[int(rng.integers(len(_SKINS)))], hair=_HAIR[int(rng.integers(len(_HAIR)))],
                      shoes=(40, 40, 40))
        kid = replace(judge, shirt=_SHIRTS[int(rng.integers(len(_SHIRTS)))], shorts=_SHORTS[0],
                      skin=_SKINS[int(rng.integers(len(_SKINS)))], shoes=(240, 240, 240))
        chair_side = float(rng.choice([-1.0, 1.0]))
        back = half_l + c.apron_end_m - 0.5
        side = half_w + c.apron_side_m - 0.4
        people = [
            (chair_side * (c.net_half_width_m + 0.9), 0.0, "umpire", judge),
            (-chair_side * (c.net_half_width_m + 0.6), rng.uniform(-0.8, -0.3), "crouch", kid),
            (-chair_side * (c.net_half_width_m + 0.6), rng.uniform(0.3, 0.8), "crouch", kid),
            (rng.uniform(2.5, 5.0), back, "stand", judge),
            (-rng.uniform(2.5, 5.0), back, "stand", judge),
            (float(rng.choice([-1.0, 1.0])) * (half_w + rng.uniform(1.0, 2.5)), back + 0.2, "crouch", kid),
            (side * float(rng.choice([-1.0, 1.0])), rng.uniform(3.0, 9.0), "sit", judge),
            (side * float(rng.choice([-1.0, 1.0])), -rng.uniform(4.0, 9.0), "sit", judge),
        ]
        officials = []
        for x, y, pose, look in people:
            sprite, depth = self._official_sprite(x, y, pose, look)
            self._shadow(self.background, np.array([x, y, 0.0]), 0.4, 0.45)
            stamp = _Stamp.of(sprite, self.config.width, self.config.height)
            if stamp is not None:
                officials.append((depth, None, stamp))
        return officials

    def _official_sprite(self, x: float, y: float, pose: str, look: _Look) -> tuple[_Sprite, float]:
        """A still person at (x, y): 'stand', 'sit' (on a chair), 'crouch' or 'umpire'
        (seated on a tall chair); returns the sprite and its camera depth (metres)."""
        uv, depth = self.camera.project(np.array([[x, y, 0.0], [x, y, 1.0], [x + 0.5, y, 0.0]]))
        feet, sv, sh = uv[0], uv[0][1] - uv[1][1], (uv[2][0] - uv[0][0]) / 0.5

        def at(lateral: float, height: float) -> np.ndarray:
            return np.array([feet[0] + lateral * sh, feet[1] - height * sv])

        sprite = _Sprite()
        leg, chair_rgb = 0.13 * sh, (70, 70, 75)
        if pose in ("sit", "umpire"):
            seat = 0.45 if pose == "sit" else 1.9
            for sgn in (-1.0, 1.0):
                sprite.line(at(sgn * 0.25, 0.0), at(sgn * 0.25, seat), 0.05 * sh, chair_rgb)
            if pose == "umpire":
                for rung in np.arange(0.4, seat, 0.45):
                    sprite.line(at(-0.25, rung), at(0.25, rung), 0.04 * sh, chair_rgb)
            sprite.poly(np.stack([at(-0.3, seat + 0.05), at(0.3, seat + 0.05), at(0.3, seat - 0.05),
                                  at(-0.3, seat - 0.05)]), chair_rgb)
            feet_z, hip = seat - 0.45, seat + 0.05
            for sgn in (-1.0, 1.0):
                sprite.line(at(sgn * 0.1, hip), at(sgn * 0.12, seat), leg, look.shorts)
                sprite.line(at(sgn * 0.12, seat), at(sgn * 0.13, feet_z + 0.04), leg * 0.85, look.shorts)
                sprite.line(at(sgn * 0.13, feet_z + 0.04), at(sgn * 0.17, feet_z), leg, look.shoes)
        elif pose == "crouch":
            hip = 0.5
            for sgn in (-1.0, 1.0):
                sprite.line(at(sgn * 0.1, hip), at(sgn * 0.22, 0.4), leg, look.shorts)
                sprite.line(at(sgn * 0.22, 0.4), at(sgn * 0.14, 0.04), leg * 0.85, look.skin)
                sprite.line(at(sgn * 0.14, 0.04), at(sgn * 0.18, 0.0), leg, look.shoes)
        else:
            hip = 0.9
            for sgn in (-1.0, 1.0):
                sprite.line(at(sgn * 0.1, hip), at(sgn * 0.12, 0.04), leg, look.shorts)
                sprite.line(at(sgn * 0.12, 0.04), at(sgn * 0.17, 0.0), leg, look.shoes)
        top = hip + 0.6
        sprite.poly(np.stack([at(-0.22, top), at(0.22, top), at(0.18, hip), at(-0.18, hip)]), look.shirt)
        for sgn in (-1.0, 1.0):  # arms down, hands on the knees when sitting or crouching
            sprite.line(at(sgn * 0.22, top - 0.05), at(sgn * 0.26, hip - 0.05), 0.08 * sh, look.skin)
        sprite.line(at(0, top), at(0, top + 0.07), 0.09 * sh, look.skin)
        sprite.circle(at(0, top + 0.17), 0.11 * sh, look.hair)
        sprite.circle(at(0, top + 0.14), 0.1 * sh, look.skin)
        return sprite, float(self.camera.project(np.array([x, y, hip]))[1])

    def _draw_player(self, image: np.ndarray, player: int, sprite: _Sprite
                     ) -> tuple[tuple[np.ndarray, tuple[int, int]] | None, np.ndarray]:
        """Draw the sprite.

        Returns its (h, w) uint8 mask (body and racket) with the mask's top-left, or None
        when off-screen, and the (4,) tight box of the person (racket left out; NaN when
        off-screen).
        """
        h, w = image.shape[:2]
        box = sprite.bbox(w, h)
        if box is None:
            return None, np.full(4, np.nan)
        x0, y0, x1, y1 = box
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        sprite.draw(mask, (x0, y0), mask_value=1)
        person = np.zeros_like(mask)
        sprite.draw(person, (x0, y0), mask_value=1, equipment=False)
        sprite.draw(image[y0:y1, x0:x1], (x0, y0))
        if player == 1 and self.net is not None:
            self._net_over(image, mask, (x0, y0))
        return (mask, (x0, y0)), _mask_box(person, (x0, y0))

    def _net_over(self, image: np.ndarray, mask: np.ndarray, origin: tuple[int, int]) -> None:
        """Re-blend the net over the far player's body (it stands behind the net)."""
        (nx0, ny0, nx1, ny1), net_rgb, net_alpha = self.net
        x0, y0 = origin
        x1, y1 = x0 + mask.shape[1], y0 + mask.shape[0]
        ix0, iy0, ix1, iy1 = max(x0, nx0), max(y0, ny0), min(x1, nx1), min(y1, ny1)
        if ix1 <= ix0 or iy1 <= iy0:
            return
        body = mask[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0].astype(bool)
        a = net_alpha[iy0 - ny0:iy1 - ny0, ix0 - nx0:ix1 - nx0][body][:, None]
        rgb = net_rgb[iy0 - ny0:iy1 - ny0, ix0 - nx0:ix1 - nx0][body]
        roi = image[iy0:iy1, ix0:ix1]
        roi[body] = np.rint(roi[body] * (1 - a) + rgb * a).astype(np.uint8)

    def _shadow(self, image: np.ndarray, ground: np.ndarray, radius_m: float, strength: float) -> None:
        """Darken an ellipse on the floor under `ground` (3,)."""
        pts = np.stack([ground, ground + [radius_m, 0, 0], ground + [0, radius_m, 0]])
        uv, _ = self.camera.project(pts)
        ax = max(abs(uv[1][0] - uv[0][0]), 1.0)
        ay = max(abs(uv[2][1] - uv[0][1]), 1.0)
        h, w = image.shape[:2]
        x0, x1 = int(max(uv[0][0] - ax - 1, 0)), int(min(uv[0][0] + ax + 2, w))
        y0, y1 = int(max(uv[0][1] - ay - 1, 0)), int(min(uv[0][1] + ay + 2, h))
        if x1 <= x0 or y1 <= y0:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        centre = (int(round((uv[0][0] - x0) * 16)), int(round((uv[0][1] - y0) * 16)))
        cv2.ellipse(mask, centre, (int(ax * 16), int(ay * 16)), 0, 0, 360, 255, -1, cv2.LINE_AA, 4)
        factor = 1.0 - strength * mask.astype(np.float32)[..., None] / 255.0
        roi = image[y0:y1, x0:x1]
        roi[:] = np.rint(roi * factor).astype(np.uint8)

    def _draw_ball(self, image: np.ndarray, uv: np.ndarray, prev_uv: np.ndarray, radius: float) -> None:
        """A disc of `radius` at `uv`, with a fading smear back to `prev_uv` (motion blur)."""
        h, w = image.shape[:2]
        pad = radius + 2
        x0 = int(max(math.floor(min(uv[0], prev_uv[0]) - pad), 0))
        y0 = int(max(math.floor(min(uv[1], prev_uv[1]) - pad), 0))
        x1 = int(min(math.ceil(max(uv[0], prev_uv[0]) + pad) + 1, w))
        y1 = int(min(math.ceil(max(uv[1], prev_uv[1]) + pad) + 1, h))
        if x1 <= x0 or y1 <= y0:
            return
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        disc = np.clip(radius + 0.5 - np.hypot(xx - uv[0], yy - uv[1]), 0, 1)
        seg = (uv - prev_uv).astype(np.float32)
        length2 = float(seg @ seg)
        if length2 > 1e-6:
            s = np.clip(((xx - prev_uv[0]) * seg[0] + (yy - prev_uv[1]) * seg[1]) / length2, 0, 1)
            dist = np.hypot(xx - (prev_uv[0] + s * seg[0]), yy - (prev_uv[1] + s * seg[1]))
            smear = np.clip(0.85 * radius + 0.5 - dist, 0, 1) * (0.12 + 0.45 * s)
            alpha = np.maximum(disc, smear)
        else:
            alpha = disc
        roi = image[y0:y1, x0:x1].astype(np.float32)
        a = alpha[..., None]
        image[y0:y1, x0:x1] = np.rint(roi * (1 - a) + self.ball_rgb * a).astype(np.uint8)

    def _degrade(self, image: np.ndarray) -> np.ndarray:
        """Sensor noise (a random window of the noise bank) and an optional JPEG round trip."""
        if self.noise is not None:
            dy, dx = (int(v) for v in self.frame_rng.integers(0, _NOISE_PAD_PX + 1, size=2))
            positive, negative = self.noise
            h, w = image.shape[:2]
            cv2.add(image, positive[dy:dy + h, dx:dx + w], dst=image)
            cv2.subtract(image, negative[dy:dy + h, dx:dx + w], dst=image)
        quality = self.config.jpeg_quality
        if quality is not None:
            ok, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
            if not ok:
                raise RuntimeError("JPEG encoding of a synthetic frame failed")
            image = np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1])
        return image


def _mask_box(mask: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
    """(4,) float64 tight box (x0, y0, x1, y1) of a mask whose top-left is `origin`; NaN if empty."""
    x0, y0 = origin
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if len(rows) == 0:
        return np.full(4, np.nan)
    return np.array([x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1], dtype=np.float64)


def _pt(uv: np.ndarray) -> tuple[int, int]:
    return int(round(float(uv[0]))), int(round(float(uv[1])))


if __name__ == "__main__":
    main()
