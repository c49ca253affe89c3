"""Embedding with a pool of Ray actors on a two-node local Ray cluster writes the single-process index."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.articles import read_articles
from index.distributed import RayEmbedding
from index.pipeline import build_index
from index.rewrite import stored_passages
from index.store import index_lock, open_index
from settings import Settings

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "articles.jsonl"


@pytest.fixture(scope="module")
def two_node_cluster():
    """A Ray head and one worker node, one CPU and a small object store each; shut down after the module."""
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 1, "object_store_memory": 100 * 1024 * 1024}
    cluster = Cluster(initialize_head=True, head_node_args=dict(node, include_dashboard=False))
    cluster.add_node(**node)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


@pytest.mark.slow
def test_ray_rebuild_on_two_nodes_writes_the_single_process_index(two_node_cluster, sample_index, embedder, tmp_path):
    import ray

    articles = read_articles([SAMPLE])
    # Small batches, so that both actors get work from 24 articles; three shards, all embedded by the
    # same two actors (each loads the model once per rebuild, not once per shard).
    with RayEmbedding(embedder, Settings.from_env().model_cache, two_node_cluster.address,
                      rows_per_batch=8) as ray_embedding:
        assert ray_embedding.actors == 2
        assert len(ray.nodes()) == 2
        with index_lock(tmp_path):
            build_index(articles, tmp_path, embedder, embed_passages=ray_embedding, shard_articles=8)
        assert 1 <= len(ray_embedding.served_by) <= 2
    assert not ray.is_initialized()

    local, distributed = stored_passages(open_index(sample_index)), stored_passages(open_index(tmp_path))
    assert list(distributed) == list(local)
    for article_id, (passages, vectors, sentence_vectors) in local.items():
        ray_passages, ray_vectors, ray_sentence_vectors = distributed[article_id]
        assert ray_passages == passages
        # The same model and precision on other batch neighbours: equal up to rounding.
        assert np.min(np.sum(vectors * ray_vectors, axis=1)) > 0.999
        assert ray_sentence_vectors.shape == sentence_vectors.shape
        assert np.min(np.sum(sentence_vectors * ray_sentence_vectors, axis=1)) > 0.999


def test_an_actor_needs_at_least_one_cpu(embedder):
    with pytest.raises(ValueError, match="cpus_per_actor must be at least 1"):
        RayEmbedding(embedder, Settings.from_env().model_cache, cpus_per_actor=0)
