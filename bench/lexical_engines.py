"""What lexical search costs on one index with each of the product's engines: FTS5 and tantivy.

    python bench/lexical_engines.py --index INDEX_DIR [--queries 200]
    python bench/lexical_engines.py --index INDEX_DIR --replicate 10 --work WORK_DIR

Queries are Fars News headlines (the fa-news-title task's), cut into the product's terms. In one process,
interleaved query by query (who goes first rotates), it times the top 1,000 passages (``LEXICAL_POOL``) of:

- ``fts5`` / ``tantivy``: as hybrid asks (``LexicalSearch.search``, with the terms each hit holds: tantivy's
  from the version's term table, index/term_table.py, where it has one);
- ``tantivy rows``: the same, the terms each hit holds read from its stored row instead (only where the
  version has a term table: without one, ``tantivy`` is that already);
- ``fts5 bare`` / ``tantivy bare``: as lexical-only search asks (``matched=False``);
- ``fts5 cat`` / ``tantivy cat``: lexical-only, filtered to the archive's commonest category.

``FtsLexicalIndex`` and ``TantivyLexicalIndex`` are the engine's own classes (index/fts.py,
index/tantivy_lexical.py); the version must have been written with its tantivy index.

``--replicate N`` searches, instead of the version's lexical index, one holding N copies of its rows under new
ids (written once under ``--work``, in both engines): an archive N times larger with the same term
distribution, each term's postings N times longer and every IDF as before, so what grows with the postings is
measured at that size without cutting and analyzing N times the articles. Its figures are labelled so.

Prints medians and ratios, how far tantivy's best score is from FTS5's (their BM25 differ in the IDF formula
and in how lengths are stored), and how many of the hits the two engines share.
"""
from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import time
from contextlib import closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from index.filter import Filter  # noqa: E402
from index.filter_index import FilterIndex  # noqa: E402
from index.fts import FtsLexicalIndex  # noqa: E402
from index.layout import LEXICAL  # noqa: E402
from index.lexical import SCHEMA  # noqa: E402
from index.store import open_index  # noqa: E402
from index.tantivy_lexical import TANTIVY, WORDS, TantivyIndex, build_tantivy, tantivy_files  # noqa: E402
from search.candidates import LEXICAL_POOL  # noqa: E402
from search.evaluate import DEFAULT_DATA, _spread, load_fa_news_title  # noqa: E402
from search.understanding import understand  # noqa: E402


def replicated_tantivy(version, lexical_file: Path, copies: int, folder: Path) -> Path:
    """The tantivy index of the ``copies`` copies in ``lexical_file`` (see :func:`replicated`), each copy's rows
    with its original passage's category and date, written once into ``folder``."""
    done = folder / "done"
    if done.is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with closing(version.connect()) as db:
        facts = {pid: (cat, day) for pid, cat, day in
                 db.execute("SELECT p.id, a.cat, a.date FROM passages p JOIN articles a ON a.id = p.article_id")}
        span = db.execute("SELECT max(rowid) + 1 FROM lex.lexical").fetchone()[0]
    with closing(_attached(lexical_file)) as db:
        rows = ((rowid, *facts[rowid % span], terms, stems) for rowid, terms, stems in db.execute(
            "SELECT l.id, l.c0, s.c0 FROM lex.lexical_content l JOIN lex.lexical_stems_content s ON s.id = l.id ORDER BY l.id"))
        build_tantivy(folder, rows)
    done.touch()
    return folder


def replicated_filters(version, copies: int) -> FilterIndex:
    """The version's category and day arrays repeated ``copies`` times, as :func:`replicated` repeats its rows."""
    with closing(version.connect()) as db:
        span = db.execute("SELECT max(rowid) + 1 FROM lex.lexical").fetchone()[0]
        filters = FilterIndex(db, span)
    filters.category_of = np.tile(filters.category_of, copies)
    filters.day_of = np.tile(filters.day_of, copies)
    return filters


