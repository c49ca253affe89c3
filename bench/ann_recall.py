"""Recall of the approximate vector index against exact search on real-text vectors: the vectors a rebuild
has embedded so far, read from its checkpoint shards (not a test).

    python bench/ann_recall.py --builds INDEX/builds/KEY --model MODEL --vectors 1000000 --queries 200

A large rebuild keeps each finished shard's passage vectors and sentence vectors (``index.checkpoints``): text
of real sentences, embedded by the model the rebuild runs. This takes the passage vectors of the shards in order,
then their sentence vectors (also unit vectors of real text, a sentence each) until ``--vectors`` are held, builds
the product's IVF index over them with the parameters a version of that size gets (``index.vectors.ivf``), and
compares its top ``k`` with exact inner-product search for the benchmark queries (Fars News titles and English
phrases, bench/queries.txt), embedded by the same model: recall@k, at the engine's own depths. A replicated
archive (bench/replicate.py) cannot show this, since each vector's nine near-copies are found together.
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

from index.vectors.base import VectorBlocks  # noqa: E402
from index.vectors.flat import FlatIndex  # noqa: E402
from index.vectors.ivf import IVFIndex  # noqa: E402
from load_web import load_queries  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEPTHS = (10, 100, 1000)  # the engine's answer, its re-ranked head, its dense pool


def shard_vectors(builds: Path, count: int) -> tuple[np.ndarray, int]:
    """``count`` vectors from the shards in ``builds``: every passage vector first, then sentence vectors; and how
    many of them are passage vectors."""
    shards = sorted(builds.glob("shard-*.npz"))
    if not shards:
        raise SystemExit(f"no checkpoint shards in {builds}")
    passages = [np.load(shard)["vectors"] for shard in shards]
    held = np.concatenate(passages)[:count]
    parts, total = [held], len(held)
    for shard in shards:
        if total >= count:
            break
        sentences = np.load(shard)["sentence_vectors"][: count - total]
        parts.append(sentences)
        total += len(sentences)
    if total < count:
        raise SystemExit(f"the shards hold {total} vectors, fewer than the {count} asked")
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32), len(held)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=Path, required=True, help="a rebuild's checkpoint folder, INDEX/builds/KEY")
    parser.add_argument("--model", type=Path, required=True, help="the model the rebuild embeds with")
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200, help="benchmark queries used (at most 200)")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from index.embedder import Embedder
    from settings import Settings

    started = time.perf_counter()
    vectors, passages = shard_vectors(args.builds, args.vectors)
    read_s = time.perf_counter() - started
    texts = load_queries(ROOT / "bench" / "queries.txt", args.data)[: args.queries]
    queries = Embedder(str(args.model), Settings.from_env().model_cache).embed_queries(texts)
    started = time.perf_counter()
    index = IVFIndex.build_from(VectorBlocks.of(vectors), np.arange(len(vectors)))
    build_s = time.perf_counter() - started
    exact, _ = FlatIndex.build_from(VectorBlocks.of(vectors), np.arange(len(vectors))).search(queries, max(DEPTHS))
    figures = {"vectors": len(vectors), "passage_vectors": passages, "sentence_vectors": len(vectors) - passages,
               "queries": len(texts), "model": str(args.model), "parameters": index.parameters,
               "read_s": round(read_s, 1), "ivf_build_s": round(build_s, 1), "recall": {}, "search_ms_median": {}}
    for k in DEPTHS:
        times, found = [], []
        for query in queries:
            begun = time.perf_counter()
            ids, _ = index.search(query[None, :], k)
            times.append((time.perf_counter() - begun) * 1000)
            found.append(ids[0])
        hits = [len(set(f.tolist()) & set(e[:k].tolist())) / k for f, e in zip(found, exact)]
        figures["recall"][f"@{k}"] = round(float(np.mean(hits)), 4)
        figures["recall"][f"@{k} worst query"] = round(float(np.min(hits)), 2)
        figures["search_ms_median"][f"@{k}"] = round(statistics.median(times), 2)
    print(f"{len(vectors):,} real-text vectors ({passages:,} passages, {len(vectors) - passages:,} sentences) from "
          f"{args.builds}, model {args.model}; IVF {index.parameters}, built in {build_s:.0f} s")
    for k in DEPTHS:
        print(f"recall@{k} against exact: {figures['recall'][f'@{k}']} (worst query "
              f"{figures['recall'][f'@{k} worst query']}), search median {figures['search_ms_median'][f'@{k}']} ms")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
