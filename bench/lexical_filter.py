"""BM25 with a category filter over the Fars News passages: the old query plan against :mod:`index.fts`.

    python bench/lexical_filter.py [--data ../shared/data] [--repeats 5]

Only the lexical files are written (no model, no vectors), in a temporary folder. The query is the
first 1,000 characters of the archive's text (many common words), filtered to the largest category.
The old plan (the filter as ``rowid IN (SELECT ...)`` inside the MATCH query) is run in the same
process as the baseline.
"""
from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.articles import read_articles  # noqa: E402
from index.filter import Filter  # noqa: E402
from index.fts import FtsLexicalIndex, filter_sql  # noqa: E402
from index.lexical import tokens, write_lexical  # noqa: E402
from index.lexical_search import MAX_QUERY_TERMS, strongest_terms  # noqa: E402
from index.passages import split_passages  # noqa: E402
from index.store import DATABASE, LEXICAL, write_database  # noqa: E402


def old_plan(db: sqlite3.Connection, terms: list[str], where: Filter, limit: int) -> list[tuple[int, float]]:
    """The plan before the seams work: SQLite looked every allowed passage up in FTS5."""
    allowed, params = filter_sql(where)
    rows = db.execute(f"SELECT rowid, -bm25(lexical) FROM lex.lexical WHERE lexical MATCH ? AND rowid IN ({allowed}) "
                      "ORDER BY bm25(lexical) LIMIT ?", [" OR ".join(f'"{t}"' for t in terms), *params, limit]).fetchall()
    for term in terms:  # which terms each hit holds, as the engine reads it
        db.execute("SELECT rowid FROM lex.lexical WHERE lexical MATCH ?", [f'"{term}"']).fetchall()
    return rows


def median_ms(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    articles = read_articles([args.data / "farsnews"])
    passages = [p for a in articles for p in split_passages(a, lambda texts: [len(t.split()) for t in texts], 200, 20)]
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        write_database(folder / DATABASE, articles, passages)
        by_id = {a.id: a for a in articles}
        write_lexical(folder / LEXICAL, (f"{by_id[p.article_id].title}\n{p.text}" for p in passages))
        db = sqlite3.connect(f"file:{folder / DATABASE}?mode=ro", uri=True)
        db.execute("ATTACH DATABASE ? AS lex", (f"file:{folder / LEXICAL}?mode=ro",))
        lexical = FtsLexicalIndex(db)
        category = db.execute("SELECT cat FROM articles GROUP BY cat ORDER BY count(*) DESC").fetchone()[0]
        where = Filter(category=category)
        terms = list(dict.fromkeys(tokens(" ".join(a.text for a in articles)[:1000])))
        capped = strongest_terms(terms, lexical.idf(terms))
        same = sorted(old_plan(db, terms, where, 1000)) == sorted((h.passage_id, h.score) for h in lexical.search(terms, 1000, where))
        old = median_ms(lambda: old_plan(db, terms, where, 1000), args.repeats)
        new = median_ms(lambda: lexical.search(terms, 1000, where), args.repeats)
        cap = median_ms(lambda: lexical.search(strongest_terms(terms, lexical.idf(terms)), 1000, where), args.repeats)
        print(f"{len(passages)} passages; filter category={category!r}; query of 1000 characters, {len(terms)} distinct terms")
        print(f"old plan, all terms:        {old:8.1f} ms (median of {args.repeats})")
        print(f"index.fts, all terms:       {new:8.1f} ms  ({old / new:.1f}x faster; same hits and scores: {same})")
        print(f"index.fts, {len(capped)} strongest:     {cap:8.1f} ms  ({old / cap:.1f}x faster; MAX_QUERY_TERMS = {MAX_QUERY_TERMS})")


if __name__ == "__main__":
    main()
