"""Cutting articles into passages on sentence boundaries, bounded by the model's tokens.

A passage is a span of the article's own text (character offsets into ``Article.text``), so what is
shown is exactly what the author wrote; the normalized form is only what gets embedded and matched.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence


from index.articles import Article
from index.persian import normalize

TokenCounter = Callable[[Sequence[str]], list[int]]
"""Counts model tokens (without special tokens) of each text."""

DEFAULT_MAX_TOKENS = 192
DEFAULT_OVERLAP_TOKENS = 48
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Passage:
    """A span of one article: ``text == article.text[start:end]``; ``sentences`` are the spans of its
    sentences, relative to ``start``."""

    article_id: str
    position: int
    start: int
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...] = ()



def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences in ``text``, covering every non-blank character;
    a line break always ends a sentence."""
    from hazm import sent_tokenize  # here, not at the top: see index.persian._normalizer

    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        starts, cursor = [line.start()], line.start()
        for sentence in sent_tokenize(line.group()):
            found = text.find(sentence, cursor, line.end())
            if found >= 0:  # a sentence the tokenizer rewrote stays with the one before it
                if found > starts[-1] and text[starts[-1]:found].strip():
                    starts.append(found)
                cursor = found + len(sentence)
        for start, end in zip(starts, starts[1:] + [line.end()]):
            while start < end and text[start].isspace():
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            if start < end:
                spans.append((start, end))
    return spans


def split_passages(
    article: Article,
    count_tokens: TokenCounter,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
) -> list[Passage]:
    """Group whole sentences into passages of at most ``max_tokens`` tokens, repeating up to
    ``overlap_tokens`` tokens of trailing sentences at the start of the next passage.
    A sentence longer than ``max_tokens`` alone is cut between words."""
    units = _bounded_units(article.text, count_tokens, max_tokens)
    passages: list[Passage] = []
    first = 0
    while first < len(units):
        last, total = first, units[first][2]
        while last + 1 < len(units) and total + units[last + 1][2] <= max_tokens:
            last += 1
            total += units[last][2]
        start, end = units[first][0], units[last][1]
        sentences = tuple((s - start, e - start) for s, e, _ in units[first:last + 1])
        passages.append(Passage(article.id, len(passages), start, end, article.text[start:end], sentences))
        if last + 1 >= len(units):
            break
        # carry trailing sentences over, but only as many as still leave room for a new one
        room = min(overlap_tokens, max_tokens - units[last + 1][2])
        next_first, carried = last + 1, 0
        while next_first - 1 > first and carried + units[next_first - 1][2] <= room:
            next_first -= 1
            carried += units[next_first][2]
        first = next_first
    return passages


def _bounded_units(text: str, count_tokens: TokenCounter, max_tokens: int) -> list[tuple[int, int, int]]:
    """Sentences as (start, end, tokens), with any sentence over ``max_tokens`` cut into word runs."""
    spans = sentence_spans(text)
    counts = count_tokens([normalize(text[s:e]) for s, e in spans])
    units: list[tuple[int, int, int]] = []
    for (start, end), tokens in zip(spans, counts):
        if tokens <= max_tokens:
            units.append((start, end, tokens))
        else:
            units.extend(_word_runs(text, start, end, count_tokens, max_tokens))
    return units


def _word_runs(text: str, start: int, end: int, count_tokens: TokenCounter, max_tokens: int) -> list[tuple[int, int, int]]:
    # a run of characters yields at most one token per character plus the word marker,
    # so cutting words longer than max_tokens - 1 characters keeps every piece in bounds
    step = max(max_tokens - 1, 1)
    words = [
        (piece, min(piece + step, m.end() + start))
        for m in _WORD.finditer(text[start:end])
        for piece in range(m.start() + start, m.end() + start, step)
    ]
    counts = count_tokens([normalize(text[s:e]) or text[s:e] for s, e in words])
    runs: list[tuple[int, int, int]] = []
    run_start, run_end, run_tokens = words[0][0], words[0][0], 0
    for (word_start, word_end), tokens in zip(words, counts):
        tokens = max(tokens, 1)
        if run_tokens and run_tokens + tokens > max_tokens:
            runs.append((run_start, run_end, run_tokens))
            run_start, run_tokens = word_start, 0
        run_end, run_tokens = word_end, run_tokens + tokens
    runs.append((run_start, run_end, run_tokens))
    return runs
