"""BM25 over normalized Persian/English tokens: tokens, the FTS5 table, highlighting offsets, and the
lexical data inside an index version (written, listed in the manifest, verified on open)."""
from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import date
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.articles import Article, read_articles
from index.filter import Filter
from index.fts import FtsLexicalIndex
from index.lexical import script, term_spans, tokens, write_lexical
from index.lexical_search import MAX_QUERY_TERMS, strongest_terms
from index.passages import Passage
from index.store import LEXICAL, MANIFEST, IndexDamaged, index_lock, open_index, open_version, write_version

ARABIC_STYLE = "رئيس كل بانك مركزي گفت نرخ تورم در سال ۱۴۰۳ كاهش مي يابد و كتاب‌ها گران نمي شوند."


def lexical_db(tmp_path: Path, texts: list[str]) -> sqlite3.Connection:
    write_lexical(tmp_path / "lexical.sqlite", texts)
    db = sqlite3.connect(":memory:")
    db.execute("ATTACH DATABASE ? AS lex", (str(tmp_path / "lexical.sqlite"),))
    return db


def test_tokens_fold_arabic_letters_spacing_and_digits():
    typed = tokens("رئیس کل بانک مرکزی ۱۴۰۳ کاهش می‌یابد کتابها گران نمی‌شوند")
    stored = tokens(ARABIC_STYLE)
    assert set(typed) <= set(stored)
    assert "1403" in stored and "بانک" in stored and "کتابها" in stored


def test_tokens_drop_persian_stop_words_and_lowercase_latin():
    found = tokens("این خبر از ICT و Bank Melli در تهران است")
    assert "ict" in found and "bank" in found and "melli" in found
    assert not {"این", "از", "و", "در", "است"} & set(found)


def test_bm25_matches_persian_keyboard_query_to_arabic_letters_and_zwnj(tmp_path):
    db = lexical_db(tmp_path, [ARABIC_STYLE, "هوای تهران امروز آفتابی است", "The central bank kept rates"])
    index = FtsLexicalIndex(db)
    hits = index.search(tokens("بانک مرکزی کتاب‌ها نمیشوند"), 10)
    assert [hit.passage_id for hit in hits] == [0]
    assert hits[0].matched == {"بانک", "مرکزی", "کتابها", "نمیشوند"}


def test_bm25_prefers_rarer_terms_and_more_of_them(tmp_path):
    texts = ["تیم فوتبال استقلال در لیگ برتر", "تیم والیبال در لیگ جهانی", "تیم بسکتبال", "فوتبال ساحلی"]
    index = lexical_db(tmp_path, texts)
    hits = FtsLexicalIndex(index).search(tokens("تیم فوتبال لیگ"), 10)
    assert hits[0].passage_id == 0  # the only passage with all three terms
    assert {hit.passage_id for hit in hits} == {0, 1, 2, 3}
    assert {hit.passage_id: hit.matched for hit in hits} == {
        0: {"تیم", "فوتبال", "لیگ"}, 1: {"تیم", "لیگ"}, 2: {"تیم"}, 3: {"فوتبال"}}
    bare = FtsLexicalIndex(index).search(tokens("تیم فوتبال لیگ"), 10, matched=False)
    assert [(hit.passage_id, hit.score) for hit in bare] == [(hit.passage_id, hit.score) for hit in hits]
    assert all(hit.matched == frozenset() for hit in bare)  # not looked up when not asked for
    idf = FtsLexicalIndex(index).idf(["تیم", "استقلال", "ناشناخته"])
    assert idf["استقلال"] > idf["تیم"] and idf["ناشناخته"] == 0.0


def test_query_words_that_look_like_fts_operators_are_plain_terms(tmp_path):
    index = FtsLexicalIndex(lexical_db(tmp_path, ["cats and dogs or NEAR birds", "not here"]))
    assert [hit.passage_id for hit in index.search(tokens('cats AND "dogs" OR near* NOT'), 10)][0] == 0


