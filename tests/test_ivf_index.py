"""The approximate (IVF) vector index: recall against exact search, filters, exact scores, files, the size rule."""
from __future__ import annotations

import faiss
import numpy as np
import pytest

from index.filter import Filter
from index.vectors.base import Allowed, VectorBlocks, VectorIndexError
from index.vectors.factory import ANN_THRESHOLD, choose_kind, vector_index_class
from index.vectors.flat import FlatIndex
from index.vectors.ivf import VECTORS_IVF, IVFIndex, ivf_parameters


def clustered_vectors(n: int, d: int = 32, clusters: int = 60, seed: int = 0) -> np.ndarray:
    """Unit vectors around a few centres, like text embeddings (uniform random ones have no neighbourhoods)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, d))
    vectors = centres[rng.integers(0, clusters, n)] + 0.6 * rng.normal(size=(n, d))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


# the IVF lists hold each vector's residual from its centroid in float16: a stored component is within about 1e-4
# of the float32 one, an inner product of unit vectors within a few 1e-4
STORED = 5e-4


def recall(found: np.ndarray, expected: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found.tolist(), expected.tolist())]))


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return clustered_vectors(6000)


@pytest.fixture(scope="module")
def saved(vectors, tmp_path_factory) -> IVFIndex:
    folder = tmp_path_factory.mktemp("ivf")
    IVFIndex.build(vectors, np.arange(len(vectors))).save(folder)
    return IVFIndex.load(folder)


def test_search_finds_nearly_what_exact_search_finds_with_exact_scores(vectors, saved):
    queries = clustered_vectors(200, seed=1)
    found, scores = saved.search(queries, 10)
    expected, _ = FlatIndex.build(vectors, np.arange(len(vectors))).search(queries, 10)
    assert recall(found, expected) >= 0.97
    # the scores are the inner products with the stored vectors, and those are the float32 ones to float16's precision
    assert np.allclose(scores, np.einsum("qd,qkd->qk", queries, saved.vectors(found.ravel()).reshape(*found.shape, -1)),
                       atol=1e-5)
    assert np.allclose(scores, np.einsum("qd,qkd->qk", queries, vectors[found]), atol=STORED)


def test_filtered_search_returns_only_allowed_passages_and_widens_the_probe_for_a_rare_filter(vectors, saved):
    rng = np.random.default_rng(2)
    allowed_ids = np.flatnonzero(rng.random(len(vectors)) < 0.02)  # 2 %: the default probe would see ~8 of them
    queries = clustered_vectors(50, seed=3)
    found, _ = saved.search(queries, 10, Allowed(Filter(category="rare"), lambda _: allowed_ids))
    assert set(found.ravel().tolist()) <= set(allowed_ids.tolist())
    expected = allowed_ids[np.argsort(-(queries @ vectors[allowed_ids].T), axis=1)[:, :10]]
    assert recall(found, expected) >= 0.97
    none, _ = saved.search(queries, 10, Allowed(Filter(category="none"), lambda _: np.zeros(0, np.int64)))
    assert none.shape == (50, 0)


def test_score_and_vectors_read_the_stored_vectors_by_id(vectors, saved):
    wanted = np.array([17, 3, 5999, 0])
    assert np.allclose(saved.vectors(wanted), vectors[wanted], atol=STORED, rtol=0)
    assert not np.array_equal(saved.vectors(wanted), vectors[wanted]), "stored in float16"
    assert np.allclose(saved.score(vectors[42], wanted), saved.vectors(wanted) @ vectors[42], atol=1e-6)
    assert saved.verify(np.arange(len(vectors))) is None
    assert saved.count == 6000 and saved.dimension == 32


def test_a_loaded_index_can_still_change(vectors, tmp_path):
    index = IVFIndex.build(vectors[:1000], np.arange(1000))
    index.save(tmp_path)
    loaded = IVFIndex.load(tmp_path)
    loaded.remove(np.array([5, 7]))
    loaded.add(vectors[1000:1002], np.array([5000, 5001]))
    assert loaded.count == 1000
    assert loaded.search(vectors[1000:1001], 1)[0][0, 0] == 5000
    assert 5 not in loaded.ids() and np.allclose(loaded.vectors(np.array([5001])), vectors[1001:1002], atol=STORED, rtol=0)


def test_a_damaged_or_foreign_file_is_refused(vectors, tmp_path):
    IVFIndex.build(vectors[:2000], np.arange(2000)).save(tmp_path)
    data = (tmp_path / VECTORS_IVF).read_bytes()
    (tmp_path / VECTORS_IVF).write_bytes(data[: len(data) // 3])
    with pytest.raises(VectorIndexError, match=VECTORS_IVF):
        IVFIndex.load(tmp_path)


def test_a_float32_file_of_an_older_version_is_read_and_its_parts_stay_float32(vectors, tmp_path):
    new = IVFIndex.build(vectors[:2000], np.arange(2000))
    old = faiss.IndexIVFFlat(faiss.clone_index(new._index.quantizer), 32, new._index.nlist, faiss.METRIC_INNER_PRODUCT)
    old.add_with_ids(vectors[:2000], np.arange(2000))
    old.nprobe = new._index.nprobe
    faiss.write_index(old, str(tmp_path / VECTORS_IVF))
    loaded = IVFIndex.load(tmp_path)
    assert np.array_equal(loaded.vectors(np.array([3, 1999])), vectors[[3, 1999]])  # float32, exact
    assert np.array_equal(loaded.search(vectors[:5], 3)[0], new.search(vectors[:5], 3)[0])
    part = loaded.empty_like()
    part.add(vectors[2000:2002], np.array([2000, 2001]))
    assert np.array_equal(part.vectors(np.array([2001])), vectors[2001:2002])
    # another kind of IVF file (8-bit codes) is not one this Kavosh writes or reads
    sq8 = faiss.IndexIVFScalarQuantizer(faiss.clone_index(new._index.quantizer), 32, new._index.nlist,
                                        faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    sq8.train(vectors[:2000])
    faiss.write_index(sq8, str(tmp_path / VECTORS_IVF))
    with pytest.raises(VectorIndexError, match="not an inner-product IVF index"):
        IVFIndex.load(tmp_path)


def test_parameters_grow_with_the_archive_and_are_kept_with_the_index(saved):
    small, large = ivf_parameters(10_000), ivf_parameters(1_000_000)
    assert small["nlist"] < large["nlist"] and small["nprobe"] <= large["nprobe"]
    assert large["nprobe"] / large["nlist"] <= 1 / 8  # a search reads a small share of a large archive
    assert saved.parameters == ivf_parameters(6000)


def test_exact_below_the_threshold_approximate_above_and_a_setting_forces_either():
    assert choose_kind(ANN_THRESHOLD - 1, "auto") == "flat"
    assert choose_kind(ANN_THRESHOLD, "auto") == "ivf"
    assert choose_kind(10, "ivf") == "ivf" and choose_kind(10 * ANN_THRESHOLD, "flat") == "flat"
    assert vector_index_class("ivf") is IVFIndex
    with pytest.raises(ValueError, match="KAVOSH_VECTOR_INDEX"):
        choose_kind(10, "hnsw")


def test_building_from_blocks_gives_the_index_built_from_one_array() -> None:
    """A rebuild hands the vectors over shard by shard: same training sample, same lists, same answers."""
    vectors = clustered_vectors(3000, d=16, seed=5)
    queries = vectors[:20] + 0.05
    ids = np.arange(3000) * 3  # not the row numbers, so ids must follow their rows across blocks
    whole = IVFIndex.build(vectors, ids)
    blocks = VectorBlocks(3000, 16, lambda: [vectors[:700], vectors[700:701], vectors[701:2500], vectors[2500:]])
    pieces = IVFIndex.build_from(blocks, ids)
    assert pieces.parameters == whole.parameters
    for one, other in zip(whole.search(queries, 10), pieces.search(queries, 10)):
        assert np.array_equal(one, other)
    assert np.array_equal(FlatIndex.build_from(blocks, ids).search(queries, 10)[0], FlatIndex.build(vectors, ids).search(queries, 10)[0])
    with pytest.raises(ValueError, match="3000 vectors expected, 2300 given"):
        IVFIndex.build_from(VectorBlocks(3000, 16, lambda: [vectors[:700], vectors[1400:]]), ids)
