"""Where the engine searches an index version: the version's own files (default) or its Milvus collection."""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
from typing import Protocol

from index.filter_index import FilterIndex
from index.fts import FtsLexicalIndex, stem_index
from index.lexical_search import TANTIVY_FROM, LexicalSearch
from index.segments import segment_files
from index.store import IndexDamaged, IndexUnavailable, IndexVersion
from index.tantivy_lexical import STEMS, TANTIVY, WORDS, TantivyIndex, tantivy_files
from settings import Settings

log = logging.getLogger(__name__)



class Backend(Protocol):
    """What the engine asks of a backend for one version: its passage vectors and its lexical search."""

    name: str

    def vectors(self, version: IndexVersion):
        """Dense search and exact scores (:class:`index.vectors.base.VectorSearch`'s search and score)."""

    def lexical(self, version: IndexVersion, db: sqlite3.Connection, filters: FilterIndex) -> LexicalSearch:
        """BM25 search over words for one thread, given that thread's connection to the version and the
        version's per-passage filter arrays."""

    def stem_lexical(self, version: IndexVersion, db: sqlite3.Connection, filters: FilterIndex) -> LexicalSearch | None:
        """BM25 search over stems for one thread, or None where the version (or collection) has no stems."""

    def lexical_engine(self, version: IndexVersion) -> str:
        """What answers the version's BM25 searches: "fts5", "tantivy" or "milvus"."""


def lexical_engine(setting: str, version: IndexVersion) -> str:
    """The local engine ``KAVOSH_LEXICAL`` picks for ``version``: ``auto`` is tantivy above :data:`TANTIVY_FROM`
    passages where the version has its tantivy index (versions written before it have not), else FTS5. A
    version with segments (:mod:`index.segments`) is searched by tantivy whatever the setting: its FTS5 tables
    hold the passages of its last merge only."""
    has_tantivy = bool(tantivy_files(version.manifest))
    if setting == "tantivy" and not has_tantivy:
        raise IndexDamaged(f"{version.path}: KAVOSH_LEXICAL=tantivy, but this index version was written before "
                           "its tantivy index existed; `python -m index.update --rewrite` writes one")
    if setting in ("auto", "fts5") and segment_files(version.manifest):
        if setting == "fts5":
            log.warning("KAVOSH_LEXICAL=fts5, but index version %s has segments that FTS5 does not search: "
                        "searching it with tantivy (`python -m index.update --rewrite` merges them)", version.path.name)
        return "tantivy"
    if setting == "auto":
        return "tantivy" if has_tantivy and int(version.manifest["passages"]) > TANTIVY_FROM else "fts5"
    return setting


class LocalBackend:
    """The version's files: its vector index, and its FTS5 table or tantivy index (``KAVOSH_LEXICAL``)."""

    name = "faiss"
    KEEP = 2  # versions whose tantivy index stays open: the one served and the one being switched to

    def __init__(self, lexical_setting: str = "auto") -> None:
        self.lexical_setting = lexical_setting
        self._tantivy: dict[tuple[str, int], TantivyIndex] = {}
        self._opening = threading.Lock()

    def vectors(self, version: IndexVersion):
        return version.vectors

    def lexical_engine(self, version: IndexVersion) -> str:
        return lexical_engine(self.lexical_setting, version)

    def lexical(self, version: IndexVersion, db: sqlite3.Connection, filters: FilterIndex) -> LexicalSearch:
        if self.lexical_engine(version) == "tantivy":
            return self._tantivy_index(version).field(WORDS, db)
        return FtsLexicalIndex(db, filters=filters)

    def stem_lexical(self, version: IndexVersion, db: sqlite3.Connection, filters: FilterIndex) -> LexicalSearch | None:
        if self.lexical_engine(version) == "tantivy":
            return self._tantivy_index(version).field(STEMS, db)
        return stem_index(db, filters)

    def _tantivy_index(self, version: IndexVersion) -> TantivyIndex:
        """The version's tantivy index, opened once per process (a server's workers each open their own after
        the fork; the files are mapped, so the machine holds them once)."""
        key = (version.manifest["version"], os.getpid())
        with self._opening:
            if key not in self._tantivy:
                self._tantivy[key] = TantivyIndex(version.path / TANTIVY)
                for old in list(self._tantivy)[:-self.KEEP]:
                    del self._tantivy[old]
            return self._tantivy[key]


