"""The Milvus backend (Milvus Lite on a temporary file) answers as the local backend does, through the engine and the web API."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from index.filter import Filter
from index.milvus.collection import collection_name, connect, expression, live_alias, publish
from index.milvus.sparse import EMPTY, passage_vector, query_vector, term_dimension
from index.store import open_index
from search.backends import CollectionMissing, MilvusBackend
from search.engine import SearchEngine
from settings import Settings
from web.app import create_app

TOOK = re.compile(r"[0-9۰-۹.,٫]+ (ms|میلی)")  # the page says how long the search took
SAMPLE_QUERIES = Path(__file__).resolve().parents[1] / "data" / "sample" / "queries.txt"


@pytest.fixture(scope="module")
def milvus_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    uri = tmp_path_factory.mktemp("milvus") / "kavosh.db"
    return Settings.from_env({"KAVOSH_BACKEND": "milvus", "KAVOSH_MILVUS_URI": str(uri)})


@pytest.fixture(scope="module")
def milvus_client(milvus_settings: Settings):
    client = connect(milvus_settings)
    yield client
    client.close()


@pytest.fixture(scope="module")
def milvus_engine(sample_index: Path, embedder, milvus_settings: Settings, milvus_client) -> SearchEngine:
    version = open_index(sample_index)
    publish(version, milvus_settings, milvus_client)
    return SearchEngine(version, embedder, backend=MilvusBackend(milvus_settings, milvus_client))


def queries() -> list[str]:
    return [line.split("\t")[0] for line in SAMPLE_QUERIES.read_text().splitlines() if line.strip()]


def ranking(engine: SearchEngine, query: str, method: str, **filters) -> list[tuple[str, float]]:
    return [(r.article_id, r.score) for r in engine.search(query, 10, method=method, **filters).results]


def test_filters_become_milvus_expressions():
    assert expression(None) == "" and expression(Filter()) == ""
    assert expression(Filter(category='a "quoted" \\ cat')) == 'cat == "a \\"quoted\\" \\\\ cat"'
    assert expression(Filter(date_from=date(2025, 1, 2), date_to=date(2025, 3, 4))) == \
        'date != "" and date >= "2025-01-02" and date <= "2025-03-04"'


def test_bm25_weights_as_sparse_vectors():
    # tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl)), with dl = avgdl = 3: "a" twice, "b" once
    weights = passage_vector(["a", "b", "a"], 3.0)
    assert weights == {term_dimension("a"): pytest.approx(2 * 2.2 / 3.2), term_dimension("b"): pytest.approx(1.0)}
    assert query_vector({"a": 1.5, "unknown": 0.0}) == {term_dimension("a"): 1.5}
    # Milvus refuses an all-zero vector: a passage without terms holds a dimension no term hashes to
    assert passage_vector([], 3.0) == {EMPTY: 1.0}
    assert all(term_dimension(term) != EMPTY for term in ("a", "b", "تلسکوپ", "2026"))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lexical", "dense", "hybrid"])
def test_milvus_ranks_the_sample_queries_as_the_local_backend(search_engine, milvus_engine, method):
    for query in queries():
        local, milvus = ranking(search_engine, query, method), ranking(milvus_engine, query, method)
        assert [article for article, _ in milvus] == [article for article, _ in local], query
        assert [score for _, score in milvus] == pytest.approx([score for _, score in local], abs=2e-3), query


@pytest.mark.slow
def test_bm25_from_sparse_vectors_equals_fts5(search_engine, milvus_engine):
    for query in queries():
        terms = search_engine._understand(query)[1]
        local = {hit.passage_id: hit for hit in search_engine.lexical.search(terms, 1000)}
        milvus = {hit.passage_id: hit for hit in milvus_engine.lexical.search(terms, 1000)}
        assert set(milvus) == set(local), query
        for passage_id, hit in local.items():
            assert milvus[passage_id].score == pytest.approx(hit.score, rel=1e-4), query
            assert milvus[passage_id].matched == hit.matched


@pytest.mark.slow
def test_filters_keep_the_same_articles(search_engine, milvus_engine):
    category = search_engine.categories()[0]
    for filters in ({"category": category}, {"date_from": "2026-01-01"}, {"date_to": "2025-12-31"},
                    {"category": category, "date_from": "2025-06-01", "date_to": "2026-06-01"}):
        for query in queries()[:4]:
            local, milvus = ranking(search_engine, query, "hybrid", **filters), ranking(milvus_engine, query, "hybrid", **filters)
            assert [a for a, _ in milvus] == [a for a, _ in local], (query, filters)


@pytest.mark.slow
def test_web_api_answers_the_same_on_both_backends(sample_index, search_engine, milvus_engine):
    clients = [create_app(Settings(index_dir=sample_index), engine=engine).test_client()
               for engine in (search_engine, milvus_engine)]
    for query in queries()[:5]:
        for params in ({"q": query}, {"q": query, "method": "lexical", "passages": "1"}):
            local, milvus = (client.get("/api/search", query_string=params) for client in clients)
            assert local.status_code == milvus.status_code == 200
            local, milvus = local.get_json(), milvus.get_json()
            for body in (local, milvus):
                body.pop("took_ms", None)
            assert milvus == local
        local, milvus = (TOOK.sub("", client.get("/", query_string={"q": query}).get_data(as_text=True))
                         for client in clients)
        assert milvus == local


@pytest.mark.slow
def test_a_new_version_gets_a_new_collection_and_the_alias_moves(sample_index, embedder, milvus_settings, milvus_client,
                                                                 milvus_engine, tmp_path):
    from index.articles import read_articles
    from index.pipeline import build_index
    from index.store import index_lock

    first = collection_name(milvus_settings, milvus_engine.version.manifest["version"])
    articles = read_articles([Path(__file__).resolve().parents[1] / "data" / "sample" / "articles.jsonl"])[:5]
    with index_lock(tmp_path):
        build_index(articles, tmp_path, embedder)
    version = open_index(tmp_path)
    with pytest.raises(CollectionMissing, match="publish it"):
        SearchEngine(version, embedder, backend=MilvusBackend(milvus_settings, milvus_client))
    second = publish(version, milvus_settings, milvus_client)
    assert second != first
    assert milvus_client.describe_alias(live_alias(milvus_settings))["collection_name"] == second
    assert milvus_client.has_collection(first)  # the previous one stays while servers may read it
    answer = SearchEngine(version, embedder, backend=MilvusBackend(milvus_settings, milvus_client)).search("تلسکوپ")
    assert {r.article_id for r in answer.results} <= {a.id for a in articles}
