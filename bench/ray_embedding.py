"""Embedding throughput per core: the single-process path against a pool of Ray actors, in one run.

    python bench/ray_embedding.py [--data ../shared/data] [--articles 300] [--nodes 2] [--cpus-per-node 1]

Cuts passages from the first Fars News articles, then embeds the same passages (1) in this process
with torch on all its cores, (2) in this process with one torch thread, (3) on a local Ray cluster of
``--nodes`` nodes (``ray.cluster_utils.Cluster``) with one one-thread actor per CPU. Prints wall
time, passages per second and passages per second per core for each, the Ray start-up (a call of
one passage per actor: actors starting and loading the model), the ratios against (1) and (2), and the lowest
cosine between the Ray vectors and the single-process ones.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.articles import read_articles  # noqa: E402
from index.distributed import RayEmbedding  # noqa: E402
from index.embedder import Embedder  # noqa: E402
from index.pipeline import Chunking, cut_articles  # noqa: E402
from settings import Settings  # noqa: E402


def timed(embed, texts: list[str], ranges: list) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    vectors, _ = embed(texts, ranges, False)
    return time.perf_counter() - started, vectors


def report(label: str, seconds: float, passages: int, cores: int) -> float:
    per_core = passages / seconds / cores
    print(f"{label:<44} {seconds:7.1f} s  {passages / seconds:6.1f} passages/s  {per_core:6.1f} per core ({cores} cores)",
          flush=True)
    return per_core


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--articles", type=int, default=300, help="first N Fars News articles")
    parser.add_argument("--nodes", type=int, default=2, help="nodes of the local Ray cluster")
    parser.add_argument("--cpus-per-node", type=int, default=1)
    args = parser.parse_args()
    settings = Settings.from_env()
    cores = os.cpu_count() or 1

    articles = read_articles([args.data / "farsnews" / "fars-news-1.json"])[: args.articles]
    embedder = Embedder(settings.model, settings.model_cache, settings.bf16)
    cut = cut_articles(articles, embedder, Chunking())
    texts, ranges = cut.texts, cut.ranges
    print(f"{len(texts)} passages from {len(articles)} articles; bf16 weights {'on' if embedder.bf16 else 'off'}; "
          f"{cores} cores on this machine; load average {os.getloadavg()[0]:.1f}\n", flush=True)

    threads = torch.get_num_threads()
    seconds, local = timed(embedder.embed_passages, texts, ranges)
    local_rate = report(f"single process, {threads} torch threads", seconds, len(texts), threads)
    torch.set_num_threads(1)
    seconds, _ = timed(embedder.embed_passages, texts, ranges)
    one_thread_rate = report("single process, 1 torch thread", seconds, len(texts), 1)
    torch.set_num_threads(threads)

    from ray.cluster_utils import Cluster

    node = {"num_cpus": args.cpus_per_node, "object_store_memory": 200 * 1024 * 1024}
    cluster = Cluster(initialize_head=True, head_node_args=dict(node, include_dashboard=False))
    try:
        for _ in range(args.nodes - 1):
            cluster.add_node(**node)
        cluster.wait_for_nodes()
        ray_cores = args.nodes * args.cpus_per_node
        with RayEmbedding(embedder, settings.model_cache, cluster.address, rows_per_batch=1) as ray_embedding:
            # start-up: every call starts its actor pool, whose actors each load the model
            startup, _ = timed(ray_embedding, texts[-ray_embedding.actors:], ranges[-ray_embedding.actors:])
        with RayEmbedding(embedder, settings.model_cache, cluster.address) as ray_embedding:
            seconds, distributed = timed(ray_embedding, texts, ranges)
        label = f"Ray, {ray_embedding.actors} actors x 1 thread on {args.nodes} nodes"
        ray_rate = report(f"{label}, with start-up", seconds, len(texts), ray_cores)
        print(f"{'Ray start-up (a call of one passage per actor)':<44} {startup:7.1f} s")
        steady_rate = report(f"{label}, less start-up", seconds - startup, len(texts), ray_cores)
    finally:
        cluster.shutdown()
    print(f"\nRay per core / single process per core: {ray_rate / local_rate:.2f} with start-up, "
          f"{steady_rate / local_rate:.2f} less start-up (vs one thread: {ray_rate / one_thread_rate:.2f}, "
          f"{steady_rate / one_thread_rate:.2f})")
    print(f"lowest cosine, Ray vs single-process passage vectors: {np.min(np.sum(local * distributed, axis=1)):.5f}; "
          f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
