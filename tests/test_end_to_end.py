"""Build and search over real articles: the seed article among Fars News articles, asked in Persian and English."""
from dataclasses import replace
from pathlib import Path

import pytest

from index.articles import read_articles
from index.pipeline import build_index
from index.store import index_lock
from search.engine import SearchEngine
from settings import Settings


@pytest.fixture(scope="module")
def engine(shared_data: Path, embedder, tmp_path_factory) -> SearchEngine:
    articles = read_articles([shared_data / "seed", shared_data / "farsnews" / "fars-news-1.json"])
    index_dir = tmp_path_factory.mktemp("e2e-index")
    with index_lock(index_dir):
        build_index(articles, index_dir, embedder)
    return SearchEngine.open(index_dir, replace(Settings.from_env(), model=embedder.name))


@pytest.fixture(scope="module")
def seed_id(shared_data: Path) -> str:
    (seed,) = read_articles([shared_data / "seed"])
    return seed.id


@pytest.mark.parametrize(
    ("query", "passage_says"),
    [
        ("حجم تجارت ایران و روسیه چقدر افزایش یافته است؟", "۳.۵ برابر"),
        ("How much has trade between Iran and Russia grown?", "۳.۵ برابر"),
        ("روسیه درباره توافق ایران و عربستان چه گفت؟", "عربستان سعودی"),
        ("Did Russia welcome the deal between Iran and Saudi Arabia?", "عربستان سعودی"),
    ],
)
def test_question_about_the_seed_article_finds_its_passage(engine: SearchEngine, seed_id: str, query: str, passage_says: str) -> None:
    top = engine.search(query, k=3).results[0]
    assert top.article_id == seed_id
    assert passage_says in top.text


def test_title_typed_on_a_persian_keyboard_finds_the_fars_article(engine: SearchEngine, shared_data: Path) -> None:
    articles = read_articles([shared_data / "farsnews" / "fars-news-1.json"])
    stored_with_arabic_letters = [a for a in articles if "ي" in a.title or "ك" in a.title][:5]
    assert stored_with_arabic_letters
    for article in stored_with_arabic_letters:
        typed = article.title.replace("ي", "ی").replace("ك", "ک")
        assert engine.search(typed, k=1).results[0].article_id == article.id
