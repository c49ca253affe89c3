"""The int8 embedding path: made offline from the imported model folder, close to fp32 on real Persian text,
chosen by KAVOSH_PRECISION, and interchangeable with the torch path on an existing index."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer

from index import int8_model, precision
from index.int8_backend import PAD_MULTIPLE, QUERY_WIDTHS
from index.int8_model import QUERY_MODEL
from index.articles import read_articles
from index.embedder import Embedder, resolve_model
from index.pipeline import Chunking, cut_articles
from index.store import open_index
from search.engine import SearchEngine
from settings import DEFAULT_MODEL, Settings

pytest.importorskip("openvino", reason="the int8 runtime (openvino) is not installed")


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
    assert int8_embedder.backend.models == target
    assert (target / int8_model.PASSAGE_MODEL).is_file() and (target / int8_model.QUERY_MODEL).is_file()


def test_int8_model_is_made_again_when_its_source_changes(tmp_path: Path) -> None:
    source, target = tmp_path / "model", tmp_path / "int8"
    source.mkdir()
    target.mkdir()
    (source / "model.safetensors").write_bytes(b"weights")
    (target / int8_model.PASSAGE_MODEL).write_bytes(b"graph")
    (target / int8_model.QUERY_MODEL).write_bytes(b"graph")
    calibration = [tmp_path / "articles.jsonl"]
    (target / int8_model.MARKER_FILE).write_text(json.dumps(int8_model._source_info(source, calibration)))
    assert int8_model.is_current(target, source, calibration)
    assert int8_model.is_current(target, source)  # the embedder keeps models made on a newsroom's own articles
    assert not int8_model.is_current(target, source, [int8_model.SAMPLE_ARTICLES])  # the command makes them again
    (source / "model.safetensors").write_bytes(b"other weights")
    assert not int8_model.is_current(target, source, calibration)


def test_calibration_covers_passages_and_queries_of_the_sample() -> None:
    """Calibration texts are our own articles: windows of each one as a passage, and its title as a query."""
    cache = Settings.from_env().model_cache
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(DEFAULT_MODEL, cache))
    articles = int8_model.calibration_articles([int8_model.SAMPLE_ARTICLES])
    samples = list(int8_model.calibration_inputs(tokenizer, articles))
    lengths = [len(ids) for ids in samples]
    assert max(lengths) <= max(int8_model.WINDOWS) + 2 and min(lengths) >= 3
    assert len(samples) > 4 * len(articles)  # several windows per article, plus its title
    passage, query = tokenizer("passage:")["input_ids"][1:-1], tokenizer("query:")["input_ids"][1:-1]
    assert sum(ids[1:1 + len(query)] == query for ids in samples) == len(articles)
    assert sum(ids[1:1 + len(passage)] == passage for ids in samples) == len(articles) * len(int8_model.WINDOWS)


def test_calibration_without_articles_is_an_error_naming_the_files(tmp_path: Path) -> None:
    empty = tmp_path / "none.jsonl"
    empty.write_text("")
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights")
    with pytest.raises(ValueError, match="no articles to calibrate the int8 model on in .*none.jsonl"):
        int8_model.calibration_articles([empty])
    assert int8_model.main([str(model), str(tmp_path / "out"), "--calibration", str(empty)]) == 1
    assert not (tmp_path / "out").exists()


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


@pytest.mark.parametrize("setting, bf16, vnni, runtime, local, chosen", [
    ("auto", "auto", True, True, True, "int8"),   # faster at the same quality (docs/benchmarks.md)
    ("auto", "auto", False, True, True, None),    # no VNNI: torch, bf16 where the CPU computes it
    ("auto", "auto", True, False, True, None),    # no OpenVINO: torch
    ("auto", "auto", True, True, False, None),    # a hub model: no folder to make the int8 models from
    ("auto", "on", True, True, True, "bf16"),     # KAVOSH_BF16 forced: the torch path it names
    ("auto", "off", True, True, True, "fp32"),
    ("fp32", "auto", True, True, True, "fp32"),
    ("bf16", "off", True, True, True, "bf16"),
    ("int8", "off", False, True, True, "int8"),   # explicit
])
def test_precision_choice(monkeypatch, setting, bf16, vnni, runtime, local, chosen) -> None:
    monkeypatch.setattr(precision, "int8_runtime_installed", lambda: runtime)
    monkeypatch.setattr(precision, "cpu_has_vnni", lambda: vnni)
    torch_choice = "bf16" if precision.cpu_has_bf16() else "fp32"
    assert precision.choose_precision(setting, bf16, local) == (chosen or torch_choice)


def test_explicit_int8_without_its_runtime_names_the_setting(monkeypatch) -> None:
    monkeypatch.setattr(precision, "int8_runtime_installed", lambda: False)
    with pytest.raises(RuntimeError, match="KAVOSH_PRECISION=int8 needs openvino"):
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
    tokenizer = AutoTokenizer.from_pretrained(str(backend.folder))
    long_text = " ".join(text for text, _ in fars_passages)  # far past max_tokens
    texts = ["query: " + fars_passages[0][0][:80], "passage: Tehran خبرگزاری فارس 1405", "", "  ", long_text]
    for text in texts:
        expected = tokenizer([text], truncation=True, max_length=backend.max_tokens)["input_ids"][0]
        assert backend.core.encode(text).ids == expected
    assert len(backend.core.encode(long_text).ids) == backend.max_tokens
    # counting for cutting (every token, no special ones) and the offsets late chunking pools sentences by
    assert backend.count_tokens(texts) == [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    assert backend.count_tokens([long_text])[0] > backend.max_tokens
    expected_offsets = tokenizer(texts, return_offsets_mapping=True, truncation=True,
                                 max_length=backend.max_tokens)["offset_mapping"]
    for (_, tokens, offsets), expected in zip(backend.encode_passages(texts, 2), expected_offsets):
        assert len(tokens) == len(offsets) and offsets.tolist() == [list(pair) for pair in expected]


@pytest.mark.slow
def test_a_passage_embeds_the_same_in_a_padded_batch_as_alone(int8_embedder, fars_passages) -> None:
    """Static scales and the attention mask: batch-mates and padding leave a text's vectors unchanged, so an
    update (a few passages) gives the vectors a rebuild (full batches) gives."""
    texts, spans = [t for t, _ in fars_passages[:6]], [s for _, s in fars_passages[:6]]
    texts[1], spans[1] = texts[1][:40], [(0, 40)]  # much shorter than its batch-mates: padded
    batch, batch_sentences = int8_embedder.embed_passages(texts, spans)
    for i, (text, span) in enumerate(zip(texts, spans)):
        alone, alone_sentences = int8_embedder.embed_passages([text], [span])
        assert float(alone[0] @ batch[i]) > 0.9999
    padded = int8_embedder.backend.padding_core.encode_batch(["passage: " + texts[1], "passage: " + texts[0]])[0]
    pad_id = AutoTokenizer.from_pretrained(str(int8_embedder.backend.folder)).pad_token_id
    assert padded.ids[-1] == pad_id and padded.attention_mask[-1] == 0
    # widths rounded up, so a rebuild runs a few input shapes, not one for each length (OpenVINO keeps state per shape)
    assert len(padded.ids) % PAD_MULTIPLE == 0
    alone = int8_embedder.backend.padding_core.encode_batch(["passage: " + texts[0]])[0]
    assert len(alone.ids) % PAD_MULTIPLE == 0 and sum(alone.attention_mask) > len(alone.ids) - PAD_MULTIPLE


def test_a_query_embeds_the_same_on_its_fixed_length_as_unpadded(int8_embedder) -> None:
    """A query runs on the query model compiled for its length rounded up to one of QUERY_WIDTHS, padded and masked,
    and a longer one on the model of any length; the padding must not move a query's vector, whichever lengths
    were compiled before it (they are made from one graph)."""
    backend = int8_embedder.backend
    long, medium = "سفر وزیر خارجه به مسکو و دیدار با همتای روس " * 4, "نرخ سود بانکی در سال آینده " * 2
    queries = ["query: " + long, "query: تورم", "query: " + medium]
    lengths = [len(backend.core.encode(query).ids) for query in queries]
    assert lengths[1] <= QUERY_WIDTHS[0] < lengths[2] <= QUERY_WIDTHS[-1] < lengths[0]
    got = int8_embedder.embed_queries([query[len("query: "):] for query in queries])
    for query, vector in zip(queries, got):
        ids = np.array([backend.core.encode(query).ids])
        unpadded = backend._hidden(QUERY_MODEL, ids, np.ones_like(ids))[0].mean(axis=0)
        assert float(unpadded @ vector) / float(np.linalg.norm(unpadded)) > 0.9999

    def compiled() -> set[int | None]:
        return {width for model, pid, width in backend._compiled if model == QUERY_MODEL and pid == os.getpid()}

    widths = [next((w for w in QUERY_WIDTHS if w >= n), None) for n in lengths]
    assert widths[0] is None and set(widths) <= compiled()
    int8_embedder.warm_up()
    assert {*QUERY_WIDTHS, None} <= compiled()


@pytest.mark.slow
def test_int8_runs_in_a_forked_worker_and_in_threads(int8_embedder) -> None:
    """gunicorn loads the app in its master and forks: the child compiles its own model (OpenVINO's threads do
    not survive a fork); gunicorn's threads each get their own inference request."""
    import multiprocessing
    from concurrent.futures import ThreadPoolExecutor

    queries = ["نرخ سود بانکی", "who won the football derby", "سفر وزیر خارجه به مسکو"]
    expected = int8_embedder.embed_queries(queries)  # compiled in this process first, as gunicorn's master does
    receiver, sender = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=lambda: sender.send(int8_embedder.embed_queries(queries)))
    child.start()
    assert receiver.poll(120), "the forked child did not answer (hung in the parent's thread pool?)"
    in_child = receiver.recv()
    child.join(30)
    assert child.exitcode == 0 and np.allclose(in_child, expected, atol=1e-5)
    with ThreadPoolExecutor(3) as threads:
        in_threads = list(threads.map(lambda q: int8_embedder.embed_queries([q])[0], queries * 4))
    assert np.allclose(np.array(in_threads), np.tile(expected, (4, 1)), atol=1e-5)


