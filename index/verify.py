"""Opening a version: checking that its files are complete, unchanged and belong together."""
from __future__ import annotations

import json
import os
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import IndexDamaged, IndexMissing, ModelMismatch
from index.layout import DATABASE, FORMAT_VERSION, LEXICAL, MANIFEST, SENTENCES, live_path, sha256
from index.lexical import check_lexical
from index.segments import connect_version, row_counts, segment_files, segment_schemas
from index.sentence_parts import SentenceVectors, sentence_files
from index.tantivy_lexical import check_tantivy, tantivy_files
from index.tombstones import TOMBSTONES, Tombstones
from index.vectors.base import VectorIndexError, VectorSearch
from index.vectors.factory import DEFAULT_KIND, vector_index_class
from index.vectors.parts import indexes_of, part_ranges, read_vectors, vector_files


@dataclass
class IndexVersion:
    """One opened, verified index version: its manifest, its vectors and a read-only database."""

    path: Path
    manifest: dict[str, Any]
    sentence_vectors: SentenceVectors  # read from their files, one row per row of the sentences table
    tombstones: Tombstones = field(default_factory=Tombstones)  # deleted since the last merge (index.tombstones)
    _vectors: VectorSearch | None = field(default=None, repr=False)
    _loading: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def vectors(self) -> VectorSearch:
        """The version's vector index, loaded and checked against its passages on first use: a server
        that searches Milvus never needs it, so it never holds it in memory."""
        with self._loading:
            if self._vectors is None:
                self._vectors = _load_vectors(self)
            return self._vectors

    @property
    def lineage(self) -> str:
        """The id of the version a rebuild wrote that this one descends from by updates (its own id for a
        rebuild's version, and for versions written before lineages were recorded)."""
        return self.manifest.get("lineage", self.manifest["version"])

    @property
    def live_articles(self) -> int:
        """The articles searches can return: those stored less those deleted since the last merge."""
        return self.manifest["articles"] - len(self.tombstones.articles)

    @property
    def live_passages(self) -> int:
        return self.manifest["passages"] - len(self.tombstones.passages)

    def shares_files_with(self, other: "IndexVersion") -> bool:
        """True when every file of this version but its tombstones is ``other``'s very file (a deletion's
        version, :func:`index.store.write_deletions`): what was read from one holds for the other."""
        mine = {name: facts for name, facts in self.manifest["files"].items() if name != TOMBSTONES}
        theirs = {name: facts for name, facts in other.manifest["files"].items() if name != TOMBSTONES}
        return mine == theirs and all(os.path.samefile(self.path / name, other.path / name) for name in mine)

    def share_vectors(self, other: "IndexVersion") -> None:
        """Use the vector index ``other`` has loaded, when it shares this version's files (not read again)."""
        if self.shares_files_with(other) and other._vectors is not None:
            self._vectors = other._vectors

    def extend_vectors(self, other: "IndexVersion", added_ids: np.ndarray) -> None:
        """Use the vector files ``other`` has loaded where this version has the very same files (an appending
        update links them; ``added_ids``: the passage ids this version adds to ``other``'s, which it extends, see
        :func:`index.segments.rows_added`), reading and checking only its own: each must hold its run of the new
        ids. Following an update then reads its new vectors, not the archive's: 0.85 s at 10^6 passages, most of
        it reading every passage id to check them all again."""
        with self._loading, other._loading:
            if self._vectors is not None or other._vectors is None:
                return
            mine, theirs = self.manifest["files"], other.manifest["files"]
            reuse = {name: index for name, index in zip(vector_files(other.manifest), indexes_of(other._vectors))
                     if name in mine and mine[name] == theirs.get(name)
                     and os.path.samefile(self.path / name, other.path / name)}
            if vector_files(self.manifest)[0] not in reuse:  # not written by appending to ``other``: read whole
                return
            if not np.array_equal(np.sort(added_ids), np.arange(other.manifest["passages"], self.manifest["passages"])):
                raise IndexDamaged(f"{self.path}: its new passage ids do not follow {other.path.name}'s")
            for name in vector_files(self.manifest):
                if name not in reuse:
                    _check_file(self.path, name, mine[name])
            try:
                vectors = read_vectors(self.path, self.manifest, reuse)
            except VectorIndexError as exc:
                raise IndexDamaged(f"{self.path}: {exc}") from None
            for name, index, (first, end) in zip(vector_files(self.manifest), indexes_of(vectors),
                                                 part_ranges(self.manifest)):
                if name not in reuse and not np.array_equal(np.sort(index.ids()), np.arange(first, end)):
                    raise IndexDamaged(f"{self.path}: {name} does not hold the vectors of passages {first} to "
                                       f"{end - 1}")
            self._vectors = vectors

    def connect(self) -> sqlite3.Connection:
        """A new read-only connection (one per thread), with the lexical index attached as ``lex`` and the
        version's segments read as one with them (:mod:`index.segments`)."""
        db = connect_version(self.path, segment_files(self.manifest))
        db.row_factory = sqlite3.Row
        return db

    def close(self) -> None:
        self._vectors = None
        self.sentence_vectors.close()


