"""Queries typed with the keyboard in the wrong layout: detected, converted, and offered back.

"sghl" typed on an English layout where Persian was meant is "سلام"; "اثممخ" typed on a Persian layout
is "hello". A query is converted only when its letters are all of one script and the converted words
are known words clearly more often than the typed ones (see ``docs/design.md``, "Wrong keyboard layout").
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterable

import hazm

from index.lexical import ENGLISH_STOP_WORDS, char_script, stop_words
from index.persian import normalize

# The standard Persian layout (ISIRI 9147) over a US keyboard: the key each Persian letter sits on.
_KEYS = {
    "q": "ض", "w": "ص", "e": "ث", "r": "ق", "t": "ف", "y": "غ", "u": "ع", "i": "ه", "o": "خ", "p": "ح",
    "[": "ج", "]": "چ", "a": "ش", "s": "س", "d": "ی", "f": "ب", "g": "ل", "h": "ا", "j": "ت", "k": "ن",
    "l": "م", ";": "ک", "'": "گ", "z": "ظ", "x": "ط", "c": "ز", "v": "ر", "b": "ذ", "n": "د", "m": "پ",
    ",": "و",
}
_SHIFTED = {"H": "آ", "C": "ژ", "?": "؟", "\\": "پ"}  # Shift+h, Shift+c; "\" is پ on the older Windows layout
LATIN_TO_PERSIAN = str.maketrans({**{key.upper(): value for key, value in _KEYS.items() if key.isalpha()},
                                  **_KEYS, **_SHIFTED})
PERSIAN_TO_LATIN = str.maketrans({**{value: key for key, value in _KEYS.items()},
                                  "آ": "H", "ژ": "C", "ي": "d", "ك": ";", "؟": "?"})
HAZM_MIN_COUNT = 10  # hazm's list also holds words its corpus never saw (count 0): mostly typos and fragments

# Share of a query's words that must be known words after conversion (and more than before it); measured
# on Fars News titles and Tatoeba sentences in docs/benchmarks.md ("Wrong keyboard layout").
MIN_KNOWN_SHARE = 0.5
_WORD = re.compile(r"\w+")
MAX_WORDS = 200  # words looked up in the index per query (a query is at most 1,000 characters)


@dataclass(frozen=True)
class LayoutGuess:
    """The query as typed, what it reads as in the other layout, and the layout it was meant for."""

    typed: str
    converted: str
    meant: str  # "fa": Persian typed on an English layout; "en": English typed on a Persian layout


def to_persian(text: str) -> str:
    """What ``text``'s keys type on the Persian layout."""
    return text.translate(LATIN_TO_PERSIAN)


def to_latin(text: str) -> str:
    """What ``text``'s keys type on the English (US) layout."""
    return text.translate(PERSIAN_TO_LATIN)


def _words(text: str) -> list[str]:
    return [word for word in _WORD.findall(normalize(text).replace("\u200c", "").lower()) if not word.isdigit()]


def _script(text: str) -> str | None:
    """"arabic" or "latin" when every letter of ``text`` is of that script, else None."""
    scripts = {char_script(char) for char in text if char.isalpha()}
    return scripts.pop() if len(scripts) == 1 and scripts <= {"arabic", "latin"} else None


def known_share(words: list[str], known: Callable[[Iterable[str]], set[str]]) -> float:
    """The share of ``words``' letters that are in words ``known`` recognizes: weighted by length, since
    short strings are words in some language far more often by chance than long ones."""
    if not words:
        return 0.0
    found = known(set(words))
    return sum(len(word) for word in words if word in found) / sum(len(word) for word in words)


def guess(query: str, known: Callable[[Iterable[str]], set[str]]) -> LayoutGuess | None:
    """The query as meant when it was typed in the wrong layout, else None.

    ``known`` answers which of some words (normalized, lower case) are real words: the index's vocabulary
    and the built-in word lists (:func:`vocabulary`)."""
    script = _script(query)
    if script is None:
        return None
    converted = to_persian(query) if script == "latin" else to_latin(query)
    before, after = _words(query), _words(converted)
    share = known_share(after, known)
    if share < MIN_KNOWN_SHARE or share <= known_share(before, known):
        return None
    return LayoutGuess(query, " ".join(converted.split()), "fa" if script == "latin" else "en")


@lru_cache(maxsize=1)
def persian_words() -> frozenset[str]:
    """hazm's Persian word list and stop words, normalized as the index writes terms."""
    entries = [entry for entry, count, _ in hazm.utils.words_list() if count >= HAZM_MIN_COUNT]
    words = set(_words("\n".join(entries)))  # one normalizer call: a call per word takes seconds
    return frozenset(words | stop_words())


def vocabulary(index_terms: Callable[[Iterable[str]], set[str]]) -> Callable[[Iterable[str]], set[str]]:
    """A ``known`` for :func:`guess`: built-in Persian words and English function words, plus the terms
    of the index (``index_terms`` returns those of the given words that it holds)."""
    builtin = persian_words() | ENGLISH_STOP_WORDS

    def known(words: Iterable[str]) -> set[str]:
        words = set(words)
        return (words & builtin) | index_terms(words - builtin)

    return known


def index_vocabulary(engine: Any) -> Callable[[Iterable[str]], set[str]]:
    """A ``known`` for :func:`guess` over ``engine``'s index: its lexical terms plus the built-in word lists."""

    def index_terms(words: Iterable[str]) -> set[str]:
        words = list(words)[:MAX_WORDS]
        if not words:
            return set()
        rows = engine.db.execute(f"SELECT term FROM lex.lexical_terms WHERE term IN ({','.join('?' * len(words))})", words)
        return {row[0] for row in rows}

    return vocabulary(index_terms)


def understood(query: str, engine: Any, as_typed: bool = False) -> tuple[str, LayoutGuess | None]:
    """The query to search, and the layout guess when it was converted (never with ``as_typed``)."""
    if as_typed:
        return query, None
    found = guess(query, index_vocabulary(engine))
    return (found.converted, found) if found else (query, None)
