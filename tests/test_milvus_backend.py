"""The Milvus backend (Milvus Lite on a temporary file) answers as the local backend does, through the engine and the web API."""
from __future__ import annotations

import re
import shutil
from contextlib import closing
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from index.articles import Article, read_articles
from index.filter import Filter
from index.lexical import stems
from index.milvus.__main__ import main as milvus_command
from index.milvus.collection import connect, expression, live_alias, version_collection
from index.milvus.keys import PassageKeys, row_key
from index.milvus.sparse import EMPTY, passage_vector, query_vector, term_dimension
from index.milvus.sync import held_keys, publish
from index.changes import delete_articles
from index.pipeline import update_index
from index.store import IndexDamaged, index_lock, open_index, stored_articles
from search.backends import CollectionMissing, MilvusBackend
from search.engine import SearchEngine
from search.understanding import understand
from settings import Settings
from web.app import create_app

TOOK = re.compile(r"[0-9۰-۹.,٫]+ (ms|میلی)")  # the page says how long the search took
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
SAMPLE_QUERIES = SAMPLE / "queries.txt"


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
@pytest.mark.parametrize("field", ["words", "stems"])
def test_bm25_from_sparse_vectors_equals_fts5(search_engine, milvus_engine, field):
    for query in queries():
        terms = understand(query).terms
        if field == "stems":
            terms = stems(terms)
            local_search, milvus_search = search_engine.stem_lexical, milvus_engine.stem_lexical
        else:
            local_search, milvus_search = search_engine.lexical, milvus_engine.lexical
        local = {hit.passage_id: hit for hit in local_search.search(terms, 1000)}
        milvus = {hit.passage_id: hit for hit in milvus_search.search(terms, 1000)}
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
def test_a_rebuilds_version_gets_a_new_collection_and_the_alias_moves(sample_index, embedder, milvus_settings, milvus_client,
                                                                 milvus_engine, tmp_path):
    from index.pipeline import build_index

    first = version_collection(milvus_settings, milvus_engine.version)
    articles = read_articles([SAMPLE / "articles.jsonl"])[:5]
    with index_lock(tmp_path):
        build_index(articles, tmp_path, embedder)
    version = open_index(tmp_path)
    with pytest.raises(CollectionMissing, match="publish it"):
        SearchEngine(version, embedder, backend=MilvusBackend(milvus_settings, milvus_client))
    second = publish(version, milvus_settings, milvus_client).collection
    assert second != first
    assert milvus_client.describe_alias(live_alias(milvus_settings))["collection_name"] == second
    assert milvus_client.has_collection(first)  # the previous one stays while servers may read it
    answer = SearchEngine(version, embedder, backend=MilvusBackend(milvus_settings, milvus_client)).search("تلسکوپ")
    assert {r.article_id for r in answer.results} <= {a.id for a in articles}


def test_a_collection_made_before_stems_is_filled_and_searched_without_them(embedder, tmp_path, caplog):
    from pymilvus import DataType

    from index.pipeline import build_index

    settings = Settings.from_env({"KAVOSH_BACKEND": "milvus", "KAVOSH_MILVUS_URI": str(tmp_path / "old.db")})
    client = connect(settings)
    articles = read_articles([SAMPLE / "articles.jsonl"])[:5]
    with index_lock(tmp_path / "index"):
        build_index(articles, tmp_path / "index", embedder)
    version = open_index(tmp_path / "index")
    # the schema collections had before stems: one sparse field
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(version.manifest["dimension"]))
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("cat", DataType.VARCHAR, max_length=512)
    schema.add_field("date", DataType.VARCHAR, max_length=10)
    indexes = client.prepare_index_params()
    indexes.add_index("vector", index_type="HNSW", metric_type="IP", params={"M": 16, "efConstruction": 200})
    indexes.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    client.create_collection(version_collection(settings, version), schema=schema, index_params=indexes)

    assert publish(version, settings, client).rows == version.manifest["passages"]
    assert "made before stems" in caplog.text
    engine = SearchEngine(version, embedder, backend=MilvusBackend(settings, client))
    assert engine.stem_lexical is None and engine.lexical.search(understand("تلسکوپ").terms, 10)
    assert {r.article_id for r in engine.search("تلسکوپ").results} <= {a.id for a in articles}
    client.close()


