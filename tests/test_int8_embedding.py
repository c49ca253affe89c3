"""The int8 embedding path: made offline from the imported model folder, close to fp32 on real Persian text,
chosen by KAVOSH_PRECISION, and interchangeable with the torch path on an existing index."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index import int8_model, precision
from index.articles import read_articles
from index.embedder import Embedder, resolve_model
from index.pipeline import Chunking, cut_articles
from index.store import open_index
from search.engine import SearchEngine
from settings import DEFAULT_MODEL, Settings

pytest.importorskip("onnxruntime", reason="the int8 runtime (onnxruntime) is not installed")


@pytest.fixture(scope="session")
def int8_embedder() -> Embedder:
    """The default model in int8, made into the model cache on first use (a minute or two, once)."""
    return Embedder(DEFAULT_MODEL, Settings.from_env().model_cache, precision="int8")


@pytest.fixture(scope="session")
def fp32_embedder() -> Embedder:
    return Embedder(DEFAULT_MODEL, Settings.from_env().model_cache, precision="fp32")


@pytest.fixture(scope="module")
def fars_passages(shared_data: Path, fp32_embedder: Embedder) -> list[tuple[str, list]]:
    articles = read_articles([shared_data / "farsnews" / "fars-news-1.json"])[:12]
    cut = cut_articles(articles, fp32_embedder, Chunking())
    return list(zip(cut.texts, cut.ranges))[:24]


@pytest.mark.slow
def test_int8_model_is_made_from_the_imported_folder(int8_embedder: Embedder) -> None:
    cache = Settings.from_env().model_cache
    source = Path(resolve_model(DEFAULT_MODEL, cache))
    target = int8_model.int8_folder(source, cache)
    assert int8_model.is_current(target, source)
    assert int8_embedder.backend.session._model_path == str(target / int8_model.MODEL_FILE)


def test_int8_model_is_made_again_when_its_source_changes(tmp_path: Path) -> None:
    source, target = tmp_path / "model", tmp_path / "int8"
    source.mkdir()
    target.mkdir()
    (source / "model.safetensors").write_bytes(b"weights")
    (target / int8_model.MODEL_FILE).write_bytes(b"graph")
    (target / int8_model.MARKER_FILE).write_text(json.dumps(int8_model._source_info(source)))
    assert int8_model.is_current(target, source)
    (source / "model.safetensors").write_bytes(b"other weights")
    assert not int8_model.is_current(target, source)


@pytest.mark.slow
def test_int8_vectors_are_close_to_fp32_on_persian_news(int8_embedder, fp32_embedder, fars_passages) -> None:
    texts, spans = [t for t, _ in fars_passages], [s for _, s in fars_passages]
    int8_vectors, int8_sentences = int8_embedder.embed_passages(texts, spans)
    fp32_vectors, fp32_sentences = fp32_embedder.embed_passages(texts, spans)
    assert np.sum(int8_vectors * fp32_vectors, axis=1).min() >= 0.99
    sentence_cosines = np.sum(int8_sentences * fp32_sentences, axis=1)  # pooled over few tokens: a bit noisier
    assert sentence_cosines.mean() >= 0.99 and sentence_cosines.min() >= 0.98
    queries = [text[:60] for text in texts]
    assert np.sum(int8_embedder.embed_queries(queries) * fp32_embedder.embed_queries(queries), axis=1).min() >= 0.99
    assert np.allclose(np.linalg.norm(int8_vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_int8_counts_the_same_tokens(int8_embedder, fp32_embedder, fars_passages) -> None:
    texts = [t for t, _ in fars_passages] + ["", "  two  spaces ", "ي ك مي شود"]
    assert int8_embedder.count_tokens(texts) == fp32_embedder.count_tokens(texts)
    assert (int8_embedder.max_tokens, int8_embedder.dimension) == (fp32_embedder.max_tokens, fp32_embedder.dimension)


@pytest.mark.slow
def test_an_index_built_in_one_precision_is_searched_in_another(sample_index, embedder, int8_embedder,
                                                                 fp32_embedder) -> None:
    """Precision need not match between build and search (docs/design.md): the top article is the same."""
    version = open_index(sample_index)
    queries = ["پرسپولیس فوتبال", "نرخ سود بانکی", "who won the football derby"]
    tops = {}
    for searcher in {id(e): e for e in (embedder, int8_embedder, fp32_embedder)}.values():
        engine = SearchEngine(version, searcher)
        tops[searcher.precision] = [engine.search(q, k=1, method="dense").results[0].article_id for q in queries]
    assert len(set(map(tuple, tops.values()))) == 1, tops


@pytest.mark.parametrize("setting, bf16, runtime, local, chosen", [
    ("auto", "on", True, True, "bf16"),     # auto keeps torch even where int8 could run (quality not yet shown)
    ("auto", "off", True, True, "fp32"),
    ("auto", "on", False, False, "bf16"),
    ("fp32", "on", True, True, "fp32"),
    ("bf16", "off", True, True, "bf16"),
    ("int8", "off", True, True, "int8"),    # explicit
])
def test_precision_choice(monkeypatch, setting, bf16, runtime, local, chosen) -> None:
    monkeypatch.setattr(precision, "int8_runtime_installed", lambda: runtime)
    assert precision.choose_precision(setting, bf16, local) == chosen


def test_explicit_int8_without_its_runtime_names_the_setting(monkeypatch) -> None:
    monkeypatch.setattr(precision, "int8_runtime_installed", lambda: False)
    with pytest.raises(RuntimeError, match="KAVOSH_PRECISION=int8 needs onnxruntime"):
        precision.choose_precision("int8", "auto", True)
    monkeypatch.setattr(precision, "int8_runtime_installed", lambda: True)
    with pytest.raises(RuntimeError, match="KAVOSH_PRECISION=int8 needs a local model folder"):
        precision.choose_precision("int8", "auto", False)


def test_precision_setting_is_checked() -> None:
    assert Settings.from_env({"KAVOSH_PRECISION": "INT8"}).precision == "int8"
    assert Settings.from_env({}).precision == "auto"
    with pytest.raises(ValueError, match="KAVOSH_PRECISION must be one of auto, fp32, bf16, int8"):
        Settings.from_env({"KAVOSH_PRECISION": "int4"})


@pytest.mark.slow
def test_int8_tokenizes_as_the_hugging_face_tokenizer(int8_embedder, fars_passages) -> None:
    """The int8 path calls the tokenizer's Rust core directly; it must give the ids the wrapped tokenizer gives,
    truncation at the model's limit included."""
    backend = int8_embedder.backend
    long_text = " ".join(text for text, _ in fars_passages)  # far past max_tokens
    texts = ["query: " + fars_passages[0][0][:80], "passage: Tehran خبرگزاری فارس 1405", "", "  ", long_text]
    for text in texts:
        expected = backend.tokenizer([text], truncation=True, max_length=backend.max_tokens)["input_ids"][0]
        assert backend.core.encode(text).ids == expected
    assert len(backend.core.encode(long_text).ids) == backend.max_tokens
