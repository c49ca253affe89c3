"""BM25 with a category filter: the earlier query plans against :mod:`index.fts`, in one process.

    python bench/lexical_filter.py [--data ../shared/data] [--repeats 5] [--per-row]
    python bench/lexical_filter.py --index INDEX_DIR [--repeats 5]

Without ``--index`` only the lexical files of the Fars News passages are written (no model, no vectors),
in a temporary folder; with it, an existing index version is read. The query is the first 1,000
characters of the archive's text (many common words), filtered to the largest category; then Fars News
headlines (the fa-news-title queries), with that category and with it and a date bound. Plans:

- per row (before issue 9): the filter as ``rowid IN (SELECT ...)`` inside the MATCH query, so SQLite
  looked every allowed passage up in FTS5;
- join (issue 9): the match materialized once, then kept where its id is in the allowed passages, a
  SQL join over every passage the filter allows;
- ``index.fts`` (today): the match once, its hits kept by the per-passage filter arrays.
"""
from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.articles import read_articles  # noqa: E402
from index.filter import Filter  # noqa: E402
from index.fts import FtsLexicalIndex  # noqa: E402
from index.lexical import tokens, write_lexical  # noqa: E402
from index.lexical_search import MAX_QUERY_TERMS, strongest_terms  # noqa: E402
from index.passages import split_passages  # noqa: E402
from index.store import DATABASE, LEXICAL, open_index, write_database  # noqa: E402
from search.evaluate import _spread, load_fa_news_title  # noqa: E402
from search.understanding import understand  # noqa: E402


def filter_sql(where: Filter) -> tuple[str, list]:
    """The passage ids a filter (category, start date) keeps, as the SQL the earlier plans used, with its parameters."""
    wanted = {"a.cat = ?": where.category, "a.date >= ?": where.date_from.isoformat() if where.date_from else None}
    kept = {condition: value for condition, value in wanted.items() if value is not None}
    sql = "SELECT p.id FROM main.passages p JOIN main.articles a ON a.id = p.article_id"
    return (sql + " WHERE " + " AND ".join(kept) if kept else sql), list(kept.values())


def headline_medians(db: sqlite3.Connection, lexical: FtsLexicalIndex, queries: list[list[str]],
                     where: Filter) -> dict[str, float]:
    """Median ms of the join plan and of index.fts over headline queries, the two taking turns going first."""
    times: dict[str, list[float]] = {"join": [], "index.fts": []}
    for n, terms in enumerate(queries):
        plans = [("join", lambda: join_plan(db, terms, where, 1000)), ("index.fts", lambda: lexical.search(terms, 1000, where))]
        for name, run in plans if n % 2 else plans[::-1]:
            started = time.perf_counter()
            run()
            times[name].append(1000 * (time.perf_counter() - started))
    return {name: statistics.median(values) for name, values in times.items()}


def per_row_plan(db: sqlite3.Connection, terms: list[str], where: Filter, limit: int) -> list[tuple[int, float]]:
    """The plan before issue 9: SQLite looked every allowed passage up in FTS5."""
    allowed, params = filter_sql(where)
    rows = db.execute(f"SELECT rowid, -bm25(lexical) FROM lex.lexical WHERE lexical MATCH ? AND rowid IN ({allowed}) "
                      "ORDER BY bm25(lexical) LIMIT ?", [" OR ".join(f'"{t}"' for t in terms), *params, limit]).fetchall()
    _holding(db, terms)
    return rows


def join_plan(db: sqlite3.Connection, terms: list[str], where: Filter, limit: int) -> list[tuple[int, float]]:
    """The plan of issue 9: the match materialized once, then joined with every allowed passage."""
    allowed, params = filter_sql(where)
    rows = db.execute("WITH hits AS MATERIALIZED (SELECT rowid AS id, bm25(lexical) AS rank FROM lex.lexical "
                      f"WHERE lexical MATCH ?) SELECT id, -rank FROM hits WHERE id IN ({allowed}) ORDER BY rank LIMIT ?",
                      [" OR ".join(f'"{t}"' for t in terms), *params, limit]).fetchall()
    _holding(db, terms)
    return rows


