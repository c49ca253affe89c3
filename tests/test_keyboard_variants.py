"""A query typed with Persian keyboard letters finds text stored with Arabic letters, and the other way round."""
import pytest

from search.engine import SearchEngine


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # fa-010 is stored the old way: Arabic ي/ك and spaces instead of zero-width non-joiners
        ("نسخه خطی کهن گلستان سعدی در کتابخانه یزد", "fa-010"),
        ("توفان گرد و خاک ادارات و بانک‌های خوزستان", "fa-015"),
        # fa-014 is stored with Persian letters; the query is typed the old way
        ("آلودگي هوا و تعطيلي مدارس تهران", "fa-014"),
        ("صادرات نفت از پايانه جاسك", "fa-004"),
    ],
)
def test_letter_variants_find_the_article(search_engine: SearchEngine, query: str, expected: str) -> None:
    assert search_engine.search(query, k=1).results[0].article_id == expected


def test_both_spellings_are_understood_as_one_query(search_engine: SearchEngine) -> None:
    typed = search_engine.search("بانک‌های خوزستان می‌شود", k=3)
    stored = search_engine.search("بانك هاي خوزستان مي شود", k=3)
    assert typed.normalized_query == stored.normalized_query
    assert [r.article_id for r in typed.results] == [r.article_id for r in stored.results]
