"""Reading articles: every format, stable ids, duplicates, and bad records reported rather than dropped."""
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from index.articles import _SURELY_KEPT, IngestReport, has_text, read_articles
from index.persian import normalize

FARS_RECORD = {
    "title": "سفر وزیر خارجه به مسکو",
    "abstract": "خبرگزاري فارس: وزير امور خارجه وارد مسكو شد.",
    "paragraphs": ["پاراگراف اول.", "پاراگراف دوم."],
    "cat": "politics",
    "subcat": "",
    "tags": ["روسیه"],
    "link": "https://example.org/1",
}


def write_json(path: Path, records) -> Path:
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return path


def test_fars_news_json_array(tmp_path: Path) -> None:
    path = write_json(tmp_path / "a.json", [FARS_RECORD, {**FARS_RECORD, "link": "https://example.org/2", "date": "2024-03-05"}])
    articles = read_articles([path])
    assert [a.id for a in articles] == ["https://example.org/1", "https://example.org/2"]
    first = articles[0]
    assert first.title == "سفر وزیر خارجه به مسکو"
    assert first.text == "خبرگزاري فارس: وزير امور خارجه وارد مسكو شد.\n\nپاراگراف اول.\n\nپاراگراف دوم."
    assert first.cat == "politics" and first.tags == ["روسیه"]
    assert articles[1].date == "2024-03-05"


def test_json_lines_and_csv_and_text_folder(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(json.dumps({"id": "x1", "title": "T", "text": "body one", "lang": "en"}) + "\n")
    (tmp_path / "b.csv").write_text("id,title,text,cat,tags,date\nc1,Title,Body text,economy,\"oil, gas\",2025-01-02\n")
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "n.md").write_text("# A title\n\nSome body.\n")
    articles = {a.id: a for a in read_articles([tmp_path / "a.jsonl", tmp_path / "b.csv", folder])}
    assert articles["x1"].lang == "en" and articles["x1"].text == "body one"
    assert articles["c1"].tags == ["oil", "gas"] and articles["c1"].date == "2025-01-02" and articles["c1"].cat == "economy"
    (text_article,) = [a for a in articles.values() if a.source.endswith("n.md")]
    assert text_article.title == "A title" and text_article.text == "Some body."
    assert len(text_article.id) == 16  # content hash: no link or explicit id


def test_text_files_with_windows_line_ends_read_like_unix_ones(tmp_path: Path) -> None:
    (tmp_path / "w.txt").write_bytes("# عنوان\r\nخط یک\r\nخط دو\r\n".encode())
    (article,) = read_articles([tmp_path])
    assert article.title == "عنوان" and article.text == "خط یک\nخط دو"


def test_content_hash_id_is_stable(tmp_path: Path) -> None:
    (tmp_path / "n.txt").write_text("Title\nBody\n")
    assert read_articles([tmp_path])[0].id == read_articles([tmp_path])[0].id


def test_later_duplicate_wins_and_is_reported(tmp_path: Path) -> None:
    first = write_json(tmp_path / "1.json", [FARS_RECORD])
    second = write_json(tmp_path / "2.json", [{**FARS_RECORD, "title": "نسخه دوم"}])
    report = IngestReport()
    articles = read_articles([first, second], report)
    assert len(articles) == 1 and articles[0].title == "نسخه دوم"
    assert report.duplicates == [("https://example.org/1", f"{first}#1", f"{second}#1")]
    assert "replaced by a later duplicate: 1" in report.summary(indexed=1)


def test_bad_records_are_skipped_with_file_and_record_number(tmp_path: Path) -> None:
    records = [
        FARS_RECORD,
        {**FARS_RECORD, "link": "l2", "paragraphs": "not a list", "abstract": 5},
        {**FARS_RECORD, "link": "l3", "abstract": "", "paragraphs": []},
        "just a string",
        {**FARS_RECORD, "link": "l5", "tags": [1, 2]},
        {**FARS_RECORD, "link": "l6"},
    ]
    path = write_json(tmp_path / "mixed.json", records)
    report = IngestReport()
    articles = read_articles([path], report)
    assert [a.id for a in articles] == ["https://example.org/1", "l6"]
    reasons = dict(report.skipped)
    assert set(reasons) == {f"{path}#2", f"{path}#3", f"{path}#4", f"{path}#5"}
    assert "wrong type" in reasons[f"{path}#2"]
    assert "no text" in reasons[f"{path}#3"]
    assert "must be an object" in reasons[f"{path}#4"]
    assert "tags" in reasons[f"{path}#5"]
    assert report.read == 6
    assert "skipped: 4" in report.summary(indexed=2)


def test_undecodable_bytes_skip_only_that_record(tmp_path: Path) -> None:
    good = json.dumps({"id": "ok", "title": "t", "text": "سلام"}, ensure_ascii=False).encode()
    bad = b'{"id": "bad", "title": "t", "text": "\xff\xfe broken"}'
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(good + b"\n" + bad + b"\n")
    report = IngestReport()
    assert [a.id for a in read_articles([path], report)] == ["ok"]
    assert report.skipped == [(f"{path}:2", "undecodable bytes: the record is not valid UTF-8")]


def test_truncated_json_keeps_the_records_before_the_damage(tmp_path: Path) -> None:
    text = json.dumps([FARS_RECORD, {**FARS_RECORD, "link": "l2"}], ensure_ascii=False)
    path = tmp_path / "cut.json"
    path.write_text(text[: len(text) - 30], encoding="utf-8")
    report = IngestReport()
    assert [a.id for a in read_articles([path], report)] == ["https://example.org/1"]
    assert report.bad_files and "invalid JSON after record 1" in report.bad_files[0][1]


def test_bad_file_is_reported_and_the_rest_still_read(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("this is not json")
    (tmp_path / "header.csv").write_text("title,author\nx,y\n")
    write_json(tmp_path / "good.json", [FARS_RECORD])
    report = IngestReport()
    articles = read_articles([tmp_path / "broken.json", tmp_path / "header.csv", tmp_path / "good.json", tmp_path / "none.json"], report)
    assert len(articles) == 1
    assert {Path(p).name for p, _ in report.bad_files} == {"broken.json", "header.csv", "none.json"}


def test_unparseable_date_keeps_the_article_and_warns(tmp_path: Path) -> None:
    path = write_json(tmp_path / "d.json", [{**FARS_RECORD, "date": "yesterday"}])
    report = IngestReport()
    (article,) = read_articles([path], report)
    assert article.date is None
    assert report.warnings and "yesterday" in report.warnings[0][1]


def test_letters_taken_as_text_without_normalizing_survive_normalization() -> None:
    kept = [chr(code) for code in range(0x20, 0x10000) if _SURELY_KEPT.fullmatch(chr(code))]
    assert len(kept) > 100 and all(normalize(char) for char in kept)


# the characters that decide whether a record has text: letters hazm keeps or deletes (tatweel, small waw,
# ligatures of diacritics), diacritics, ZWNJ and other invisibles, spaces, punctuation, digits
_TRICKY = "اب یکي1۱aـۥﱞﹰًٌُّ\u200c\u200b\u200d\ufeff \n\t.،؟!-ﷺ"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=_TRICKY, max_size=12))
def test_has_text_agrees_with_normalizing(text: str) -> None:
    assert has_text(text) == bool(normalize(text))
