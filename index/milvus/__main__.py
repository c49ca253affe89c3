"""``python -m index.milvus publish [--index DIR]``: bring Milvus in line with the live index version and make it live there.

Run it after an update or rebuild that stopped before Milvus was synchronized: it writes only the rows that differ."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

from index.cli import run
from index.milvus.sync import publish_live
from settings import Settings


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m index.milvus", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["publish"])
    parser.add_argument("--index", type=Path, default=settings.index_dir, help="index folder (env KAVOSH_INDEX; default %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    def command() -> int:
        with logging_redirect_tqdm():
            published = publish_live(args.index, settings, progress=not args.quiet)
        print(f"Milvus at {settings.milvus_uri}: collection {published.collection} is live, {published.rows} passages "
              f"({published.inserted} rows written, {published.deleted} deleted; passages' mean length "
              f"{100 * published.drift:+.1f}% from the one its BM25 weights use)")
        return 0

    return run(command)


if __name__ == "__main__":
    sys.exit(main())
