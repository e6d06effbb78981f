"""jobs.infer with a gate, for tests/cluster/test_fault.py: while the gate file exists, every video but
the first waits before its finish task commits anything, so a node can be killed with work left by
construction instead of by winning a race against a fast machine.

    python -m tests.cluster.gated_infer GATE_PATH [jobs.infer arguments ...]
"""

from __future__ import annotations

import os
import sys
import time

from jobs.infer import run


def gated(gate_path: str, finish):
    """`finish` (jobs.infer's finish task) that waits for the gate to open for any video but the first.

    Defined in a function so that Ray pickles it by value, gate path included, into the workers."""

    def finish_video(job, *args, **kwargs):
        while job.index != 0 and os.path.exists(gate_path):
            time.sleep(0.2)
        return finish(job, *args, **kwargs)

    return finish_video


if __name__ == "__main__":
    gate, *arguments = sys.argv[1:]
    run.finish_video = gated(gate, run.finish_video)
    sys.exit(run.main(arguments))
