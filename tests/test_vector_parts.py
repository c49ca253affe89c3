"""Vector parts (index.vectors.parts): an index and the parts appended to it answer as one index holding all."""
from __future__ import annotations

import numpy as np
import pytest

from index.filter import Filter
from index.vectors.base import Allowed, VectorIndexError
from index.vectors.flat import FlatIndex
from index.vectors.ivf import IVFIndex
from index.vectors.parts import VectorParts, read_vectors, vector_files, vector_part_name
from tests.test_ivf_index import clustered_vectors

BASE, PARTS = 4000, (500, 300)
# an IVF part holds its vectors whole in float16, the index its residuals from their centroids in float16: the
# two roundings of a vector differ by up to about 1e-4 a component, and scores by less
ROUNDING = 2e-4


def split_and_whole(backend, vectors: np.ndarray, folder) -> tuple[VectorParts, object]:
    """The first BASE vectors as a saved index plus parts made by empty_like and saved, read back; and one
    index holding every vector (the base with the parts' vectors added to it, as updates used to write it)."""
    ids = np.arange(len(vectors), dtype=np.int64)
    backend.build(vectors[:BASE], ids[:BASE]).save(folder)
    base = backend.load(folder)
    whole = backend.load(folder)
    parts, firsts, start = [base], [0], BASE
    for number, size in enumerate(PARTS):
        part = base.empty_like()
        part.add(vectors[start:start + size], ids[start:start + size])
        whole.add(vectors[start:start + size], ids[start:start + size])
        part.save(folder, f"part-{number}")
        parts.append(backend.load(folder, f"part-{number}"))
        firsts.append(start)
        start += size
    return VectorParts(parts, firsts), whole


def by_score(ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Each row's ids best first, equal scores (FAISS orders ties as it meets them) by id."""
    return np.take_along_axis(ids, np.lexsort((ids, -np.round(scores, 5)), axis=-1), 1)


@pytest.mark.parametrize("backend", [IVFIndex, FlatIndex])
def test_parts_find_what_one_index_of_all_the_vectors_finds(backend, tmp_path) -> None:
    vectors = clustered_vectors(BASE + sum(PARTS), seed=4)
    parts, whole = split_and_whole(backend, vectors, tmp_path)
    queries = clustered_vectors(40, seed=5)
    allowed = Allowed(Filter(category="x"), lambda _: np.arange(0, len(vectors), 7, dtype=np.int64))
    for k, where in ((10, None), (200, None), (10, allowed), (50, allowed)):
        found, scores = parts.search(queries, k, where)
        expected, expected_scores = whole.search(queries, k, where)
        assert np.allclose(scores, expected_scores, atol=ROUNDING)
        # the same passages in the same order, but where two scores are closer than the rounding
        differ = by_score(found, scores) != by_score(expected, expected_scores)
        assert np.all(np.abs(scores - expected_scores)[differ] < ROUNDING)
    assert parts.count == len(vectors) and parts.parameters == whole.parameters
    assert not parts.verify(np.arange(len(vectors)))
    ids = np.array([3, BASE + 2, BASE + PARTS[0] + 1, 17])  # one in each part, out of order
    assert np.allclose(parts.vectors(ids), whole.vectors(ids), atol=ROUNDING, rtol=0)
    assert np.allclose(parts.vectors(ids), vectors[ids], atol=5e-4, rtol=0)
    assert np.allclose(parts.score(queries[0], ids), parts.vectors(ids) @ queries[0], atol=1e-6)


def test_a_search_wider_than_what_is_allowed_pads_with_no_passage(tmp_path) -> None:
    vectors = clustered_vectors(BASE + sum(PARTS), seed=6)
    parts, _ = split_and_whole(FlatIndex, vectors, tmp_path)
    allowed = Allowed(Filter(category="x"), lambda _: np.array([1, BASE + 1, BASE + PARTS[0] + 1], dtype=np.int64))
    found, scores = parts.search(clustered_vectors(2, seed=7), 5, allowed)
    assert found.shape == (2, 3) and sorted(found[0].tolist()) == [1, BASE + 1, BASE + PARTS[0] + 1]
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_a_manifest_names_the_parts_read_as_one(tmp_path) -> None:
    vectors = clustered_vectors(BASE + sum(PARTS), seed=8)
    split_and_whole(IVFIndex, vectors, tmp_path)
    manifest = {"vector_index": "ivf", "vector_parts": [{"file": "part-0", "first": BASE},
                                                      {"file": "part-1", "first": BASE + PARTS[0]}]}
    assert vector_files(manifest) == ["vectors.ivf", "part-0", "part-1"]
    read = read_vectors(tmp_path, manifest)
    assert isinstance(read, VectorParts) and read.count == len(vectors)
    assert isinstance(read_vectors(tmp_path, {"vector_index": "ivf"}), IVFIndex)  # no parts: the index itself
    assert vector_part_name(IVFIndex, "20261201T0500") == "vectors-20261201T0500.ivf"
    with pytest.raises(ValueError, match="first passage id"):
        VectorParts(read.parts, [0, BASE + PARTS[0], BASE])


def test_an_ivf_part_is_saved_without_the_centroids_and_read_only_through_the_first_index(tmp_path) -> None:
    vectors = clustered_vectors(BASE + sum(PARTS), seed=9)
    parts, _ = split_and_whole(IVFIndex, vectors, tmp_path)
    base, part = parts.parts[0], parts.parts[1]
    nlist = base.parameters["nlist"]
    held = PARTS[0] * (2 * base.dimension + 8) + nlist * 16  # float16 vectors, ids, each list's header
    centroids = nlist * base.dimension * 4
    assert (tmp_path / "part-0").stat().st_size < held + centroids / 2
    with pytest.raises(VectorIndexError, match="no centroids"):
        part.search(vectors[:2], 5)
    # a part tuned otherwise (another number of clusters) is refused: its lists would be probed by number
    IVFIndex.build(vectors[:1000], np.arange(1000)).empty_like().save(tmp_path, "other")
    manifest = {"vector_index": "ivf", "vector_parts": [{"file": "other", "first": BASE}]}
    with pytest.raises(VectorIndexError, match="other is not tuned"):
        read_vectors(tmp_path, manifest)
