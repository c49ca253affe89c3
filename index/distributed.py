"""Embedding passages on a Ray cluster: a Ray Data actor pool in which each actor loads the model once."""
from __future__ import annotations

import argparse
import logging
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from tqdm import tqdm

import index

if TYPE_CHECKING:  # the model loads only after the index lock is taken (index/rebuild.py)
    from index.embedder import Embedder

log = logging.getLogger(__name__)

ROWS_PER_BATCH = 64  # passages an actor embeds per call: long enough to batch well, short enough to spread
# A rebuild calls the embedding once per checkpointed shard, and each call starts a Ray Data actor pool whose
# actors load the model: on Ray, shards hold at least this many articles (~90,000 passages), so that loading
# stays a small share of a shard's work
RAY_SHARD_ARTICLES = 25_000


class RayEmbedding:
    """The pipeline's embedding step (:data:`index.pipeline.PassageEmbedding`) run by actors on a Ray
    cluster; each actor runs the same :class:`Embedder` as the driver (same model, same bf16 choice),
    so the vectors match the single-process ones within bf16 rounding.

    Use as a context manager: it connects on entry (``address`` None starts a local Ray, or joins the
    one ``RAY_ADDRESS`` names) and disconnects on exit."""

    def __init__(self, embedder: Embedder, model_cache: Path, address: str | None = None,
                 cpus_per_actor: int = 1, batch_size: int | None = None, rows_per_batch: int = ROWS_PER_BATCH) -> None:
        if cpus_per_actor < 1:
            raise ValueError(f"cpus_per_actor must be at least 1, not {cpus_per_actor}")
        self.model = embedder.name
        self.model_cache = Path(model_cache)
        self.bf16 = "on" if embedder.bf16 else "off"
        self.batch_size = batch_size or embedder.batch_size
        self.dimension = embedder.dimension
        self.address = address
        self.cpus_per_actor = cpus_per_actor
        self.rows_per_batch = rows_per_batch
        self.actors = 0

    def __enter__(self) -> "RayEmbedding":
        # Ray is imported here, not with the module: importing ray.data takes seconds, which a rebuild
        # without --ray should not pay.
        import ray
        import ray.data

        # The index package travels with the job, so cluster nodes need only the requirements installed.
        ray.init(address=self.address, include_dashboard=False, logging_level=logging.WARNING,
                 runtime_env={"py_modules": [str(Path(index.__file__).parent)]})
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the driver shows one bar of its own
        self.actors = max(1, int(ray.cluster_resources().get("CPU", 1) // self.cpus_per_actor))
        log.info("Ray cluster: %d actors of %d CPU each", self.actors, self.cpus_per_actor)
        return self

    def __exit__(self, *exc: object) -> None:
        import ray

        ray.shutdown()

    def __call__(self, texts: Sequence[str], sentences: Sequence[Sequence[tuple[int, int]]],
                 progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Passage vectors and sentence vectors, in the order :meth:`Embedder.embed_passages` returns them."""
        if not self.actors:
            raise RuntimeError("RayEmbedding is used outside its `with` block (not connected to Ray)")
        import ray.data

        first = np.cumsum([0] + [len(spans) for spans in sentences])
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        sentence_vectors = np.empty((int(first[-1]), self.dimension), dtype=np.float32)
        # Longest first, as in the single process, so that each batch pads little.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        items = [{"row": int(i), "text": texts[i], "spans": np.asarray(sentences[i], dtype=np.int64).reshape(-1)}
                 for i in order]
        dataset = ray.data.from_items(items).map_batches(
            _EmbeddingActor,
            fn_constructor_kwargs={"model": self.model, "model_cache": str(self.model_cache), "bf16": self.bf16,
                                   "batch_size": self.batch_size, "threads": self.cpus_per_actor},
            batch_size=self.rows_per_batch, batch_format="numpy", num_cpus=self.cpus_per_actor,
            compute=ray.data.ActorPoolStrategy(size=self.actors),
        )
        with tqdm(total=len(texts), unit="passage", desc="embedding (Ray)", disable=not progress) as bar:
            for batch in dataset.iter_batches(batch_format="numpy", batch_size=None):
                for row, vector, pooled in zip(batch["row"], batch["vector"], batch["sentences"]):
                    vectors[row] = vector
                    sentence_vectors[first[row]:first[row + 1]] = np.frombuffer(pooled, dtype=np.float32).reshape(
                        -1, self.dimension)
                bar.update(len(batch["row"]))
        return vectors, sentence_vectors


def add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of a command that can embed on a Ray cluster."""
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help="embed with a Ray actor pool: on the cluster at ADDRESS (host:port, or 'auto'), "
                             "or without ADDRESS on the one RAY_ADDRESS names, else on a local Ray")
    parser.add_argument("--ray-cpus-per-actor", type=int, default=1,
                        help="CPUs (torch threads) of each Ray actor; one model per actor (default %(default)s)")


def shard_articles(args: argparse.Namespace, configured: int) -> int:
    """Articles per checkpointed shard: the configured number, or :data:`RAY_SHARD_ARTICLES` on Ray if more."""
    return configured if args.ray is None else max(configured, RAY_SHARD_ARTICLES)


def embedding_from_args(args: argparse.Namespace, embedder: Embedder,
                        model_cache: Path) -> AbstractContextManager[RayEmbedding | None]:
    """A connected :class:`RayEmbedding` when ``--ray`` was given; otherwise None (the embedder's own)."""
    if args.ray is None:
        return nullcontext()
    return RayEmbedding(embedder, model_cache, args.ray or None, args.ray_cpus_per_actor, args.batch_size)


class _EmbeddingActor:
    """One model per actor, loaded when the actor starts and reused for every batch it is given."""

    def __init__(self, model: str, model_cache: str, bf16: str, batch_size: int, threads: int) -> None:
        import torch

        from index.embedder import Embedder

        torch.set_num_threads(threads)
        self.embedder = Embedder(model, Path(model_cache), bf16, batch_size)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        spans = [list(zip(flat[0::2].tolist(), flat[1::2].tolist())) for flat in batch["spans"]]
        vectors, sentence_vectors = self.embedder.embed_passages(list(batch["text"]), spans)
        bounds = np.cumsum([0] + [len(s) for s in spans])
        pooled = np.array([sentence_vectors[a:b].tobytes() for a, b in zip(bounds[:-1], bounds[1:])], dtype=object)
        return {"row": batch["row"], "vector": vectors, "sentences": pooled}
