"""Ingestion fuzzing: whatever the files hold, reading never crashes, every record is accounted for,
and valid records in damaged files are still read."""
import json
import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.articles import IngestReport, article_from_record, read_articles, RecordError
from index.passages import split_passages

FIELDS = ["id", "title", "abstract", "paragraphs", "text", "cat", "subcat", "tags", "link", "date", "lang"]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40) | st.sampled_from(
    ["", "   ", "\x00\x07", "مي شود", "كتاب", "<script>alert(1)</script>", "\u200c", "2024-01-01"]
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
records = st.dictionaries(st.sampled_from(FIELDS) | texts, json_values | texts, max_size=8) | json_values


def accounted(report: IngestReport, articles) -> bool:
    return report.read == len(articles) + len(report.skipped) + len(report.duplicates)


@FUZZ
@given(st.lists(records, max_size=8))
def test_any_json_array_is_read_without_crashing(batch) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.json"
        path.write_text(json.dumps(batch, ensure_ascii=False), encoding="utf-8")
        report = IngestReport()
        articles = read_articles([path], report)
        assert accounted(report, articles)
        assert all(source.startswith(f"{path}#") for source, _ in report.skipped)
        for article in articles:
            assert article.text.strip() and isinstance(article.id, str) and article.id


@FUZZ
@given(st.lists(records, min_size=1, max_size=8), st.data())
def test_json_lines_with_damaged_lines_keep_the_good_ones(batch, data) -> None:
    lines = [json.dumps(record, ensure_ascii=False) for record in batch]
    damaged = data.draw(st.sets(st.integers(0, len(lines) - 1)))
    for i in damaged:
        lines[i] = lines[i][: len(lines[i]) // 2] + "\x00"
    valid_ids = set()
    for i, record in enumerate(batch):
        if i not in damaged:
            try:
                valid_ids.add(article_from_record(record, "x").id)
            except RecordError:
                pass
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.jsonl"
        path.write_text("\n".join(lines), encoding="utf-8")
        report = IngestReport()
        articles = read_articles([path], report)
        assert accounted(report, articles)
        assert {a.id for a in articles} == valid_ids
        assert {int(source.rsplit(":", 1)[1]) - 1 for source, _ in report.skipped} >= damaged


@FUZZ
@given(st.binary(max_size=300), st.sampled_from(["a.json", "a.jsonl", "a.csv", "a.txt", "a.md"]))
def test_arbitrary_bytes_never_crash(payload: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(payload)
        report = IngestReport()
        articles = read_articles([path], report)
        assert accounted(report, articles)


@FUZZ
@given(st.integers(min_value=0, max_value=2000))
def test_a_file_cut_anywhere_keeps_the_complete_records(cut: int) -> None:
    batch = [{"id": f"a{i}", "title": f"عنوان {i}", "paragraphs": [f"متن خبر شماره {i}."]} for i in range(12)]
    text = json.dumps(batch, ensure_ascii=False)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cut.json"
        path.write_text(text[: min(cut, len(text))], encoding="utf-8")
        report = IngestReport()
        ids = [a.id for a in read_articles([path], report)]
        complete = sum(1 for i in range(12) if text.find(f'"a{i}"') >= 0 and text.index("}", text.find(f'"a{i}"')) < cut)
        assert ids == [f"a{i}" for i in range(len(ids))]
        assert len(ids) >= complete - 1  # the record the cut falls in may be lost, never an earlier one


def test_other_encodings_are_reported_not_garbled(tmp_path: Path) -> None:
    record = {"id": "w", "title": "سلام", "text": "متن فارسي"}  # cp1256 has Arabic ي, not Persian ی
    (tmp_path / "cp1256.jsonl").write_bytes(json.dumps(record, ensure_ascii=False).encode("cp1256"))
    (tmp_path / "utf16.json").write_bytes(json.dumps([record], ensure_ascii=False).encode("utf-16"))
    report = IngestReport()
    assert read_articles([tmp_path / "cp1256.jsonl", tmp_path / "utf16.json"], report) == []
    assert report.skipped == [(f"{tmp_path / 'cp1256.jsonl'}:1", "undecodable bytes: the record is not valid UTF-8")]
    assert [Path(p).name for p, _ in report.bad_files] == ["utf16.json"]


def test_duplicate_ids_within_and_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps({"id": "d", "title": t, "text": t}) for t in ["one", "two"]))
    (tmp_path / "b.jsonl").write_text(json.dumps({"id": "d", "title": "three", "text": "three"}))
    report = IngestReport()
    (article,) = read_articles([tmp_path / "a.jsonl", tmp_path / "b.jsonl"], report)
    assert article.title == "three" and len(report.duplicates) == 2


@pytest.mark.slow  # a 4 MB article
def test_huge_article_is_read_and_cut_into_bounded_passages(tmp_path: Path) -> None:
    sentence = "این جمله‌ای در یک خبر بسیار طولانی است که بارها تکرار می‌شود. "
    body = sentence * 60_000  # about 4 MB of UTF-8
    path = tmp_path / "huge.jsonl"
    path.write_text(json.dumps({"id": "huge", "title": "خبر بزرگ", "text": body}, ensure_ascii=False), encoding="utf-8")
    assert path.stat().st_size > 3_000_000
    (article,) = read_articles([path])
    passages = split_passages(article, lambda texts: [len(t.split()) for t in texts], max_tokens=200, overlap_tokens=0)
    assert all(len(p.text.split()) <= 200 for p in passages)
    assert passages[-1].end == len(article.text)


def _hostile_record(kind: str, size: int) -> str:
    """A record that used to abort the whole run: nesting past the recursion limit, an integer id past
    Python's 4,300-digit conversion limit or merely past the id limit, or an escaped lone surrogate."""
    if kind == "deep":
        return '{"id": "d", "text": "x", "tags": ' + "[" * size + "]" * size + "}"
    if kind == "huge_int":
        return '{"id": ' + "7" * size + ', "text": "x"}'
    return '{"id": "s", "title": "\\u%04x", "text": "x"}' % (0xD800 + size % 0x800)


hostile = st.one_of(
    st.tuples(st.just("deep"), st.integers(1_100, 20_000)),
    st.tuples(st.just("huge_int"), st.integers(1_001, 6_000)),
    st.tuples(st.just("surrogate"), st.integers(0, 0x7FF)),
)


@FUZZ
@given(st.lists(st.one_of(st.integers(0, 10**6), hostile), min_size=1, max_size=10), st.booleans())
def test_hostile_records_are_skipped_and_every_good_one_is_read(batch, as_lines) -> None:
    texts = [json.dumps({"id": f"g{item}-{i}", "text": f"متن {item}"}, ensure_ascii=False) if isinstance(item, int)
             else _hostile_record(*item) for i, item in enumerate(batch)]
    good = {f"g{item}-{i}" for i, item in enumerate(batch) if isinstance(item, int)}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("fuzz.jsonl" if as_lines else "fuzz.json")
        path.write_text("\n".join(texts) if as_lines else "[" + ",\n".join(texts) + "]", encoding="utf-8")
        report = IngestReport()
        articles = read_articles([path], report)
        assert {a.id for a in articles} == good and not report.bad_files
        assert accounted(report, articles) and len(report.skipped) == len(batch) - len(good)
        numbers = {int(source.replace("#", ":").rsplit(":", 1)[1]) for source, _ in report.skipped}
        assert numbers == {i + 1 for i, item in enumerate(batch) if not isinstance(item, int)}


@FUZZ
@given(st.integers(1, 12), st.data())
def test_a_stray_csv_quote_loses_no_row_silently(rows: int, data) -> None:
    stray = data.draw(st.integers(0, rows - 1))
    quote = {stray: '"'}
    lines = ["id,title,text"] + [f"r{i},عنوان {i},{quote.get(i, '')}متن خبر {i}" for i in range(rows)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "quote.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        report = IngestReport()
        read_ids = {a.id for a in read_articles([path], report)}
        named_lines = {line for _, message in report.warnings
                       for a, b in re.findall(r"(\d+)(?:-(\d+))?", message.split("(lines")[-1])
                       for line in range(int(a), int(b or a) + 1)}
        named_ids = {f"r{line - 2}" for line in named_lines}
        assert read_ids | named_ids == {f"r{i}" for i in range(rows)}  # every row read or named in a warning
        assert (stray < rows - 1) == bool(report.warnings)


ENTRY_KINDS = ["good", "hidden", "fifo", "dangling", "outside_link", "compressed", "empty", "unsupported", "subfolder"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(ENTRY_KINDS), max_size=12))
def test_any_folder_of_careless_entries_is_read_or_listed_never_hangs(kinds) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        outside = Path(tmp) / "outside.jsonl"
        outside.write_text(json.dumps({"id": "outside", "text": "بیرون"}))
        root = Path(tmp) / "src"
        root.mkdir()
        expected_ids, expected_ignored = set(), set()
        for i, kind in enumerate(kinds):
            path = root / f"e{i}.jsonl"
            if kind in ("good", "subfolder"):
                if kind == "subfolder":
                    path = root / f"d{i}" / "inner.jsonl"
                    path.parent.mkdir()
                path.write_text(json.dumps({"id": f"e{i}", "text": f"متن {i}"}, ensure_ascii=False))
                expected_ids.add(f"e{i}")
                continue
            if kind == "hidden":
                path = root / f".e{i}.jsonl"
                path.write_text(json.dumps({"id": f"h{i}", "text": "پنهان"}, ensure_ascii=False))
            elif kind == "fifo":
                os.mkfifo(path)
            elif kind == "dangling":
                path.symlink_to(root / "missing.jsonl")
            elif kind == "outside_link":
                path.symlink_to(outside)
            elif kind == "compressed":
                path = root / f"e{i}.jsonl.gz"
                path.write_bytes(b"\x1f\x8b\x08")
            elif kind == "empty":
                path.touch()
            else:
                path = root / f"e{i}.pdf"
                path.write_bytes(b"%PDF")
            expected_ignored.add(str(path))
        report = IngestReport()
        articles = read_articles([root], report)
        assert {a.id for a in articles} == expected_ids
        assert {path for path, _ in report.ignored} == expected_ignored
        assert accounted(report, articles)
