"""Ranking experiments: each query's candidate features read once, fusion variants scored in memory, every
parameter chosen on one half of each task's queries and reported on the other.

    python bench/ranking_experiments.py [--tasks ...] [--distractors N] [--json var/ranking.json]

Protocol. A task's queries are split into two halves by a hash of (task, query id). Coordinate ascent over
the parameters below picks the setting with the best mean MRR@10 over the tasks on half A, refusing any
step that lowers one task's MRR@10 on that half by more than ``GUARD`` against today's fusion; the
setting is then reported on half B, and the same is done the other way round. One setting serves all
tasks. The features (dense pool, BM25 hits, coverage, script usability, best-sentence similarity,
passage position) come from the engine's own index readers, so the baseline variant reproduces
``python -m search.evaluate``'s hybrid figures; they are cached under ``var/ranking-features`` so that a
second run costs only the scoring.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import pickle
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.embedder import Embedder  # noqa: E402
from index.filter import NO_FILTER  # noqa: E402
from index.lexical import stems  # noqa: E402
from index.pipeline import Chunking  # noqa: E402
from index.store import open_index  # noqa: E402
from search import candidates, normalize  # noqa: E402
from search.engine import SearchEngine  # noqa: E402
from search.evaluate import CUTOFF, DEFAULT_CACHE, DEFAULT_DATA, TASKS, _spread, cached_index, load_task  # noqa: E402
from search.fusion import DEFAULT_FUSION, RERANK_DEPTH  # noqa: E402
from search.understanding import understand  # noqa: E402
from settings import PROJECT_ROOT, Settings  # noqa: E402

log = logging.getLogger("bench.ranking_experiments")
FEATURES = PROJECT_ROOT / "var" / "ranking-features"
FEATURE_FORMAT = 4
GUARD = 0.0  # how far one task's MRR@10 may drop under today's on the choosing half for a step to be taken


@dataclass(frozen=True)
class Variant:
    """One ranking setting. Defaults are today's fusion (search.fusion.DEFAULT_FUSION) and no other idea."""

    lexical_weight: float = DEFAULT_FUSION.lexical_weight  # weight of lexical evidence, queries of more than ``short_terms`` terms
    short_weight: float | None = None  # weight for queries of at most ``short_terms`` terms (None: the same)
    short_terms: int = 3
    coverage_power: float = DEFAULT_FUSION.coverage_power
    sentence_weight: float = DEFAULT_FUSION.sentence_weight  # dense cosine := (1 - a) passage cosine + a best-sentence cosine
    feedback_weight: float = 0.0  # dense query := q + b * mean of the top ``feedback_depth`` passages' vectors
    feedback_depth: int = 3
    lead_bonus: float = 0.0  # added to an article's first passage
    second_passage: float = 0.0  # an article's score := best passage + c * its second best
    stem_weight: float = DEFAULT_FUSION.stem_weight  # lexical evidence := (1 - w) * on words + w * on their hazm stems
    article_weight: float = 0.0  # dense cosine := (1 - a) passage cosine + a cosine to its article's mean vector
    rrf_k: float | None = None  # fuse ranks instead of scores: (1 - w) / (k + dense rank) + w / (k + evidence rank)
    article_coverage: float = 0.0  # coverage := (1 - c) its passage's + c the query terms its article's hits hold


# The knobs the engine carries, chosen by the protocol; the other Variant fields are ideas measured with
# --variant (see docs/benchmarks.md: none of them held up on both halves).
GRID = {
    "lexical_weight": [0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7],
    "sentence_weight": [0.0, 0.1, 0.2, 0.3, 0.5],
    "stem_weight": [0.0, 0.25, 0.5, 0.75, 1.0],
}


# ---------------------------------------------------------------- features


