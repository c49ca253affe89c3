"""The search engine over one opened index version: the facade that takes a query through understanding,
candidate scoring and fusion, ranking, and results with highlights (one module each; docs/design.md).

Three methods rank the same candidates: ``dense`` (cosine similarity of E5 embeddings), ``lexical``
(BM25 over normalized tokens) and ``hybrid`` (the default; see :class:`search.fusion.Fusion`). Results
rank articles, each shown by its best passage (:mod:`search.results`)."""
from __future__ import annotations

import logging
import threading
import time
from contextlib import closing
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from index.embedder import Embedder, canonical_model_name
from index.filter import Filter
from index.lexical import has_stems, prepare_term_spans, stems
from index.lexical_search import LexicalSearch
from index.segments import AddedRows, rows_added
from index.store import IndexVersion, ModelMismatch, open_index, require_model
from search import candidates
from search.backends import LOCAL, Backend, backend_for
from search.facets import count as count_facets
from index.filter_index import FilterIndex
from search.fusion import DEFAULT_FUSION, Fusion
from search.highlights import Highlight, highlights
from search.passage_arrays import PassageArrays
from search.query import DEFAULT_K, DEFAULT_METHOD, Query
from search.ranking import RankedArticle, Ranking
from search.results import Result, SearchResponse, build_results, passage_rows
from search.understanding import Understood, terms_of, understand
from search.vector_cache import QUERY_CACHE, QueryVectors
from settings import Settings

log = logging.getLogger(__name__)


