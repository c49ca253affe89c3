"""Opening a version: checking that its files are complete, unchanged and belong together."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import IndexDamaged, IndexMissing, ModelMismatch
from index.lexical import check_lexical
from index.layout import DATABASE, FORMAT_VERSION, LEXICAL, MANIFEST, SENTENCES, live_path, sha256
from index.vectors.base import VectorIndex, VectorIndexError
from index.vectors.factory import DEFAULT_KIND, vector_index_class


@dataclass
class IndexVersion:
    """One opened, verified index version: its manifest, its vectors and a read-only database."""

    path: Path
    manifest: dict[str, Any]
    vectors: VectorIndex
    sentence_vectors: np.ndarray  # memory-mapped, one row per row of the sentences table

    def connect(self) -> sqlite3.Connection:
        """A new read-only connection (one per thread), with the lexical index attached as ``lex``."""
        db = sqlite3.connect(f"file:{self.path / DATABASE}?mode=ro", uri=True, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("ATTACH DATABASE ? AS lex", (f"file:{self.path / LEXICAL}?mode=ro",))
        return db

    def close(self) -> None:
        self.vectors = None


def open_index(index_dir: Path) -> IndexVersion:
    """Open the live version of ``index_dir``, or raise :class:`IndexUnavailable` saying why."""
    live = live_path(index_dir)
    if live is None:
        raise IndexMissing(f"no index in {index_dir}: build one with `python -m index.rebuild SOURCE --index {index_dir}`")
    return open_version(live)


def open_version(path: Path, verify_checksums: bool = False) -> IndexVersion:
    """Open one version folder and check that its parts belong together."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except FileNotFoundError:
        raise IndexDamaged(f"{path}: {MANIFEST} is missing") from None
    except (OSError, ValueError) as exc:
        raise IndexDamaged(f"{path}: {MANIFEST} is unreadable ({exc})") from None
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexDamaged(f"{path}: index format {manifest.get('format')!r} is not {FORMAT_VERSION}; rebuild the index")
    try:
        backend = vector_index_class(manifest.get("vector_index", DEFAULT_KIND))
    except ValueError as exc:
        raise IndexDamaged(f"{path}: {exc}; rebuild the index") from None
    unlisted = [name for name in (DATABASE, *backend.files, LEXICAL, SENTENCES) if name not in manifest.get("files", {})]
    if unlisted:
        raise IndexDamaged(f"{path}: the manifest does not list {', '.join(unlisted)}; rebuild the index")
    for name, facts in manifest.get("files", {}).items():
        actual = path / name
        if not actual.is_file():
            raise IndexDamaged(f"{path}: {name} is missing")
        if actual.stat().st_size != facts["bytes"]:
            raise IndexDamaged(f"{path}: {name} has {actual.stat().st_size} bytes, the manifest says {facts['bytes']}")
        if verify_checksums and sha256(actual) != facts["sha256"]:
            raise IndexDamaged(f"{path}: {name} does not match its checksum")
    try:
        vectors = backend.load(path)
    except VectorIndexError as exc:
        raise IndexDamaged(f"{path}: {exc}") from None
    try:
        sentence_vectors = np.load(path / SENTENCES, mmap_mode="r")
    except ValueError as exc:
        raise IndexDamaged(f"{path}: {SENTENCES} cannot be read ({exc})") from None
    version = IndexVersion(path, manifest, vectors, sentence_vectors)
    if vectors.dimension != manifest["dimension"]:
        raise IndexDamaged(f"{path}: vectors have {vectors.dimension} dimensions, the manifest says {manifest['dimension']}")
    try:
        db = version.connect()
        try:
            articles = db.execute("SELECT count(*) FROM articles").fetchone()[0]
            passage_ids = np.array([row[0] for row in db.execute("SELECT id FROM passages ORDER BY id")], dtype=np.int64)
            lexical_problem = check_lexical(db, len(passage_ids))
            sentences = db.execute("SELECT count(*) FROM sentences").fetchone()[0]
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise IndexDamaged(f"{path}: {DATABASE} is damaged ({exc})") from None
    if lexical_problem:
        raise IndexDamaged(f"{path}: {LEXICAL}: {lexical_problem}")
    if articles != manifest["articles"] or len(passage_ids) != manifest["passages"]:
        raise IndexDamaged(f"{path}: the database holds {articles} articles and {len(passage_ids)} passages, "
                           f"the manifest says {manifest['articles']} and {manifest['passages']}")
    if sentence_vectors.shape != (sentences, manifest["dimension"]):
        raise IndexDamaged(f"{path}: {SENTENCES} holds {sentence_vectors.shape} vectors, the database "
                           f"{sentences} sentences of {manifest['dimension']} dimensions")
    vector_problem = vectors.verify(passage_ids)
    if vector_problem:
        raise IndexDamaged(f"{path}: {vector_problem} in {DATABASE}")
    return version


def require_model(version: IndexVersion, model: str) -> None:
    """Refuse to use ``version`` with any model but the one that built it (``model`` in canonical form)."""
    if model != version.manifest["model"]:
        raise ModelMismatch(
            f"the index at {version.path} was built with model {version.manifest['model']!r}, but {model!r} is "
            f"configured; use the same model (KAVOSH_MODEL / --model) or rebuild the index"
        )