def test_highlights_point_at_the_original_characters():
    text = "گزارش: " + ARABIC_STYLE
    spans = term_spans(text, tokens("بانک مرکزی نمی‌شوند ۱۴۰۳ کتابها"))
    shown = [text[start:end] for start, end in spans]
    assert shown == ["بانك", "مركزي", "۱۴۰۳", "كتاب‌ها", "نمي شوند"]


def test_highlights_leave_punctuation_out():
    text = "«تهران»، پایتخت ایران."
    spans = term_spans(text, tokens("تهران ایران"))
    assert [text[s:e] for s, e in spans] == ["تهران", "ایران"]


def test_passage_script_is_its_dominant_letters():
    assert script(ARABIC_STYLE) == "arabic"
    assert script("The central bank (بانک) kept rates") == "latin"
    assert script("۱۴۰۳ - 2024") == "none"


def _spans_normalizing_every_word(text: str, terms: list[str]) -> list[list[int]]:
    """term_spans without its shortcut (hazm run on every word), the reference the shortcut must equal."""
    with mock.patch("index.lexical._could_hold", return_value=True):
        return term_spans(text, terms)


TRICKY = ("كتابهاي مي شود نمي‌شوند اِعلاممممم کَرد دنیـــا ۹متر 3.5 ٣٫٥ ﷲ ﻻ ﷽ İstanbul ΟΔΟΣ «سلام»، (تهران) "
          "Bank-Melli شنبهها خانه ی ما ﮐﺘﺎﺏ يييک")


def test_highlight_shortcut_finds_what_normalizing_every_word_finds():
    articles = list(read_articles([Path(__file__).resolve().parents[1] / "data" / "sample"]))
    texts = [article.text for article in articles] + [TRICKY]
    queries = [article.title for article in articles] + [TRICKY, "کتاب‌های می‌شود نمی شوند اعلام دنیا متر الله لا"]
    found = 0
    for text in texts:
        for query in queries:
            spans = term_spans(text, tokens(query))
            assert spans == _spans_normalizing_every_word(text, tokens(query))
            found += len(spans)
    assert found > 100


WORD_PIECES = list("ابپتجچدرسشعکگلمنوهیيكةۀأؤئءآـَُِّ\u200c٠١٩۰۴9.،:«»()-") + ["ﷲ", "ﻻ", "ﮐ", "İ", "Σ", "A", "می", "ها"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(WORD_PIECES), min_size=1, max_size=8).map("".join), min_size=1, max_size=12),
       st.lists(st.integers(min_value=0, max_value=11), max_size=4))
def test_highlight_shortcut_agrees_on_random_words(words, picks):
    text = " ".join(words)
    terms = tokens(" ".join(words[i % len(words)] for i in picks)) + tokens(words[0] + words[-1])
    assert term_spans(text, terms) == _spans_normalizing_every_word(text, terms)


def _write_small_version(index_dir: Path) -> Path:
    articles = [Article("a", "عنوان", "متن نخست درباره بانک"), Article("b", "", "second text about banks")]
    passages = [Passage("a", 0, 0, 21, articles[0].text, ((0, 21),)), Passage("b", 0, 0, 23, articles[1].text, ((0, 23),))]
    vectors = np.eye(2, 4, dtype=np.float32)
    with index_lock(index_dir):
        return write_version(index_dir, articles, passages, vectors, vectors, "test-model", {})


def test_passages_out_of_their_articles_order_are_refused_and_nothing_is_made_live(tmp_path):
    articles = [Article("a", "عنوان", "متن نخست"), Article("b", "", "second text")]
    passages = [Passage("b", 0, 0, 11, articles[1].text, ((0, 11),)), Passage("a", 0, 0, 8, articles[0].text, ((0, 8),))]
    vectors = np.eye(2, 4, dtype=np.float32)
    with index_lock(tmp_path), pytest.raises(ValueError, match="article a is out of its articles' order"):
        write_version(tmp_path, articles, passages, vectors, vectors, "test-model", {})
    assert not (tmp_path / "current").exists() and list((tmp_path / "versions").iterdir()) == []