def replicated(version_lexical: Path, copies: int, folder: Path) -> Path:
    """A lexical database holding ``copies`` copies of ``version_lexical``'s rows, copy n's ids shifted by n
    times the rows' id range (written once into ``folder``)."""
    target = folder / f"lexical-x{copies}.sqlite"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.unlink(missing_ok=True)
    db = sqlite3.connect(tmp)
    db.executescript(SCHEMA)
    db.execute("ATTACH DATABASE ? AS source", [str(version_lexical)])
    span = db.execute("SELECT max(rowid) + 1 FROM source.lexical").fetchone()[0]
    rows = db.execute("SELECT count(*) FROM source.lexical").fetchone()[0]
    for copy in range(copies):
        db.execute("INSERT INTO lexical(rowid, tokens, script) SELECT rowid + ?, tokens, script FROM source.lexical",
                   [copy * span])
        db.execute("INSERT INTO lexical_stems(rowid, stems) SELECT rowid + ?, stems FROM source.lexical_stems",
                   [copy * span])
    db.execute("INSERT INTO lexical_info SELECT key, value FROM source.lexical_info WHERE key NOT IN ('passages', 'removed')")
    db.execute("INSERT INTO lexical_info VALUES ('passages', ?)", [str(rows * copies)])
    for table in ("lexical", "lexical_stems"):
        db.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")
    db.commit()
    db.close()
    tmp.rename(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True, help="index folder")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--replicate", type=int, default=1, metavar="N",
                        help="search N copies of the version's lexical rows instead (see above)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/kavosh-lexical"), help="where --replicate writes")
    args = parser.parse_args(argv)
    if args.replicate < 1:
        parser.error("--replicate must be at least 1")
    version = open_index(args.index, load_vectors=False)
    if not tantivy_files(version.manifest):
        parser.error(f"{args.index} has no tantivy index: `python -m index.update --rewrite --index {args.index}`")
    queries = [terms for terms in (list(dict.fromkeys(understand(q.text).terms))
                                   for q in _spread(load_fa_news_title(args.data).queries, args.queries)) if terms]
    lexical_file, tantivy_folder = version.path / LEXICAL, version.path / TANTIVY
    with closing(version.connect()) as db:
        filters = FilterIndex(db, version.manifest["passages"])
    category = max(filters.codes, key=lambda cat: int((filters.category_of == filters.codes[cat]).sum()))
    if args.replicate > 1:
        started = time.perf_counter()
        lexical_file = replicated(lexical_file, args.replicate, args.work)
        tantivy_folder = replicated_tantivy(version, lexical_file, args.replicate, args.work / f"tantivy-x{args.replicate}")
        filters = replicated_filters(version, args.replicate)
        print(f"{args.replicate} copies of the lexical rows in {lexical_file} and {tantivy_folder} "
              f"({time.perf_counter() - started:.0f} s)")
    size = sum(f.stat().st_size for f in tantivy_folder.rglob("*") if f.is_file())
    print(f"tantivy index {size / 2**20:.1f} MiB, lexical.sqlite {lexical_file.stat().st_size / 2**20:.1f} MiB")
    connect = version.connect if args.replicate == 1 else lambda: _attached(lexical_file)
    where = Filter(category=category)
    with closing(connect()) as db:
        fts = FtsLexicalIndex(db, filters=filters)
        tan = TantivyIndex(tantivy_folder).field(WORDS, db)
        rows = TantivyIndex(tantivy_folder).field(WORDS, db)
        has_table, rows.index.terms = rows.index.terms is not None, None
        engines = {"fts5": lambda terms: fts.search(terms, LEXICAL_POOL),
                   "fts5 bare": lambda terms: fts.search(terms, LEXICAL_POOL, matched=False),
                   "fts5 cat": lambda terms: fts.search(terms, LEXICAL_POOL, where, matched=False),
                   "tantivy": lambda terms: tan.search(terms, LEXICAL_POOL),
                   "tantivy bare": lambda terms: tan.search(terms, LEXICAL_POOL, matched=False),
                   "tantivy cat": lambda terms: tan.search(terms, LEXICAL_POOL, where, matched=False)}
        if has_table:
            engines["tantivy rows"] = lambda terms: rows.search(terms, LEXICAL_POOL)
        times: dict[str, list[float]] = {name: [] for name in engines}
        score_gap, shared, disagree = [], [], 0
        for n, terms in enumerate(queries):
            order = list(engines.items())
            found = {}
            for name, search in order[n % len(order):] + order[:n % len(order)]:  # who goes first rotates
                started = time.perf_counter()
                found[name] = search(terms)
                times[name].append(1000 * (time.perf_counter() - started))
            if has_table:  # a hash collision would credit a hit with a term it lacks
                disagree += sum(a.matched != b.matched for a, b in zip(found["tantivy"], found["tantivy rows"]))
            if found["fts5"] and found["tantivy"]:
                score_gap.append(abs(found["tantivy"][0].score - found["fts5"][0].score) / found["fts5"][0].score)
                top = {hit.passage_id for hit in found["fts5"][:10]}
                shared.append(len(top & {hit.passage_id for hit in found["tantivy"][:10]}) / len(top))
    base = statistics.median(times["fts5"])
    print(f"index {args.index} ({fts.passages} passages{f', {args.replicate} copies' if args.replicate > 1 else ''}), "
          f"{len(queries)} queries, top {LEXICAL_POOL}; category filter {category!r}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:12s} p50 {median:7.2f} ms  p90 {statistics.quantiles(values, n=10)[-1]:7.2f} ms  "
              f"{base / median:5.1f}x fts5's speed")
    print(f"best hit's score, tantivy against FTS5: median relative difference {statistics.median(score_gap):.4f}; "
          f"top 10 shared: {statistics.mean(shared):.3f} on average")
    if has_table:
        print(f"hits whose terms the term table and the stored rows tell differently: {disagree}")
    return 0


def _attached(lexical_file: Path) -> sqlite3.Connection:
    """A connection with ``lexical_file`` attached as ``lex``, as a version's connection has its own."""
    db = sqlite3.connect("file::memory:", uri=True)
    db.execute("ATTACH DATABASE ? AS lex", [f"file:{lexical_file}?mode=ro"])
    return db


if __name__ == "__main__":
    sys.exit(main())