def _holding(db: sqlite3.Connection, terms: list[str]) -> None:
    """Which terms each hit holds, read as the engine reads it."""
    for term in terms:
        db.execute("SELECT rowid FROM lex.lexical WHERE lexical MATCH ?", [f'"{term}"']).fetchall()


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
    parser.add_argument("--index", type=Path, help="an index folder to read instead of writing the Fars News passages")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--per-row", action="store_true",
                        help="also time the per-row plan (minutes at 10^5 passages)")
    parser.add_argument("--headlines", type=int, default=100, help="fa-news-title headlines to time as queries")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.index:
            version = open_index(args.index, load_vectors=False)
            database, lexical_file = version.path / DATABASE, version.path / LEXICAL
        else:
            articles = read_articles([args.data / "farsnews"])
            passages = [p for a in articles for p in split_passages(a, lambda texts: [len(t.split()) for t in texts], 200, 20)]
            database, lexical_file = Path(folder) / DATABASE, Path(folder) / LEXICAL
            write_database(database, articles, passages)
            by_id = {a.id: a for a in articles}
            write_lexical(lexical_file, (f"{by_id[p.article_id].title}\n{p.text}" for p in passages))
        db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        db.execute("ATTACH DATABASE ? AS lex", (f"file:{lexical_file}?mode=ro",))
        lexical = FtsLexicalIndex(db)
        category = db.execute("SELECT cat FROM articles GROUP BY cat ORDER BY count(*) DESC").fetchone()[0]
        where = Filter(category=category)
        text = " ".join(row[0] for row in db.execute("SELECT text FROM passages ORDER BY id LIMIT 20"))
        terms = list(dict.fromkeys(tokens(text[:1000])))
        capped = strongest_terms(terms, lexical.idf(terms))
        lexical.search(terms, 1000, where)  # the filter arrays are read once, as the engine reads them when it opens
        today = sorted((h.passage_id, round(h.score, 9)) for h in lexical.search(terms, 1000, where))
        plans = {"join": join_plan, **({"per row": per_row_plan} if args.per_row else {})}
        same = {name: sorted((i, round(s, 9)) for i, s in plan(db, terms, where, 1000)) == today
                for name, plan in plans.items()}
        times = {name: median_ms(lambda: plan(db, terms, where, 1000), args.repeats) for name, plan in plans.items()}
        times["index.fts"] = median_ms(lambda: lexical.search(terms, 1000, where), args.repeats)
        cap = median_ms(lambda: lexical.search(strongest_terms(terms, lexical.idf(terms)), 1000, where), args.repeats)
        passages_count = db.execute("SELECT count(*) FROM passages").fetchone()[0]
        print(f"{passages_count} passages; filter category={category!r}; query of 1000 characters, {len(terms)} distinct terms")
        for name, ms in times.items():
            agreement = f"; same hits and scores as index.fts: {same[name]}" if name in same else ""
            print(f"{name + ' plan, all terms:':28s} {ms:8.1f} ms (median of {args.repeats}; "
                  f"{times['join'] / ms:.2f}x the join plan's speed{agreement})")
        print(f"{'index.fts, ' + str(len(capped)) + ' strongest:':28s} {cap:8.1f} ms  "
              f"({times['join'] / cap:.1f}x; MAX_QUERY_TERMS = {MAX_QUERY_TERMS})")
        headlines = [found for found in (list(dict.fromkeys(understand(q.text).terms)) for q in
                                         _spread(load_fa_news_title(args.data).queries, args.headlines)) if found]
        dated = "FROM articles WHERE date IS NOT NULL AND date != ''"
        middle = db.execute(f"SELECT date {dated} ORDER BY date LIMIT 1 OFFSET (SELECT count(*) / 2 {dated})").fetchone()
        filters = [(f"category={category!r}", where)]
        if middle:  # the median article date, when the archive has dates
            filters.append((f"category and date from {middle[0][:10]}", Filter(category, date.fromisoformat(middle[0][:10]))))
        for label, headline_filter in filters:
            medians = headline_medians(db, lexical, headlines, headline_filter)
            print(f"{len(headlines)} headlines, {label}: join plan {medians['join']:.1f} ms, index.fts "
                  f"{medians['index.fts']:.1f} ms (medians; {medians['join'] / medians['index.fts']:.2f}x)")


if __name__ == "__main__":
    main()
