"""The resident updater (index.watch): each file put into the inbox is one update; bad files are set aside."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from index import update as update_command
from index.articles import read_articles
from index.pipeline import build_index
from index.store import index_lock, open_index, stored_articles
from index.watch import watch
from settings import Settings

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "articles.jsonl"


def passes(count: int):
    """A keep_going that lets the watcher look at the inbox ``count`` times."""
    left = iter(range(count))
    return lambda: next(left, None) is not None


def settled(path: Path) -> Path:
    """``path`` as if written a minute ago."""
    stamp = time.time() - 60
    os.utime(path, (stamp, stamp))
    return path


@pytest.fixture()
def index_dir(tmp_path, embedder) -> Path:
    folder = tmp_path / "index"
    with index_lock(folder):
        build_index(read_articles([SAMPLE])[:5], folder, embedder)
    return folder


def write_articles(path: Path, articles) -> Path:
    path.write_text("".join(json.dumps({"id": a.id, "title": a.title, "text": a.text, "cat": a.cat}, ensure_ascii=False)
                            + "\n" for a in articles), encoding="utf-8")
    return settled(path)


def test_each_settled_file_is_applied_and_a_bad_one_set_aside(index_dir, tmp_path, embedder) -> None:
    articles = read_articles([SAMPLE])
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a-bad.json").write_text("{not json", encoding="utf-8")
    settled(inbox / "a-bad.json")
    write_articles(inbox / "b-new.jsonl", articles[5:7])
    write_articles(inbox / ".hidden.jsonl", articles[7:8])
    outside = write_articles(tmp_path / "outside.jsonl", articles[9:10])
    (inbox / "d-link.jsonl").symlink_to(outside)  # a link is not a file put into the inbox
    (inbox / "e-folder").mkdir()
    fresh = inbox / "c-fresh.jsonl"
    write_articles(fresh, articles[8:9])
    os.utime(fresh)  # still being written, as far as the watcher can tell
    before = open_index(index_dir).manifest["version"]
    done = watch(inbox, index_dir, Settings(index_dir=index_dir), settle=30, poll=0, keep_going=passes(1),
                 embedder=embedder)
    assert [(outcome.path.name, outcome.error is None) for outcome in done] == [("a-bad.json", False), ("b-new.jsonl", True)]
    assert "no article could be read" in (inbox / "failed" / "a-bad.json.error.txt").read_text()
    assert (inbox / "failed" / "a-bad.json").is_file() and (inbox / "done" / "b-new.jsonl").is_file()
    assert (inbox / ".hidden.jsonl").is_file() and fresh.is_file() and (inbox / "d-link.jsonl").is_symlink()
    live = open_index(index_dir)
    assert live.manifest["version"] != before
    assert set(stored_articles(live)) == {a.id for a in articles[:7]}
    assert done[1].result.added == [articles[5].id, articles[6].id]


def test_a_file_waits_while_the_index_is_locked_and_a_name_used_again_is_kept(index_dir, tmp_path, embedder) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    waiting = write_articles(inbox / "new.jsonl", read_articles([SAMPLE])[5:6])
    before = open_index(index_dir).manifest["version"]
    with index_lock(index_dir):
        done = watch(inbox, index_dir, Settings(index_dir=index_dir), poll=0, keep_going=passes(2), embedder=embedder)
    assert done == [] and waiting.is_file() and open_index(index_dir).manifest["version"] == before
    watch(inbox, index_dir, Settings(index_dir=index_dir), poll=0, keep_going=passes(1), embedder=embedder)
    assert not waiting.exists() and open_index(index_dir).manifest["version"] != before
    again = write_articles(inbox / "new.jsonl", read_articles([SAMPLE])[6:7])  # the same name used again
    watch(inbox, index_dir, Settings(index_dir=index_dir), poll=0, keep_going=passes(1), embedder=embedder)
    assert not again.exists() and len(list((inbox / "done").iterdir())) == 2  # the first one not overwritten


def test_the_command_refuses_sources_beside_watch_and_a_missing_inbox(index_dir, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as usage:
        update_command.main(["--watch", str(tmp_path), str(SAMPLE), "--index", str(index_dir)])
    assert usage.value.code == 2 and "--watch takes its articles from the inbox" in capsys.readouterr().err
    assert update_command.main(["--watch", str(tmp_path / "nowhere"), "--index", str(index_dir)]) == 1
    assert "is not a folder" in capsys.readouterr().err
