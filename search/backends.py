"""Where the engine searches an index version: the version's own files (default) or its Milvus collection."""
from __future__ import annotations

import sqlite3
from typing import Protocol

from index.fts import FtsLexicalIndex
from index.lexical_search import LexicalSearch
from index.store import IndexUnavailable, IndexVersion
from settings import Settings


class Backend(Protocol):
    """What the engine asks of a backend for one version: its passage vectors and its lexical search."""

    name: str

    def vectors(self, version: IndexVersion):
        """Dense search and exact scores (:class:`index.vectors.base.VectorIndex`'s search and score)."""

    def lexical(self, version: IndexVersion, db: sqlite3.Connection) -> LexicalSearch:
        """BM25 search for one thread, given that thread's connection to the version."""


class LocalBackend:
    """The version's files: its vector index and its SQLite FTS5 table."""

    name = "faiss"

    def vectors(self, version: IndexVersion):
        return version.vectors

    def lexical(self, version: IndexVersion, db: sqlite3.Connection) -> LexicalSearch:
        return FtsLexicalIndex(db)


class CollectionMissing(IndexUnavailable):
    """The version has no Milvus collection yet (it is being published); a later look may find it."""


class MilvusBackend:
    """The version's Milvus collection (dense HNSW, BM25 sparse vectors, filters as expressions); passage
    texts, sentences and BM25 statistics still come from the version's files."""

    name = "milvus"

    def __init__(self, settings: Settings, client=None) -> None:
        from index.milvus.collection import connect  # pymilvus is imported only where Milvus is used

        self.settings = settings
        self.client = client or connect(settings)
        self._loaded: set[str] = set()

    def _collection(self, version: IndexVersion) -> str:
        from index.milvus.collection import collection_name

        name = collection_name(self.settings, version.manifest["version"])
        if name in self._loaded:
            return name
        if not self.client.has_collection(name):
            raise CollectionMissing(f"Milvus has no collection {name} for index version {version.manifest['version']}; "
                                    f"publish it with `python -m index.milvus publish`")
        self.client.load_collection(name)  # a no-op where it is loaded; Milvus Lite reopens files released
        self._loaded.add(name)
        return name

    def vectors(self, version: IndexVersion):
        from index.milvus.search import MilvusVectors

        return MilvusVectors(self.client, self._collection(version), int(version.manifest["dimension"]))

    def lexical(self, version: IndexVersion, db: sqlite3.Connection) -> LexicalSearch:
        from index.milvus.search import MilvusLexicalSearch

        return MilvusLexicalSearch(self.client, self._collection(version), FtsLexicalIndex(db))


LOCAL = LocalBackend()


def backend_for(settings: Settings) -> Backend:
    """The backend ``KAVOSH_BACKEND`` names."""
    return MilvusBackend(settings) if settings.backend == "milvus" else LOCAL
