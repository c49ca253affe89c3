"""A CI slice of ``python -m search.evaluate``: fa-qa with 100 distractors and the two tatoeba tasks,
40 queries each, built from scratch in a temporary cache and compared with the figures recorded in
tests/data/evaluation_slice.json (written by the command quoted in that file), so a search-quality
regression fails here. Needs ../shared/data; skipped without it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from search import evaluate
from search.evaluate import METHODS, load_task

RECORDED = Path(__file__).resolve().parent / "data" / "evaluation_slice.json"
# 40 queries per task: one query moving one rank changes MRR by at most 1/40 * (1 - 1/2) = 0.0125;
# bf16 rounding on another CPU may move a couple of them.
TOLERANCE = 0.03


@pytest.fixture(scope="module")
def slice_figures(shared_data: Path, tmp_path_factory) -> dict:
    recorded = json.loads(RECORDED.read_text())
    args = recorded["command"].split()[3:]  # after "python -m search.evaluate"
    assert "--output" in args and "--cache" not in args
    output = tmp_path_factory.mktemp("evaluation") / "figures.json"
    args[args.index("--output") + 1] = str(output)
    cache = tmp_path_factory.mktemp("evaluation-cache")
    assert evaluate.main([*args, "--data", str(shared_data), "--cache", str(cache)]) == 0
    assert any(cache.iterdir())  # the indexes went into the cache folder given
    return {"recorded": recorded["results"], "measured": json.loads(output.read_text())["results"]}


@pytest.mark.model  # the evaluation loads the model itself
@pytest.mark.slow
def test_slice_matches_the_recorded_figures(slice_figures):
    recorded, measured = slice_figures["recorded"], slice_figures["measured"]
    assert measured.keys() == recorded.keys()
    for task, methods in recorded.items():
        for method in METHODS:
            for metric in evaluate.MEASURES:
                assert measured[task][method][metric] == pytest.approx(methods[method][metric], abs=TOLERANCE), \
                    (task, method, metric)


@pytest.mark.model  # the evaluation loads the model itself
@pytest.mark.slow
def test_hybrid_is_at_least_as_good_as_either_method(slice_figures):
    for task, methods in slice_figures["measured"].items():
        for metric in ("MRR@10", "Recall@10"):
            assert methods["hybrid"][metric] >= max(methods["dense"][metric], methods["lexical"][metric]) - 1e-9, \
                (task, metric)
        assert methods["hybrid"]["Recall@1"] >= methods["dense"]["Recall@1"] - 1e-9, task


@pytest.mark.slow  # reads every task of ../shared/data
def test_tasks_follow_the_shared_data_readme(shared_data: Path):
    qa = load_task("fa-qa", shared_data)
    assert len(qa.queries) == 651 and sum(a.id.startswith("persianqa-") for a in qa.articles) == 93
    titles = load_task("fa-news-title", shared_data)
    assert all(not a.title for a in titles.articles)
    assert not any("ي" in q.text or "ك" in q.text for q in titles.queries)
    assert {q.relevant for q in titles.queries} <= {a.id for a in titles.articles}
    tatoeba = load_task("en-fa-tatoeba", shared_data)
    assert len(tatoeba.articles) == len(tatoeba.queries) == 1000


def test_cached_index_is_reused_without_the_model(shared_data: Path, tmp_path, embedder):
    """A second run finds the cached index without embedding anything; a damaged or outdated one is built again."""
    task = load_task("fa-en-tatoeba", shared_data)
    task.articles = task.articles[:20]
    first = evaluate.cached_index(task, embedder, evaluate.Chunking(), tmp_path)
    version = (first / "current").resolve()

    class NoModel:
        name = embedder.name
        precision = embedder.precision
        arithmetic = embedder.arithmetic

        def __getattr__(self, attribute):
            raise AssertionError("the cached index must not be embedded again")

    assert evaluate.cached_index(task, NoModel(), evaluate.Chunking(), tmp_path) == first
    assert (first / "current").resolve() == version
    (version / "lexical.sqlite").unlink()  # as if written by an older version of the index format
    with pytest.raises(AssertionError, match="must not be embedded"):
        evaluate.cached_index(task, NoModel(), evaluate.Chunking(), tmp_path)
    assert evaluate.cached_index(task, embedder, evaluate.Chunking(), tmp_path) == first
    assert (first / "current").resolve() != version
    assert (first / "current").resolve() != version
