"""``python -m index.update [SOURCE...] [--delete ID ...]``: add, replace or delete articles in the live index.

Only articles whose title or text changed are embedded again; the result is a new index version,
verified and switched to atomically like a rebuild.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

from index.articles import IngestReport, read_articles
from index.embedder import Embedder
from index.pipeline import update_index
from index.store import IndexUnavailable, index_lock, open_index, remove_leftovers
from settings import Settings


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m index.update", description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="*", type=Path, help="article files or folders to add or replace")
    parser.add_argument("--delete", nargs="+", default=[], metavar="ID", help="ids of articles to delete")
    parser.add_argument("--index", type=Path, default=settings.index_dir, help="index folder (env KAVOSH_INDEX; default %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if not args.sources and not args.delete:
        parser.error("give article files to add or replace, or --delete ID")
    try:
        with index_lock(args.index), logging_redirect_tqdm():
            remove_leftovers(args.index)
            model = open_index(args.index).manifest["model"]
            report = IngestReport()
            articles = read_articles(args.sources, report)
            if args.sources and not articles and not args.delete:
                print(report.summary(indexed=0), file=sys.stderr)
                print("error: no article could be read; the live index is unchanged", file=sys.stderr)
                return 1
            embedder = Embedder(model, settings.model_cache, settings.bf16)
            result = update_index(args.index, embedder, articles, args.delete, progress=not args.quiet)
    except KeyboardInterrupt:
        print("interrupted; the live index is unchanged", file=sys.stderr)
        return 130
    except (IndexUnavailable, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.sources:
        print(report.summary(indexed=len(articles)))
    print(
        f"added {len(result.added)}, replaced {len(result.replaced)}, metadata only {len(result.metadata_only)}, "
        f"unchanged {len(result.unchanged)}, deleted {len(result.deleted)}; "
        f"passages embedded {result.embedded_passages}, reused {result.reused_passages}\n"
        f"live index: {result.version}"
    )
    for article_id in result.unknown_deletions:
        print(f"warning: cannot delete {article_id}: no such article in the index", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
