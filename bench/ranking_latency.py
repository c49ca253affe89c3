"""Query latency of today's fusion against the new default ranking, in one process over the same index.

    python bench/ranking_latency.py --index INDEX_DIR --queries N

Queries are the Fars News titles (as the fa-news-title task types them), evenly spread; each query is
embedded once beforehand (both settings share the query-vector cache), so the figures are the ranking's
cost: lexical search, dense search, fusion, re-ranking and building the results page. The two settings
run interleaved, query by query, each going first every other query, so the machine's load and the
warming of the database pages fall on both alike.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.embedder import Embedder  # noqa: E402
from index.store import open_index  # noqa: E402
from search.engine import SearchEngine  # noqa: E402
from search.evaluate import DEFAULT_DATA, _spread, load_fa_news_title  # noqa: E402
from search.fusion import DEFAULT_FUSION, Fusion  # noqa: E402
from settings import Settings  # noqa: E402

TODAY = Fusion(lexical_weight=0.5, coverage_power=1.0)  # the fusion before issue 15


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True, help="index folder")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    embedder = Embedder(settings.model, settings.model_cache, settings.bf16)
    version = open_index(args.index)
    queries = [q.text for q in _spread(load_fa_news_title(args.data).queries, args.queries)]
    engines = {"today": SearchEngine(version, embedder, TODAY, query_cache=len(queries)),
               "new": SearchEngine(version, embedder, DEFAULT_FUSION, query_cache=len(queries))}
    engines["today"].embed_queries(queries)
    engines["new"].query_vectors = engines["today"].query_vectors
    for engine in engines.values():  # read the per-version tables once, outside the timing
        engine.search(queries[0])
    times: dict[str, list[float]] = {name: [] for name in engines}
    for n, query in enumerate(queries):
        order = list(engines.items())
        for name, engine in order if n % 2 else order[::-1]:  # who goes first (and warms the caches) alternates
            started = time.perf_counter()
            engine.search(query, 10)
            times[name].append(1000 * (time.perf_counter() - started))
    print(f"index {args.index} ({version.manifest['passages']} passages), {len(queries)} queries, k=10, hybrid")
    for name, values in times.items():
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"{name:6s} p50 {statistics.median(values):6.2f} ms  p90 {p90:6.2f} ms")
    print(f"new - today, p50: {statistics.median(times['new']) - statistics.median(times['today']):+.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
