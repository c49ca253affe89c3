"""The index folder on disk: versions written aside, verified, then switched to atomically.

Layout of an index folder::

    INDEX/current            symlink to the live version (replaced atomically)
    INDEX/versions/<id>/     manifest.json, vectors.faiss, index.sqlite, lexical.sqlite (BM25, see index.lexical)
    INDEX/versions/.tmp-*    a version being written; removed when a later run finds it
    INDEX/.lock              held by the one rebuild or update allowed at a time

Readers resolve ``current`` once and keep using that version, so a switch never mixes two versions.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import signal
import sqlite3
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from index.articles import Article
from index.durable import fsync_dir as _fsync_dir, fsync_file as _fsync_file, write_durably as _write_durably
from index.lexical import check_lexical, write_lexical
from index.passages import Passage
from index.persian import normalize
from index.vectors.base import VectorIndex, VectorIndexError
from index.vectors.factory import AUTO, DEFAULT_KIND, choose_kind, vector_index_class

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 2: lexical.sqlite and articles.duplicate_of; 3: sentences and their vectors
MANIFEST = "manifest.json"
DATABASE = "index.sqlite"
LEXICAL = "lexical.sqlite"
SENTENCES = "sentences.npy"  # one float16 vector per row of the sentences table, in rowid order
KEEP_VERSIONS = 2  # the live version and the one before it, for readers still finishing on it

SCHEMA = """
CREATE TABLE articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    link TEXT NOT NULL,
    cat TEXT NOT NULL,
    subcat TEXT NOT NULL,
    tags TEXT NOT NULL,
    date TEXT,
    lang TEXT,
    source TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    duplicate_of TEXT NOT NULL  -- the first article with the same link or the same normalized text; itself if none
);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY,
    article_id TEXT NOT NULL REFERENCES articles(id),
    position INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE TABLE sentences (
    passage_id INTEGER NOT NULL REFERENCES passages(id),
    start INTEGER NOT NULL,  -- offsets in the passage's text
    end INTEGER NOT NULL
);
CREATE INDEX passages_by_article ON passages(article_id, position);
CREATE INDEX sentences_by_passage ON sentences(passage_id);
CREATE INDEX articles_by_cat ON articles(cat);
CREATE INDEX articles_by_date ON articles(date);
"""


def crash_point(name: str) -> None:
    """Fault injection for the crash tests: ``KAVOSH_CRASH_AT=name`` kills the process here with SIGKILL,
    exactly as a power cut or the OOM killer would."""
    if os.environ.get("KAVOSH_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


class IndexUnavailable(Exception):
    """The index cannot be used; the message says what is wrong and what to do."""


class IndexMissing(IndexUnavailable):
    """No index has been built in this folder yet."""


class IndexDamaged(IndexUnavailable):
    """The live index is incomplete or inconsistent."""


class IndexBusy(IndexUnavailable):
    """Another rebuild or update holds the index folder."""


def content_hash(article: Article) -> str:
    """Fingerprint of what gets embedded, so an unchanged article can be recognised later."""
    return hashlib.sha256(f"{article.title}\n{article.text}".encode()).hexdigest()


@contextmanager
def index_lock(index_dir: Path) -> Iterator[None]:
    """Hold the folder's write lock; refuse at once when another rebuild or update holds it."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise IndexBusy(f"{index_dir} is being rebuilt or updated by {holder}; wait for it to finish") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)


