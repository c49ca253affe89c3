"""A rebuild's articles staged on disk: the same articles, order and report as reading them into memory."""
import json
from pathlib import Path

import pytest

from index.articles import IngestReport, read_articles
from index.layout import STAGING, remove_leftovers
from index.staging import READ_BATCH, stage_articles


def _sources(tmp_path: Path) -> list[Path]:
    """Three files whose ids repeat across them, so later records must replace earlier ones."""
    first = tmp_path / "a.jsonl"
    first.write_text("".join(json.dumps({"id": f"a{n}", "title": f"عنوان {n}", "text": f"متن شماره {n}",
                                         "tags": ["x", str(n)], "date": "2024-01-0%d" % (1 + n % 9)},
                                        ensure_ascii=False) + "\n" for n in range(30)), encoding="utf-8")
    second = tmp_path / "b.json"
    second.write_text(json.dumps([{"id": "a3", "title": "دوباره", "text": "نسخه تازه"},
                                  {"id": "b1", "title": "T", "text": "body", "lang": "en", "cat": "sport"},
                                  "not an article"], ensure_ascii=False), encoding="utf-8")
    third = tmp_path / "c.csv"
    third.write_text("id,title,text\na7,هفت,متن هفت\n", encoding="utf-8")
    return [first, second, third]


def test_staged_articles_equal_the_articles_read_into_memory(tmp_path: Path) -> None:
    sources = _sources(tmp_path)
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    in_memory, staged_report = IngestReport(), IngestReport()
    expected = read_articles(sources, in_memory)
    with stage_articles(sources, index_dir, staged_report) as staged:
        assert len(staged) == len(expected) == 31
        assert list(staged) == expected  # replaced ones moved to where the later record was read
        assert staged[5:9] == expected[5:9] and staged[29:99] == expected[29:]
        assert staged[0] == expected[0] and staged[-1] == expected[-1] and staged[-1].id == "a7"
        with pytest.raises(IndexError):
            staged[31]
        with pytest.raises(ValueError, match="step"):
            staged[::2]
        assert (index_dir / STAGING).is_file()
    assert not (index_dir / STAGING).exists()
    assert staged_report.duplicates == in_memory.duplicates and len(in_memory.duplicates) == 2
    assert staged_report.skipped == in_memory.skipped and staged_report.read == in_memory.read == 34


def test_iterating_reads_in_batches_and_keeps_order(tmp_path: Path) -> None:
    source = tmp_path / "many.jsonl"
    count = READ_BATCH * 2 + 7
    source.write_text("".join(json.dumps({"id": str(n), "text": "t"}) + "\n" for n in range(count)))
    with stage_articles([source], tmp_path, IngestReport()) as staged:
        assert [a.id for a in staged] == [str(n) for n in range(count)]


def test_a_failed_staging_leaves_no_file_and_a_leftover_is_removed(tmp_path: Path) -> None:
    source = _sources(tmp_path)[0]

    class Stop(Exception):
        pass

    class Failing(IngestReport):
        def replaced(self, article, previous_source) -> None:
            raise Stop

    with pytest.raises(Stop):
        stage_articles([source, source], tmp_path, Failing())
    assert not (tmp_path / STAGING).exists()
    (tmp_path / STAGING).write_bytes(b"left by a killed rebuild")
    remove_leftovers(tmp_path)
    assert not (tmp_path / STAGING).exists()


def test_json_lines_are_read_line_by_line_as_before(tmp_path: Path) -> None:
    """A byte-order mark, Windows line ends, U+2028 and U+0085 inside a string and a broken line in between."""
    path = tmp_path / "odd.jsonl"
    lines = [json.dumps({"id": "1", "text": "a\u2028b\u0085c"}, ensure_ascii=False), "{broken",
             "", json.dumps({"id": "2", "text": "دوم"}, ensure_ascii=False)]
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode())
    report = IngestReport()
    articles = read_articles([path], report)
    assert [(a.id, a.text) for a in articles] == [("1", "a\u2028b\u0085c"), ("2", "دوم")]
    assert [source for source, _ in report.skipped] == [f"{path}:2"]