def query_features(engine: SearchEngine, text: str, relevant: str) -> dict:
    """Everything the variants need about one query's candidates, as the engine's hybrid reads them."""
    normalized, terms = understand(text)
    words = candidates.lexical_pool(engine.lexical, terms, NO_FILTER)
    stemmed = candidates.lexical_pool(engine.stem_lexical, stems(terms), NO_FILTER)
    vector = engine.query_vectors.of(normalized)
    dense = candidates.dense_hits(engine.vectors, vector, NO_FILTER)
    dense_ids = dense[0]
    found = candidates.hybrid_candidates(engine.vectors, engine.arrays, engine.version.sentence_vectors, vector, dense,
                                         terms, words, stemmed)
    ids, cosine, usable = found.ids, found.cosine, found.usable
    share = {field: normalize.bm25_share(evidence.bm25, evidence.query_mass).astype(np.float32)
             for field, evidence in (("words", found.tokens), ("stems", found.stems))}
    coverage = {field: normalize.coverage(evidence.matched, evidence.query_mass).astype(np.float32)
                for field, evidence in (("words", found.tokens), ("stems", found.stems))}
    article_of = engine.arrays.articles.article_of
    article_coverage = {field: _article_coverage(pool, evidence.query_mass, article_of, ids)
                        for field, pool, evidence in (("words", words, found.tokens), ("stems", stemmed, found.stems))}
    first = engine.arrays.sentences.first
    sentence = cosine.copy()
    for i, pid in enumerate(ids.tolist()):
        rows = slice(first[pid], first[pid + 1])
        if rows.stop > rows.start:
            sentence[i] = float(np.max(engine.version.sentence_vectors[rows].astype(np.float32) @ vector[0]))
    articles = engine.arrays.articles
    article_ids, article_of, group_of = articles.article_ids, articles.article_of, articles.group_of
    relevant_group = group_of[article_of == article_ids.index(relevant)][0] if relevant in article_ids else -1
    return {"ids": ids, "cos": cosine.astype(np.float32), "in_dense": np.isin(ids, dense_ids), "lex": share["words"],
            "cov": coverage["words"], "stem_lex": share["stems"], "stem_cov": coverage["stems"], "usable": usable,
            "sent": sentence.astype(np.float32), "group": group_of[ids],
            "pos": _positions(engine)[ids],
            "relevant_group": int(relevant_group), "terms": len(terms), "vector": vector[0].astype(np.float32),
            "article": article_of[ids], "art_cov": article_coverage["words"], "stem_art_cov": article_coverage["stems"]}


def _article_coverage(pool: candidates.LexicalPool, query_mass: float, article_of: np.ndarray,
                      ids: np.ndarray) -> np.ndarray:
    """For each candidate, the IDF-weighted share of query terms held by any of its article's passages in the pool."""
    if not pool.hits:
        return np.zeros(len(ids), dtype=np.float32)
    idf = pool.search.idf(pool.searched)
    held: dict[int, set[str]] = {}
    for hit in pool.hits:
        held.setdefault(int(article_of[hit.passage_id]), set()).update(hit.matched)
    mass = {article: sum(idf[t] for t in terms) for article, terms in held.items()}
    return np.array([min(mass.get(int(a), 0.0) / query_mass, 1.0) for a in article_of[ids]], dtype=np.float32)


def _positions(engine: SearchEngine) -> np.ndarray:
    if not hasattr(engine, "_bench_positions"):
        positions = np.zeros(engine.arrays.passages, dtype=np.int64)
        for pid, position in engine.db.execute("SELECT id, position FROM passages"):
            positions[pid] = position
        engine._bench_positions = positions
    return engine._bench_positions


