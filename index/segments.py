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
from pathlib import Path
from typing import Any, Sequence

from index.layout import DATABASE, LEXICAL
from index.lexical_search import TANTIVY_FROM

SEGMENTS = "segments"  # the manifest's list of segment files, oldest first
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
