"""Calibrating the relevance threshold: how similar is the best passage for queries the archive answers,
and for queries about nothing in it?

    python bench/relevance_threshold.py [--data ../shared/data] [--distractors 300] [--queries 300]

Index: the 93 PersianQA paragraphs plus ``--distractors`` Fars News articles (the fa-qa task, cached in
/tmp/kavosh-relevance). Answered queries: PersianQA questions (their paragraph is relevant) and Fars
titles (their article). Unanswered queries: Tatoeba everyday sentences (Persian and English), and
nonsense: random letter strings in both scripts. Prints the cosine similarity of each query's best
passage (and of its relevant article's best passage) at percentiles, then for each threshold the share of
relevant articles kept and the share of unanswered queries left with no result.
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.embedder import Embedder  # noqa: E402
from index.pipeline import Chunking  # noqa: E402
from index.store import open_index  # noqa: E402
from search.engine import SearchEngine  # noqa: E402
from search.evaluate import DEFAULT_DATA, _spread, cached_index, load_fa_qa  # noqa: E402
from settings import Settings  # noqa: E402

PERSIAN_LETTERS = "ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهی"
LATIN_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def nonsense(n: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    queries = []
    for i in range(n):
        letters = PERSIAN_LETTERS if i % 2 else LATIN_LETTERS
        queries.append(" ".join("".join(rng.choice(letters) for _ in range(rng.randint(3, 8)))
                                for _ in range(rng.randint(1, 4))))
    return queries


def best_cosines(engine: SearchEngine, queries: list[str]) -> list[tuple[float, dict[str, float]]]:
    """For each query: the best passage's cosine, and the best cosine of each of the 100 nearest articles."""
    engine.embed_queries(queries)
    found = []
    for query in queries:
        response = engine.search(query, k=100, method="dense")
        found.append((response.results[0].score if response.results else 0.0,
                      {r.article_id: r.score for r in response.results}))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--distractors", type=int, default=300)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/kavosh-relevance"))
    args = parser.parse_args()
    settings = Settings.from_env()
    task = load_fa_qa(args.data, args.distractors)
    embedder = Embedder.configured(settings.model, settings)
    engine = SearchEngine(open_index(cached_index(task, embedder, Chunking(), args.cache, progress=True)), embedder,
                          query_cache=4 * args.queries + 200)
    questions = _spread(task.queries, args.queries)
    fars = [a for a in task.articles if not a.id.startswith("persianqa-") and a.title]
    titles = _spread(fars, args.queries)
    lines = {s: (args.data / "tatoeba" / f"tatoeba.pes-eng.{s}").read_text(encoding="utf-8").splitlines() for s in ("pes", "eng")}
    everyday = _spread(lines["pes"], args.queries // 2) + _spread(lines["eng"], args.queries // 2)
    junk = nonsense(args.queries // 3)

    answered = {"PersianQA questions": [(q.text, q.relevant) for q in questions],
                "Fars titles": [(a.title, a.id) for a in titles]}
    relevant_cosines: dict[str, list[float]] = {}
    for name, pairs in answered.items():
        found = best_cosines(engine, [text for text, _ in pairs])
        relevant_cosines[name] = [scores.get(relevant, 0.0) for (_, relevant), (_, scores) in zip(pairs, found)]
        tops = [top for top, _ in found]
        print(f"{name} ({len(pairs)}): best passage cosine p5/p50/p95 {np.percentile(tops, [5, 50, 95]).round(3)}; "
              f"relevant article's cosine p5/p50 {np.percentile(relevant_cosines[name], [5, 50]).round(3)}")
    unanswered = {"Tatoeba everyday sentences": everyday, "nonsense strings": junk}
    top_cosines: dict[str, list[float]] = {}
    for name, queries in unanswered.items():
        top_cosines[name] = [top for top, _ in best_cosines(engine, queries)]
        print(f"{name} ({len(queries)}): best passage cosine p5/p50/p95 "
              f"{np.percentile(top_cosines[name], [5, 50, 95]).round(3)}; max {max(top_cosines[name]):.3f}")
    print("\nthreshold | " + " | ".join(f"{n}: relevant kept" for n in answered) + " | "
          + " | ".join(f"{n}: no result" for n in unanswered))
    for threshold in np.arange(0.82, 0.8801, 0.005):
        kept = [float(np.mean(np.array(relevant_cosines[n]) >= threshold)) for n in answered]
        empty = [float(np.mean(np.array(top_cosines[n]) < threshold)) for n in unanswered]
        print(f"{threshold:.3f} | " + " | ".join(f"{k:.1%}" for k in kept + empty))


if __name__ == "__main__":
    main()
