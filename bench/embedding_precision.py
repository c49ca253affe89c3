"""Embedding precision benchmark: fp32, bf16 weights and int8 on the same Fars News passages, in one process.

    python bench/embedding_precision.py [--data ../shared/data] [--sample 240] [--repeats 3] [--queries 200]

Prints, per precision, the median passages per second (passage and sentence vectors, as a build computes
them), the median time of one query embedded alone, their ratios against bf16 in this same run, and the
cosine of each precision's vectors to the fp32 ones (mean, min). The precisions take turns on every repeat
(passages) and in blocks of all the queries (queries), so that a change in the machine's load falls on all of
them.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.articles import read_articles  # noqa: E402
from index.embedder import Embedder, resolve_model  # noqa: E402
from index.pipeline import Chunking, cut_articles  # noqa: E402
from settings import Settings  # noqa: E402

QUERIES = Path(__file__).resolve().parent / "queries.txt"


def passage_rates(embedders: dict[str, Embedder], texts: list[str], ranges: list,
                  repeats: int) -> dict[str, tuple[float, np.ndarray]]:
    """Median passages per second of each embedder, the embedders taking turns in every repeat (the machine's
    load changes over minutes; turns spread it over all of them)."""
    rates: dict[str, list[float]] = {name: [] for name in embedders}
    vectors = {}
    for _ in range(repeats):
        for name, embedder in embedders.items():
            started = time.perf_counter()
            vectors[name] = embedder.embed_passages(texts, ranges)[0]
            rates[name].append(len(texts) / (time.perf_counter() - started))
    return {name: (statistics.median(rates[name]), vectors[name]) for name in embedders}


def query_times(embedders: dict[str, Embedder], queries: list[str],
                rounds: int = 4) -> dict[str, tuple[float, np.ndarray]]:
    """Median milliseconds of one query embedded alone. Each precision embeds all the queries in a block, and
    the blocks take turns over ``rounds`` (order reversed every round), so that the load falls on all of them.
    Blocks, not turns on every query: a server embeds all its queries with one precision, and turns slowed
    every precision (measured in one run: int8 10.4-11.6 ms a query taking turns, 3.58 ms in blocks; bf16
    36-40 ms against 23-25 ms; docs/benchmarks.md), presumably each runtime's threads spinning on after a call
    while the other's wanted the cores."""
    times: dict[str, list[float]] = {name: [] for name in embedders}
    vectors: dict[str, np.ndarray] = {}
    for turn in range(rounds):
        for name in (list(embedders) if turn % 2 == 0 else list(embedders)[::-1]):
            embedded = []
            for query in queries:
                started = time.perf_counter()
                embedded.append(embedders[name].embed_queries([query])[0])
                times[name].append(time.perf_counter() - started)
            vectors[name] = np.array(embedded)
    return {name: (1000 * statistics.median(times[name]), vectors[name]) for name in embedders}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--sample", type=int, default=240, help="passages, evenly spaced over the Fars News build")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--queries", type=int, default=200, help="single queries timed per precision and round")
    parser.add_argument("--rounds", type=int, default=4, help="blocks of queries per precision")
    args = parser.parse_args()
    settings = Settings.from_env()

    embedders = {precision: Embedder(settings.model, settings.model_cache, precision=precision)
                 for precision in ("fp32", "bf16", "int8")}
    articles = read_articles([args.data / "farsnews"])
    cut = cut_articles(articles, embedders["bf16"], Chunking())
    passages = cut.passages
    step = max(1, len(passages) // args.sample)
    texts, ranges = cut.texts[::step][: args.sample], cut.ranges[::step][: args.sample]
    english = [line.strip() for line in QUERIES.read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")]
    questions = [qa["question"] for article in json.loads((args.data / "persianqa" / "pqa_test.json").read_bytes())["data"]
                 for paragraph in article["paragraphs"] for qa in paragraph["qas"]]
    # English queries, Fars News titles and PersianQA questions (short questions are what static int8 scales clipped)
    lines = [text for group in zip(english, [a.title for a in articles[::7]], questions[::7]) for text in group]
    queries = [lines[i % len(lines)] for i in range(args.queries)]
    print(f"{len(texts)} evenly spaced passages of {len(passages)}, median of {args.repeats} runs; "
          f"{len(queries)} single queries ({len(lines)} distinct: English, Fars News titles, PersianQA questions); model {resolve_model(settings.model, settings.model_cache)}")

    for embedder in embedders.values():
        embedder.warm_up()  # as a server worker does when it starts
        embedder.embed_queries(queries[:3])
    passages_by = passage_rates(embedders, texts, ranges, args.repeats)
    queries_by = query_times(embedders, queries, args.rounds)
    results = {name: (*passages_by[name], *queries_by[name]) for name in embedders}

    base_rate, base_ms = results["bf16"][0], results["bf16"][2]
    fp32_vectors, fp32_queries = results["fp32"][1], results["fp32"][3]
    print(f"\n{'precision':10s} {'passages/s':>11s} {'x bf16':>7s} {'query ms':>9s} {'x bf16':>7s}   "
          "cosine to fp32: passages mean/min, queries mean/min")
    for precision, (rate, vectors, ms, query_vectors) in results.items():
        passage_cos, query_cos = np.sum(vectors * fp32_vectors, 1), np.sum(query_vectors * fp32_queries, 1)
        print(f"{precision:10s} {rate:11.1f} {rate / base_rate:7.2f} {ms:9.2f} {base_ms / ms:7.2f}   "
              f"{passage_cos.mean():.4f} / {passage_cos.min():.4f}, {query_cos.mean():.4f} / {query_cos.min():.4f}")


if __name__ == "__main__":
    main()
