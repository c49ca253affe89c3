"""Kill -9 a rebuild or an update at every stage: the index that was live stays live, loads and answers,
and the next run cleans up what the killed one left behind."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from index.articles import read_articles
from index.layout import STAGING
from index import append
from index.pipeline import build_index, update_index
from index.store import index_lock, open_index, open_version, remove_leftovers, stored_articles
from search.engine import SearchEngine

pytestmark = pytest.mark.slow  # every test runs rebuilds or updates in subprocesses, each loading the model

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "articles.jsonl"
BEFORE_SWITCH = ["articles-staged", "before-embedding", "after-embedding", "database-written", "vectors-written", "lexical-written",
                 "tantivy-written",
                 "manifest-written", "verified", "renamed", "link-made"]
AFTER_SWITCH = ["switched"]


def run(command: list[str], crash_at: str | None = None, **env_vars: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KAVOSH_CRASH_AT": crash_at or "", **env_vars}
    return subprocess.run([sys.executable, "-m", *command, "--quiet"], cwd=ROOT, env=env, capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> tuple[Path, Path]:
    articles = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    folder = tmp_path_factory.mktemp("sources")
    old, new = folder / "old.jsonl", folder / "new.jsonl"
    old.write_text("\n".join(json.dumps(a, ensure_ascii=False) for a in articles[:6]), encoding="utf-8")
    new.write_text("\n".join(json.dumps(a, ensure_ascii=False) for a in articles[6:12]), encoding="utf-8")
    return old, new


@pytest.fixture(scope="module")
def live_index(tmp_path_factory, sources, embedder) -> Path:
    index_dir = tmp_path_factory.mktemp("crash-index")
    with index_lock(index_dir):
        build_index(read_articles([sources[0]]), index_dir, embedder)
    return index_dir


def assert_live_and_answering(index_dir: Path, embedder, article_ids: set[str]) -> None:
    version = open_index(index_dir)
    engine = SearchEngine(version, embedder)
    results = engine.search("news", k=3).results
    assert results and {r.article_id for r in results} <= article_ids
    assert version.live_articles == len(article_ids)


def rebuild_in_process(index_dir: Path, source: Path, embedder) -> None:
    """What ``python -m index.rebuild SOURCE`` does once it holds the lock: clear leftovers, then build."""
    with index_lock(index_dir):
        remove_leftovers(index_dir)
        build_index(read_articles([source]), index_dir, embedder)


def leftovers(index_dir: Path) -> list[str]:
    return sorted(p.name for p in [*(index_dir / "versions").glob(".tmp-*"), *index_dir.glob(".current-*"),
                                   *index_dir.glob(STAGING)])


@pytest.mark.parametrize("point", BEFORE_SWITCH + AFTER_SWITCH)
def test_killed_rebuild_leaves_a_live_index(live_index: Path, sources, embedder, point: str) -> None:
    old_ids = {a.id for a in read_articles([sources[0]])}
    new_ids = {a.id for a in read_articles([sources[1]])}
    live_before = open_index(live_index).path
    completed = run(["index.rebuild", str(sources[1]), "--index", str(live_index)], crash_at=point)
    assert completed.returncode == -signal.SIGKILL, completed.stderr.decode()[-2000:]
    assert (live_index / STAGING).exists()  # the articles stay staged until the rebuild ends
    if point in AFTER_SWITCH:
        assert_live_and_answering(live_index, embedder, new_ids)
    else:
        assert open_index(live_index).path == live_before
        assert_live_and_answering(live_index, embedder, old_ids)
    # put the old articles back for the next kill point, as the rebuild command does (in this process: one
    # model load fewer per point); the next run clears the killed run's leftovers
    rebuild_in_process(live_index, sources[0], embedder)
    assert leftovers(live_index) == []
    assert len(list((live_index / "versions").iterdir())) <= 2


@pytest.mark.parametrize("point", ["before-embedding", "after-embedding", "vectors-written", "verified", "link-made"])
def test_killed_update_leaves_a_live_index(live_index: Path, sources, embedder, point: str) -> None:
    old_ids = {a.id for a in read_articles([sources[0]])}
    live_before = open_index(live_index).path
    completed = run(["index.update", str(sources[1]), "--delete", sorted(old_ids)[0], "--index", str(live_index)], crash_at=point)
    assert completed.returncode == -signal.SIGKILL, completed.stderr.decode()[-2000:]
    assert open_index(live_index).path == live_before
    assert_live_and_answering(live_index, embedder, old_ids)


@pytest.mark.parametrize("point", ["tombstones-written", "manifest-written", "verified", "renamed", "link-made", "switched"])
def test_killed_deletion_leaves_a_live_index(sample_index: Path, tmp_path: Path, embedder, point: str) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(sample_index, index_dir, symlinks=True)
    before = open_index(index_dir)
    ids = set(stored_articles(before))
    with before.connect() as db:  # the article with the fewest passages: deleted by tombstones, not merged
        gone = db.execute("SELECT article_id FROM passages GROUP BY article_id ORDER BY count(*), article_id").fetchone()[0]
    completed = run(["index.update", "--delete", gone, "--index", str(index_dir)], crash_at=point)
    assert completed.returncode == -signal.SIGKILL, completed.stderr.decode()[-2000:]
    if point == "switched":
        assert_live_and_answering(index_dir, embedder, ids - {gone})
    else:
        assert open_index(index_dir).path == before.path
        assert_live_and_answering(index_dir, embedder, ids)
    open_version(before.path, verify_checksums=True)  # the files the killed run linked are unchanged
    assert run(["index.update", "--delete", gone, "--index", str(index_dir)]).returncode == 0
    assert leftovers(index_dir) == [] and open_index(index_dir).tombstones.articles == {gone}


def test_rebuild_killed_while_embedding(live_index: Path, sources, embedder) -> None:
    old_ids = {a.id for a in read_articles([sources[0]])}
    live_before = open_index(live_index).path
    env = {**os.environ, "KAVOSH_CRASH_AT": ""}
    process = subprocess.Popen([sys.executable, "-m", "index.rebuild", str(sources[1]), "--index", str(live_index)],
                               cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    seen = b""
    deadline = time.monotonic() + 240
    while b"embedding:" not in seen and time.monotonic() < deadline:
        chunk = process.stderr.read1(4096)
        if not chunk:
            break
        seen += chunk
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stderr.close()
    assert b"embedding:" in seen, seen.decode()[-2000:]
    assert open_index(live_index).path == live_before
    assert_live_and_answering(live_index, embedder, old_ids)


# Each run of a rebuild killed and started again: two kills after a finished shard (the second run resumes
# from the first's shard), one while writing the version from all the shards, then a run that completes.
RESUMED_RUNS = [("shard-written", 1), ("shard-written", 2), ("vectors-written", 3), (None, 3)]


def test_killed_rebuild_resumes_from_its_finished_shards(live_index: Path, sources, embedder, tmp_path) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(live_index, index_dir, symlinks=True)
    old_ids = {a.id for a in read_articles([sources[0]])}
    new_ids = {a.id for a in read_articles([sources[1]])}
    live_before = open_index(index_dir).path
    for run_number, (point, shards_done) in enumerate(RESUMED_RUNS):
        completed = run(["index.rebuild", str(sources[1]), "--index", str(index_dir)], crash_at=point,
                        KAVOSH_SHARD_ARTICLES="2")  # 6 articles: 3 shards
        stderr = completed.stderr.decode()
        if run_number:
            assert f"resuming: {min(run_number, 3)} of 3 shards already done" in stderr, stderr[-2000:]
        if point is None:
            assert completed.returncode == 0, stderr[-2000:]
            break
        assert completed.returncode == -signal.SIGKILL, stderr[-2000:]
        assert open_index(index_dir).path == live_before
        assert_live_and_answering(index_dir, embedder, old_ids)
        assert len(list((index_dir / "builds").glob("*/shard-*.npz"))) == shards_done
    assert_live_and_answering(index_dir, embedder, new_ids)
    assert not (index_dir / "builds").exists()
    assert leftovers(index_dir) == []


@pytest.mark.parametrize("point, segmented", [
    *((point, False) for point in ["database-written", "tantivy-written", "vectors-written", "sentences-written",
                                   "manifest-written", "verified", "renamed", "link-made", "switched"]),
    *((point, True) for point in ["database-written", "tantivy-written", "manifest-written", "switched"])])
def test_killed_appending_update_leaves_a_live_index(sample_index: Path, tmp_path: Path, embedder, point: str,
                                                     segmented: bool, monkeypatch) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(sample_index, index_dir, symlinks=True)
    if segmented:  # a live version with a segment: every update of it writes another (index.segments)
        monkeypatch.setattr(append, "SEGMENTS_FROM", 0)
        edited = read_articles([SAMPLE])[1]
        with index_lock(index_dir):
            update_index(index_dir, embedder, [replace(edited, title=edited.title + " (به‌روز)")], [])
        assert len(open_index(index_dir).manifest["segments"]) == 1
    before = open_index(index_dir)
    ids = set(stored_articles(before))
    changed = json.loads(SAMPLE.read_text(encoding="utf-8").splitlines()[0])
    changed["paragraphs"].append("این بند تازه به خبر افزوده شد.")
    fresh = {"id": "fresh-1", "title": "خبر تازه", "text": "متن خبر تازه درباره بارش برف در تهران."}
    source = tmp_path / "new.jsonl"
    source.write_text("\n".join(json.dumps(a, ensure_ascii=False) for a in (changed, fresh)), encoding="utf-8")
    completed = run(["index.update", str(source), "--index", str(index_dir)], crash_at=point)
    assert completed.returncode == -signal.SIGKILL, completed.stderr.decode()[-2000:]
    if point == "switched":
        assert_live_and_answering(index_dir, embedder, ids | {"fresh-1"})
    else:
        assert open_index(index_dir).path == before.path
        assert_live_and_answering(index_dir, embedder, ids)
    open_version(before.path, verify_checksums=True)  # the files the killed run copied are unchanged
    assert run(["index.update", str(source), "--index", str(index_dir)]).returncode == 0
    after = open_index(index_dir)
    assert leftovers(index_dir) == [] and "appended" in after.manifest and len(after.tombstones.passages) > 0
    assert len(after.manifest.get("segments", [])) == (2 if segmented else 0)
    assert_live_and_answering(index_dir, embedder, ids | {"fresh-1"})