def open_index(index_dir: Path, load_vectors: bool = True) -> IndexVersion:
    """Open the live version of ``index_dir``, or raise :class:`IndexUnavailable` saying why."""
    live = live_path(index_dir)
    if live is None:
        raise IndexMissing(f"no index in {index_dir}: build one with `python -m index.rebuild SOURCE --index {index_dir}`")
    return open_version(live, load_vectors=load_vectors)


def open_version(path: Path, verify_checksums: bool = False, load_vectors: bool = True) -> IndexVersion:
    """Open one version folder and check that its parts belong together. With ``load_vectors`` False the
    vector index is neither read nor checked until :attr:`IndexVersion.vectors` is first used (servers
    that search Milvus); every other part is checked now."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except FileNotFoundError:
        raise IndexDamaged(f"{path}: {MANIFEST} is missing") from None
    except (OSError, ValueError) as exc:
        raise IndexDamaged(f"{path}: {MANIFEST} is unreadable ({exc})") from None
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexDamaged(f"{path}: index format {manifest.get('format')!r} is not {FORMAT_VERSION}; rebuild the index")
    try:
        vector_index_class(manifest.get("vector_index", DEFAULT_KIND))
    except ValueError as exc:
        raise IndexDamaged(f"{path}: {exc}; rebuild the index") from None
    unlisted = [name for name in (DATABASE, *vector_files(manifest), LEXICAL, *sentence_files(manifest),
                                  *segment_files(manifest))
                if name not in manifest.get("files", {})]
    if unlisted:
        raise IndexDamaged(f"{path}: the manifest does not list {', '.join(unlisted)}; rebuild the index")
    deferred = set() if load_vectors else set(vector_files(manifest))
    for name, facts in manifest.get("files", {}).items():
        if name not in deferred:
            _check_file(path, name, facts, verify_checksums)
    try:
        sentence_vectors = SentenceVectors.load(path, sentence_files(manifest))
    except ValueError as exc:
        raise IndexDamaged(f"{path}: {SENTENCES} cannot be read ({exc})") from None
    version = IndexVersion(path, manifest, sentence_vectors, Tombstones.read(path, manifest))
    try:
        db = version.connect()
        try:
            articles, passages, sentences = row_counts(db, len(segment_files(manifest)))
            lexical_problem = check_lexical(db, passages, segment_schemas(len(segment_files(manifest))))
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise IndexDamaged(f"{path}: {DATABASE} is damaged ({exc})") from None
    if lexical_problem:
        raise IndexDamaged(f"{path}: {LEXICAL}: {lexical_problem}")
    tantivy_problem = check_tantivy(path, passages) if tantivy_files(manifest) else None
    if tantivy_problem:
        raise IndexDamaged(f"{path}: {tantivy_problem}")
    if articles != manifest["articles"] or passages != manifest["passages"]:
        raise IndexDamaged(f"{path}: the database holds {articles} articles and {passages} passages, "
                           f"the manifest says {manifest['articles']} and {manifest['passages']}")
    if sentence_vectors.shape != (sentences, manifest["dimension"]):
        raise IndexDamaged(f"{path}: {SENTENCES} holds {sentence_vectors.shape} vectors, the database "
                           f"{sentences} sentences of {manifest['dimension']} dimensions")
    if load_vectors:
        version.vectors  # noqa: B018 (loads and checks them now)
    return version


def _load_vectors(version: IndexVersion) -> VectorSearch:
    """Read a version's vector index and check it against the manifest and the passages it must hold."""
    path, manifest = version.path, version.manifest
    for name in vector_files(manifest):
        _check_file(path, name, manifest["files"][name])
    try:
        vectors = read_vectors(path, manifest)
    except VectorIndexError as exc:
        raise IndexDamaged(f"{path}: {exc}") from None
    if vectors.dimension != manifest["dimension"]:
        raise IndexDamaged(f"{path}: vectors have {vectors.dimension} dimensions, the manifest says {manifest['dimension']}")
    try:
        db = version.connect()
        try:
            passage_ids = np.array([row[0] for row in db.execute("SELECT id FROM passages ORDER BY id")], dtype=np.int64)
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise IndexDamaged(f"{path}: {DATABASE} is damaged ({exc})") from None
    vector_problem = vectors.verify(passage_ids)
    if vector_problem:
        raise IndexDamaged(f"{path}: {vector_problem} in {DATABASE}")
    return vectors


def _check_file(path: Path, name: str, facts: dict[str, Any], verify_checksum: bool = False) -> None:
    """Refuse a version file that is missing, or whose size (or checksum) is not the manifest's."""
    actual = path / name
    if not actual.is_file():
        raise IndexDamaged(f"{path}: {name} is missing")
    if actual.stat().st_size != facts["bytes"]:
        raise IndexDamaged(f"{path}: {name} has {actual.stat().st_size} bytes, the manifest says {facts['bytes']}")
    if verify_checksum and sha256(actual) != facts["sha256"]:
        raise IndexDamaged(f"{path}: {name} does not match its checksum")


def require_model(version: IndexVersion, model: str) -> None:
    """Refuse to use ``version`` with any model but the one that built it (``model`` in canonical form)."""
    if model != version.manifest["model"]:
        raise ModelMismatch(
            f"the index at {version.path} was built with model {version.manifest['model']!r}, but {model!r} is "
            f"configured; use the same model (KAVOSH_MODEL / --model) or rebuild the index"
        )
