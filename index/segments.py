"""A version's database read as one from the files that hold it: ``index.sqlite`` and ``lexical.sqlite`` as a
rebuild or merge wrote them, then the segments appending updates wrote (``records-<version>.sqlite``, listed in
the manifest's ``segments``, oldest first).

Above :data:`SEGMENTS_FROM` passages an appending update (:mod:`index.append`) hard-links the live version's
databases and writes only what it changes into a segment of its own: its new and changed articles' rows, its new
passages and sentences, and their lexical rows. Copying two databases of 5 GB at 10^6 passages to add a few rows
was most of an update's time (docs/benchmarks.md). A connection attaches the segments and shadows the tables
every reader queries (``articles``, ``passages``, ``sentences``, and the lexical rows ``lexical_content`` and
``lexical_stems_content``) with TEMP views over all the files, so readers see one database: an article's row in
a newer segment replaces an older one (an article updated in place keeps its ``rowid``, its place in the
archive), passages and sentences are only ever added. SQLite pushes a query's conditions into each part of
such a view, so a lookup by id stays one index search per file (docs/design.md, "Updates").

FTS5's own statistics cover ``lexical.sqlite`` only, so a version with segments is searched by tantivy, whose
index the update extends (:func:`search.backends.lexical_engine`); a merge writes one database of each again.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from index.layout import DATABASE, LEXICAL
from index.lexical_search import TANTIVY_FROM

SEGMENTS = "segments"  # the manifest's list of segment files, oldest first
# the manifest's ids of the versions whose every row this one holds at the same ids (an appending update's live
# version and those it extended, a deletion's), newest last; the last EXTENDS_KEPT, for a server that follows
# updates a version or two behind; a merge or rebuild starts again with none
EXTENDS = "extends"
EXTENDS_KEPT = 64
SEGMENTS_FROM = TANTIVY_FROM  # an update appends into a segment above this many passages (where tantivy searches)
# Past this many segments an update folds all but the first into its own (copying appended rows only): each one is
# an attached database (SQLite attaches at most 10: the lexical database, the segments, the one being written)
MAX_SEGMENTS = 8
# the base file's schema of each table a segment adds rows to, and the columns its view reads; ``rowid`` is
# named where readers rely on it (an article's place, a sentence's vector row)
VIEWS = {
    "articles": ("main", "rowid AS rowid, *"),
    "passages": ("main", "*"),
    "sentences": ("main", "rowid AS rowid, *"),
    "lexical_content": ("lex", "*"),  # FTS5's content tables: c0 terms (and c1 script), by passage id
    "lexical_stems_content": ("lex", "*"),
}


def segment_name(version_id: str) -> str:
    """The file an appending update that writes version ``version_id`` puts its rows in."""
    return f"records-{version_id}.sqlite"


def segment_files(manifest: dict[str, Any]) -> list[str]:
    return list(manifest.get(SEGMENTS, []))


def connect_version(folder: Path, segments: Sequence[str], writable: str | None = None) -> sqlite3.Connection:
    """A connection to the version being read or written in ``folder``: its base database as ``main`` and its
    lexical database as ``lex``, both read-only, and its ``segments`` read as one with them
    (:func:`attach_segments`; ``writable`` names the segment being written)."""
    db = sqlite3.connect(f"file:{folder / DATABASE}?mode=ro", uri=True, check_same_thread=False,
                         isolation_level=None if writable else "")
    db.execute("ATTACH DATABASE ? AS lex", (f"file:{folder / LEXICAL}?mode=ro",))
    attach_segments(db, folder, segments, writable)
    return db


def segment_schemas(count: int) -> list[str]:
    """The schema names :func:`attach_segments` gives a version's ``count`` segments, oldest first."""
    return [f"s{n}" for n in range(count)]


def attach_segments(db: sqlite3.Connection, folder: Path, names: Sequence[str], writable: str | None = None) -> None:
    """Attach the segments ``names`` of the version in ``folder`` (read-only) to ``db``, which has the base
    database as ``main`` and the lexical one as ``lex``, and the segment ``writable`` (being written, last) as
    ``new`` when given; then create the views that read them all as one."""
    schemas = segment_schemas(len(names))
    for schema, name in zip(schemas, names):
        db.execute(f"ATTACH DATABASE ? AS {schema}", (f"file:{folder / name}?mode=ro",))
    if writable is not None:
        db.execute("ATTACH DATABASE ? AS new", (f"file:{folder / writable}",))
        schemas.append("new")
    create_views(db, schemas)