def test_passage_keys_map_milvus_rows_back_to_passage_ids():
    keys = PassageKeys.of(np.array([0, 1, 2]), np.array([row_key("a", "h", 0, "c", ""), 7, 3]))
    assert keys.passages(np.array([7, 3, 99, keys.keys_of(np.array([0]))[0]])).tolist() == [1, 2, -1, 0]
    assert keys.keys_of(np.array([2, 1])).tolist() == [3, 7]
    with pytest.raises(KeyError):
        keys.keys_of(np.array([5]))
    # the key follows what the row holds: same passage, same key; another category or text, another key
    assert row_key("a", "h", 0, "c", "") == row_key("a", "h", 0, "c", "") != row_key("a", "h", 0, "d", "")
    assert row_key("a", "h", 0, "c", "") != row_key("a", "h2", 0, "c", "") and 0 <= row_key("a", "h", 0, "c", "") < 2**63


@pytest.fixture()
def own_index(sample_index: Path, tmp_path: Path) -> Path:
    """A copy of the sample index that a test may update (same version ids, so the same lineage)."""
    shutil.copytree(sample_index, tmp_path / "index", symlinks=True)
    return tmp_path / "index"


def passages_of(version, article_ids: set[str]) -> int:
    """The live passages of these articles in ``version``."""
    db = version.connect()
    try:
        return sum(passage_id not in version.tombstones.passage_set for a in article_ids
                   for (passage_id,) in db.execute("SELECT id FROM passages WHERE article_id = ?", (a,)))
    finally:
        db.close()


def counting(client, monkeypatch) -> dict[str, int]:
    """Count the rows the client writes and the keys it deletes from here on."""
    written = {"inserted": 0, "deleted": 0}
    upsert, delete = client.upsert, client.delete

    def counted_upsert(name, rows, **kwargs):
        written["inserted"] += len(rows)
        return upsert(name, rows, **kwargs)

    def counted_delete(name, ids=None, **kwargs):
        written["deleted"] += len(ids)
        return delete(name, ids=ids, **kwargs)

    monkeypatch.setattr(client, "upsert", counted_upsert)
    monkeypatch.setattr(client, "delete", counted_delete)
    return written


@pytest.mark.slow
def test_a_deletion_by_tombstones_deletes_only_its_rows(own_index, embedder, milvus_settings, milvus_client, monkeypatch):
    settings = replace(milvus_settings, milvus_collection="kavosh_tombstones")
    before = open_index(own_index)
    first = publish(before, settings, milvus_client)
    with closing(before.connect()) as db:  # the article with the fewest passages: tombstoned, not merged
        gone = db.execute("SELECT article_id FROM passages GROUP BY article_id ORDER BY count(*), article_id").fetchone()[0]
    with index_lock(own_index):
        assert delete_articles(own_index, before, [gone]) is not None
    after = open_index(own_index)
    assert after.tombstones.articles == {gone}
    written = counting(milvus_client, monkeypatch)
    second = publish(after, settings, milvus_client)
    assert second.collection == first.collection and written["inserted"] == 0
    assert written["deleted"] == passages_of(before, {gone}) == len(after.tombstones.passages)
    assert int(milvus_client.get_collection_stats(second.collection)["row_count"]) == after.live_passages
    milvus = SearchEngine(after, embedder, backend=MilvusBackend(settings, milvus_client))
    local = SearchEngine(after, embedder)
    title = local.db.execute("SELECT title FROM articles WHERE id = ?", [gone]).fetchone()[0]
    for method in ("lexical", "hybrid"):
        assert gone not in [a for a, _ in ranking(milvus, title, method)]
        assert [a for a, _ in ranking(milvus, title, method)] == [a for a, _ in ranking(local, title, method)]


