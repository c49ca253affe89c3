"""Ranking scored passages into articles, best first, the same story published twice collapsed into one."""
from __future__ import annotations

from typing import NamedTuple

from search.passage_arrays import PassageArticles


class RankedArticle(NamedTuple):
    """One ranked article: its passages best first as (passage id, score), and its duplicates' ids."""

    article_id: str
    passages: list[tuple[int, float]]
    duplicates: list[str]


def rank(scores: dict[int, float], articles: PassageArticles) -> list[RankedArticle]:
    """Articles best first (ties by article id, then passage id), one per duplicate group, represented by
    the group's best-scoring article."""
    article_ids, article_of, group_of = articles
    items = sorted(scores.items(), key=lambda item: (-item[1], article_ids[article_of[item[0]]], item[0]))
    groups: dict[int, dict[str, list[tuple[int, float]]]] = {}  # in order of each group's best passage
    for passage_id, score in items:
        groups.setdefault(group_of[passage_id], {}).setdefault(article_ids[article_of[passage_id]], []).append(
            (passage_id, score))
    ranked = []
    for members in groups.values():
        first, *others = members
        ranked.append(RankedArticle(first, members[first], others))
    return ranked
