"""What lexical search costs on one index, and what another engine would cost on the same terms.

    python bench/lexical_engines.py --index INDEX_DIR [--queries 200] [--tantivy WORK_DIR]
    python bench/lexical_engines.py --index INDEX_DIR --replicate 10 --work WORK_DIR [--tantivy WORK_DIR/tantivy]

Queries are Fars News headlines (the fa-news-title task's), cut into the product's terms. In one process,
interleaved query by query, it times:

- ``fts5``: the product's BM25 search (``FtsLexicalIndex.search``) for the top 1,000 passages, as hybrid
  runs it: the ranked OR query plus, for each term, which hits hold it;
- ``fts5 bare``: the same without the per-term lookups, as lexical-only search runs it;
- ``tantivy bare``: with ``--tantivy``, the same terms as a BM25 top-1,000 query in a tantivy index written
  from the version's own lexical terms (block-max WAND skips postings that cannot reach the top);
- ``tantivy``: the same plus which terms each hit holds (a query per term, intersected with the hits).

``--replicate N`` searches, instead of the version's lexical index, one holding N copies of its rows under new
ids (written once under ``--work``): an archive N times larger with the same term distribution, each term's
postings N times longer and every IDF as before, so what grows with the postings is measured at that size
without cutting and analyzing N times the articles. Its figures are labelled so.

tantivy is not a dependency of Kavosh: ``pip install tantivy==0.27.0`` to run the last two.

Prints medians and ratios, and how far tantivy's best score is from FTS5's (their BM25 differ in the IDF
formula and in how lengths are stored).
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

from index.fts import FtsLexicalIndex  # noqa: E402
from index.layout import LEXICAL  # noqa: E402
from index.lexical import SCHEMA  # noqa: E402
from index.store import open_index  # noqa: E402
from search.candidates import LEXICAL_POOL  # noqa: E402
from search.evaluate import DEFAULT_DATA, _spread, load_fa_news_title  # noqa: E402
from search.understanding import understand  # noqa: E402


def tantivy_search(version_db, folder: Path):
    """A function searching a tantivy index of the version's lexical terms (written into ``folder``), and
    its build time in seconds."""
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("tokens", stored=False, tokenizer_name="whitespace", index_option="freq")
    builder.add_integer_field("pid", stored=False, fast=True, indexed=True)
    schema = builder.build()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    index = tantivy.Index(schema, path=str(folder))
    started = time.perf_counter()
    writer = index.writer(heap_size=200_000_000, num_threads=2)
    for rowid, tokens in version_db.execute("SELECT rowid, tokens FROM lex.lexical"):
        writer.add_document(tantivy.Document(tokens=tokens, pid=rowid))
    writer.commit()
    writer.wait_merging_threads()
    built = time.perf_counter() - started
    index.reload()
    searcher = index.searcher()

    def search(terms: list[str]) -> list[tuple[int, float]]:
        query = tantivy.Query.boolean_query([(tantivy.Occur.Should, tantivy.Query.term_query(schema, "tokens", term))
                                             for term in terms])
        hits = searcher.search(query, limit=LEXICAL_POOL, count=False).hits
        return list(zip(searcher.fast_field_values("pid", [address for _, address in hits]), [s for s, _ in hits]))

    def search_matched(terms: list[str]) -> list[tuple[int, float, frozenset[str]]]:
        """:func:`search` plus the terms each hit holds: one query per term, intersected with the hits."""
        found = search(terms)
        within = tantivy.Query.term_set_query(schema, "pid", [pid for pid, _ in found])
        holding = {}
        for term in terms:
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, tantivy.Query.term_query(schema, "tokens", term)),
                                                 (tantivy.Occur.Must, within)])
            hits = searcher.search(query, limit=max(1, len(found)), count=False).hits
            holding[term] = set(searcher.fast_field_values("pid", [address for _, address in hits]))
        return [(pid, score, frozenset(t for t in terms if pid in holding[t])) for pid, score in found]

    return search, search_matched, built


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
    parser.add_argument("--tantivy", type=Path, help="also write a tantivy index here and time it")
    parser.add_argument("--replicate", type=int, default=1, metavar="N",
                        help="search N copies of the version's lexical rows instead (see above)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/kavosh-lexical"), help="where --replicate writes")
    args = parser.parse_args(argv)
    if args.replicate < 1:
        parser.error("--replicate must be at least 1")
    version = open_index(args.index, load_vectors=False)
    queries = [terms for terms in (list(dict.fromkeys(understand(q.text).terms))
                                   for q in _spread(load_fa_news_title(args.data).queries, args.queries)) if terms]
    lexical_file = version.path / LEXICAL
    if args.replicate > 1:
        started = time.perf_counter()
        lexical_file = replicated(version.path / LEXICAL, args.replicate, args.work)
        print(f"{args.replicate} copies of the lexical rows in {lexical_file} ({time.perf_counter() - started:.0f} s)")
    connect = version.connect if args.replicate == 1 else lambda: _attached(lexical_file)
    with closing(connect()) as db:
        fts = FtsLexicalIndex(db)
        engines = {"fts5": lambda terms: fts.search(terms, LEXICAL_POOL),
                   "fts5 bare": lambda terms: fts.search(terms, LEXICAL_POOL, matched=False)}
        if args.tantivy:
            engines["tantivy bare"], engines["tantivy"], built = tantivy_search(db, args.tantivy)
            size = sum(f.stat().st_size for f in args.tantivy.rglob("*") if f.is_file())
            print(f"tantivy index written in {built:.1f} s, {size / 2**20:.1f} MiB "
                  f"(lexical.sqlite: {lexical_file.stat().st_size / 2**20:.1f} MiB)")
        times: dict[str, list[float]] = {name: [] for name in engines}
        score_gap = []
        for n, terms in enumerate(queries):
            order = list(engines.items())
            best = {}
            for name, search in order[n % len(order):] + order[:n % len(order)]:  # who goes first rotates
                started = time.perf_counter()
                found = search(terms)
                times[name].append(1000 * (time.perf_counter() - started))
                if found:
                    best[name] = found[0].score if name.startswith("fts5") else found[0][1]
            if "tantivy" in best and "fts5" in best:
                score_gap.append(abs(best["tantivy"] - best["fts5"]) / best["fts5"])
    base = statistics.median(times["fts5"])
    print(f"index {args.index} ({fts.passages} passages{f', {args.replicate} copies' if args.replicate > 1 else ''}), "
          f"{len(queries)} queries, top {LEXICAL_POOL}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:12s} p50 {median:7.2f} ms  p90 {statistics.quantiles(values, n=10)[-1]:7.2f} ms  "
              f"{base / median:5.1f}x fts5's speed")
    if score_gap:
        print(f"best hit's score, tantivy against FTS5: median relative difference {statistics.median(score_gap):.4f}")
    return 0


def _attached(lexical_file: Path) -> sqlite3.Connection:
    """A connection with ``lexical_file`` attached as ``lex``, as a version's connection has its own."""
    db = sqlite3.connect("file::memory:", uri=True)
    db.execute("ATTACH DATABASE ? AS lex", [f"file:{lexical_file}?mode=ro"])
    return db


if __name__ == "__main__":
    sys.exit(main())
