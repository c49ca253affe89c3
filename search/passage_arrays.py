"""Per-passage facts of one index version read into arrays once (scripts, articles and duplicate groups,
sentence spans), so that scoring, ranking and highlighting a thousand candidates need no database query."""
from __future__ import annotations

import itertools
from contextlib import closing
from functools import cached_property
from typing import Any, Iterator, NamedTuple

import numpy as np

from index.segments import AddedRows
from index.store import IndexVersion
from search.facets import ArticleFacts, read_facts


ARRAYS = {"scripts", "articles", "sentences", "facts"}  # what PassageArrays reads, each on first use


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

    def extended(self, added: AddedRows, passages: int) -> "tuple[PassageArticles, np.ndarray] | None":
        """These arrays for a version of ``passages`` passages that holds the ``added`` rows beyond this one's: the
        new passages' articles and groups, and the groups of every passage of an article written since (an update
        may regroup old articles); with the positions of the ``added.articles``. None where a new passage's article
        has no row among them (then read them all)."""
        article_ids = list(self.article_ids)
        position = {article_id: n for n, article_id in enumerate(article_ids)}

        def at(article_id: str) -> int:
            if article_id not in position:
                position[article_id] = len(article_ids)
                article_ids.append(article_id)
            return position[article_id]

        old = len(self.article_of)
        article_of = np.zeros(passages, dtype=np.int64)
        article_of[:old] = self.article_of
        group_of = np.zeros(passages, dtype=np.int64)
        group_of[:old] = self.group_of
        for passage_id, article_id in added.passages:
            article_of[passage_id] = at(article_id)
        written = np.array([at(article_id) for article_id, _, _, _ in added.articles], dtype=np.int64)
        duplicates = np.array([at(duplicate_of) for _, duplicate_of, _, _ in added.articles], dtype=np.int64)
        group = np.full(len(article_ids), -1, dtype=np.int64)  # by article position: its group's, where written since
        group[written] = duplicates
        regrouped = group[article_of] >= 0
        if not regrouped[old:].all():
            return None
        group_of[regrouped] = group[article_of[regrouped]]
        return PassageArticles.of(article_ids, article_of, group_of), written


class SentenceSpans(NamedTuple):
    """Sentence spans (offsets in their passage's text) and, for each passage id, where its sentences
    begin in them (rows of ``version.sentence_vectors``; passage ``p``'s are ``first[p]:first[p + 1]``)."""

    starts: np.ndarray
    ends: np.ndarray
    first: np.ndarray

    def extended(self, rows: np.ndarray, passages: int) -> "SentenceSpans":
        """These spans with the sentence ``rows`` (passage id, start, end) of the passages after this one's last,
        for a version of ``passages`` passages."""
        old = len(self.first) - 1
        added = len(self.starts) + np.searchsorted(rows[:, 0], np.arange(old, passages + 1))
        first = np.concatenate([self.first[:old], added])
        return SentenceSpans(np.concatenate([self.starts, rows[:, 1]]), np.concatenate([self.ends, rows[:, 2]]), first)


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
        arrays.__dict__.update((name, self.__dict__[name]) for name in ARRAYS if name in self.__dict__)
        return arrays

    def extended(self, version: IndexVersion, added: AddedRows) -> "tuple[PassageArrays, np.ndarray] | None":
        """These arrays for ``version``, which holds the ``added`` rows beyond this one's version (an appending
        update's, :func:`index.segments.rows_added`), extended rather than read again (seconds at 10^6 passages,
        for an update of a few hundred); with the positions of the ``added.articles`` in its article ids. None
        where these arrays were not all read (see :meth:`read_all`) or the rows do not say enough (see
        :meth:`PassageArticles.extended`): then they are read from ``version`` when first used."""
        read = self.__dict__
        arrays = PassageArrays(version)
        extended = read["articles"].extended(added, arrays.passages) if ARRAYS <= read.keys() else None
        if extended is None:
            return None
        arrays.articles, written = extended
        scripts = np.empty(arrays.passages, dtype=object)
        scripts[:self.passages] = read["scripts"]
        for passage_id, kind in added.scripts:
            scripts[passage_id] = kind
        arrays.scripts = scripts
        facts = [(n, cat, day) for n, (_, _, cat, day) in zip(written.tolist(), added.articles)]
        arrays.facts = read["facts"].extended(facts, len(arrays.articles.article_ids))
        arrays.sentences = read["sentences"].extended(added.sentences, arrays.passages)
        return arrays, written

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
