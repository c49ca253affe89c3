"""``python -m search QUERY``: search the index from the command line."""
from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

from index.store import IndexUnavailable
from kavosh.cli import setup_logging
from search.engine import SearchEngine
from search.results import dumps
from search.query import DEFAULT_METHOD, METHODS, Query
from settings import Settings


def main(argv: list[str] | None = None) -> int:
    setup_logging(0, logging.WARNING)
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m search", description="Search the news index (Persian or English).")
    parser.add_argument("query", nargs="+", help="the query; several words need no quotes")
    parser.add_argument("-k", type=int, default=5, help="number of results (default %(default)s)")
    parser.add_argument("--index", type=Path, default=settings.index_dir, help="index folder (env KAVOSH_INDEX; default %(default)s)")
    parser.add_argument("--model", default=settings.model, help="model the index was built with (env KAVOSH_MODEL)")
    parser.add_argument("--method", default=DEFAULT_METHOD, choices=METHODS, help="ranking (default %(default)s)")
    parser.add_argument("--category", help="only articles of this category")
    parser.add_argument("--from", dest="date_from", help="only articles dated on or after this date (YYYY-MM-DD; a year below 1700 is Solar Hijri)")
    parser.add_argument("--to", dest="date_to", help="only articles dated on or before this date (YYYY-MM-DD or Solar Hijri)")
    parser.add_argument("--json", action="store_true", help="print the response as JSON")
    args = parser.parse_args(argv)
    try:
        query = Query.of(" ".join(args.query), args.k, method=args.method, category=args.category,
                         date_from=args.date_from, date_to=args.date_to)
        engine = SearchEngine.open(args.index, replace(settings, model=args.model))
        response = engine.answer(query)
    except (IndexUnavailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(dumps(response))
        return 0
    print(f"{response.total} articles match «{response.query}» ({response.took_ms:.0f} ms)\n")
    for result in response.results:
        print(f"{result.rank}. [{result.score:.3f}] {result.title or '(untitled)'}")
        meta = " · ".join(part for part in (result.cat, result.date, result.link) if part)
        if meta:
            print(f"   {meta}")
        print(textwrap.indent(textwrap.fill(result.text, width=100), "   "), end="\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
