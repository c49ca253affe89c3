"""``python -m index.update [SOURCE...] [--delete ID ...] [--rewrite]``: add, replace or delete articles in the live index.

Only articles whose title or text changed are embedded again; the result is a new index version,
verified and switched to atomically like a rebuild. It appends to a copy of the live version
(:mod:`index.append`) until dead or appended passages pile up, then merges: writes every live passage again.
``--rewrite`` merges now (and writes an index of an older format in this Kavosh's, an index written before
lexical stems gets them) without embedding anything. ``--watch INBOX`` stays running and applies each article
file put into INBOX as an update, loading the model once (:mod:`index.watch`).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

from index.articles import IngestReport, read_articles
from index.changes import UpdateResult, delete_articles
from index.cli import add_source_options, nothing_read, publish, run
from index.store import IndexMissing, index_lock, open_index, remove_leftovers
from settings import Settings


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m index.update", description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="*", type=Path, help="article files or folders to add or replace")
    parser.add_argument("--delete", nargs="+", default=[], metavar="ID", help="ids of articles to delete")
    parser.add_argument("--index", type=Path, default=settings.index_dir, help="index folder (env KAVOSH_INDEX; default %(default)s)")
    parser.add_argument("--rewrite", action="store_true",
                        help="merge: write the index again in the current format, without deleted and replaced passages "
                             "(adds stems to an older index); nothing is embedded again")
    parser.add_argument("--watch", type=Path, metavar="INBOX",
                        help="stay running: apply each article file moved into INBOX as an update, then move it to "
                             "INBOX/done (or INBOX/failed, with the reason); the model loads once")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_source_options(parser)
    args = parser.parse_args(argv)
    if args.watch is not None:
        if args.sources or args.delete or args.rewrite:
            parser.error("--watch takes its articles from the inbox: give no sources, --delete or --rewrite with it")
        return run(lambda: watch_inbox(args, settings))
    if not args.sources and not args.delete and not args.rewrite:
        parser.error("give article files to add or replace, --delete ID, --rewrite, or --watch INBOX")
    return run(lambda: update(args, settings))


def watch_inbox(args: argparse.Namespace, settings: Settings) -> int:
    from index.watch import watch  # torch and the model: only for a watcher

    with logging_redirect_tqdm():
        watch(args.watch, args.index, settings, progress=not args.quiet)
    return 0


def update(args: argparse.Namespace, settings: Settings) -> int:
    if not args.index.is_dir():  # taking the lock would create the folder: a mistyped --index must not
        raise IndexMissing(f"no index in {args.index}: build one with `python -m index.rebuild SOURCE --index {args.index}`")
    with index_lock(args.index), logging_redirect_tqdm():
        remove_leftovers(args.index)
        live = open_index(args.index, load_vectors=False)  # read when an update needs them, not for deletions
        if args.delete and not args.sources and not args.rewrite:
            result = delete_articles(args.index, live, args.delete)  # tombstones: no model, nothing read whole
            if result is not None:
                publish(args.index, settings, progress=not args.quiet)
                return _report(result)
        # torch and the model load only once the lock is held: a second run is refused at once, not after them
        from index.embedder import Embedder
        from index.pipeline import update_index

        report = IngestReport()
        articles = read_articles(args.sources, report, follow_links=args.follow_links, include_hidden=args.include_hidden)
        if args.sources and not articles and not args.delete:
            return nothing_read(report)
        embedder = Embedder.configured(live.manifest["model"], settings)
        result = update_index(args.index, embedder, articles, args.delete, progress=not args.quiet, live=live,
                              vector_index=settings.vector_index, merge=args.rewrite)
        publish(args.index, settings, progress=not args.quiet)
    if args.sources:
        print(report.summary(indexed=len(articles)))
    return _report(result)


def _report(result: UpdateResult) -> int:
    print(
        f"added {len(result.added)}, replaced {len(result.replaced)}, metadata only {len(result.metadata_only)}, "
        f"unchanged {len(result.unchanged)}, deleted {len(result.deleted)}; "
        f"passages embedded {result.embedded_passages}, reused {result.reused_passages}\n"
        f"live index: {result.version} ({result.written})"
    )
    for article_id in result.unknown_deletions:
        print(f"warning: cannot delete {article_id}: no such article in the index", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
