"""``python -m index.milvus publish [--index DIR]``: copy the live index version into Milvus and make it live there."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

from index.cli import run
from index.milvus.collection import publish_live
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
            name = publish_live(args.index, settings, progress=not args.quiet)
        print(f"Milvus at {settings.milvus_uri}: collection {name} is live")
        return 0

    return run(command)


if __name__ == "__main__":
    sys.exit(main())
