"""What the rebuild and update commands share: logging set-up and turning failures into clear exits."""
from __future__ import annotations

import sys
from typing import Callable

from index.articles import IngestReport
from index.store import IndexUnavailable
from kavosh.cli import EXIT_FAILED, EXIT_INTERRUPTED, setup_logging


def run(command: Callable[[], int]) -> int:
    """Run a command that changes the index; errors and Ctrl-C end it with a message and a non-zero status
    (the live index is only ever switched to a complete version, so it is unchanged then)."""
    setup_logging(0)
    try:
        return command()
    except KeyboardInterrupt:
        print("interrupted; the live index is unchanged", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (IndexUnavailable, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


def nothing_read(report: IngestReport) -> int:
    """Say that no article could be read, with the reasons, and fail."""
    print(report.summary(indexed=0), file=sys.stderr)
    print("error: no article could be read; the live index is unchanged", file=sys.stderr)
    return 1
