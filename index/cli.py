"""What the rebuild and update commands share: source options, logging set-up and turning failures into clear exits."""
from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path
from typing import Callable

from index.articles import IngestReport
from index.store import IndexUnavailable
from kavosh.cli import EXIT_FAILED, EXIT_INTERRUPTED, setup_logging
from settings import Settings


def run(command: Callable[[], int]) -> int:
    """Run a command that changes the index; errors and Ctrl-C end it with a message and a non-zero status
    (the live index is only ever switched to a complete version, so it is unchanged then)."""
    setup_logging(0)
    try:
        return command()
    except KeyboardInterrupt:
        print("interrupted; the live index is unchanged", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (IndexUnavailable, ValueError, OSError, sqlite3.Error) as exc:  # sqlite3: e.g. "database or disk is full"
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


def add_source_options(parser: argparse.ArgumentParser) -> None:
    """How source folders are walked: both options open the walk to files a person may not have meant."""
    parser.add_argument("--follow-links", action="store_true",
                        help="in source folders, also read links that lead outside the folder (ignored by default)")
    parser.add_argument("--include-hidden", action="store_true",
                        help="in source folders, also read hidden files and folders (names starting with '.')")


def nothing_read(report: IngestReport) -> int:
    """Say that no article could be read, with the reasons, and fail."""
    print(report.summary(indexed=0), file=sys.stderr)
    print("error: no article could be read; the live index is unchanged", file=sys.stderr)
    return 1


def publish(index_dir: Path, settings: Settings, progress: bool) -> None:
    """After a new version went live: bring Milvus in line with it when that is the configured backend
    (a rebuild's version fills a new collection; an update's changes its lineage's collection in place)."""
    if settings.backend == "milvus":
        from index.milvus.sync import publish_live  # pymilvus is imported only where Milvus is used

        publish_live(index_dir, settings, progress)
