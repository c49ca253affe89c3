"""Answering queries from one opened index version: ranked articles, each shown by its best passage.

Three methods rank the same candidates:

* ``dense``: cosine similarity of the query's and the passages' E5 embeddings (FAISS, exact);
* ``lexical``: BM25 over normalized tokens (:mod:`index.lexical`);
* ``hybrid`` (the default): dense similarity plus lexical evidence where lexical evidence means
  something — see :class:`Fusion`.

Results rank **articles**: an article is represented by its best passage; with
``article_passages=True`` each result also carries the article's other matching passages in
``Result.more_passages`` (best first). Articles that are the same story (same link, or the same
normalized text published twice; grouped when the index is written) collapse into one result whose
``duplicates`` lists the others. Every shown passage carries ``highlights``: [start, end] character
offsets into its ``text`` of the query's terms (``highlight_kind == "terms"``) or, when it shares no
word with the query (a semantic or cross-language match), of its sentence closest to the query
(``highlight_kind == "sentence"``).
"""
from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from index.embedder import Embedder, canonical_model_name
from index.filter import Filter
from index.lexical import normalized_tokens, term_spans, token_script
from index.lexical_search import MAX_QUERY_TERMS, LexicalSearch, strongest_terms
from index.persian import normalize
from index.store import IndexVersion, ModelMismatch, open_index, require_model
from search.facets import Facets
from search.facets import count as count_facets
from search.backends import LOCAL, Backend, backend_for
from index.vectors.base import Allowed
from search.filter_index import FilterIndex
from search.query import DEFAULT_K, DEFAULT_METHOD, Query
from settings import Settings

log = logging.getLogger(__name__)

# How deep each side looks, in passages. Both are exact (flat vectors, full BM25), so the depth only
# bounds how many articles a query can page through (``SearchResponse.total``), not the quality of the
# first pages.
DENSE_POOL = 1000
LEXICAL_POOL = 1000
RERANK_DEPTH = 100  # passages whose best sentence is compared with the query (see Fusion.sentence_weight)
QUERY_CACHE = 256  # query vectors kept, so paging through results or switching method never re-embeds


@dataclass
class PassageMatch:
    """Another matching passage of a result's article (see ``article_passages``)."""

    passage_id: int
    score: float
    position: int
    start: int
    end: int
    text: str
    highlights: list[list[int]] = field(default_factory=list)
    highlight_kind: str = "terms"


@dataclass
class Result:
    """One ranked article, shown by its best passage.

    ``text`` is the passage (``start``/``end`` are its offsets in the article's text); ``highlights``
    are [start, end] offsets into ``text``; ``duplicates`` are the ids of the same story published
    again; ``more_passages`` the article's other matching passages when ``article_passages=True``."""

    rank: int
    score: float
    passage_id: int
    article_id: str
    title: str
    link: str
    cat: str
    date: str | None
    text: str
    start: int
    end: int
    position: int
    highlights: list[list[int]] = field(default_factory=list)
    highlight_kind: str = "terms"
    duplicates: list[str] = field(default_factory=list)
    more_passages: list[PassageMatch] = field(default_factory=list)


@dataclass
class SearchResponse:
    """The ranked results of a query and how the engine understood it.

    ``total`` is the number of matching articles (duplicates counted once): for ``lexical`` the articles
    holding a query term, for ``dense`` the articles among the ``DENSE_POOL`` passages nearest to the
    query, for ``hybrid`` both together (each side capped at its pool)."""

    query: str
    normalized_query: str
    total: int
    took_ms: float
    results: list[Result] = field(default_factory=list)
    method: str = "hybrid"
    # True when ``total`` counts articles that hold a query word (lexical); dense and hybrid rank every
    # article near the query, so their results are "best matches", not a count (docs/design.md)
    counted: bool = True
    facets: Facets = field(default_factory=Facets)