def row_counts(db: sqlite3.Connection, count: int) -> tuple[int, int, int]:
    """The articles, passages and sentences a version with ``count`` segments holds, counted file by file (each
    count an index scan; through the views, a scan of every row: 2 s at 10^6 passages). An article with rows in
    several files counts once."""
    schemas = ("main", *segment_schemas(count))
    passages, sentences = (sum(db.execute(f"SELECT count(*) FROM {schema}.{table}").fetchone()[0] for schema in schemas)
                           for table in ("passages", "sentences"))
    ids = " UNION ".join(f"SELECT id FROM {schema}.articles" for schema in schemas[1:])
    added = db.execute(f"SELECT count(*) FROM ({ids}) WHERE id NOT IN (SELECT id FROM main.articles)").fetchone()[0] \
        if ids else 0
    return db.execute("SELECT count(*) FROM main.articles").fetchone()[0] + added, passages, sentences


def create_views(db: sqlite3.Connection, segments: Sequence[str]) -> None:
    """TEMP views named as the tables they shadow, reading the base database and the ``segments`` (schema names,
    oldest first); none where there are no segments."""
    if not segments:
        return
    for table, (base, columns) in VIEWS.items():
        if table == "articles":  # the newest row of each article
            newest_first = [*reversed(segments), base]
            parts = [f"SELECT {columns} FROM {schema}.{table}" +
                     "".join((" WHERE " if n == 0 else " AND ") + f"id NOT IN (SELECT id FROM {newer}.{table})"
                             for n, newer in enumerate(newest_first[:i]))
                     for i, schema in enumerate(newest_first)]
        else:
            parts = [f"SELECT {columns} FROM {schema}.{table}" for schema in (base, *segments)]
        db.execute(f"CREATE TEMP VIEW {table} AS " + " UNION ALL ".join(parts))


def extends_after(live: dict[str, Any]) -> list[str]:
    """The :data:`EXTENDS` of a version written from the ``live`` version's manifest by appending or deleting."""
    return [*live.get(EXTENDS, []), live["version"]][-EXTENDS_KEPT:]


@dataclass(frozen=True)
class AddedRows:
    """The rows a version holds beyond an older one it extends, read from the segments the older one lacks: the
    articles written since (new, re-embedded, regrouped, recategorized; the newest row of each, in no order), the
    passages and sentences added after the older version's last, and the new passages' scripts."""

    articles: list[tuple[str, str, str | None, str | None]]  # (id, duplicate_of, cat, date)
    passages: list[tuple[int, str]]  # (passage id, article id), ascending ids from the older version's count
    sentences: np.ndarray  # (passage id, start, end) rows, in row order from the older version's count
    scripts: list[tuple[int, str]]  # (passage id, dominant script) of the new passages


def rows_added(db: sqlite3.Connection, manifest: dict[str, Any], older: dict[str, Any],
               older_sentences: int) -> AddedRows | None:
    """What the version of ``manifest`` (read through ``db``, its connection) holds beyond the ``older`` version
    (its manifest; ``older_sentences`` its sentence rows), or None where it does not extend ``older`` through
    segments (a merge or rebuild since, or an update that copied the databases): then every row must be read.
    A server following an update reads this instead of every row of the archive (docs/design.md, "Updates")."""
    if older["version"] not in manifest.get(EXTENDS, []) or not segment_files(manifest):
        return None
    kept = set(segment_files(older))
    # a segment the older version lacks holds rows written since, and the rows of the segments it folded: the
    # articles' rows are read again harmlessly, the passages and sentences from the older version's last on (a
    # sentence's rowid is its vector row + 1)
    schemas = [schema for schema, name in zip(segment_schemas(len(segment_files(manifest))), segment_files(manifest))
               if name not in kept]
    first = int(older["passages"])
    articles: dict[str, tuple[str, str, str | None, str | None]] = {}
    passages: list[tuple[int, str]] = []
    sentences: list[tuple[int, int, int]] = []
    scripts: list[tuple[int, str]] = []
    for schema in schemas:  # oldest first: a newer segment's row of an article replaces an older one's
        rows = db.execute(f"SELECT id, duplicate_of, cat, date FROM {schema}.articles")
        articles.update((row[0], tuple(row)) for row in rows)
        passages += map(tuple, db.execute(f"SELECT id, article_id FROM {schema}.passages WHERE id >= ?", (first,)))
        sentences += map(tuple, db.execute(f"SELECT passage_id, start, end FROM {schema}.sentences WHERE rowid > ? "
                                           "ORDER BY rowid", (older_sentences,)))
        scripts += map(tuple, db.execute(f"SELECT id, c1 FROM {schema}.lexical_content WHERE id >= ?", (first,)))
    return AddedRows(list(articles.values()), sorted(passages),
                     np.array(sentences, dtype=np.int64).reshape(-1, 3), scripts)
