"""Copies of labelled clips with their courts in other colours: a stand-in for venues never seen.

    python benchmarks/recolor_clips.py --src ../shared/data/tennis/clips --out out/recolored/seed1 --seed 1 \\
        [--ids usopen_0607_0627 ...]

Each clip's frames go through `tracknet.augment.recolor_surfaces` (the training augmentation:
the hue of the frame's two dominant colours, court and surround, rotated by random angles,
the ball, lines and players kept) with the same angles for every frame of every clip of one
seed, are written as H.264 beside a copy of the clip's labels, and the angles are printed.
`benchmarks/validation.py --data <out>` then scores a model on them. The recolouring is the
augmentation itself, so a model trained with it is tested on what it was taught: read the
result as "does the model still work on a blue court turned green", not as a new venue.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from tracknet.augment import recolor_surfaces  # noqa: E402
from tracknet.video import VideoWriter, iter_frames, probe  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True, help="folder of <id>.mp4 clips with <id>.csv labels")
    parser.add_argument("--out", required=True, help="folder for the recoloured clips")
    parser.add_argument("--seed", type=int, default=1, help="which colours (the same for all clips)")
    parser.add_argument("--ids", nargs="*", help="clip ids (default: every .mp4 in --src)")
    args = parser.parse_args()
    src, out = Path(args.src), Path(args.out)
    if not src.is_dir():
        print(f"no clips at {src}", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    ids = args.ids or sorted(p.stem for p in src.glob("*.mp4"))
    for clip_id in ids:
        info = probe(src / f"{clip_id}.mp4")
        with VideoWriter(out / f"{clip_id}.mp4", info.width, info.height, info.fps, crf=18) as writer:
            for frame in iter_frames(src / f"{clip_id}.mp4"):
                # One generator per frame from the same seed: the same angles on every frame.
                writer.write(recolor_surfaces(frame.image[None], np.random.default_rng(args.seed), 180.0)[0])
        shutil.copyfile(src / f"{clip_id}.csv", out / f"{clip_id}.csv")
        print(f"{clip_id}: {info.frame_count} frames -> {out / f'{clip_id}.mp4'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
