"""How every job's `main()` ends: one exit-code convention, user errors as one line, bugs as tracebacks."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from tracknet.errors import TrackNetError

EXIT_OK = 0
"""Everything asked for was done (or already done)."""
EXIT_USAGE = 2
"""Bad config, input or model: nothing was processed."""
EXIT_SOME_FAILED = 3
"""Some videos failed; the others were written (reasons in the printed and parquet summary)."""


def run_main(body: Callable[[], int]) -> int:
    """Run a job's body; a user error (TrackNetError: config, input, model, labels) prints one line
    and gives EXIT_USAGE. Anything else is a bug and propagates with its traceback."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return body()
    except TrackNetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