def test_an_int8_embedder_imports_neither_sentence_transformers_nor_transformers_nor_torch() -> None:
    """They took about 8 s of an update command's start-up; int8 counts, cuts and embeds without them, and a
    worker's share of the cores (gunicorn's ``post_fork``) reaches OpenVINO without torch."""
    script = ("import sys; from index import precision; from index.embedder import Embedder; "
              "from index.int8_model import QUERY_MODEL; from settings import DEFAULT_MODEL, Settings; "
              "precision.set_threads(1); "
              "e = Embedder(DEFAULT_MODEL, Settings.from_env().model_cache, precision='int8'); "
              "e.embed_queries(['آزمون']); e.count_tokens(['متن']); e.embed_passages(['جمله یک. جمله دو.'], [[(0, 9)]]); "
              "threads = e.backend._request(QUERY_MODEL, 8).get_compiled_model().get_property('INFERENCE_NUM_THREADS'); "
              "print(e.precision, threads, *(name in sys.modules for name in ('sentence_transformers', 'transformers', 'torch')))")
    run = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, check=True)
    assert run.stdout.split()[-5:] == ["int8", "1", "False", "False", "False"]


def test_the_int8_tokenizers_share_one_vocabulary() -> None:
    """Counting, passages and queries each need their own truncation and padding, but a copy of the multilingual
    tokenizer holds about 280 MB: the three share one model, so making the second and third costs next to nothing."""
    script = ("import re; from index.embedder import Embedder; from settings import DEFAULT_MODEL, Settings; "
              "rss = lambda: int(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) // 1024; "
              "e = Embedder(DEFAULT_MODEL, Settings.from_env().model_cache, precision='int8'); before = rss(); "
              "e.backend.token_core; e.backend.padding_core; print(rss() - before)")
    run = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, check=True)
    assert int(run.stdout.split()[-1]) < 50  # MiB; two copies took about 530


def test_release_gives_the_compiled_models_back_and_the_next_call_compiles_them_again(int8_embedder, fars_passages) -> None:
    """A rebuild releases the model before writing its version (hundreds of MB at the end of a 10^6 build)."""
    texts, spans = [t for t, _ in fars_passages[:2]], [s for _, s in fars_passages[:2]]
    before, _ = int8_embedder.embed_passages(texts, spans)
    assert any(key[1] == os.getpid() for key in int8_embedder.backend._compiled)
    int8_embedder.release()
    assert not any(key[1] == os.getpid() for key in int8_embedder.backend._compiled)
    after, _ = int8_embedder.embed_passages(texts, spans)
    np.testing.assert_allclose(after, before, atol=1e-6)