def task_features(name: str, args, embedder: Embedder) -> tuple[list[dict], dict[str, np.ndarray], list[str]]:
    """(per-query features, {"passages": vectors, "articles": vectors}, query ids) of a task, from the cache when
    present; an article's vector is the normalized mean of its passages' vectors."""
    task = load_task(name, args.data, args.distractors)
    if name == "fa-news-title" and args.news_articles:
        task.articles = _spread(task.articles, args.news_articles)
        kept = {article.id for article in task.articles}
        task.queries = [q for q in task.queries if q.relevant in kept]
    index_dir = cached_index(task, embedder, Chunking(), args.cache, progress=True)
    if args.build_only:
        return [], {}, []
    path = FEATURES / f"{index_dir.name}-f{FEATURE_FORMAT}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    engine = SearchEngine(open_index(index_dir), embedder, query_cache=len(task.queries))
    engine.embed_queries([q.text for q in task.queries])
    features = [query_features(engine, q.text, q.relevant) for q in tqdm(task.queries, desc=f"{name} features")]
    vectors = engine.version.vectors.vectors(np.arange(engine.arrays.passages, dtype=np.int64)).astype(np.float32)
    article_of = engine.arrays.articles.article_of
    articles = np.zeros((int(article_of.max()) + 1, vectors.shape[1]), dtype=np.float32)
    np.add.at(articles, article_of, vectors)
    articles /= np.maximum(np.linalg.norm(articles, axis=1, keepdims=True), 1e-12)
    result = (features, {"passages": vectors, "articles": articles}, [q.id for q in task.queries])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(result))
    return result


# ---------------------------------------------------------------- scoring


def score(f: dict, vectors: dict[str, np.ndarray], v: Variant) -> np.ndarray:
    """The fused score of each candidate passage of one query under ``v``; the best-sentence similarity
    re-ranks only the ``RERANK_DEPTH`` best passages, as the engine does."""
    weight = v.short_weight if v.short_weight is not None and f["terms"] <= v.short_terms else v.lexical_weight
    if v.article_weight:
        article_cosine = vectors["articles"][f["article"]] @ f["vector"]
        f = dict(f, cos=(1 - v.article_weight) * f["cos"] + v.article_weight * article_cosine)
    pool = f["cos"][f["in_dense"]] if f["in_dense"].any() else f["cos"]

    def fuse(cos: np.ndarray) -> np.ndarray:
        low, high = float(pool.min()), float(pool.max())
        dense = np.clip((cos - low) / (high - low), 0.0, 1.0) if high > low else np.ones(len(cos))
        c = v.article_coverage
        lexical = f["lex"] * ((1 - c) * f["cov"] + c * f["art_cov"]) ** v.coverage_power
        if v.stem_weight:
            stem_cov = (1 - c) * f["stem_cov"] + c * f["stem_art_cov"]
            lexical = (1 - v.stem_weight) * lexical + v.stem_weight * f["stem_lex"] * stem_cov ** v.coverage_power
        evidence = np.where(f["usable"], lexical, dense)
        if v.rrf_k is not None:
            dense_rank = _ranks(dense)
            evidence_rank = np.where(evidence > 0, _ranks(evidence), np.inf)
            return (1 - weight) / (v.rrf_k + dense_rank) + weight / (v.rrf_k + evidence_rank)
        return (1 - weight) * dense + weight * evidence + v.lead_bonus * (f["pos"] == 0)

    fused = fuse(f["cos"])
    if v.feedback_weight:
        top = f["ids"][np.argsort(-fused, kind="stable")[:v.feedback_depth]]
        passages = vectors["passages"]
        query = f["vector"] + v.feedback_weight * passages[top].mean(axis=0)
        query /= np.linalg.norm(query)
        pool = passages[f["ids"][f["in_dense"]]] @ query
        fused = fuse(passages[f["ids"]] @ query)
    if v.sentence_weight:
        top = np.argsort(-fused, kind="stable")[:RERANK_DEPTH]
        blended = (1 - v.sentence_weight) * f["cos"] + v.sentence_weight * f["sent"]
        fused = fused.copy()
        fused[top] = fuse(blended)[top]
    return fused


def _ranks(values: np.ndarray) -> np.ndarray:
    """1 for the highest value, 2 for the next, ... (ties in order of position)."""
    ranks = np.empty(len(values))
    ranks[np.argsort(-values, kind="stable")] = np.arange(1, len(values) + 1)
    return ranks


