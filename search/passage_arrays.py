"""Per-passage facts of one index version read into arrays once (scripts, articles and duplicate groups,
sentence spans), so that scoring, ranking and highlighting a thousand candidates need no database query."""
from __future__ import annotations

import itertools
from contextlib import closing
from functools import cached_property
from typing import Any, Iterator, NamedTuple

import numpy as np

from index.store import IndexVersion
from search.facets import ArticleFacts, read_facts


class PassageArticles(NamedTuple):
    """Article ids, for each passage id its article's and its duplicate group's position in them, and for each
    position the article id's place in sorted order (ties in a ranking go by article id: compared as numbers)."""

    article_ids: list[str]
    article_of: np.ndarray
    group_of: np.ndarray
    id_order: np.ndarray

    @classmethod
    def of(cls, article_ids: list[str], article_of: np.ndarray, group_of: np.ndarray) -> "PassageArticles":
        id_order = np.empty(len(article_ids), dtype=np.int64)
        id_order[sorted(range(len(article_ids)), key=article_ids.__getitem__)] = np.arange(len(article_ids))
        return cls(article_ids, article_of, group_of, id_order)


class SentenceSpans(NamedTuple):
    """Sentence spans (offsets in their passage's text) and, for each passage id, where its sentences
    begin in them (rows of ``version.sentence_vectors``; passage ``p``'s are ``first[p]:first[p + 1]``)."""

    starts: np.ndarray
    ends: np.ndarray
    first: np.ndarray


class PassageArrays:
    """The arrays of one version (a version never changes), each read on first use through a connection of
    its own: holding none of the engine's keeps a replaced engine free of reference cycles, so it is freed
    without the garbage collector (which the server freezes)."""

    def __init__(self, version: IndexVersion) -> None:
        self.version = version
        self.passages = int(version.manifest["passages"])  # passage ids are 0 .. passages - 1

    def for_version(self, version: IndexVersion) -> "PassageArrays":
        """These arrays for ``version``, which shares this one's files (a deletion's): those already read are
        reused, the others are read from ``version`` when first used."""
        arrays = PassageArrays(version)
        arrays.__dict__.update((name, self.__dict__[name]) for name in ("scripts", "articles", "sentences", "facts")
                               if name in self.__dict__)
        return arrays

    def read_all(self) -> None:
        """Read every array now: done in the server's master before it forks, so that the workers share
        these pages instead of each reading its own copy on its first query (tens of MB at 10^6 passages)."""
        self.scripts, self.articles, self.sentences, self.facts  # noqa: B018 (cached properties, read for their effect)

    def _rows(self, sql: str) -> Iterator[Any]:
        with closing(self.version.connect()) as db:
            yield from db.execute(sql)

    @cached_property
    def scripts(self) -> np.ndarray:
        """The dominant script of each passage (from the lexical index)."""
        script_of = np.empty(self.passages, dtype=object)
        for rowid, kind in self._rows("SELECT id, c1 FROM lexical_content"):
            script_of[rowid] = kind
        return script_of

    @cached_property
    def articles(self) -> PassageArticles:
        position: dict[str, int] = {}
        article_of = np.zeros(self.passages, dtype=np.int64)
        group_of = np.zeros(self.passages, dtype=np.int64)
        rows = self._rows("SELECT p.id, p.article_id, a.duplicate_of FROM passages p JOIN articles a ON a.id = p.article_id")
        for passage_id, article_id, duplicate_of in rows:
            article_of[passage_id] = position.setdefault(article_id, len(position))
            group_of[passage_id] = position.setdefault(duplicate_of, len(position))
        return PassageArticles.of(list(position), article_of, group_of)

    @cached_property
    def facts(self) -> ArticleFacts:
        """Each article's category and years, for a query's facets (:mod:`search.facets`)."""
        return read_facts(self._rows("SELECT id, cat, date FROM articles"), self.articles.article_ids)

    @cached_property
    def sentences(self) -> SentenceSpans:
        # flattened straight into the array: a list of 3.9 M row tuples first made this 12.6 s of a 10^6
        # server's start-up, 2.7 s now (docs/benchmarks.md, "Sentence vectors read, not mapped")
        rows = np.fromiter(itertools.chain.from_iterable(self._rows("SELECT passage_id, start, end FROM sentences "
                                                                    "ORDER BY rowid")), dtype=np.int64).reshape(-1, 3)
        first = np.searchsorted(rows[:, 0], np.arange(self.passages + 1))
        return SentenceSpans(rows[:, 1], rows[:, 2], first)