class CollectionMissing(IndexUnavailable):
    """The version's Milvus collection is not complete yet (it is being published); a later look may find it."""


class MilvusBackend:
    """The version's Milvus collection (dense HNSW, BM25 sparse vectors, filters as expressions); passage
    texts, sentences and BM25 statistics still come from the version's files, and its vector file is
    never read."""

    name = "milvus"
    KEEP = 2  # versions whose passage keys stay in memory: the one served and the one being switched to

    def __init__(self, settings: Settings, client=None) -> None:
        from index.milvus.collection import connect  # pymilvus is imported only where Milvus is used

        self.settings = settings
        self.client = client or connect(settings)
        self._opened: dict[str, tuple] = {}  # version id -> (collection name, PassageKeys, its fields)
        self._opening = threading.Lock()

    def _collection(self, version: IndexVersion) -> tuple:
        """The version's collection, checked complete and loaded, and its passage keys (read once per version)."""
        from index.milvus.collection import COMPLETE, fields, properties, version_collection
        from index.milvus.keys import PassageKeys

        with self._opening:
            if version.manifest["version"] in self._opened:
                return self._opened[version.manifest["version"]]
            name = version_collection(self.settings, version)
            if not self.client.has_collection(name) or COMPLETE not in properties(self.client, name):
                raise CollectionMissing(f"Milvus has no complete collection {name} for index version "
                                        f"{version.manifest['version']}; publish it with `python -m index.milvus publish`")
            self.client.load_collection(name)  # a no-op where it is loaded; Milvus Lite reopens files released
            db = version.connect()
            try:
                opened = name, PassageKeys.read(db, version.tombstones.passage_set), fields(self.client, name)
            finally:
                db.close()
            self._opened[version.manifest["version"]] = opened
            for old in list(self._opened)[:-self.KEEP]:
                del self._opened[old]
            return opened

    def vectors(self, version: IndexVersion):
        from index.milvus.search import MilvusVectors

        name, keys, _ = self._collection(version)
        return MilvusVectors(self.client, name, int(version.manifest["dimension"]), keys)

    def lexical(self, version: IndexVersion, db: sqlite3.Connection, filters: FilterIndex) -> LexicalSearch:
        """Milvus filters by its own article fields; ``filters`` is not needed."""
        from index.milvus.search import MilvusLexicalSearch

        name, keys, _ = self._collection(version)
        return MilvusLexicalSearch(self.client, name, FtsLexicalIndex(db), keys)

    def stem_lexical(self, version: IndexVersion, db: sqlite3.Connection, filters: FilterIndex) -> LexicalSearch | None:
        from index.milvus.collection import STEMS as STEM_FIELD
        from index.milvus.search import MilvusLexicalSearch

        name, keys, collection_fields = self._collection(version)
        statistics = stem_index(db)
        if statistics is None or STEM_FIELD not in collection_fields:
            return None
        return MilvusLexicalSearch(self.client, name, statistics, keys, STEM_FIELD)

    def lexical_engine(self, version: IndexVersion) -> str:
        return "milvus"


LOCAL = LocalBackend()


def backend_for(settings: Settings) -> Backend:
    """The backend ``KAVOSH_BACKEND`` names (local: with the lexical engine ``KAVOSH_LEXICAL`` names)."""
    return MilvusBackend(settings) if settings.backend == "milvus" else LocalBackend(settings.lexical_engine)