def rank_of_relevant(f: dict, scores: np.ndarray, second_passage: float = 0.0) -> int | None:
    """Rank of the relevant duplicate group among the collapsed groups (None: not among the candidates)."""
    if f["relevant_group"] not in set(f["group"].tolist()):
        return None
    groups, inverse = np.unique(f["group"], return_inverse=True)
    best = np.full(len(groups), -np.inf)
    np.maximum.at(best, inverse, scores)
    if second_passage:
        order = np.lexsort((-scores, inverse))  # by group, best passage first
        starts = np.searchsorted(inverse[order], np.arange(len(groups)))
        second = starts + 1
        has = (second < len(order)) & (inverse[order][np.minimum(second, len(order) - 1)] == np.arange(len(groups)))
        best = best + second_passage * np.where(has, scores[order][np.minimum(second, len(order) - 1)], 0.0)
    mine = best[np.searchsorted(groups, f["relevant_group"])]
    return int(np.sum(best > mine)) + 1


def metrics(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks) or 1
    inside = [r for r in ranks if r is not None and r <= CUTOFF]
    return {"MRR@10": sum(1 / r for r in inside) / n, "Recall@1": sum(r == 1 for r in inside) / n,
            "Recall@10": len(inside) / n, "nDCG@10": sum(1 / np.log2(r + 1) for r in inside) / n}


def evaluate(data: dict, v: Variant, half: int | None) -> dict[str, dict[str, float]]:
    """Metrics per task under ``v``, over the queries of ``half`` (None: all)."""
    out = {}
    for name, (features, vectors, halves) in data.items():
        ranks = [rank_of_relevant(f, score(f, vectors, v), v.second_passage)
                 for f, h in zip(features, halves) if half is None or h == half]
        out[name] = metrics(ranks)
    return out


def choose(data: dict, half: int, base: Variant) -> Variant:
    """Coordinate ascent on ``half``: mean MRR@10 over tasks, no task more than GUARD under ``base``."""
    floor = {t: m["MRR@10"] - GUARD for t, m in evaluate(data, base, half).items()}

    def objective(v: Variant) -> float:
        figures = evaluate(data, v, half)
        if any(figures[t]["MRR@10"] < floor[t] for t in figures):
            return -1.0
        return float(np.mean([m["MRR@10"] for m in figures.values()]))

    best, best_value = base, objective(base)
    for sweep in range(2):
        improved = False
        for name, values in GRID.items():
            for value in values:
                candidate = replace(best, **{name: value})
                if candidate == best:
                    continue
                value_of = objective(candidate)
                if value_of > best_value + 1e-9:
                    best, best_value, improved = candidate, value_of, True
            log.info("half %d sweep %d after %s: %s (mean MRR@10 %.4f)", half, sweep, name, best, best_value)
        if not improved:
            break
    return best


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--distractors", type=int, help="fa-qa: Fars News distractors kept (default: all)")
    parser.add_argument("--news-articles", type=int,
                        help="fa-news-title: index only this many articles, evenly spread (default: all 1,491)")
    parser.add_argument("--build-only", action="store_true", help="build (or check) the cached indexes and stop")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--variant", type=json.loads, action="append", default=[],
                        help="also report this setting (JSON of Variant fields) on both halves")
    args = parser.parse_args(argv)
    embedder = Embedder.configured(settings.model, settings)
    data = {}
    for name in args.tasks:
        features, vectors, ids = task_features(name, args, embedder)
        halves = [hashlib.sha256(f"{name}\0{qid}".encode()).digest()[0] & 1 for qid in ids]
        data[name] = (features, vectors, halves)
    if args.build_only:
        return 0
    started = time.perf_counter()
    base = Variant()
    report = {"baseline": {h: evaluate(data, base, h) for h in (0, 1)}, "chosen": {}, "variants": []}
    for choosing in (0, 1):
        chosen = choose(data, choosing, base)
        held_out = 1 - choosing
        report["chosen"][choosing] = {"variant": asdict(chosen), "held_out": held_out,
                                      "figures": evaluate(data, chosen, held_out)}
    for fields in args.variant:
        v = Variant(**fields)
        report["variants"].append({"variant": asdict(v), "figures": {h: evaluate(data, v, h) for h in (0, 1)}})
    log.info("search and scoring took %.0f s", time.perf_counter() - started)
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
