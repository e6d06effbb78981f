"""The labelling loop (jobs.label): pick the frames worth labelling, hand them to annotators, take labels back.

This module runs the steps asked for, in order, on one Ray; see jobs/label/__init__.py.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from jobs.common import storage
from jobs.common.cli import EXIT_OK, run_main
from jobs.common.config import parse_args
from jobs.common.ray_env import init_ray
from jobs.label.config import LabelConfig
from jobs.label.export_groundtruth import REQUEST_FILE, export_groundtruth, groundtruth_uri
from jobs.label.export_labelstudio import export_labelstudio, labelstudio_uri
from jobs.label.frames import FRAMES_DIR, export_frames
from jobs.label.import_ import import_labels
from jobs.label.select import read_selection, select


def run(config: LabelConfig) -> None:
    """Run config.steps; Ray must be initialised for select (model pass) and export (frame tasks)."""
    for step in ("select", "export", "import"):
        if step not in config.steps:
            continue
        if step == "select":
            select(config)
        elif step == "export":
            export(config)
        else:
            import_labels(config)


def export(config: LabelConfig) -> None:
    selection = read_selection(config)
    frames = export_frames(selection, config)
    lines = [f"export: {frames} frames of {selection['stretch'].nunique()} stretches -> "
             f"{storage.join(config.output, FRAMES_DIR)}"]
    if config.groundtruth.enabled:
        sequences = export_groundtruth(selection, config)
        lines.append(f"  Ground Truth: {sequences} sequences, request {groundtruth_uri(config, REQUEST_FILE)}")
    if config.labelstudio.enabled:
        tasks = export_labelstudio(selection, config)
        lines.append(f"  Label Studio: {tasks} tasks {labelstudio_uri(config, 'tasks.json')}, "
                     f"config {labelstudio_uri(config, 'config.xml')}")
    print("\n".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes: 0 done; 2 bad config, input, labels or model (jobs.common.cli)."""

    def body() -> int:
        config = parse_args(LabelConfig, argv, prog="python -m jobs.label", conf="label.yaml",
                            description=(__doc__ or "").splitlines()[0])
        if "select" in config.steps or "export" in config.steps:
            init_ray(config.ray_progress_bars)
        run(config)
        return EXIT_OK

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
