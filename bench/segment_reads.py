"""Searching a version with database segments against one without, in one process.

    KAVOSH_MODEL=MODEL python bench/segment_reads.py --a INDEX_DIR --b INDEX_DIR [--queries 200] [--data ../shared/data]

``--a`` and ``--b`` are two index folders holding the same archive, typically a merged (or linked) version and
one an update wrote as a segment (index.segments): every read of ``--b`` then goes through the TEMP views over
its files. Prints each one's time to open the version and answer a first query (the server's per-version arrays
read through the views), then engine p50 / p90 per kind of search over the same queries: plain hybrid, lexical
only, and hybrid with the first category, plus an article page. Queries are embedded once beforehand and
shared, so the figures are the ranking's and the reads'; the two engines take turns query by query, the one
going first alternating.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.load_web import load_queries  # noqa: E402
from index.embedder import Embedder  # noqa: E402
from index.store import open_index  # noqa: E402
from search.engine import SearchEngine  # noqa: E402
from search.related import article  # noqa: E402
from settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", type=Path, required=True, help="index folder (say, without segments)")
    parser.add_argument("--b", type=Path, required=True, help="index folder (say, with segments)")
    parser.add_argument("--queries", type=int, default=200, help="at most this many of the benchmark queries")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="shared data (titles)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    embedder = Embedder(settings.model, settings.model_cache, settings.bf16)
    queries = load_queries(ROOT / "bench" / "queries.txt", args.data)[:args.queries]
    engines: dict[str, SearchEngine] = {}
    for name, folder in (("a", args.a), ("b", args.b)):
        started = time.perf_counter()
        version = open_index(folder)
        engines[name] = SearchEngine(version, embedder, query_cache=len(queries))
        engines[name].search(queries[0], 10)
        segments = len(version.manifest.get("segments", []))
        print(f"{name}: {folder} ({version.manifest['passages']} passages, {segments} segments, lexical "
              f"{engines[name].lexical_engine}): opened and first answer in {time.perf_counter() - started:.2f} s")
    engines["a"].embed_queries(queries)
    engines["b"].query_vectors = engines["a"].query_vectors
    category = engines["a"].categories()[0]
    kinds = {"hybrid": lambda e, q: e.search(q, 10), "lexical": lambda e, q: e.search(q, 10, method="lexical"),
             "category": lambda e, q: e.search(q, 10, category=category),
             "article page": lambda e, q: article(e, e.search(q, 1).results[0].article_id, query=q)}
    times = {(kind, name): [] for kind in kinds for name in engines}
    tops = {name: [] for name in engines}
    for n, query in enumerate(queries):
        order = list(engines.items()) if n % 2 else list(engines.items())[::-1]
        for kind, run in kinds.items():
            for name, engine in order:
                started = time.perf_counter()
                answer = run(engine, query)
                times[kind, name].append(1000 * (time.perf_counter() - started))
                if kind == "hybrid":
                    tops[name].append([r.article_id for r in answer.results])
    print(f"{len(queries)} queries, k=10, engines taking turns; category {category!r}")
    for kind in kinds:
        line = "  ".join(f"{name} p50 {statistics.median(times[kind, name]):7.2f} ms p90 "
                         f"{statistics.quantiles(times[kind, name], n=10)[-1]:7.2f} ms" for name in engines)
        print(f"{kind:13s} {line}")
    same = sum(a == b for a, b in zip(tops["a"], tops["b"]))
    print(f"hybrid top-10 articles identical for {same} of {len(queries)} queries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
