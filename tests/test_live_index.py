"""A running server follows the live index: new versions are served without a restart, requests keep the
version they started with, and a damaged new version never replaces a good one."""
import gc
import threading
import time
import weakref
from dataclasses import replace
from pathlib import Path

import pytest

from index.articles import read_articles
from index.pipeline import build_index, update_index
from index.store import index_lock, open_index
from search.engine import SearchEngine
from search.live import LiveEngine
from settings import Settings

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "articles.jsonl"


def switched(live: LiveEngine, away_from: Path, seconds: float = 60) -> SearchEngine:
    """The engine ``live`` serves once it no longer serves version ``away_from``: the switch happens on a thread
    of the live engine's own, after the request that looked."""
    deadline = time.monotonic() + seconds
    while (engine := live.get()).version.path == away_from:
        assert time.monotonic() < deadline, f"still serving {away_from.name} after {seconds} s"
        time.sleep(0.02)
    return engine


def followed(live: LiveEngine, seconds: float = 60) -> None:
    """Wait until ``live`` has looked at where ``current`` points once more, and done what it found to do."""
    live.get()  # starts a look unless one is running
    deadline = time.monotonic() + seconds
    while not live._lock.acquire(timeout=0.02):
        assert time.monotonic() < deadline, f"the live engine did not finish following in {seconds} s"
    live._lock.release()


@pytest.fixture()
def live(tmp_path: Path, embedder) -> tuple[Path, LiveEngine]:
    index_dir = tmp_path / "index"
    with index_lock(index_dir):
        build_index(read_articles([SAMPLE])[:6], index_dir, embedder)
    settings = replace(Settings.from_env(), model=embedder.name)
    return index_dir, LiveEngine(index_dir, settings, check_seconds=0)


def test_a_new_version_is_served_without_restart(live, embedder) -> None:
    index_dir, engine = live
    before = engine.get()
    articles = read_articles([SAMPLE])
    with index_lock(index_dir):
        update_index(index_dir, embedder, articles[6:8], [articles[0].id])
    after = switched(engine, before.version.path)
    assert after.version.path == open_index(index_dir).path != before.version.path
    assert after.info()["articles"] == 7 and after.embedder is before.embedder
    # a request that began on the old version finishes on it, wholly
    assert before.info()["articles"] == 6
    assert {r.article_id for r in before.search("news", k=10).results} <= {a.id for a in articles[:6]}
    assert articles[0].id not in {r.article_id for r in after.search("news", k=10).results}


def test_a_damaged_new_version_keeps_the_last_good_one(live, embedder, caplog) -> None:
    index_dir, engine = live
    good = engine.get().version.path
    with index_lock(index_dir):
        build_index(read_articles([SAMPLE])[10:12], index_dir, embedder)
    vectors = open_index(index_dir).path / "vectors.faiss"
    vectors.write_bytes(vectors.read_bytes()[:100])
    followed(engine)
    assert engine.get().version.path == good
    assert "not switching" in caplog.text and "vectors.faiss" in caplog.text
    assert engine.get().search("news", k=1).results


def test_a_replaced_version_is_freed_without_the_garbage_collector(live, embedder) -> None:
    """The server freezes its objects out of the cyclic GC (gunicorn.conf.py), so an engine left behind by an
    update must be freed by reference counting alone, even after serving from several threads."""
    index_dir, engine = live
    old = engine.get()
    worker = threading.Thread(target=old.search, args=("news",), kwargs={"k": 3})
    worker.start()
    worker.join()
    old.search("اخبار", k=3)
    freed = [weakref.ref(old), weakref.ref(old.version)]
    gc.disable()
    try:
        with index_lock(index_dir):
            update_index(index_dir, embedder, read_articles([SAMPLE])[6:7], [])
        switched(engine, old.version.path)
        followed(engine)  # the follower's thread has let go of everything it held
        del old, worker
        assert [ref() is None for ref in freed] == [True, True]
    finally:
        gc.enable()


def test_no_request_waits_while_a_new_version_is_opened(live, embedder, monkeypatch) -> None:
    """Opening and preparing a version takes seconds at 10^6 passages: requests go on with the old version
    meanwhile, and the new one is served once it is ready."""
    index_dir, engine = live
    before = engine.get()
    ready, preparing = threading.Event(), threading.Event()
    prepare = SearchEngine.prepare

    def slow_prepare(self: SearchEngine) -> None:
        preparing.set()
        assert ready.wait(60)
        prepare(self)

    monkeypatch.setattr(SearchEngine, "prepare", slow_prepare)
    with index_lock(index_dir):
        update_index(index_dir, embedder, read_articles([SAMPLE])[6:7], [])
    engine.get()
    assert preparing.wait(60)  # the follower is opening the new version...
    started = time.monotonic()
    assert engine.get() is before and engine.get().search("news", k=1).results  # ...and requests are answered
    assert time.monotonic() - started < 10
    ready.set()
    assert switched(engine, before.version.path).version.path == open_index(index_dir).path
