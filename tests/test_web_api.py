"""The JSON API over the sample index: answers, every error case, and the OpenAPI document they must match."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from search.query import MAX_K, MAX_QUERY_CHARS
from settings import Settings
from web.app import SECURITY_HEADERS, create_app
from web.openapi import OPENAPI, document_for
from web.params import FIELDS, MAX_OFFSET

DOC_URI = "urn:kavosh:openapi"
REGISTRY = Registry().with_resource(DOC_URI, Resource.from_contents(OPENAPI, default_specification=DRAFT202012))


@pytest.fixture(scope="module")
def app(sample_index: Path, search_engine):
    return create_app(Settings(index_dir=sample_index), engine=search_engine)


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def missing_client(tmp_path_factory: pytest.TempPathFactory):
    """An app over a folder where no index has been built."""
    return create_app(Settings(index_dir=tmp_path_factory.mktemp("no-index"))).test_client()


def check_against_openapi(response, path: str, method: str = "get") -> dict:
    """The response body, after checking it against the schema the document gives for its path, method and status."""
    assert response.content_type == "application/json", response.content_type
    operation = OPENAPI["paths"][path][method]
    spec = operation["responses"].get(str(response.status_code)) or operation["responses"]["default"]
    schema = spec["content"]["application/json"]["schema"]
    ref = schema["$ref"].replace("#", f"{DOC_URI}#") if "$ref" in schema else None
    validator = Draft202012Validator({"$ref": ref} if ref else schema, registry=REGISTRY)
    body = response.get_json()
    errors = sorted(validator.iter_errors(body), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    return body


def check_error(response, status: int, *words: str) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]["status"] == status
    message = body["error"]["message"]
    for word in words:
        assert word in message, message
    return message


def test_openapi_document_is_served_and_consistent(client, search_engine):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc == json.loads(json.dumps(document_for(search_engine.categories())))
    cat = next(p for p in doc["paths"]["/api/search"]["get"]["parameters"] if p["name"] == "cat")
    assert cat["schema"]["enum"] == search_engine.categories() and "health" in cat["schema"]["enum"]
    assert doc["openapi"].startswith("3.")
    Draft202012Validator.check_schema(doc["components"]["schemas"]["SearchResponse"])
    assert set(doc["components"]["schemas"]["SearchRequest"]["properties"]) == set(FIELDS)
    assert {p["name"] for p in doc["paths"]["/api/search"]["get"]["parameters"]} == set(FIELDS)
    q = next(p for p in doc["paths"]["/api/search"]["get"]["parameters"] if p["name"] == "q")
    assert q["schema"]["maxLength"] == MAX_QUERY_CHARS


@pytest.mark.parametrize("query", ["نرخ تورم سالانه", "teenage chess player wins tournament"])
def test_search_get(client, query):
    body = check_against_openapi(client.get("/api/search", query_string={"q": query, "k": 5}), "/api/search")
    assert body["query"] == query and body["normalized_query"]
    assert 1 <= len(body["results"]) <= 5 and body["total"] >= len(body["results"])
    assert [r["rank"] for r in body["results"]] == list(range(1, len(body["results"]) + 1))
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True) or body["method"] != "dense"
    assert len({r["article_id"] for r in body["results"]}) == len(body["results"])
    for result in body["results"]:
        for start, end in result["highlights"]:
            assert 0 <= start < end <= len(result["text"])


def test_search_finds_the_expected_article(client):
    body = client.get("/api/search", query_string={"q": "تلسکوپ جدید در کویر اصفهان", "k": 3}).get_json()
    assert "fa-001" in [r["article_id"] for r in body["results"]]


def test_search_post_matches_get(client):
    params = {"q": "oil exports from the Jask terminal", "k": 4, "offset": 1}
    posted = check_against_openapi(client.post("/api/search", json=params), "/api/search", "post")
    got = client.get("/api/search", query_string=params).get_json()
    assert [r["article_id"] for r in posted["results"]] == [r["article_id"] for r in got["results"]]
    assert posted["k"] == 4 and posted["offset"] == 1 and posted["results"][0]["rank"] == 2


def test_offset_pages_through_the_ranking(client):
    first = client.get("/api/search?q=economy&k=6").get_json()["results"]
    second = client.get("/api/search?q=economy&k=3&offset=3").get_json()["results"]
    assert [r["article_id"] for r in second] == [r["article_id"] for r in first[3:6]]


def test_category_filter(client, search_engine):
    category = search_engine.categories()[0]
    body = check_against_openapi(client.get("/api/search", query_string={"q": "news", "cat": category}), "/api/search")
    assert body["results"] and {r["category"] for r in body["results"]} == {category}
    assert body["filters"]["category"] == category


def test_date_filter(client):
    body = check_against_openapi(
        client.get("/api/search", query_string={"q": "خبر", "date_from": "2000-01-01", "date_to": "2100-12-31"}),
        "/api/search")
    assert body["filters"] == {"category": None, "date_from": "2000-01-01", "date_to": "2100-12-31"}
    for result in body["results"]:
        assert result["date"] is None or "2000-01-01" <= result["date"][:10] <= "2100-12-31"


@pytest.mark.parametrize("query_string, words", [
    ("", ["missing", "q"]),
    ("q=", ["empty"]),
    ("q=%20%20%09", ["empty"]),
    ("q=" + "x" * (MAX_QUERY_CHARS + 1), [str(MAX_QUERY_CHARS), str(MAX_QUERY_CHARS + 1)]),
    ("q=tea&k=0", ["k", f"1 and {MAX_K}"]),
    (f"q=tea&k={MAX_K + 1}", ["k", f"1 and {MAX_K}"]),
    ("q=tea&k=ten", ["k", "whole number"]),
    ("q=tea&k=1.5", ["k", "whole number"]),
    ("q=tea&k=99999999999999999999", ["k"]),
    ("q=tea&offset=-1", ["offset", f"0 and {MAX_OFFSET}"]),
    (f"q=tea&offset={MAX_OFFSET + 1}", ["offset", f"0 and {MAX_OFFSET}"]),
    ("q=tea&offset=%DB%B5", ["offset"]),
    ("q=tea&cat=no-such-category", ["unknown category", "no-such-category"]),
    ("q=tea&date_from=yesterday", ["date_from", "YYYY-MM-DD"]),
    ("q=tea&date_to=2024-02-30", ["date_to", "calendar"]),
    ("q=tea&date_from=2024-05-01&date_to=2024-01-01", ["after"]),
    ("q=tea&method=telepathy", ["method", "telepathy"]),
])
def test_search_get_errors(client, query_string, words):
    response = client.get("/api/search?" + query_string)
    check_error(response, 400, *words)
    check_against_openapi(response, "/api/search")


@pytest.mark.parametrize("body, words", [
    (b"", ["empty"]),
    (b"{not json", ["not valid JSON"]),
    (b"[1, 2]", ["JSON object"]),
    (b'"q"', ["JSON object"]),
    (b"\xff\xfe\xfa", ["not valid JSON"]),
    (b"[" * 20000 + b"]" * 20000, ["not valid JSON"]),
    (b'{"query": "tea"}', ["unknown field", "query"]),
    (b'{"q": null}', ["missing"]),
    (b'{"q": 42}', ["string"]),
    (b'{"q": ["tea"]}', ["string"]),
    (b'{"q": "tea", "k": true}', ["k"]),
    (b'{"q": "tea", "k": 2.5}', ["k"]),
    (b'{"q": "tea", "k": NaN}', ["k"]),
    (b'{"q": "tea", "offset": {}}', ["offset"]),
    (b'{"q": "tea", "cat": 7}', ["category"]),
])
def test_search_post_errors(client, body, words):
    response = client.post("/api/search", data=body, content_type="application/json")
    check_error(response, 400, *words)
    check_against_openapi(response, "/api/search", "post")


def test_post_body_too_large(client):
    response = client.post("/api/search", data=b'{"q": "' + b"a" * 70_000 + b'"}', content_type="application/json")
    check_error(response, 413, "larger")


def test_query_with_no_searchable_characters(client):
    response = client.get("/api/search", query_string={"q": "؟!…"})
    assert response.status_code in (200, 400)
    check_against_openapi(response, "/api/search")


@pytest.mark.parametrize("query", [
    '"', "'", "*", "a*", "NEAR(a b)", "a AND OR NOT", "(((", ")", "col:val", "^x", "-", "%", "_", "\\",
    "\x00", "a\x00b", "\ufffd", "\u200c\u200c", "🙂" * 10, "<script>alert(1)</script>", "' OR 1=1 --",
    "x" * MAX_QUERY_CHARS, "ك ي ۱۲۳ ١٢٣",
])
def test_awkward_queries_never_fail(client, query):
    response = client.get("/api/search", query_string={"q": query, "k": 3})
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    check_against_openapi(response, "/api/search")
    response = client.post("/api/search", json={"q": query, "k": 3})
    assert response.status_code in (200, 400), response.get_data(as_text=True)


def test_undecodable_url_is_not_a_server_error(client):
    response = client.get("/api/search?q=%ED%A0%80%FF&k=%FF")
    assert response.status_code == 400
    check_against_openapi(response, "/api/search")


def test_info(client, search_engine):
    body = check_against_openapi(client.get("/api/info"), "/api/info")
    assert body["articles"] == search_engine.info()["articles"] and body["categories"] == search_engine.categories()


def test_healthz(client):
    body = check_against_openapi(client.get("/healthz"), "/healthz")
    assert body["status"] == "ok" and body["index"] == "ready"


@pytest.mark.parametrize("method, path, status", [
    ("get", "/api/nothing-here", 404),
    ("get", "/api", 404),
    ("delete", "/api/search", 405),
    ("put", "/api/search", 405),
    ("post", "/api/info", 405),
    ("post", "/healthz", 405),
])
def test_unknown_paths_and_methods_are_json(client, method, path, status):
    response = getattr(client, method)(path)
    check_error(response, status)
    if status == 405:
        assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize("path", ["/api/search?q=x", "/api/info", "/healthz"])
def test_missing_index_answers_503(missing_client, path):
    response = missing_client.get(path)
    assert response.status_code == 503
    route = path.split("?")[0]
    body = check_against_openapi(response, route)
    message = body["message"] if route == "/healthz" else body["error"]["message"]
    assert "not built" in message and "index.rebuild" in message


@pytest.mark.parametrize("path", ["/api/search?q=tea", "/api/search", "/api/info", "/api/openapi.json", "/healthz",
                                  "/api/missing"])
def test_security_headers_on_api(client, path):
    response = client.get(path)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value


@pytest.mark.parametrize("method", ["hybrid", "dense", "lexical"])
def test_every_method(client, method):
    body = check_against_openapi(client.get("/api/search", query_string={"q": "تورم سالانه", "method": method}),
                                 "/api/search")
    assert body["method"] == method and body["results"]


def test_an_index_built_after_start_is_served_without_restart(tmp_path: Path, embedder, monkeypatch):
    from index.articles import read_articles
    from index.pipeline import build_index
    from index.store import index_lock

    import web.holder

    index_dir = tmp_path / "index"
    client = create_app(Settings(index_dir=index_dir, model=embedder.name)).test_client()
    assert client.get("/api/search?q=news").status_code == 503
    sample = Path(__file__).resolve().parents[1] / "data" / "sample" / "articles.jsonl"
    with index_lock(index_dir):
        build_index(read_articles([sample])[:3], index_dir, embedder)
    monkeypatch.setattr(web.holder, "RETRY_SECONDS", 0.0)
    body = check_against_openapi(client.get("/api/search?q=news"), "/api/search")
    assert body["results"] and client.get("/healthz").status_code == 200