class SearchEngine:
    """An index version plus the model that built it, opened once and shared by all requests."""

    def __init__(self, version: IndexVersion, embedder: Embedder, fusion: Fusion = DEFAULT_FUSION,
                 query_cache: int = QUERY_CACHE, backend: Backend = LOCAL, stem_search: str = "auto",
                 previous: "SearchEngine | None" = None) -> None:
        """``previous``: the engine of the version before, whose query cache is kept, and whose arrays and loaded
        vectors are reused when ``version`` shares its files (a deletion's version) or extended when it holds
        their rows and more (an appending update's, :func:`index.segments.rows_added`): following an update then
        costs what it changed, not seconds per 10^5 passages (docs/benchmarks.md)."""
        require_model(version, embedder.name)
        if embedder.dimension != version.manifest["dimension"]:
            raise ModelMismatch(f"model {embedder.name!r} has {embedder.dimension} dimensions, "
                                f"the index has {version.manifest['dimension']}")
        shared = previous if previous is not None and version.shares_files_with(previous.version) else None
        self.version = version
        self.embedder = embedder
        self.fusion = fusion
        self.backend = backend
        added = _rows_added(version, previous) if previous is not None and shared is None else None
        extended = previous.arrays.extended(version, added) if added is not None else None
        arrays, positions = extended if extended is not None else (None, None)  # positions: of the added articles
        if shared is not None:
            version.share_vectors(shared.version)
        elif arrays is not None:
            version.extend_vectors(previous.version, np.array([passage_id for passage_id, _ in added.passages]))
        self.vectors = backend.vectors(version)  # where dense candidates and exact scores come from
        # a query's vector depends on the model alone, which every version a server follows was built with
        self.query_vectors = previous.query_vectors if previous is not None and previous.embedder is embedder \
            else QueryVectors(embedder, query_cache)
        if shared is not None:
            arrays = shared.arrays.for_version(version)
        self.arrays = arrays if arrays is not None else PassageArrays(version)
        # passages of articles deleted since the last merge (index.tombstones): dropped from every candidate pool
        self.deleted = version.tombstones.mask(self.arrays.passages)
        # whether hybrid searches the stems field (KAVOSH_STEMS; see search.candidates.searches_stems)
        self.stem_search = stem_search
        self.lexical_engine = backend.lexical_engine(version)  # fts5, tantivy or milvus (KAVOSH_LEXICAL)
        self.searches_stems = candidates.searches_stems(stem_search, int(version.manifest["passages"]))
        self._local = threading.local()
        # read now, not on the first filtered query (seconds at 10^6 passages); before gunicorn forks, so shared
        with closing(version.connect()) as db:
            if shared is not None:
                self._filter_index = shared._filter_index.with_deleted(self.deleted)
            elif positions is not None:
                self._filter_index = previous._filter_index.extended(added, self.arrays.articles.article_of,
                                                                     positions, self.deleted)
            else:
                self._filter_index = FilterIndex(db, self.arrays.passages, self.deleted)
            if self.searches_stems and not has_stems(db):
                log.warning("index version %s was written before lexical stems; hybrid search ranks without them "
                            "until `python -m index.update --rewrite` (or any update or rebuild) writes the index again",
                            version.manifest["version"])

    @classmethod
    def open(cls, index_dir: Path, settings: Settings) -> "SearchEngine":
        """Open the live index in ``index_dir`` with the configured model, refusing a mismatch before loading it.
        The version's vector file is read only if the backend searches it (not with Milvus)."""
        version = open_index(index_dir, load_vectors=False)
        require_model(version, canonical_model_name(settings.model))  # before loading a model for nothing
        return cls(version, Embedder.configured(settings.model, settings),
                   backend=backend_for(settings), stem_search=settings.stem_search)

    @property
    def db(self):
        """This thread's read-only connection to the version's database (lexical index attached)."""
        if not hasattr(self._local, "db"):
            self._local.db = self.version.connect()
            self._local.lexical = self.backend.lexical(self.version, self._local.db, self._filter_index)
            self._local.stem_lexical = self.backend.stem_lexical(self.version, self._local.db, self._filter_index)
        return self._local.db

    @property
    def lexical(self) -> LexicalSearch:
        """This thread's lexical search over words (over :attr:`db`)."""
        self.db  # noqa: B018 (opens this thread's connection)
        return self._local.lexical

    @property
    def stem_lexical(self) -> LexicalSearch | None:
        """This thread's lexical search over stems, or None where the index has no stems field."""
        self.db  # noqa: B018 (opens this thread's connection)
        return self._local.stem_lexical

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
        understood = understand(query.text)
        ranked = self._rank(self._score(understood, query.method, query.filter))
        page = ranked[query.offset:query.offset + query.k]
        results = self._results(page, query.offset, understood, query.article_passages)
        return SearchResponse(query.text, understood.normalized, len(ranked),
                              round((time.perf_counter() - started) * 1000, 1), results, query.method,
                              query.method == "lexical", count_facets(self.arrays.facts, ranked.representatives))

    def ranked_articles(self, query: str, k: int = DEFAULT_K, *, method: str = DEFAULT_METHOD) -> list[tuple[str, list[str]]]:
        """Only the ranking of :meth:`search`, without building results: (article id, duplicate ids) of the
        ``k`` best articles. The evaluation uses it to score thousands of queries quickly."""
        checked = Query(query, k, method=method)
        ranked = self._rank(self._score(understand(checked.text), checked.method, checked.filter))
        return [(article.article_id, article.duplicates) for article in ranked[:k]]

    def categories(self) -> list[str]:
        """The distinct non-empty categories of the articles searches can return, sorted (once: a version never
        changes)."""
        return list(self._categories)

    def prepare(self) -> None:
        """Read now what a first search would read lazily: the per-passage arrays, the category list (from
        them) and the highlighter's character table. gunicorn's master calls it before
        it forks, so the workers share all three and no user's first search pays for them (docs/benchmarks.md,
        "Sentence vectors read, not mapped"). It leaves no database connection open to be carried over a fork."""
        self.arrays.read_all()
        self.categories()
        prepare_term_spans()

    def info(self) -> dict[str, Any]:
        """What is being served: model, version, build time and counts."""
        manifest = self.version.manifest
        return {**{key: manifest[key] for key in ("version", "model", "dimension", "built_at")},
                "articles": self.version.live_articles, "passages": self.version.live_passages}

    def embed_queries(self, queries: list[str]) -> None:
        """Embed many queries in batches ahead of searching them (far faster than one by one); kept in the
        query cache, so size ``query_cache`` to hold them."""
        self.query_vectors.embed_ahead(queries)

    # ------------------------------------------------------------------ for the article page (search/related.py)

    def query_vector(self, normalized: str) -> np.ndarray:
        """The model's vector of an already normalized query (cached), shape (dimension,)."""
        return self.query_vectors.of(normalized)[0]

    def passage_vectors(self, passage_ids: list[int]) -> np.ndarray:
        """The stored vectors of the given passages (float32), one row each, in order."""
        return np.asarray(self.vectors.vectors(np.asarray(passage_ids, dtype=np.int64)), dtype=np.float32)

    def passage_highlights(self, passages: list[tuple[int, str]], normalized: str) -> list[Highlight]:
        """(highlights, kind) of each (passage id, text) for a normalized query, as search results mark them."""
        return list(highlights(passages, terms_of(normalized), lambda: self.query_vector(normalized),
                               self.arrays.sentences, self.version.sentence_vectors))

    def nearest_articles(self, vector: np.ndarray, pool: int) -> list[tuple[str, float, list[str]]]:
        """Articles whose passages are among the ``pool`` nearest to ``vector``, best first, duplicates
        collapsed: (article id, its best passage's score, duplicate ids)."""
        found, scores = self.vectors.search(np.asarray(vector, dtype=np.float32)[None, :], min(pool, self.vectors.count))
        found, scores = candidates.live((found[0][found[0] >= 0], scores[0][found[0] >= 0]), self.deleted)
        ranked = self._rank(dict(zip(found.tolist(), scores.tolist())))
        return [(article_id, passages[0][1], duplicates) for article_id, passages, duplicates in ranked]

    # ------------------------------------------------------------------ steps

    def _score(self, query: Understood, method: str, where: Filter) -> dict[int, float]:
        """The score of each candidate passage under ``method``; ``lexical`` ranks by BM25 over the words
        alone (their stems count only as hybrid evidence)."""
        if method == "lexical":
            hits = candidates.lexical_pool(self.lexical, query.terms, where, self.deleted, matched=False).hits
            return {hit.passage_id: hit.score for hit in hits}
        vector = self.query_vectors.of(query.normalized)
        dense = candidates.live(candidates.dense_hits(self.vectors, vector, where, self._allowed_ids), self.deleted)
        if method == "dense" or not len(dense[0]):
            return dict(zip(dense[0].tolist(), dense[1].tolist()))
        words = candidates.lexical_pool(self.lexical, query.terms, where, self.deleted)
        stemmed = None
        if self.searches_stems and self.fusion.stem_weight and self.stem_lexical is not None:
            stemmed = candidates.lexical_pool(self.stem_lexical, stems(query.terms), where, self.deleted)
        found = candidates.hybrid_candidates(self.vectors, self.arrays, self.version.sentence_vectors, vector, dense,
                                             query.terms, words, stemmed)
        return dict(zip(found.ids.tolist(), self.fusion.fuse(found).tolist()))

    def _rank(self, scores: dict[int, float]) -> Ranking:
        """Articles best first, duplicates collapsed (:class:`search.ranking.Ranking`)."""
        return Ranking(scores, self.arrays.articles)

    def _allowed_ids(self, where: Filter) -> np.ndarray:
        """The passage ids ``where`` keeps, from the per-passage category and date arrays."""
        return self._filter_index.ids(where)

    def _results(self, page: list[RankedArticle], offset: int, query: Understood, article_passages: bool) -> list[Result]:
        shown = [article.passages if article_passages else article.passages[:1] for article in page]
        rows = passage_rows(self.db, [passage_id for passages in shown for passage_id, _ in passages])
        spans = highlights([(passage_id, rows[passage_id]["text"]) for passages in shown for passage_id, _ in passages],
                           query.terms, lambda: self.query_vectors.of(query.normalized)[0],
                           self.arrays.sentences, self.version.sentence_vectors)
        return build_results(page, shown, rows, spans, offset)

    @cached_property
    def _categories(self) -> list[str]:
        """The categories of the articles a search can find (those with a passage not deleted), from the arrays: a
        scan of the articles table took 0.6 s at 10^6 passages through a segmented version's views."""
        facts, article_of = self.arrays.facts, self.arrays.articles.article_of
        live = facts.category[np.unique(article_of if self.deleted is None else article_of[~self.deleted])]
        held = np.bincount(live[live >= 0], minlength=len(facts.categories))
        return [category for category, count in zip(facts.categories, held.tolist()) if count]


def _rows_added(version: IndexVersion, previous: SearchEngine) -> AddedRows | None:
    """The rows ``version`` holds beyond the ``previous`` engine's version, where it extends it (else None)."""
    with closing(version.connect()) as db:
        return rows_added(db, version.manifest, previous.version.manifest, previous.version.sentence_vectors.shape[0])