def remove_leftovers(index_dir: Path) -> None:
    """Delete what an interrupted run left behind and versions no reader needs any more."""
    versions = index_dir / "versions"
    if not versions.is_dir():
        return
    for path in versions.glob(".tmp-*"):
        log.info("removing unfinished version %s", path.name)
        shutil.rmtree(path, ignore_errors=True)
    for link in index_dir.glob(".current-*"):
        link.unlink(missing_ok=True)
    live = live_path(index_dir)
    finished = sorted((p for p in versions.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)
    for path in finished[:-KEEP_VERSIONS]:
        if path != live:
            shutil.rmtree(path, ignore_errors=True)


def write_version(
    index_dir: Path,
    articles: Sequence[Article],
    passages: Sequence[Passage],
    vectors: np.ndarray,
    sentence_vectors: np.ndarray,
    model: str,
    build_info: dict[str, Any],
    vector_index: str = AUTO,
) -> Path:
    """Write a complete version beside the live one, verify it, then make it live. Call under :func:`index_lock`.
    ``sentence_vectors`` holds the vectors of every passage's sentences, in passage order; ``vector_index``
    names the vector backend (:mod:`index.vectors.factory`), or ``auto`` to choose it by size."""
    backend = vector_index_class(choose_kind(len(passages), vector_index))
    if len(passages) != len(vectors):
        raise ValueError(f"{len(passages)} passages but {len(vectors)} vectors")
    if sum(len(p.sentences) for p in passages) != len(sentence_vectors):
        raise ValueError(f"{sum(len(p.sentences) for p in passages)} sentences but {len(sentence_vectors)} sentence vectors")
    version_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    versions = index_dir / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    tmp = versions / f".tmp-{version_id}"
    tmp.mkdir()
    try:
        ids = np.arange(len(passages), dtype=np.int64)
        _write_database(tmp / DATABASE, articles, passages)
        crash_point("database-written")
        vector_index = backend.build(vectors, ids)
        vector_index.save(tmp)
        crash_point("vectors-written")
        by_id = {article.id: article for article in articles}
        write_lexical(tmp / LEXICAL, (f"{by_id[p.article_id].title}\n{p.text}" for p in passages))
        _fsync_file(tmp / LEXICAL)
        crash_point("lexical-written")
        with open(tmp / SENTENCES, "wb") as handle:
            np.save(handle, sentence_vectors.astype(np.float16))
            handle.flush()
            os.fsync(handle.fileno())
        manifest = {
            "format": FORMAT_VERSION,
            "version": version_id,
            "model": model,
            "dimension": int(vectors.shape[1]),
            "vector_index": backend.kind,
            "vector_parameters": vector_index.parameters,
            "articles": len(articles),
            "passages": len(passages),
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "files": {name: _file_facts(tmp / name) for name in (DATABASE, *backend.files, LEXICAL, SENTENCES)},
            **build_info,
        }
        _write_durably(tmp / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2).encode())
        crash_point("manifest-written")
        open_version(tmp, verify_checksums=True).close()
        crash_point("verified")
        final = versions / version_id
        os.rename(tmp, final)
        _fsync_dir(versions)
        crash_point("renamed")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _switch(index_dir, final)
    crash_point("switched")
    log.info("index version %s is live: %d articles, %d passages", version_id, len(articles), len(passages))
    remove_leftovers(index_dir)
    return final


def _write_database(path: Path, articles: Sequence[Article], passages: Sequence[Passage]) -> None:
    db = sqlite3.connect(path)
    try:
        db.executescript(SCHEMA)
        canonical = duplicate_groups(articles)
        db.executemany(
            "INSERT INTO articles VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                (a.id, a.title, a.text, a.link, a.cat, a.subcat, json.dumps(a.tags, ensure_ascii=False),
                 a.date, a.lang, a.source, content_hash(a), canonical[a.id])
                for a in articles
            ),
        )
        db.executemany(
            "INSERT INTO passages VALUES (?,?,?,?,?,?)",
            ((i, p.article_id, p.position, p.start, p.end, p.text) for i, p in enumerate(passages)),
        )
        db.executemany(
            "INSERT INTO sentences (passage_id, start, end) VALUES (?,?,?)",
            ((i, start, end) for i, p in enumerate(passages) for start, end in p.sentences),
        )
        db.commit()
    finally:
        db.close()
    _fsync_file(path)


