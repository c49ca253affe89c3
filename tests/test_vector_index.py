"""The vector-index interface through its exact FAISS backend: search, filters, exact scores, changes, files."""
from __future__ import annotations

import numpy as np
import pytest

from index.filter import Filter
from index.vectors.base import Allowed, VectorIndexError
from index.vectors.factory import DEFAULT_KIND, vector_index_class
from index.vectors.flat import VECTORS, FlatIndex


def unit_vectors(n: int, d: int = 8, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_search_returns_the_nearest_ids_best_first_as_brute_force_does():
    vectors = unit_vectors(50)
    index = FlatIndex.build(vectors, np.arange(50))
    queries = unit_vectors(3, seed=1)
    ids, scores = index.search(queries, 5)
    expected = np.argsort(-(queries @ vectors.T), axis=1)[:, :5]
    assert ids.shape == scores.shape == (3, 5)
    assert np.array_equal(ids, expected)
    assert np.allclose(scores, np.take_along_axis(queries @ vectors.T, expected, axis=1), atol=1e-6)


def test_search_keeps_to_the_allowed_passages_and_resolves_them_once():
    vectors = unit_vectors(20)
    index = FlatIndex.build(vectors, np.arange(20))
    calls = []

    def resolve(where: Filter) -> np.ndarray:
        calls.append(where)
        return np.array([3, 7, 11], dtype=np.int64)

    allowed = Allowed(Filter(category="sport"), resolve)
    ids, _ = index.search(unit_vectors(1, seed=2), 10, allowed)
    assert sorted(ids[0].tolist()) == [3, 7, 11]
    index.search(unit_vectors(1, seed=3), 10, allowed)
    assert calls == [Filter(category="sport")]
    nothing, _ = index.search(unit_vectors(1), 10, Allowed(Filter(category="none"), lambda _: np.zeros(0, np.int64)))
    assert nothing.shape == (1, 0)


def test_score_and_vectors_read_the_stored_rows_by_passage_id():
    vectors = unit_vectors(6)
    ids = np.array([10, 4, 7, 0, 2, 9])
    index = FlatIndex.build(vectors, ids)
    query = unit_vectors(1, seed=5)[0]
    wanted = np.array([7, 10, 2])
    assert np.allclose(index.score(query, wanted), vectors[[2, 0, 4]] @ query)
    assert np.array_equal(index.vectors(wanted), vectors[[2, 0, 4]])


def test_add_and_remove_change_what_search_and_score_see():
    vectors = unit_vectors(10)
    index = FlatIndex.build(vectors[:5], np.arange(5))
    index.score(vectors[0], np.array([0]))  # builds the cached views, which add and remove must drop
    index.add(vectors[5:], np.arange(5, 10))
    assert index.count == 10 and index.search(vectors[8:9], 1)[0][0, 0] == 8
    assert np.isclose(index.score(vectors[8], np.array([8]))[0], 1.0, atol=1e-6)
    index.remove(np.array([8, 42]))
    assert index.count == 9 and 8 not in index.search(vectors[8:9], 9)[0][0]
    assert index.verify(np.array([0, 1, 2, 3, 4, 5, 6, 7, 9])) is None
    assert "do not match" in index.verify(np.arange(10))


def test_saved_index_loads_back_and_a_damaged_file_is_refused(tmp_path):
    vectors = unit_vectors(12)
    FlatIndex.build(vectors, np.arange(12)).save(tmp_path)
    assert FlatIndex.files == (VECTORS,) and (tmp_path / VECTORS).is_file()
    loaded = vector_index_class(DEFAULT_KIND).load(tmp_path)
    assert loaded.count == 12 and loaded.dimension == 8
    assert np.array_equal(loaded.vectors(np.arange(12)), vectors)
    data = (tmp_path / VECTORS).read_bytes()
    (tmp_path / VECTORS).write_bytes(data[: len(data) // 2])
    with pytest.raises(VectorIndexError, match=VECTORS):
        FlatIndex.load(tmp_path)


def test_factory_names_the_known_backends_for_an_unknown_one():
    with pytest.raises(ValueError, match="unknown vector index 'annoy'; use one of flat"):
        vector_index_class("annoy")


def test_filter_is_empty_only_without_any_field():
    from datetime import date
    assert Filter().is_empty
    assert not Filter(date_to=date(2026, 1, 1)).is_empty