@dataclass(frozen=True)
class Fusion:
    """How ``hybrid`` combines the two rankings: a convex combination of normalized scores, as in
    txtai's hybrid search and OpenSearch's normalization processor,
    ``(1 - lexical_weight) * dense + lexical_weight * evidence``, where the lexical evidence is kept only
    where it means something.

    Dense: the cosine similarity, min-max normalized over the query's dense pool (OpenSearch's
    ``min_max``): 1 for the nearest passage, 0 for the farthest of the ``DENSE_POOL`` nearest. E5
    similarities crowd into a narrow band (0.75–0.9), so only their position within the band speaks.

    Lexical: BM25 divided by the score of a passage that holds every query term once at average length
    (the sum of the terms' IDFs), capped at 1. Unlike min-max this is an absolute measure — roughly the
    IDF-weighted share of the query the passage contains — so when the best lexical hit matches one
    common word of a long query it stays near 0 instead of being stretched to 1.

    Evidence = that BM25 share times ``coverage ** coverage_power`` (coverage: the IDF-weighted share of
    query terms present). A passage holding no query term gets 0: where lexical matching could see it,
    sharing no word with the query is evidence against it. But where the query has no word in the
    passage's script (an English query over Persian text; it could only share numbers and stray names)
    lexical matching is blind, and the evidence is missing rather than 0: such a passage is ranked by
    its dense score alone (evidence := dense), as if lexical agreed. So an English query over a Persian
    archive ranks exactly as dense does, and in a mixed archive a Persian article is not pushed under
    English ones merely because they could share words with the query. A lone matched term is a small
    nudge between close dense scores; matching most of a query — a headline, a name — can overrule a
    close dense ordering.
    """

    lexical_weight: float = 0.5
    coverage_power: float = 1.0
    # The RERANK_DEPTH best passages are fused again with their cosine replaced by
    # ``(1 - sentence_weight) * cosine + sentence_weight * best-sentence cosine``: a query that restates one
    # sentence of a long passage (a headline, a question) is matched by that sentence, not diluted by the rest.
    sentence_weight: float = 0.0

    def combine(self, dense: np.ndarray, lexical: np.ndarray, coverage: np.ndarray, usable: np.ndarray) -> np.ndarray:
        evidence = np.where(usable, lexical * coverage ** self.coverage_power, dense)
        return (1.0 - self.lexical_weight) * dense + self.lexical_weight * evidence


DEFAULT_FUSION = Fusion(lexical_weight=0.2, sentence_weight=0.1)


