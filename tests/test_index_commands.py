"""The rebuild and update commands facing careless use: a second run is refused before torch and the
model load, a mistyped --index is not created, and the source-walking options reach the reader."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from index.articles import read_articles
from index.layout import STAGING
from index.pipeline import build_index
from index.rebuild import main as rebuild_main
from index.store import index_lock
from index.update import main as update_main
from settings import PROJECT_ROOT

PROBE = """
import sys
from {module} import main
status = main({argv!r})
print("status", status, "torch loaded", "torch" in sys.modules, "embedder loaded", "index.embedder" in sys.modules)
"""


def run_command(module: str, argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROBE.format(module=module, argv=argv)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # two fresh interpreters importing the index modules: ~20-40 s on a busy 2-core machine
def test_a_second_rebuild_or_update_is_refused_before_the_model_loads(tmp_path: Path) -> None:
    source = tmp_path / "a.jsonl"
    source.write_text(json.dumps({"id": "a", "text": "متن"}, ensure_ascii=False), encoding="utf-8")
    index_dir = tmp_path / "index"
    with index_lock(index_dir):
        for module in ("index.rebuild", "index.update"):
            done = run_command(module, [str(source), "--index", str(index_dir), "--quiet"])
            assert "status 1 torch loaded False embedder loaded False" in done.stdout, done.stderr
            assert "is being rebuilt or updated by pid" in done.stderr


def test_update_with_a_mistyped_index_folder_creates_nothing(tmp_path: Path, capsys) -> None:
    source = tmp_path / "a.jsonl"
    source.write_text(json.dumps({"id": "a", "text": "متن"}, ensure_ascii=False), encoding="utf-8")
    mistyped = tmp_path / "indx" / "nested"
    assert update_main([str(source), "--index", str(mistyped), "--quiet"]) == 1
    assert f"no index in {mistyped}" in capsys.readouterr().err
    assert not (tmp_path / "indx").exists()


def test_source_options_reach_the_reader(tmp_path: Path, capsys, embedder) -> None:
    source = tmp_path / "src"
    (source / ".hidden").mkdir(parents=True)
    (source / ".hidden" / "a.jsonl").write_text(json.dumps({"id": "h", "text": "متن"}, ensure_ascii=False))
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    assert rebuild_main([str(source), "--index", str(index_dir), "--quiet"]) == 1  # only a hidden folder
    err = capsys.readouterr().err
    assert "ignored file" in err and "--include-hidden" in err
    assert rebuild_main([str(source), "--index", str(index_dir), "--quiet", "--include-hidden"]) == 0
    assert "articles read: 1, indexed: 1" in capsys.readouterr().out
    assert not (index_dir / STAGING).exists()  # the staged articles go once the version is live


def test_a_full_disk_while_staging_ends_the_rebuild_with_a_message(tmp_path: Path, capsys, monkeypatch) -> None:
    import index.staging

    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(index.staging, "iter_articles", full)
    source = tmp_path / "a.jsonl"
    source.write_text(json.dumps({"id": "a", "text": "متن"}, ensure_ascii=False))
    assert rebuild_main([str(source), "--index", str(tmp_path / "index"), "--quiet"]) == 1
    assert "error: database or disk is full" in capsys.readouterr().err
    assert not (tmp_path / "index" / STAGING).exists()


def test_writing_a_version_shows_its_stages(tmp_path: Path, capsys, embedder) -> None:
    articles = read_articles([Path(__file__).resolve().parents[1] / "data" / "sample" / "articles.jsonl"])[:2]
    with index_lock(tmp_path / "index"):
        build_index(articles, tmp_path / "index", embedder, progress=True)
    err = capsys.readouterr().err
    assert "writing the version" in err and "6/6" in err  # every stage counted, the last one finished
    for stage in ("the database", "vector index", "tantivy's lexical index", "the sentence vectors", "verifying"):
        assert stage in err
