"""Hostile and careless files: each bad record or file is skipped or ignored and named in the report,
the good ones beside it are still read, and nothing blocks or reads outside the source folder."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from index.articles import MAX_ID_CHARS, IngestReport, read_articles

DEEP = "[" * 50_000 + "]" * 50_000


def good(i: int) -> str:
    return json.dumps({"id": f"g{i}", "title": f"عنوان {i}", "text": f"متن خوب شماره {i}"}, ensure_ascii=False)


def read(*paths: Path, **options) -> tuple[list[str], IngestReport]:
    report = IngestReport()
    return sorted(a.id for a in read_articles(paths, report, **options)), report


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ('{"id": "d", "text": "x", "tags": %s}' % DEEP, "unreadable JSON: nested too deeply"),
        ('{"id": %s, "text": "x"}' % ("9" * 5000), "unreadable JSON: Exceeds the limit (4300 digits)"),
        ('{"id": %s, "text": "x"}' % ("9" * 3000), f"id too long: 3000 characters; the limit is {MAX_ID_CHARS}"),
        ('{"id": "s", "text": "half \\ud800 of a pair"}', "lone surrogate"),
        ('{"id": "s", "text": "x", "extra": {"\\udfff": 1}}', "lone surrogate"),
    ],
)
def test_a_hostile_record_is_skipped_and_its_neighbours_read(tmp_path: Path, bad: str, reason: str) -> None:
    array = tmp_path / "a.json"
    array.write_text(f"[{good(1)},\n{bad},\n{good(2)}]", encoding="utf-8")
    lines = tmp_path / "b.jsonl"
    lines.write_text(f"{good(3)}\n{bad}\n{good(4)}\n", encoding="utf-8")
    ids, report = read(array, lines)
    assert ids == ["g1", "g2", "g3", "g4"]
    assert [source for source, _ in report.skipped] == [f"{array}#2", f"{lines}:2"]
    assert all(message.startswith(reason) for _, message in report.skipped)
    assert report.read == 6 and not report.bad_files


def test_a_single_hostile_object_file_is_one_skipped_record(tmp_path: Path) -> None:
    (tmp_path / "one.json").write_text('{"text": %s}' % DEEP)
    (tmp_path / "two.json").write_text(f"[{good(1)}]", encoding="utf-8")
    ids, report = read(tmp_path)
    assert ids == ["g1"] and report.skipped == [(f"{tmp_path / 'one.json'}#1", "unreadable JSON: nested too deeply")]


def test_a_csv_field_over_the_limit_skips_that_row_only(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    long_but_fine = "ب" * 200_000  # over Python's default csv field limit of 131,072
    path.write_text(f"id,text\nlong,{long_but_fine}\nhuge,{'a' * (17 * 1024 * 1024)}\nafter,متن بعدی\n", encoding="utf-8")
    ids, report = read(path)
    assert ids == ["after", "long"]
    assert report.skipped == [(f"{path}:3", "unreadable CSV row: field larger than field limit (16777216)")]


def test_a_stray_quote_in_a_csv_names_the_rows_it_swallowed(tmp_path: Path) -> None:
    path = tmp_path / "quote.csv"
    path.write_text('id,title,text\na,t,"خبر اول\nb,t,خبر دوم\nc,t,خبر سوم\n', encoding="utf-8")
    multi_line = tmp_path / "paragraphs.csv"  # a real multi-line field is no stray quote
    multi_line.write_text('id,title,text\nm,t,"بند اول\nبند دوم"\nn,t,بعدی\n', encoding="utf-8")
    ids, report = read(path, multi_line)
    assert ids == ["a", "m", "n"]
    ((source, message),) = report.warnings
    assert source == f"{path}:2"
    assert "runs from line 2 to line 4" in message and "took 2 line(s) that look like rows (lines 3-4)" in message
    assert "stray quote" in report.summary(indexed=3)


def test_ignored_files_in_a_folder_are_listed_in_the_summary(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "ok.jsonl").write_text(good(1), encoding="utf-8")
    (source / "notes.docx").write_bytes(b"PK")
    (source / "old.jsonl.gz").write_bytes(b"\x1f\x8b")
    (source / "empty.json").touch()
    (source / "gone.json").symlink_to(tmp_path / "missing.json")
    os.mkfifo(source / "pipe.json")
    ids, report = read(source)
    assert ids == ["g1"] and not report.bad_files
    reasons = {Path(path).name: reason for path, reason in report.ignored}
    assert reasons == {
        "notes.docx": "unsupported file type .docx; use .json, .jsonl, .csv, .txt or .md",
        "old.jsonl.gz": "compressed file (.gz): decompress it first",
        "empty.json": "file is empty",
        "gone.json": "dangling link",
        "pipe.json": "a FIFO, not a file of articles",
    }
    summary = report.summary(indexed=1)
    assert "ignored files: 5" in summary and all(name in summary for name in reasons)


def test_a_fifo_named_as_a_source_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "articles.jsonl"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    ids, report = read(fifo)
    assert ids == [] and report.bad_files == [(str(fifo), "a FIFO, not a file of articles")]


def test_links_out_of_the_folder_and_hidden_files_are_read_only_when_asked(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jsonl").write_text(good(1), encoding="utf-8")
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "inside.jsonl").write_text(good(2), encoding="utf-8")
    (source / "link.jsonl").symlink_to(outside / "secret.jsonl")
    (source / "linked-folder").symlink_to(outside)
    (source / "loop").symlink_to(source)
    (source / ".drafts").mkdir()
    (source / ".drafts" / "draft.jsonl").write_text(good(3), encoding="utf-8")
    ids, report = read(source)
    assert ids == ["g2"]
    ignored = {Path(path).name: reason for path, reason in report.ignored}
    assert set(ignored) == {"link.jsonl", "linked-folder", "loop", ".drafts"}
    assert "--follow-links" in ignored["link.jsonl"] and "--include-hidden" in ignored[".drafts"]
    ids, report = read(source, follow_links=True, include_hidden=True)
    assert ids == ["g1", "g2", "g3"]
    assert [Path(path).name for path, _ in report.ignored] == ["loop"]  # a link loop is read once