def test_version_holds_verified_lexical_data(tmp_path):
    version_path = _write_small_version(tmp_path)
    manifest = json.loads((version_path / MANIFEST).read_text())
    assert LEXICAL in manifest["files"]
    version = open_index(tmp_path)
    db = version.connect()
    assert [hit.passage_id for hit in FtsLexicalIndex(db).search(tokens("بانك"), 5)] == [0]


def test_open_refuses_a_damaged_or_missing_lexical_index(tmp_path):
    version_path = _write_small_version(tmp_path / "one")
    with open(version_path / LEXICAL, "ab") as handle:
        handle.write(b"\0" * 10)
    with pytest.raises(IndexDamaged, match="lexical.sqlite has"):
        open_version(version_path)
    other = _write_small_version(tmp_path / "two")
    (other / LEXICAL).unlink()
    with pytest.raises(IndexDamaged, match="lexical.sqlite is missing"):
        open_version(other)


def test_open_refuses_lexical_data_of_another_version(tmp_path):
    first = _write_small_version(tmp_path / "one")
    db = sqlite3.connect(first / LEXICAL)
    db.execute("UPDATE lexical_info SET value = '0' WHERE key = 'format'")
    db.commit()
    db.close()
    manifest = json.loads((first / MANIFEST).read_text())
    manifest["files"][LEXICAL]["bytes"] = (first / LEXICAL).stat().st_size
    (first / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexDamaged, match="rebuild the index"):
        open_version(first)
    shutil.rmtree(tmp_path / "one")


def test_filtered_bm25_keeps_the_filtered_articles_with_unfiltered_scores(tmp_path):
    articles = [Article("a", "", "بانک مرکزی نرخ بهره", cat="economy", date="2026-01-05"),
                Article("b", "", "بانک ملی و بانک مرکزی", cat="economy", date="2026-03-01"),
                Article("c", "", "بانک خون تهران", cat="health", date="2026-01-20"),
                Article("d", "", "بانک بدون تاریخ", cat="economy")]
    passages = [Passage(a.id, 0, 0, len(a.text), a.text, ((0, len(a.text)),)) for a in articles]
    vectors = np.eye(4, 4, dtype=np.float32)
    with index_lock(tmp_path):
        write_version(tmp_path, articles, passages, vectors, vectors, "test-model", {})
    lexical = FtsLexicalIndex(open_index(tmp_path).connect())
    everything = {hit.passage_id: hit.score for hit in lexical.search(tokens("بانک مرکزی"), 10)}
    assert set(everything) == {0, 1, 2, 3}

    def kept(**fields) -> dict[int, float]:
        return {hit.passage_id: hit.score for hit in lexical.search(tokens("بانک مرکزی"), 10, Filter(**fields))}

    assert kept(category="economy") == {i: everything[i] for i in (0, 1, 3)}
    assert kept(category="economy", date_from=date(2026, 2, 1)) == {1: everything[1]}
    assert kept(date_to=date(2026, 1, 31)) == {i: everything[i] for i in (0, 2)}  # undated d drops out
    assert kept(category="sport") == {}
    assert list(kept(category="economy")) == sorted((0, 1, 3), key=lambda i: -everything[i])


def test_long_queries_keep_their_rarest_terms_in_query_order():
    terms = [f"t{i}" for i in range(MAX_QUERY_TERMS + 5)]
    idf = {term: (0.1 if i % 2 else 1.0 + i / 100) for i, term in enumerate(terms)}
    kept = strongest_terms(terms, idf)
    assert len(kept) == MAX_QUERY_TERMS
    assert kept == [t for t in terms if t in kept]  # query order
    assert all(idf[t] >= max(idf[d] for d in terms if d not in kept) for t in kept)
    assert strongest_terms(terms[:3], idf) == terms[:3]
