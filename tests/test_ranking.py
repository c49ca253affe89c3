"""Ranking scored passages into articles: one result per article, the same story published twice once."""
from __future__ import annotations

import numpy as np

from search.passage_arrays import PassageArticles
from search.ranking import rank
from search.vector_cache import VectorCache

# passages 0, 1 of article "a"; 2 of "b", a duplicate of "a"; 3 of "c"; 4 of "d"
ARTICLES = PassageArticles(["a", "b", "c", "d"], np.array([0, 0, 1, 2, 3]), np.array([0, 0, 0, 2, 3]))


def test_articles_rank_by_their_best_passage_and_keep_the_others_best_first():
    ranked = rank({0: 0.2, 1: 0.7, 3: 0.5}, ARTICLES)
    assert [article.article_id for article in ranked] == ["a", "c"]
    assert ranked[0].passages == [(1, 0.7), (0, 0.2)]


def test_a_duplicate_collapses_into_the_better_scored_article_of_its_group():
    ranked = rank({0: 0.4, 2: 0.9, 3: 0.5}, ARTICLES)
    assert [(article.article_id, article.duplicates) for article in ranked] == [("b", ["a"]), ("c", [])]
    assert ranked[0].passages == [(2, 0.9)]


def test_equal_scores_rank_by_article_id():
    assert [article.article_id for article in rank({4: 0.5, 3: 0.5}, ARTICLES)] == ["c", "d"]


def test_the_query_vector_cache_forgets_the_least_recently_used():
    cache = VectorCache(2)
    cache.put_many({"x": np.zeros(1), "y": np.ones(1)})
    assert cache.get("x") is not None  # "x" is now the most recently used
    cache.put_many({"z": np.ones(1)})
    assert cache.get("y") is None and cache.get("x") is not None and cache.get("z") is not None
