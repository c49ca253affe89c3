"""Query understanding: the query's text normalized as the documents were, and its distinct BM25 terms."""
from __future__ import annotations

from typing import NamedTuple

from index.lexical import normalized_tokens
from index.persian import normalize


class Understood(NamedTuple):
    """A query as the engine reads it: ``normalized`` for the model, ``terms`` for BM25 and highlights."""

    normalized: str
    terms: list[str]


def understand(text: str) -> Understood:
    """``text`` normalized and cut into its distinct BM25 terms; ValueError when nothing is left."""
    normalized = normalize(text)
    if not normalized:
        raise ValueError("the query is empty")
    return Understood(normalized, terms_of(normalized))


def terms_of(normalized: str) -> list[str]:
    """The distinct BM25 terms of an already normalized text, in order."""
    return list(dict.fromkeys(normalized_tokens(normalized)))