class SearchEngine:
    """An index version plus the model that built it, opened once and shared by all requests."""

    def __init__(self, version: IndexVersion, embedder: Embedder, fusion: Fusion = DEFAULT_FUSION,
                 query_cache: int = QUERY_CACHE, backend: Backend = LOCAL) -> None:
        require_model(version, embedder.name)
        if embedder.dimension != version.manifest["dimension"]:
            raise ModelMismatch(f"model {embedder.name!r} has {embedder.dimension} dimensions, "
                                f"the index has {version.manifest['dimension']}")
        self.version = version
        self.embedder = embedder
        self.fusion = fusion
        self.backend = backend
        self.vectors = backend.vectors(version)  # where dense candidates and exact scores come from
        self._local = threading.local()
        self._query_vectors = VectorCache(query_cache)
        self._passages = int(version.manifest["passages"])  # passage ids are 0 .. passages - 1
        # read now, not on the first filtered query (seconds at 10^6 passages); before gunicorn forks, so shared
        db = version.connect()
        try:
            self._filter_index = FilterIndex(db, self._passages)
        finally:
            db.close()

    @classmethod
    def open(cls, index_dir: Path, settings: Settings) -> "SearchEngine":
        """Open the live index in ``index_dir`` with the configured model, refusing a mismatch before loading it."""
        version = open_index(index_dir)
        require_model(version, canonical_model_name(settings.model))  # before loading a model for nothing
        return cls(version, Embedder(settings.model, settings.model_cache, settings.bf16, precision=settings.precision),
                   backend=backend_for(settings))

    @property
    def db(self):
        """This thread's read-only connection to the version's database (lexical index attached)."""
        if not hasattr(self._local, "db"):
            self._local.db = self.version.connect()
            self._local.lexical = self.backend.lexical(self.version, self._local.db)
        return self._local.db

    @property
    def lexical(self) -> LexicalSearch:
        self.db  # noqa: B018 (opens this thread's connection)
        return self._local.lexical

    # ------------------------------------------------------------------ public API

    def search(self, query: str, k: int = DEFAULT_K, offset: int = 0, *, method: str = DEFAULT_METHOD,
               category: str | None = None, date_from: str | None = None, date_to: str | None = None,
               article_passages: bool = False) -> SearchResponse:
        """The articles ranked ``offset + 1`` to ``offset + k`` for ``query``, best first (see :class:`Query`;
        dates are ISO strings). Raises ValueError for an empty or too long query or a bad parameter."""
        return self.answer(Query.of(query, k, offset, method=method, category=category, date_from=date_from,
                                    date_to=date_to, article_passages=article_passages))

    def answer(self, query: Query) -> SearchResponse:
        """:meth:`search` for parameters already gathered in a :class:`Query`."""
        started = time.perf_counter()
        normalized, terms = self._understand(query.text)
        ranked = self._rank(self._score(normalized, terms, query.method, query.filter))
        page = ranked[query.offset:query.offset + query.k]
        results = self._results(page, query.offset, normalized, terms, query.article_passages)
        return SearchResponse(query.text, normalized, len(ranked), round((time.perf_counter() - started) * 1000, 1),
                              results, query.method, query.method == "lexical",
                              count_facets(self, [article_id for article_id, _, _ in ranked]))

    def ranked_articles(self, query: str, k: int = DEFAULT_K, *, method: str = DEFAULT_METHOD) -> list[tuple[str, list[str]]]:
        """Only the ranking of :meth:`search`, without building results: (article id, duplicate ids) of the
        ``k`` best articles. The evaluation uses it to score thousands of queries quickly."""
        checked = Query(query, k, method=method)
        normalized, terms = self._understand(checked.text)
        ranked = self._rank(self._score(normalized, terms, checked.method, checked.filter))
        return [(article_id, duplicates) for article_id, _, duplicates in ranked[:k]]

    def categories(self) -> list[str]:
        """The distinct non-empty categories of the indexed articles, sorted (read once: a version never changes)."""
        if not hasattr(self, "_categories"):
            self._categories = [row[0] for row in
                                self.db.execute("SELECT DISTINCT cat FROM articles WHERE cat != '' ORDER BY cat")]
        return list(self._categories)

    def info(self) -> dict[str, Any]:
        """What is being served: model, version, build time and counts."""
        manifest = self.version.manifest
        return {key: manifest[key] for key in ("version", "model", "dimension", "articles", "passages", "built_at")}

    # ------------------------------------------------------------------ for the article page (search/related.py)

    def query_vector(self, normalized: str) -> np.ndarray:
        """The model's vector of an already normalized query (cached), shape (dimension,)."""
        return self._query_vector(normalized)[0]

    def passage_vectors(self, passage_ids: list[int]) -> np.ndarray:
        """The stored vectors of the given passages (float32), one row each, in order."""
        return np.asarray(self.vectors.vectors(np.asarray(passage_ids, dtype=np.int64)), dtype=np.float32)

    def passage_highlights(self, passages: list[tuple[int, str]], normalized: str) -> list[tuple[list[list[int]], str]]:
        """(highlights, kind) of each (passage id, text) for a normalized query, as search results mark them."""
        return list(self._highlights(passages, normalized, list(dict.fromkeys(normalized_tokens(normalized)))))

    def nearest_articles(self, vector: np.ndarray, pool: int) -> list[tuple[str, float, list[str]]]:
        """Articles whose passages are among the ``pool`` nearest to ``vector``, best first, duplicates
        collapsed: (article id, its best passage's score, duplicate ids)."""
        found, scores = self.vectors.search(np.asarray(vector, dtype=np.float32)[None, :], min(pool, self.vectors.count))
        keep = found[0] >= 0
        ranked = self._rank(dict(zip(found[0][keep].tolist(), scores[0][keep].tolist())))
        return [(article_id, passages[0][1], duplicates) for article_id, passages, duplicates in ranked]

    # ------------------------------------------------------------------ steps

    @staticmethod
    def _understand(text: str) -> tuple[str, list[str]]:
        """The query normalized (for the model) and its distinct BM25 terms; ValueError when nothing is left."""
        normalized = normalize(text)
        if not normalized:
            raise ValueError("the query is empty")
        return normalized, list(dict.fromkeys(normalized_tokens(normalized)))

    def _query_vector(self, normalized: str) -> np.ndarray:
        vector = self._query_vectors.get(normalized)
        if vector is None:
            vector = self.embedder.embed_queries([normalized])
            self._query_vectors.put_many({normalized: vector})
        return vector

    def embed_queries(self, queries: list[str]) -> None:
        """Embed many queries in batches ahead of searching them (far faster than one by one); kept in the
        query cache, so size ``query_cache`` to hold them."""
        normalized = list(dict.fromkeys(n for n in map(normalize, queries) if n))
        vectors = self.embedder.embed_queries(normalized)
        self._query_vectors.put_many({text: vectors[i:i + 1] for i, text in enumerate(normalized)})

    def _score(self, normalized: str, terms: list[str], method: str, where: Filter) -> dict[int, float]:
        """Score of each candidate passage under ``method``."""
        lexical_hits = []
        lexical_terms = strongest_terms(terms, self.lexical.idf(terms)) if len(terms) > MAX_QUERY_TERMS else terms
        if method != "dense" and lexical_terms:
            lexical_hits = self.lexical.search(lexical_terms, LEXICAL_POOL, where)
        if method == "lexical":
            return {hit.passage_id: hit.score for hit in lexical_hits}

        vector = self._query_vector(normalized)
        dense_ids, dense_scores = self._dense(vector, where)
        if method == "dense" or not len(dense_ids):
            return dict(zip(dense_ids.tolist(), dense_scores.tolist()))

        # hybrid: every candidate passage gets both scores (the cosine is exact for lexical-only hits too)
        low, high = float(dense_scores.min()), float(dense_scores.max())
        candidates = dict.fromkeys(dense_ids.tolist())
        candidates.update((hit.passage_id, None) for hit in lexical_hits)
        ids = np.fromiter(candidates, dtype=np.int64, count=len(candidates))
        cosine = self.vectors.score(vector[0], ids)
        lexical = np.zeros(len(ids))
        coverage = np.zeros(len(ids))
        scripts = {token_script(t) for t in terms}
        if not terms:  # only stop words: lexical matching has nothing to say about any passage
            usable = np.zeros(len(ids), dtype=bool)
        elif scripts <= {None}:  # only numbers: script-neutral, every passage could hold them
            usable = np.ones(len(ids), dtype=bool)
        else:
            usable = np.isin(self._scripts(ids), list(scripts))
        if lexical_hits:
            idf = self.lexical.idf(lexical_terms)
            query_mass = sum(idf.values()) or 1.0
            position = {passage_id: i for i, passage_id in enumerate(ids.tolist())}
            for hit in lexical_hits:
                i = position[hit.passage_id]
                lexical[i] = min(1.0, hit.score / query_mass)
                coverage[i] = sum(idf[t] for t in hit.matched) / query_mass

        def fuse(cosine: np.ndarray) -> np.ndarray:
            dense = np.clip((cosine - low) / (high - low), 0.0, 1.0) if high > low else np.ones(len(cosine))
            return self.fusion.combine(dense, lexical, coverage, usable)

        fused = fuse(cosine)
        if self.fusion.sentence_weight:
            top = np.argsort(-fused, kind="stable")[:RERANK_DEPTH]
            sentence = self._best_sentence(ids[top], vector[0], cosine[top])
            blended = cosine.copy()
            blended[top] += self.fusion.sentence_weight * (sentence - cosine[top])
            fused[top] = fuse(blended)[top]
        return dict(zip(ids.tolist(), fused.tolist()))

    def _best_sentence(self, ids: np.ndarray, query: np.ndarray, cosine: np.ndarray) -> np.ndarray:
        """Each passage's highest sentence cosine with ``query`` (its own ``cosine`` where it has no sentence rows)."""
        _, _, first = self._sentences()
        starts, counts = first[ids], first[ids + 1] - first[ids]
        rows = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        similarity = self.version.sentence_vectors[rows].astype(np.float32) @ query
        best = cosine.astype(np.float32, copy=True)
        has = counts > 0
        if has.any():
            best[has] = np.maximum.reduceat(similarity, (np.cumsum(counts) - counts)[has])
        return best

    def _scripts(self, ids: np.ndarray) -> np.ndarray:
        """The dominant script of each passage (read once from the lexical index)."""
        if not hasattr(self, "_script_of"):
            script_of = np.empty(self._passages, dtype=object)
            for rowid, kind in self.db.execute("SELECT rowid, script FROM lex.lexical"):
                script_of[rowid] = kind
            self._script_of = script_of
        return self._script_of[ids]

    def _dense(self, vector: np.ndarray, where: Filter) -> tuple[np.ndarray, np.ndarray]:
        allowed = None if where.is_empty else Allowed(where, self._allowed_ids)
        found, scores = self.vectors.search(vector, DENSE_POOL, allowed)
        keep = found[0] >= 0
        return found[0][keep], scores[0][keep]

    def _allowed_ids(self, where: Filter) -> np.ndarray:
        """The passage ids ``where`` keeps, from the per-passage category and date arrays."""
        return self._filter_index.ids(where)

    def _rank(self, scores: dict[int, float]) -> list[tuple[str, list[tuple[int, float]], list[str]]]:
        """Articles best first, duplicates collapsed: (article id, its passages best first, duplicate ids)."""
        article_ids, article_of, group_of = self._passage_articles()
        items = sorted(scores.items(), key=lambda item: (-item[1], article_ids[article_of[item[0]]], item[0]))
        groups: dict[int, dict[str, list[tuple[int, float]]]] = {}  # in order of each group's best passage
        for passage_id, score in items:
            groups.setdefault(group_of[passage_id], {}).setdefault(article_ids[article_of[passage_id]], []).append(
                (passage_id, score))
        ranked = []
        for members in groups.values():
            first, *others = members
            ranked.append((first, members[first], others))
        return ranked

    def _passage_articles(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Article ids, and for each passage id its article's and its duplicate group's position in them:
        read once, so ranking a thousand candidates needs no database query."""
        if not hasattr(self, "_articles"):
            position = {}
            article_of = np.zeros(self._passages, dtype=np.int64)
            group_of = np.zeros(self._passages, dtype=np.int64)
            rows = self.db.execute("SELECT p.id, p.article_id, a.duplicate_of FROM passages p "
                                   "JOIN articles a ON a.id = p.article_id")
            for passage_id, article_id, duplicate_of in rows:
                article_of[passage_id] = position.setdefault(article_id, len(position))
                group_of[passage_id] = position.setdefault(duplicate_of, len(position))
            self._articles = (list(position), article_of, group_of)
        return self._articles

    def _passage_rows(self, passage_ids: list[int]) -> dict[int, Any]:
        columns = "p.id, p.position, p.start, p.end, p.text, a.title, a.link, a.cat, a.date"
        found: dict[int, Any] = {}
        for start in range(0, len(passage_ids), 900):  # SQLite's limit on bound parameters
            chunk = passage_ids[start:start + 900]
            rows = self.db.execute(
                f"SELECT {columns} FROM passages p JOIN articles a ON a.id = p.article_id "
                f"WHERE p.id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            found.update((row["id"], row) for row in rows)
        return found

    def _results(self, page, offset: int, normalized: str, terms: list[str], article_passages: bool) -> list[Result]:
        shown = [passages if article_passages else passages[:1] for _, passages, _ in page]
        rows = self._passage_rows([passage_id for passages in shown for passage_id, _ in passages])
        spans = self._highlights([(passage_id, rows[passage_id]["text"]) for passages in shown for passage_id, _ in passages],
                                 normalized, terms)
        results = []
        for rank, ((article_id, _, duplicates), passages) in enumerate(zip(page, shown), start=offset + 1):
            matches = []
            for passage_id, score in passages:
                row = rows[passage_id]
                highlights, kind = next(spans)
                matches.append(PassageMatch(passage_id, _round(score), row["position"], row["start"], row["end"],
                                            row["text"], highlights, kind))
            best, row = matches[0], rows[passages[0][0]]
            results.append(Result(rank, best.score, best.passage_id, article_id, row["title"], row["link"], row["cat"],
                                  row["date"], best.text, best.start, best.end, best.position, best.highlights,
                                  best.highlight_kind, duplicates, matches[1:]))
        return results

    def _highlights(self, passages: list[tuple[int, str]], normalized: str, terms: list[str]):
        """(highlights, kind) for each passage, in order: the query's terms where the text has any, else the
        sentence closest to the query, by the sentence vectors stored with the index."""
        starts, ends, first = self._sentences()
        query = None
        for passage_id, text in passages:
            spans = term_spans(text, terms)
            if spans:
                yield spans, "terms"
                continue
            rows = slice(first[passage_id], first[passage_id + 1])
            if rows.stop - rows.start > 1:
                if query is None:
                    query = self._query_vector(normalized)[0]
                best = rows.start + int(np.argmax(self.version.sentence_vectors[rows].astype(np.float32) @ query))
                yield [[int(starts[best]), int(ends[best])]], "sentence"
            else:
                yield [[0, len(text)]], "sentence"

    def _sentences(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sentence spans (offsets in their passage's text) and, for each passage id, where its sentences
        begin in them (rows of ``version.sentence_vectors``); read once."""
        if not hasattr(self, "_sentence_spans"):
            rows = np.array(self.db.execute("SELECT passage_id, start, end FROM sentences ORDER BY rowid").fetchall(),
                            dtype=np.int64).reshape(-1, 3)
            first = np.searchsorted(rows[:, 0], np.arange(self._passages + 1))
            self._sentence_spans = (rows[:, 1], rows[:, 2], first)
        return self._sentence_spans


class VectorCache:
    """A thread-safe least-recently-used map from keys to vectors."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Any, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> np.ndarray | None:
        with self._lock:
            vector = self._items.get(key)
            if vector is not None:
                self._items.move_to_end(key)
        return vector

    def put_many(self, items: dict[Any, np.ndarray]) -> None:
        with self._lock:
            self._items.update(items)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def _round(score: float) -> float:
    return round(float(score), 4) if math.isfinite(score) else 0.0


def dumps(response: SearchResponse) -> str:
    """JSON for a response, Persian kept readable."""
    return json.dumps(asdict(response), ensure_ascii=False, indent=2)
