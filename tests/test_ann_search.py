"""Searching a version whose vectors are held by the approximate (IVF) index: the engine ranks as with exact search."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from index.pipeline import update_index
from index.store import index_lock, open_index
from index.vectors.ivf import IVFIndex, ivf_parameters
from search.engine import SearchEngine

QUERIES = ["تلسکوپ رصدخانه", "واکسن آنفلوانزا", "football match", "قیمت نفت و بازار"]


@pytest.fixture(scope="module")
def ivf_engine(sample_index: Path, embedder, tmp_path_factory) -> SearchEngine:
    """The sample index rewritten with KAVOSH_VECTOR_INDEX=ivf (from its stored vectors: nothing re-embedded)."""
    copy = tmp_path_factory.mktemp("ivf-sample") / "index"
    shutil.copytree(sample_index, copy, symlinks=True)
    with index_lock(copy):
        update_index(copy, embedder, vector_index="ivf")  # another vector index asked for: a merge
    return SearchEngine(open_index(copy), embedder)


def test_manifest_records_the_approximate_index_and_its_parameters(ivf_engine):
    manifest = ivf_engine.version.manifest
    assert manifest["vector_index"] == "ivf" and isinstance(ivf_engine.version.vectors, IVFIndex)
    assert manifest["vector_parameters"] == ivf_parameters(manifest["passages"])


@pytest.mark.parametrize("method", ["hybrid", "dense"])
def test_ivf_ranks_the_same_articles_as_exact_search(ivf_engine, search_engine, method):
    for query in QUERIES:
        exact = [r.article_id for r in search_engine.search(query, k=5, method=method).results]
        approximate = [r.article_id for r in ivf_engine.search(query, k=5, method=method).results]
        assert approximate == exact, query


def test_filters_keep_the_same_articles_through_ivf(ivf_engine, search_engine):
    for where in ({"category": "culture"}, {"date_from": "2026-04-01", "date_to": "2026-06-30"},
                  {"category": "sports", "date_from": "2026-01-01"}):
        exact = search_engine.search("خبر امروز", k=10, **where)
        approximate = ivf_engine.search("خبر امروز", k=10, **where)
        assert [r.article_id for r in approximate.results] == [r.article_id for r in exact.results]
        assert exact.results and all(r.cat == where.get("category", r.cat) for r in approximate.results)
