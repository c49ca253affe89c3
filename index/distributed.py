"""Embedding passages on a Ray cluster: a pool of Ray actors, each loading the model once and kept for the
whole rebuild (every checkpointed shard is embedded by the same actors)."""
from __future__ import annotations

import argparse
import logging
import os
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


class RayEmbedding:
    """The pipeline's embedding step (:data:`index.pipeline.PassageEmbedding`) run by actors on a Ray
    cluster; each actor runs the same :class:`Embedder` as the driver (same model, same precision),
    so the vectors match the single-process ones within rounding.

    Use as a context manager: it connects on entry (``address`` None starts a local Ray, or joins the
    one ``RAY_ADDRESS`` names) and disconnects on exit."""

    def __init__(self, embedder: Embedder, model_cache: Path, address: str | None = None,
                 cpus_per_actor: int = 1, batch_size: int | None = None, rows_per_batch: int = ROWS_PER_BATCH) -> None:
        if cpus_per_actor < 1:
            raise ValueError(f"cpus_per_actor must be at least 1, not {cpus_per_actor}")
        self.model = embedder.name
        self.model_cache = Path(model_cache)
        self.precision = embedder.precision  # the driver's choice, not the actor machine's own "auto"
        self.batch_size = batch_size or embedder.batch_size
        self.dimension = embedder.dimension
        self.address = address
        self.cpus_per_actor = cpus_per_actor
        self.rows_per_batch = rows_per_batch
        self.actors = 0
        self.served_by: set[int] = set()  # process ids of the actors that embedded batches (one pool, kept)
        self._pool: Any = None

    def __enter__(self) -> "RayEmbedding":
        # Ray is imported here, not with the module: importing it takes seconds, which a rebuild without
        # --ray should not pay.
        import ray
        from ray.util import ActorPool

        # The index package travels with the job, so cluster nodes need only the requirements installed.
        ray.init(address=self.address, include_dashboard=False, logging_level=logging.WARNING,
                 runtime_env={"py_modules": [str(Path(index.__file__).parent)]})
        self.actors = max(1, int(ray.cluster_resources().get("CPU", 1) // self.cpus_per_actor))
        log.info("Ray cluster: %d actors of %d CPU each", self.actors, self.cpus_per_actor)
        actor = ray.remote(num_cpus=self.cpus_per_actor)(_EmbeddingActor)
        # the actors load the model now, in parallel, while the driver cuts the first shard
        self._pool = ActorPool([actor.remote(self.model, str(self.model_cache), self.precision, self.batch_size,
                                             self.cpus_per_actor) for _ in range(self.actors)])
        return self

    def __exit__(self, *exc: object) -> None:
        import ray

        log.info("Ray: %d actor processes embedded this rebuild's batches", len(self.served_by))
        self._pool = None
        self.actors = 0
        ray.shutdown()

    def __call__(self, texts: Sequence[str], sentences: Sequence[Sequence[tuple[int, int]]],
                 progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Passage vectors and sentence vectors, in the order :meth:`Embedder.embed_passages` returns them."""
        if self._pool is None:
            raise RuntimeError("RayEmbedding is used outside its `with` block (not connected to Ray)")
        first = np.cumsum([0] + [len(spans) for spans in sentences])
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        sentence_vectors = np.empty((int(first[-1]), self.dimension), dtype=np.float32)
        # Longest first, as in the single process, so that each batch pads little; the pool hands a batch
        # to each idle actor and holds the rest back.
        order = np.argsort([-len(t) for t in texts], kind="stable").tolist()
        batches = [order[i:i + self.rows_per_batch] for i in range(0, len(order), self.rows_per_batch)]
        work = (lambda actor, rows: actor.embed.remote(rows, [texts[i] for i in rows], [list(sentences[i]) for i in rows]))
        with tqdm(total=len(texts), unit="passage", desc="embedding (Ray)", disable=not progress) as bar:
            for rows, batch_vectors, batch_sentences, actor_pid in self._pool.map_unordered(work, batches):
                self.served_by.add(actor_pid)
                vectors[rows] = batch_vectors
                done = 0
                for row in rows:
                    count = int(first[row + 1] - first[row])
                    sentence_vectors[first[row]:first[row + 1]] = batch_sentences[done:done + count]
                    done += count
                bar.update(len(rows))
        return vectors, sentence_vectors


def add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of a command that can embed on a Ray cluster."""
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help="embed with a Ray actor pool: on the cluster at ADDRESS (host:port, or 'auto'), "
                             "or without ADDRESS on the one RAY_ADDRESS names, else on a local Ray")
    parser.add_argument("--ray-cpus-per-actor", type=int, default=1,
                        help="CPUs (torch threads) of each Ray actor; one model per actor (default %(default)s)")


def embedding_from_args(args: argparse.Namespace, embedder: Embedder,
                        model_cache: Path) -> AbstractContextManager[RayEmbedding | None]:
    """A connected :class:`RayEmbedding` when ``--ray`` was given; otherwise None (the embedder's own)."""
    if args.ray is None:
        return nullcontext()
    return RayEmbedding(embedder, model_cache, args.ray or None, args.ray_cpus_per_actor, args.batch_size)


class _EmbeddingActor:
    """One model per actor, loaded when the actor starts and used for every batch of the rebuild."""

    def __init__(self, model: str, model_cache: str, precision: str, batch_size: int, threads: int) -> None:
        from index.embedder import Embedder
        from index.precision import set_threads

        set_threads(threads)
        self.embedder = Embedder(model, Path(model_cache), batch_size=batch_size, precision=precision)

    def embed(self, rows: list[int], texts: list[str],
              spans: list[list[tuple[int, int]]]) -> tuple[list[int], np.ndarray, np.ndarray, int]:
        """The batch's rows back, with their passage vectors, their sentence vectors (concatenated) and
        this actor's process id."""
        vectors, sentence_vectors = self.embedder.embed_passages(texts, spans)
        return rows, vectors, sentence_vectors, os.getpid()
