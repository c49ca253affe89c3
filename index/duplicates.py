"""Which articles are the same story: grouped by link or by the same normalized text."""
from __future__ import annotations

import hashlib
from typing import Mapping

from index.articles import Article
from index.persian import normalize
from index.rows import Rows


def text_key(text: str) -> str:
    """What makes two texts the same story: the hash of the normalized text."""
    return hashlib.sha256(normalize(text).encode()).hexdigest()


def duplicate_groups(articles: Rows[Article], text_keys: Mapping[str, str]) -> dict[str, str]:
    """Each article's group representative: articles sharing a link, or whose normalized text is the same
    (the same story published twice: the same :func:`text_key`, given for every article), form one group,
    represented by its first article."""
    parent: dict[str, str] = {}

    def find(article_id: str) -> str:
        while parent[article_id] != article_id:
            parent[article_id] = parent[parent[article_id]]
            article_id = parent[article_id]
        return article_id

    order = {article.id: n for n, article in enumerate(articles)}
    first_with: dict[tuple[str, str], str] = {}
    for article in articles:
        parent.setdefault(article.id, article.id)
        keys = [("text", text_keys[article.id])]
        if article.link:
            keys.append(("link", article.link))
        for key in keys:
            other = first_with.setdefault(key, article.id)
            a, b = find(other), find(article.id)
            if a != b:  # the earlier article stays the representative
                early, late = sorted((a, b), key=order.__getitem__)
                parent[late] = early
    return {article.id: find(article.id) for article in articles}
