"""What a search returns: one result per article (other passages on request), duplicates collapsed,
highlights on the original characters, category and date filters, pagination, parameter checks."""
from __future__ import annotations

from dataclasses import asdict

import pytest

from index.articles import Article
from index import lexical
from index.lexical import tokens
from index.passages import sentence_spans
from index.pipeline import Chunking, build_index
from index.store import index_lock, open_index
from search.engine import SearchEngine

BANK_TEXT = ("بانك مركزي اعلام كرد نرخ سود سپرده هاي بانكي از ماه آينده كاهش مي يابد. "
             "به گفته رئيس كل بانك مركزي اين تصميم براي مهار تورم گرفته شده و كارشناسان اثر آن را هنوز نمي دانند.")
FOOTBALL_PARAGRAPHS = [
    "تیم فوتبال پرسپولیس در ورزشگاه آزادی با نتیجه دو بر یک استقلال را شکست داد و صدرنشین لیگ شد.",
    "هواداران زیادی برای تماشای این بازی به ورزشگاه آمده بودند و فضای ورزشگاه بسیار پرشور بود.",
    "سرمربی پرسپولیس پس از بازی گفت بازیکنانش برای رسیدن به این پیروزی فوتبال خوبی بازی کردند.",
    "مدافع تیم در دقیقه هشتاد مصدوم شد و پزشکان برای او دو هفته استراحت تجویز کردند.",
    "دیدار بعدی پرسپولیس هفته آینده در تبریز برگزار می‌شود و تیم فوتبال برای آن آماده می‌شود.",
]
ARTICLES = [
    Article("bank", "كاهش نرخ سود بانكي", BANK_TEXT, link="https://news.example/bank", cat="economy", date="2024-03-01"),
    Article("bank-again", "نرخ سود كاهش مي يابد", BANK_TEXT, link="https://news.example/bank-2", cat="economy",
            date="2024-03-02"),
    Article("bank-same-link", "بانک مرکزی", "متن دیگری درباره بانک مرکزی و سیاست پولی که دوباره منتشر شد.",
            link="https://news.example/bank", cat="economy", date="2024-03-01"),
    Article("football", "پیروزی پرسپولیس در دربی", "\n\n".join(FOOTBALL_PARAGRAPHS), link="https://news.example/derby",
            cat="sports", date="2024-05-10"),
    Article("weather", "هوای تهران", "هوای تهران امروز آفتابی است و دمای هوا به سی درجه می‌رسد.",
            link="https://news.example/weather", cat="", date=None),
    Article("inflation", "تورم", "مرکز آمار نرخ تورم سالانه را سی درصد اعلام کرد؛ بانک‌ها نگران هستند.",
            link="https://news.example/inflation", cat="economy", date=None),
    Article("volleyball", "والیبال", "تیم ملی والیبال ایران در لیگ ملت‌ها برزیل را شکست داد.",
            link="https://news.example/volley", cat="sports", date="2023-06-01"),
]


@pytest.fixture(scope="module")
def small_engine(tmp_path_factory, embedder) -> SearchEngine:
    """Hand-made articles cut into small passages (48 tokens), so the football article has several."""
    index_dir = tmp_path_factory.mktemp("small-index")
    with index_lock(index_dir):
        build_index(ARTICLES, index_dir, embedder, Chunking(max_tokens=48, overlap_tokens=0))
    return SearchEngine(open_index(index_dir), embedder)


def test_one_result_per_article_by_default(small_engine):
    response = small_engine.search("پرسپولیس فوتبال ورزشگاه", k=10)
    ids = [result.article_id for result in response.results]
    assert len(ids) == len(set(ids))
    assert ids[0] == "football"
    assert all(result.more_passages == [] for result in response.results)


def test_other_passages_of_an_article_on_request(small_engine):
    assert small_engine.version.manifest["passages"] > len(ARTICLES)  # the football article was cut
    result = small_engine.search("پرسپولیس فوتبال ورزشگاه", k=3, article_passages=True).results[0]
    assert result.article_id == "football" and result.more_passages
    passage_ids = [result.passage_id] + [p.passage_id for p in result.more_passages]
    assert len(passage_ids) == len(set(passage_ids))
    scores = [result.score] + [p.score for p in result.more_passages]
    assert scores == sorted(scores, reverse=True)
    article_text = "\n\n".join(FOOTBALL_PARAGRAPHS)
    for passage in result.more_passages:
        assert article_text[passage.start:passage.end] == passage.text


@pytest.mark.parametrize("method", ["hybrid", "dense", "lexical"])
def test_duplicates_collapse_into_one_result(small_engine, method):
    response = small_engine.search("کاهش نرخ سود بانکی بانک مرکزی", k=10, method=method)
    bank_results = [r for r in response.results if r.article_id.startswith("bank")]
    assert len(bank_results) == 1  # same text twice, and the same link twice
    shown = bank_results[0]
    assert sorted([shown.article_id, *shown.duplicates]) == ["bank", "bank-again", "bank-same-link"]
    assert response.total == len(response.results)


def test_term_highlights_map_to_the_original_characters(small_engine):
    query = "بانک مرکزی نمی‌دانند سپرده‌های"  # Persian keyboard; the text has Arabic letters and broken spacing
    result = small_engine.search(query, k=1, method="lexical").results[0]
    assert result.highlight_kind == "terms"
    shown = [result.text[start:end] for start, end in result.highlights]
    assert "بانك" in shown and "مركزي" in shown and "سپرده هاي" in shown and "نمي دانند" in shown
    wanted = set(tokens(query))
    for piece in shown:
        assert tokens(piece) and set(tokens(piece)) <= wanted