def duplicate_groups(articles: Sequence[Article]) -> dict[str, str]:
    """Each article's group representative: articles sharing a link, or whose normalized text is the same
    (the same story published twice), form one group, represented by its first article."""
    parent: dict[str, str] = {}

    def find(article_id: str) -> str:
        while parent[article_id] != article_id:
            parent[article_id] = parent[parent[article_id]]
            article_id = parent[article_id]
        return article_id

    order = {article.id: n for n, article in enumerate(articles)}
    first_with: dict[tuple[str, str], str] = {}
    for article in articles:
        parent.setdefault(article.id, article.id)
        keys = [("text", hashlib.sha256(normalize(article.text).encode()).hexdigest())]
        if article.link:
            keys.append(("link", article.link))
        for key in keys:
            other = first_with.setdefault(key, article.id)
            a, b = find(other), find(article.id)
            if a != b:  # the earlier article stays the representative
                early, late = sorted((a, b), key=order.__getitem__)
                parent[late] = early
    return {article.id: find(article.id) for article in articles}


def _switch(index_dir: Path, version: Path) -> None:
    link = index_dir / f".current-{version.name}"
    link.unlink(missing_ok=True)
    link.symlink_to(version.relative_to(index_dir))
    crash_point("link-made")
    os.replace(link, index_dir / "current")
    _fsync_dir(index_dir)


def live_path(index_dir: Path) -> Path | None:
    """The version folder ``index_dir/current`` points at, or None when there is no live version."""
    current = index_dir / "current"
    return current.resolve() if current.is_symlink() else None


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
        if verify_checksums and _sha256(actual) != facts["sha256"]:
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


def _file_facts(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": _sha256(path)}


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class ModelMismatch(IndexUnavailable):
    """The index was built with another model than the one configured."""


def require_model(version: IndexVersion, model: str) -> None:
    """Refuse to use ``version`` with any model but the one that built it (``model`` in canonical form)."""
    if model != version.manifest["model"]:
        raise ModelMismatch(
            f"the index at {version.path} was built with model {version.manifest['model']!r}, but {model!r} is "
            f"configured; use the same model (KAVOSH_MODEL / --model) or rebuild the index"
        )


def stored_articles(version: IndexVersion) -> dict[str, Article]:
    """Every article of a version, in index order, as it was ingested."""
    db = version.connect()
    try:
        rows = db.execute("SELECT id, title, text, link, cat, subcat, tags, date, lang, source FROM articles ORDER BY rowid")
        return {
            row["id"]: Article(row["id"], row["title"], row["text"], row["link"], row["cat"], row["subcat"],
                               json.loads(row["tags"]), row["date"], row["lang"], row["source"])
            for row in rows
        }
    finally:
        db.close()


def stored_passages(version: IndexVersion) -> dict[str, tuple[list[Passage], np.ndarray, np.ndarray]]:
    """Each article's passages in order, with their vectors and their sentences' vectors, read back from a version."""
    db = version.connect()
    try:
        sentences: dict[int, list[tuple[int, int, int]]] = {}
        for rowid, passage_id, start, end in db.execute("SELECT rowid, passage_id, start, end FROM sentences ORDER BY rowid"):
            sentences.setdefault(passage_id, []).append((rowid - 1, start, end))
        grouped: dict[str, list[tuple[int, Passage, list[int]]]] = {}
        for row in db.execute("SELECT id, article_id, position, start, end, text FROM passages ORDER BY article_id, position"):
            spans = sentences.get(row["id"], [])
            passage = Passage(row["article_id"], row["position"], row["start"], row["end"], row["text"],
                              tuple((start, end) for _, start, end in spans))
            grouped.setdefault(row["article_id"], []).append((row["id"], passage, [r for r, _, _ in spans]))
    finally:
        db.close()
    return {
        article_id: (
            [p for _, p, _ in items],
            version.vectors.vectors(np.array([passage_id for passage_id, _, _ in items], dtype=np.int64)),
            np.array(version.sentence_vectors[[r for _, _, rows in items for r in rows]], dtype=np.float32),
        )
        for article_id, items in grouped.items()
    }
