"""The Milvus hop: search latency of the local backend against Milvus Lite on loopback, and Milvus memory.

    python bench/milvus_backend.py [--data ../shared/data] [--task fa-qa] [--distractors 300] [--queries 200]
                                   [--synthetic 100000]

Opens an evaluation task's index (built into the evaluation cache when missing), publishes it
to a Milvus Lite file in a temporary folder, then answers the same queries of the task with the engine
over each backend, alternating backend query by query: median and p95 milliseconds per search
(hybrid, k=10) and per dense-only vector search, and their differences, the Milvus hop. Then it
publishes ``--synthetic`` random passages (384 dimensions, ten terms each) into another Milvus Lite
collection and prints this process's resident memory before and after, per million passages.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.embedder import Embedder  # noqa: E402
from index.lexical import stems  # noqa: E402
from index.milvus.collection import STEMS, WORDS, connect, create_collection  # noqa: E402
from index.milvus.sync import publish  # noqa: E402
from index.milvus.sparse import passage_vector  # noqa: E402
from index.store import open_index  # noqa: E402
from search.backends import MilvusBackend  # noqa: E402
from search.engine import SearchEngine  # noqa: E402
from search.understanding import understand  # noqa: E402
from settings import Settings  # noqa: E402
from tasks import add_task_arguments, task_index  # noqa: E402


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def summary(label: str, times: list[float]) -> float:
    median = statistics.median(times)
    p95 = sorted(times)[int(0.95 * (len(times) - 1))]
    print(f"{label:<40} median {median:7.2f} ms   p95 {p95:7.2f} ms")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_task_arguments(parser)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--synthetic", type=int, default=100_000, help="passages for the memory figure")
    args = parser.parse_args()
    base = Settings.from_env()
    embedder = Embedder.configured(base.model, base)
    task, folder = task_index(args, embedder)
    version = open_index(folder)
    queries = [query.text for query in task.queries[:: max(1, len(task.queries) // args.queries)][: args.queries]]

    with tempfile.TemporaryDirectory(prefix="kavosh-milvus-bench-") as tmp:
        settings = Settings.from_env({"KAVOSH_BACKEND": "milvus", "KAVOSH_MILVUS_URI": f"{tmp}/bench.db"})
        client = connect(settings)
        started = time.perf_counter()
        publish(version, settings, client, progress=True)
        print(f"published {version.manifest['passages']} passages to Milvus Lite in {time.perf_counter() - started:.1f} s")
        engines = {"local": SearchEngine(version, embedder),
                   "milvus": SearchEngine(version, embedder, backend=MilvusBackend(settings, client))}
        for engine in engines.values():
            engine.embed_queries(queries)
            engine.search(queries[0])  # first-use reads (scripts, sentences) out of the timing
        search_ms = {name: [] for name in engines}
        dense_ms = {name: [] for name in engines}
        for query in queries:
            vector = engines["local"].query_vectors.of(understand(query).normalized)
            for name, engine in engines.items():
                started = time.perf_counter()
                engine.search(query, 10)
                search_ms[name].append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                engine.vectors.search(vector, 1000)
                dense_ms[name].append((time.perf_counter() - started) * 1000)
        print(f"\n{len(queries)} {args.task} queries over {version.manifest['passages']} passages, same process, alternating:")
        local, milvus = summary("search, local (FAISS + FTS5)", search_ms["local"]), summary(
            "search, Milvus Lite on loopback", search_ms["milvus"])
        print(f"{'added by the Milvus hop (medians)':<40} {milvus - local:7.2f} ms ({milvus / local:.2f}x)")
        local, milvus = summary("dense top-1000, FAISS flat", dense_ms["local"]), summary(
            "dense top-1000, Milvus Lite HNSW", dense_ms["milvus"])
        print(f"{'added by the Milvus hop (medians)':<40} {milvus - local:7.2f} ms ({milvus / local:.2f}x)")

        del engines
        gc.collect()
        rng = np.random.default_rng(0)
        name = "kavosh_memory_probe"
        create_collection(client, name, 384)
        before = rss_mb()
        vocabulary = [f"t{i}" for i in range(50_000)]
        for start in range(0, args.synthetic, 1000):
            vectors = rng.normal(size=(1000, 384)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            terms = [[vocabulary[j] for j in rng.integers(0, 50_000, 10)] for _ in range(1000)]
            client.insert(name, [{"id": start + i, "vector": vectors[i].tolist(), WORDS: passage_vector(terms[i], 10.0),
                                  STEMS: passage_vector(stems(terms[i]), 10.0), "cat": "politics",
                                  "date": "2020-01-01"} for i in range(1000)])
        client.load_collection(name)
        after = rss_mb()
        print(f"\nMilvus Lite, {args.synthetic} synthetic passages: RSS {before:.0f} MB -> {after:.0f} MB, "
              f"{(after - before) / args.synthetic * 1e6 / 1024:.2f} GB per million passages")
        client.close()


if __name__ == "__main__":
    main()