def test_sentence_highlight_for_a_match_without_shared_words(small_engine):
    result = small_engine.search("who won the football derby", k=1, method="dense", article_passages=True).results[0]
    assert result.article_id == "football"
    for passage in [result, *result.more_passages]:
        assert passage.highlight_kind == "sentence"
        assert len(passage.highlights) == 1
        assert tuple(passage.highlights[0]) in sentence_spans(passage.text)


def test_category_filter(small_engine):
    response = small_engine.search("تیم شکست داد", category="sports")
    assert {r.article_id for r in response.results} == {"football", "volleyball"}
    assert response.total == 2
    assert small_engine.search("تیم شکست داد", category="no-such-category").results == []


def test_date_filters_keep_the_range_and_drop_undated_articles(small_engine):
    response = small_engine.search("بانک تورم", k=20, date_from="2024-01-01", date_to="2024-03-31")
    assert response.results and all("2024-01-01" <= r.date <= "2024-03-31" for r in response.results)
    everything = small_engine.search("بانک تورم", k=20)
    assert "inflation" in {r.article_id for r in everything.results}
    after = small_engine.search("بانک تورم", k=20, date_from="2024-04-01")
    assert {r.article_id for r in after.results} <= {"football"}
    assert all(r.date is not None for r in small_engine.search("هوا", k=20, date_to="2030-01-01").results)


def test_categories_lists_distinct_non_empty_categories(small_engine):
    assert small_engine.categories() == ["economy", "sports"]


def test_prepare_reads_what_a_first_search_would_and_leaves_no_connection_to_fork(small_engine):
    """gunicorn's master prepares the engine before forking: what it read is then shared by the workers, and
    an SQLite connection open in the master's thread would be carried into every worker."""
    engine = SearchEngine(small_engine.version, small_engine.embedder)
    engine.prepare()
    assert "_categories" in engine.__dict__ and engine.categories() == ["economy", "sports"]
    assert {"scripts", "articles", "sentences", "facts"} <= engine.arrays.__dict__.keys()
    assert not hasattr(engine._local, "db")
    assert {ord("ی"), ord("۴"), ord("a"), 0x200C} <= lexical._CHAR_TERMS.keys()
    assert lexical._CHAR_TERMS[ord("ي")] == "ی"  # the Arabic yeh is folded as a search folds it


@pytest.mark.parametrize("method", ["hybrid", "dense", "lexical"])
def test_pagination_continues_the_same_ranking(search_engine, method):
    query = "تهران"
    whole = search_engine.search(query, k=8, method=method)
    pages = [search_engine.search(query, k=3, offset=offset, method=method) for offset in (0, 3, 6)]
    paged = [r for page in pages for r in page.results][:8]
    expected = min(8, whole.total)
    assert expected >= 5 and len(whole.results) == expected  # lexical matches only the articles naming Tehran
    assert [r.article_id for r in paged] == [r.article_id for r in whole.results]
    assert [r.rank for r in paged] == list(range(1, expected + 1))
    assert {page.total for page in pages} == {whole.total}
    assert search_engine.search(query, k=5, offset=whole.total, method=method).results == []


def test_results_carry_the_article_record(search_engine):
    result = search_engine.search("oil exports from the Jask terminal", k=1).results[0]
    assert result.article_id == "fa-004" and result.cat == "economy" and result.date == "2026-07-20"
    assert asdict(result)["highlights"] == result.highlights


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "bm25"}, "unknown method"),
    ({"k": 0}, "k must be"),
    ({"k": 1000}, "k must be"),
    ({"offset": -1}, "offset must be"),
    ({"date_from": "1403-01-01x"}, "date_from: .1403-01-01x. is not a date written YYYY-MM-DD"),
    ({"date_from": "2024-05-01", "date_to": "2024-01-01"}, "is after"),
])
def test_bad_parameters_are_refused_clearly(search_engine, kwargs, message):
    with pytest.raises(ValueError, match=message):
        search_engine.search("تهران", **kwargs)


def test_empty_query_is_refused(search_engine):
    with pytest.raises(ValueError, match="empty"):
        search_engine.search("   \u200c ")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("heavy rain flooded streets in the capital", "باران شدید"),
        ("the national football team won", "تیم ملی فوتبال"),
        ("oil prices went up", "قیمت نفت"),
    ],
)
def test_sentence_highlight_is_the_sentence_closest_to_the_query(tmp_path, embedder, query, expected):
    article = Article("mixed", "", "قیمت نفت امروز در بازارهای جهانی افزایش یافت. تیم ملی فوتبال در بازی دیروز "
                                   "با دو گل پیروز شد. باران شدید در تهران باعث آب‌گرفتگی خیابان‌ها شد.")
    with index_lock(tmp_path):
        build_index([article], tmp_path, embedder)
    engine = SearchEngine(open_index(tmp_path), embedder)
    result = engine.search(query, k=1, method="dense").results[0]
    assert result.highlight_kind == "sentence"
    (start, end), = result.highlights
    assert result.text[start:end].startswith(expected)


def test_similar_articles_leave_out_the_article_and_its_duplicates(small_engine):
    from search.related import similar

    found = [s.article_id for s in similar(small_engine, "bank", 5)]
    assert found and not set(found) & {"bank", "bank-again", "bank-same-link"}
    assert len(found) == len(set(found))
