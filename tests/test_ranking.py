"""Ranking scored passages into articles: one result per article, the same story published twice once."""
from __future__ import annotations

from collections import Counter

import numpy as np

from index.dates import solar_hijri_year
from search.facets import count
from search.passage_arrays import PassageArticles
from search.ranking import Ranking
from search.vector_cache import VectorCache

# passages 0, 1 of article "a"; 2 of "b", a duplicate of "a"; 3 of "c"; 4 of "d"
ARTICLES = PassageArticles.of(["a", "b", "c", "d"], np.array([0, 0, 1, 2, 3]), np.array([0, 0, 0, 2, 3]))


def test_articles_rank_by_their_best_passage_and_keep_the_others_best_first():
    ranked = Ranking({0: 0.2, 1: 0.7, 3: 0.5}, ARTICLES)
    assert [article.article_id for article in ranked] == ["a", "c"]
    assert ranked[0].passages == [(1, 0.7), (0, 0.2)]


def test_a_duplicate_collapses_into_the_better_scored_article_of_its_group():
    ranked = Ranking({0: 0.4, 2: 0.9, 3: 0.5}, ARTICLES)
    assert [(article.article_id, article.duplicates) for article in ranked] == [("b", ["a"]), ("c", [])]
    assert ranked[0].passages == [(2, 0.9)]


def test_equal_scores_rank_by_article_id():
    assert [article.article_id for article in Ranking({4: 0.5, 3: 0.5}, ARTICLES)] == ["c", "d"]


def test_the_query_vector_cache_forgets_the_least_recently_used():
    cache = VectorCache(2)
    cache.put_many({"x": np.zeros(1), "y": np.ones(1)})
    assert cache.get("x") is not None  # "x" is now the most recently used
    cache.put_many({"z": np.ones(1)})
    assert cache.get("y") is None and cache.get("x") is not None and cache.get("z") is not None


def _reference_rank(scores, articles):
    """The ranking as it was written first, item by item: the specification the vectorized one keeps."""
    article_ids, article_of, group_of, _ = articles
    items = sorted(scores.items(), key=lambda item: (-item[1], article_ids[article_of[item[0]]], item[0]))
    groups = {}
    for passage_id, score in items:
        groups.setdefault(group_of[passage_id], {}).setdefault(article_ids[article_of[passage_id]], []).append(
            (passage_id, score))
    return [(first, members[first], others) for members in groups.values() for first, *others in [list(members)]]


def test_the_ranking_is_the_item_by_item_one_on_many_ties():
    rng = np.random.default_rng(7)
    article_of = rng.integers(0, 60, 400)
    group_of = np.array([min(a, 50) for a in article_of])  # articles 50..59 one duplicate group, with 50
    articles = PassageArticles.of([f"art-{n:02d}" if n % 3 else f"x{n}" for n in range(60)], article_of, group_of)
    for _ in range(20):
        chosen = rng.choice(400, 150, replace=False)
        scores = dict(zip(chosen.tolist(), np.round(rng.random(150), 1).tolist()))  # one decimal: many ties
        assert [tuple(article) for article in Ranking(scores, articles)] == _reference_rank(scores, articles)
    assert len(Ranking({}, articles)) == 0 and Ranking({}, articles)[:10] == []


def test_facets_count_the_matching_articles_categories_and_years(search_engine):
    rows = search_engine.db.execute("SELECT id, cat, date FROM articles").fetchall()
    chosen = rows[::2]
    position = {article_id: n for n, article_id in enumerate(search_engine.arrays.articles.article_ids)}
    facets = count(search_engine.arrays.facts, np.array([position[article_id] for article_id, _, _ in chosen]))
    cats = Counter(cat for _, cat, _ in chosen if cat)
    assert [(f.value, f.count) for f in facets.category] == sorted(cats.items(), key=lambda item: (-item[1], item[0]))
    years = Counter(int(day[:4]) for _, _, day in chosen if day)
    assert [(f.value, f.count) for f in facets.year] == [(str(y), n) for y, n in sorted(years.items(), reverse=True)]
    solar = Counter(solar_hijri_year(day) for _, _, day in chosen if day)
    assert [(f.value, f.count) for f in facets.solar_hijri_year] == \
           [(str(y), n) for y, n in sorted(solar.items(), reverse=True)]
    assert facets.year and facets.year[0].date_from == f"{facets.year[0].value}-01-01"
    assert count(search_engine.arrays.facts, np.zeros(0, dtype=np.int64)).category == []
