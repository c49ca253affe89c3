"""Highlights of shown passages: the query's terms where the text has any, else its sentence closest to the query."""
from __future__ import annotations

from typing import Callable, Iterable, Iterator

import numpy as np

from index.lexical import term_spans
from index.sentence_parts import SentenceVectors
from search.passage_arrays import SentenceSpans

Highlight = tuple[list[list[int]], str]  # [start, end] offsets into the passage's text, and "terms" or "sentence"


def highlights(passages: Iterable[tuple[int, str]], terms: list[str], query_vector: Callable[[], np.ndarray],
               sentences: SentenceSpans, sentence_vectors: SentenceVectors) -> Iterator[Highlight]:
    """(highlights, kind) for each (passage id, text), in order. The closest sentence is chosen by the
    sentence vectors stored with the index; ``query_vector`` is called only when one is needed."""
    starts, ends, first = sentences
    query = None
    for passage_id, text in passages:
        spans = term_spans(text, terms)
        if spans:
            yield spans, "terms"
            continue
        rows = slice(first[passage_id], first[passage_id + 1])
        if rows.stop - rows.start > 1:
            if query is None:
                query = query_vector()
            best = rows.start + int(np.argmax(sentence_vectors[rows].astype(np.float32) @ query))
            yield [[int(starts[best]), int(ends[best])]], "sentence"
        else:
            yield [[0, len(text)]], "sentence"