@pytest.mark.slow
def test_an_update_writes_only_the_rows_that_changed(own_index, embedder, milvus_settings, milvus_client, monkeypatch):
    settings = replace(milvus_settings, milvus_collection="kavosh_update")  # leaves the other tests' collections alone
    before = open_index(own_index)
    first = publish(before, settings, milvus_client)
    assert first.created and first.inserted == first.rows == before.manifest["passages"]
    articles = list(stored_articles(before).values())
    added = Article(id="fa-new", title="تلسکوپ فضایی تازه", text="یک تلسکوپ فضایی تازه نخستین تصویر خود را فرستاد.",
                    cat=articles[0].cat, date="2026-03-01")
    changed = replace(articles[1], text=articles[1].text + " این خبر به‌روز شد.")
    gone = articles[2].id
    with index_lock(own_index):
        update_index(own_index, embedder, [added, changed], [gone])
    after = open_index(own_index)
    assert after.lineage == before.lineage
    written = counting(milvus_client, monkeypatch)

    def no_scan(*args, **kwargs):
        raise AssertionError("the keys held are the previous version's, read from its folder, not from Milvus")

    monkeypatch.setattr(milvus_client, "query_iterator", no_scan)

    second = publish(after, settings, milvus_client)

    assert second.collection == first.collection and not second.created
    assert written["inserted"] == second.inserted == passages_of(after, {added.id, changed.id})
    assert written["deleted"] == second.deleted == passages_of(before, {changed.id, gone})
    assert int(milvus_client.get_collection_stats(second.collection)["row_count"]) == after.live_passages
    local = SearchEngine(after, embedder)  # an updated version ranks as a rebuild (tests/test_incremental_update.py)
    milvus = SearchEngine(after, embedder, backend=MilvusBackend(settings, milvus_client))
    for query in queries()[:4] + ["تلسکوپ فضایی"]:
        assert [a for a, _ in ranking(milvus, query, "hybrid")] == [a for a, _ in ranking(local, query, "hybrid")], query
        assert [a for a, _ in ranking(milvus, query, "lexical")] == [a for a, _ in ranking(local, query, "lexical")], query
    assert added.id in [a for a, _ in ranking(milvus, "تلسکوپ فضایی", "hybrid")]
    assert written["inserted"] == second.inserted  # searching wrote nothing


@pytest.mark.slow
def test_a_sync_cut_short_is_finished_by_the_next_publish(own_index, embedder, milvus_settings, milvus_client,
                                                         monkeypatch, capsys):
    settings = replace(milvus_settings, milvus_collection="kavosh_crash")
    before = open_index(own_index)
    publish(before, settings, milvus_client)
    articles = list(stored_articles(before).values())
    with index_lock(own_index):  # the update dies after the local switch, before Milvus is synchronized
        update_index(own_index, embedder, [replace(articles[3], text=articles[3].text + " به‌روز شد.")], [articles[4].id])
    after = open_index(own_index)
    # meanwhile servers of the new version search the old rows: rows it does not hold are left out, nothing fails
    stale = SearchEngine(after, embedder, backend=MilvusBackend(settings, milvus_client))
    assert articles[4].id not in [a for a, _ in ranking(stale, articles[4].title, "hybrid")]
    with closing(after.connect()) as db:  # the re-embedded article's new rows are not in Milvus yet
        unsynced = [row[0] for row in db.execute("SELECT id FROM passages WHERE article_id = ?", (articles[3].id,))
                    if row[0] not in after.tombstones.passage_set]
    assert not stale.passage_vectors(unsynced).any()  # zero vectors (similarity 0), not an error

    def dies(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(milvus_client, "delete", dies)  # a second sync dies after its inserts, before its deletes
    with pytest.raises(KeyboardInterrupt):
        publish(after, settings, milvus_client)
    monkeypatch.undo()
    milvus_client.release_collection(version_collection(settings, after))  # as a restarted Milvus holds it
    for name, value in {"KAVOSH_BACKEND": "milvus", "KAVOSH_MILVUS_URI": settings.milvus_uri,
                        "KAVOSH_MILVUS_COLLECTION": settings.milvus_collection}.items():
        monkeypatch.setenv(name, value)

    assert milvus_command(["publish", "--index", str(own_index), "--quiet"]) == 0

    left_over = passages_of(before, {articles[3].id, articles[4].id})
    assert f"(0 rows written, {left_over} deleted;" in capsys.readouterr().out
    with closing(after.connect()) as db:
        assert sorted(held_keys(milvus_client, version_collection(settings, after)).tolist()) == \
            PassageKeys.read(db, after.tombstones.passage_set).keys.tolist()
    again = publish(after, settings, milvus_client)
    assert again.inserted == again.deleted == 0


@pytest.mark.slow
def test_servers_on_milvus_never_read_the_vector_file(own_index, embedder, milvus_settings, milvus_client, milvus_engine):
    version = open_index(own_index)
    (version.path / "vectors.faiss").unlink()
    with pytest.raises(IndexDamaged, match="vectors.faiss is missing"):
        open_index(own_index)  # index commands and the local backend check the vectors as before
    with pytest.raises(IndexDamaged, match="vectors.faiss is missing"):
        SearchEngine(open_index(own_index, load_vectors=False), embedder)
    served = SearchEngine(open_index(own_index, load_vectors=False), embedder,
                          backend=MilvusBackend(milvus_settings, milvus_client))
    assert ranking(served, queries()[0], "hybrid") == ranking(milvus_engine, queries()[0], "hybrid")
