"""An update written by appending: the live version's files copied or linked, the new and re-embedded articles' rows added.

A merge (:func:`index.store.write_version` over :class:`index.rewrite.Rewrite`) writes every row of the archive
again: the database, FTS5's index, the vector index (IVF trained again) and the sentence vectors. Appending
copies the live version's databases byte for byte and adds to the copies only what changed: new passages get
the ids after the last one, the old passages of a re-embedded article become tombstones
(:mod:`index.tombstones`), and FTS5 adds the new rows to its own statistics and drops the dead ones. The vectors
are not copied at all: the live version's vector and sentence vector files are hard-linked and the new rows
written as parts of their own (:mod:`index.vectors.parts`, an IVF part with the same trained centroids;
:mod:`index.sentence_parts`). So an update costs copying the databases plus what it changes, not analyzing and
indexing the archive again (docs/design.md, "Updates"). The version is verified and switched to like any other.
"""
from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from index.articles import Article
from index.duplicates import duplicate_groups, text_key
from index.durable import copy_file, durable_file, fsync_file, link_or_copy, write_durably
from index.faults import crash_point
from index.layout import DATABASE, LEXICAL, MANIFEST, SENTENCES, file_facts
from index.lexical import LEXICAL_FORMAT, TABLES as LEXICAL_TABLES, append_lexical, insert_rows, stored_format
from index.sentence_parts import PARTS, part_name
from index.records import (ARTICLE_COLUMNS, ARTICLE_FIELDS, GROUP_INDEX_COLUMNS, GROUP_INDEXES, SCHEMA as RECORDS_SCHEMA, article_from_row,
                           content_hash)
from index.rewrite import Embedded
from index.segments import (EXTENDS, MAX_SEGMENTS, SEGMENTS, SEGMENTS_FROM, connect_version, extends_after,
                            segment_files, segment_name)
from index.store import IndexVersion, make_live, new_version_folder, now, open_version
from index.tantivy_lexical import tantivy_files, write_tantivy
from index.tombstones import MERGE_DELETED_SHARE, TOMBSTONES, Tombstones, rows_for
from index.vectors.base import VectorIndex
from index.vectors.factory import AUTO, choose_kind, vector_index_class
from index.vectors.parts import VECTOR_PARTS, indexes_of, read_vectors, vector_part_name

log = logging.getLogger(__name__)

# Past this share of a version's passages appended since its last merge, an update merges instead: the IVF lists
# were trained on the older passages, and FTS5 holds ever more small segments.
MERGE_APPENDED_SHARE = 0.3
# Past this many appended vector or sentence vector files, an update folds them into one (index.vectors.parts,
# index.sentence_parts): a search reads every vector part
MAX_PARTS = 16


def next_tombstones(live: IndexVersion, incoming: dict[str, Article], embedded: dict[str, Embedded],
                    deleted: Sequence[str]) -> Tombstones:
    """The live version's tombstones after this update: the ``deleted`` articles dead, the old passages of the
    ``embedded`` ones dead, and the incoming articles that had been deleted live again. What both
    :func:`merge_reason` and :func:`append_version` go by."""
    revived = [aid for aid in incoming if aid in live.tombstones.articles]  # their old passages stay dead
    with closing(live.connect()) as db:
        return live.tombstones.changing(db, deleted, embedded, revived)


def merge_reason(live: IndexVersion, tombstones: Tombstones, new_passages: int, vector_index: str = AUTO) -> str | None:
    """Why this update (adding ``new_passages``, leaving ``tombstones``) must write the whole version again (a
    merge) instead of appending; None when it can append."""
    total = live.manifest["passages"] + new_passages
    with closing(live.connect()) as db:
        lexical_format = stored_format(db)
        columns = {row[1] for row in db.execute("PRAGMA main.table_info(articles)")}
    wanted_kind = choose_kind(total, vector_index)
    if lexical_format != str(LEXICAL_FORMAT):
        return f"its lexical index has format {lexical_format}, this Kavosh writes {LEXICAL_FORMAT}"
    if "text_key" not in columns:
        return "it was written before duplicate keys were stored"
    if wanted_kind != live.manifest["vector_index"]:
        return f"its {live.manifest['vector_index']} vector index should now be {wanted_kind}"
    if len(tombstones.passages) > MERGE_DELETED_SHARE * total:
        return f"{len(tombstones.passages)} of its {total} passages would be dead"
    appended = live.manifest.get("appended", 0) + new_passages
    if appended > MERGE_APPENDED_SHARE * total:
        return f"{appended} of its {total} passages would be appended since its last merge"
    return None


def append_version(index_dir: Path, live: IndexVersion, incoming: dict[str, Article], embedded: dict[str, Embedded],
                   deleted: Sequence[str], tombstones: Tombstones, build_info: dict[str, Any],
                   segmented: bool) -> tuple[Path, int]:
    """Make live a version that is ``live`` with ``incoming`` articles written (added, or their rows replaced
    in place), the ``embedded`` ones' passages and vectors added, ``deleted`` articles dead, and ``tombstones``
    (:func:`next_tombstones`); ``segmented``: its rows go to a segment (:func:`writes_segments`). Returns the
    version's folder and its live passages. Call under ``index_lock``, after :func:`merge_reason` said None."""
    first = live.manifest["passages"]
    first_sentence = live.sentence_vectors.shape[0]
    order = [aid for aid in incoming if aid in embedded]  # new passages in the order the articles came
    passages = [passage for aid in order for passage in embedded[aid].passages]
    version_id, tmp = new_version_folder(index_dir)
    try:
        segments, linked, articles = _write_records(live, tmp, version_id, incoming, deleted, tombstones, passages,
                                                    first, first_sentence, segmented)
        crash_point("database-written")
        tantivy, linked_tantivy = _tantivy(live, tmp, first, {aid: incoming[aid] for aid in incoming if aid not in embedded},
                                           segments)
        linked += linked_tantivy
        crash_point("tantivy-written")
        backend = vector_index_class(live.manifest["vector_index"])
        new_vectors = np.concatenate([embedded[aid].vectors for aid in order]) if passages else None
        vector_parts, linked_vectors = _vector_parts(live, tmp, version_id, backend, new_vectors, first)
        linked += linked_vectors
        crash_point("vectors-written")
        parts, linked_sentences = _sentence_parts(live, tmp, version_id,
                                                  [embedded[aid].sentence_vectors for aid in order],
                                                  live.manifest["dimension"])
        linked += linked_sentences
        crash_point("sentences-written")
        if tombstones:
            write_durably(tmp / TOMBSTONES, tombstones.to_json())
        names = [DATABASE, *backend.files, *(part["file"] for part in vector_parts), LEXICAL, *segments, *tantivy,
                 SENTENCES, *parts]
        names += [TOMBSTONES] if tombstones else []
        manifest = {**live.manifest, **build_info, "version": version_id, "built_at": now(), "articles": articles,
                    "passages": first + len(passages),
                    "appended": live.manifest.get("appended", 0) + len(passages), EXTENDS: extends_after(live.manifest),
                    "deleted": {"articles": len(tombstones.articles), "passages": len(tombstones.passages)},
                    PARTS: parts, VECTOR_PARTS: vector_parts, SEGMENTS: segments,
                    # a linked file is the live version's own, checked when that was written: not read again
                    "files": {name: live.manifest["files"][name] if name in linked else file_facts(tmp / name)
                              for name in names}}
        for key, empty in (("deleted", not tombstones), (PARTS, not parts), (VECTOR_PARTS, not vector_parts),
                           (SEGMENTS, not segments)):
            if empty:
                manifest.pop(key)
        write_durably(tmp / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2).encode())
        crash_point("manifest-written")
        # the checksums were just computed from the files as written: checking them again would read the same
        # pages again (a second pass over the archive's bytes); counts, sizes and vector ids are checked
        open_version(tmp).close()
        final = make_live(index_dir, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("index version %s is live: %d passages appended, %d dead since the last merge", version_id,
             len(passages), len(tombstones.passages))
    return final, first + len(passages) - len(tombstones.passages)


def _tantivy(live: IndexVersion, tmp: Path, first: int, kept: dict[str, Article],
             segments: list[str]) -> tuple[list[str], list[str]]:
    """The version's tantivy index: the live version's linked, the passages from ``first`` on added, and the
    passages of the ``kept`` articles (incoming, not embedded again) whose category or date changed written again
    (the index filters by both); the whole index where the live version has none (written before it existed).
    Returns its files and those linked."""
    if not tantivy_files(live.manifest):
        return write_tantivy(tmp, segments=segments)
    with closing(live.connect()) as db:
        moved = [aid for aid, cat, day in rows_for(db, "SELECT id, cat, date FROM articles WHERE id IN", list(kept))
                 if (cat, day) != (kept[aid].cat, kept[aid].date)]
        renewed = [passage_id for (passage_id,) in rows_for(db, "SELECT id FROM passages WHERE article_id IN", moved)]
    return write_tantivy(tmp, first, live.path, renewed, segments)


def writes_segments(live: IndexVersion) -> bool:
    """Whether an update of ``live`` that appends writes a segment (:mod:`index.segments`) instead of copying its
    databases: where it has segments already, or where it is searched by tantivy (whose statistics cover
    appended passages; FTS5's would not) and its database has the duplicate-lookup indexes (made by copying
    where a version written before them lacks them)."""
    if segment_files(live.manifest):
        return True
    if not tantivy_files(live.manifest) or live.manifest["passages"] <= SEGMENTS_FROM:
        return False
    with closing(live.connect()) as db:
        indexes = {row[1] for row in db.execute("PRAGMA main.index_list(articles)")}
    return set(GROUP_INDEX_COLUMNS) <= indexes


def _write_records(live: IndexVersion, tmp: Path, version_id: str, incoming: dict[str, Article],
                   deleted: Sequence[str], tombstones: Tombstones, passages: list, first: int,
                   first_sentence: int, segmented: bool) -> tuple[list[str], list[str], int]:
    """Write the version's rows (its articles, passages, sentences and lexical rows) in one SQLite transaction:
    into a new segment, the live version's databases and segments linked (:func:`writes_segments`), else into
    copies of its databases. Returns the version's segments, the files linked from the live version, and the
    articles the version holds."""
    segments = segment_files(live.manifest)
    if segmented:
        folded = segments[1:] if len(segments) >= MAX_SEGMENTS else []
        segments = [name for name in segments if name not in folded]
        linked = [name for name in (DATABASE, LEXICAL, *segments) if link_or_copy(live.path / name, tmp / name)]
        name = segment_name(version_id)
        with closing(sqlite3.connect(tmp / name)) as created:
            created.executescript(RECORDS_SCHEMA + "".join(f"{statement};\n" for statement in GROUP_INDEXES) + LEXICAL_TABLES)
        db = connect_version(tmp, segments, writable=name)
        target, written = "new", [tmp / name]
    else:
        folded, linked = [], []
        for name in (DATABASE, LEXICAL):
            copy_file(live.path / name, tmp / name)
        db = sqlite3.connect(tmp / DATABASE, isolation_level=None)
        db.execute("ATTACH DATABASE ? AS lex", [str(tmp / LEXICAL)])
        for statement in GROUP_INDEXES:
            db.execute(statement)
        target, written = "main", [tmp / DATABASE, tmp / LEXICAL]
    try:
        folded_schemas = _attach_folded(db, live.path, folded)
        db.execute("BEGIN")
        _fold(db, folded_schemas)
        articles = _write_articles(db, target, incoming, live.tombstones.articles, live.manifest["articles"])
        _regroup(db, target, list(incoming), deleted, tombstones.articles)
        _write_passages(db, target, passages, first, first_sentence)
        texts = (f"{incoming[p.article_id].title}\n{p.text}" for p in passages)
        if segmented:  # the base's FTS5 rows stay as they are; a segmented version is searched by tantivy
            insert_rows(db, "new", texts, first)
        else:
            append_lexical(db, texts, first, tombstones.passages)
        db.execute("COMMIT")
    finally:
        db.close()
    for path in written:
        fsync_file(path)
    return segments + ([segment_name(version_id)] if segmented else []), linked, articles


def _attach_folded(db: sqlite3.Connection, live: Path, folded: list[str]) -> list[str]:
    """Attach the live version's ``folded`` segments, read-only; returns their schemas, oldest first. Before the
    transaction begins: SQLite attaches no database inside one."""
    for n, name in enumerate(folded):
        db.execute(f"ATTACH DATABASE ? AS folded{n}", (f"file:{live / name}?mode=ro",))
    return [f"folded{n}" for n in range(len(folded))]


def _fold(db: sqlite3.Connection, folded: list[str]) -> None:
    """Copy the rows of the ``folded`` segments (schemas, oldest first) into the segment being written, so that
    the version lists it in their place: a newer segment's row of an article replaces an older one's."""
    for schema in folded:
        db.execute(f"INSERT OR REPLACE INTO new.articles(rowid, {ARTICLE_COLUMNS}) "
                   f"SELECT rowid, {ARTICLE_COLUMNS} FROM {schema}.articles")
        db.execute(f"INSERT INTO new.passages SELECT * FROM {schema}.passages")
        db.execute(f"INSERT INTO new.sentences(rowid, passage_id, start, end) SELECT rowid, * FROM {schema}.sentences")
        db.execute(f"INSERT INTO new.lexical(rowid, tokens, script) SELECT id, c0, c1 FROM {schema}.lexical_content")
        db.execute(f"INSERT INTO new.lexical_stems(rowid, stems) SELECT id, c0 FROM {schema}.lexical_stems_content")


def _write_articles(db: sqlite3.Connection, target: str, incoming: dict[str, Article], deleted_before: frozenset[str],
                    stored_count: int) -> int:
    """Write each incoming article's row into the ``target`` schema: a live one's in its place (its ``rowid``),
    so that it keeps its place in the archive (and its duplicate group its representative), as a merge keeps
    it; a new one, or one in ``deleted_before`` (the live version's deleted articles), at the end, as a merge
    adds it. ``stored_count``: the rows the live version holds. Returns the rows the version then holds."""
    stored = {aid: (digest, key, group, place) for aid, digest, key, group, place in rows_for(
        db, "SELECT id, content_hash, text_key, duplicate_of, rowid FROM articles WHERE id IN", list(incoming))}
    end = 1 + max(db.execute(f"SELECT coalesce(max(rowid), 0) FROM {schema}.articles").fetchone()[0]
                  for schema in _schemas(db))
    for aid, a in incoming.items():
        known = stored.get(aid)
        key = known[1] if known and known[0] == content_hash(a) else text_key(a.text)  # same text: key kept
        if known and aid not in deleted_before:
            place, group = known[3], known[2]
        else:
            place, group, end = end, aid, end + 1
        db.execute(f"INSERT OR REPLACE INTO {target}.articles(rowid, {ARTICLE_COLUMNS}) VALUES "
                   f"(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   (place, aid, a.title, a.text, a.link, a.cat, a.subcat, json.dumps(a.tags, ensure_ascii=False),
                    a.date, a.lang, a.source, content_hash(a), group, key))
    return stored_count + sum(aid not in stored for aid in incoming)


def _schemas(db: sqlite3.Connection) -> list[str]:
    """The schemas of ``db`` that hold articles: the base database and any segments."""
    return [name for _, name, _ in db.execute("PRAGMA database_list") if name not in ("temp", "lex")]


def _regroup(db: sqlite3.Connection, target: str, changed: list[str], deleted: Sequence[str], dead: frozenset[str]) -> None:
    """Group again the duplicate groups the ``changed`` articles were in or now join by link or text, and
    those the ``deleted`` ones leave: the groups then are what a merge would make of them (but for articles
    deleted by tombstones alone, :func:`index.store.write_deletions`, which hold their groups together until
    an update touches them or a merge, as BM25's statistics count them). An article whose group changes has its
    row written into ``target`` (where a segment is written, copied there first)."""
    rows = rows_for(db, "SELECT duplicate_of, link, text_key FROM articles WHERE id IN", changed)
    groups = {group for group, _, _ in rows}
    groups |= {row[0] for row in rows_for(db, "SELECT duplicate_of FROM articles WHERE id IN", list(deleted))}
    links = sorted({link for _, link, _ in rows if link})
    groups |= {row[0] for row in rows_for(db, "SELECT duplicate_of FROM articles WHERE link IN", links)}
    groups |= {row[0] for row in rows_for(db, "SELECT duplicate_of FROM articles WHERE text_key IN",
                                          sorted({key for _, _, key in rows}))}
    fields = f"{ARTICLE_FIELDS}, text_key, rowid, duplicate_of"
    members = {row[0]: row for row in rows_for(db, f"SELECT {fields} FROM articles WHERE duplicate_of IN", sorted(groups))}
    members.update((row[0], row) for row in rows_for(db, f"SELECT {fields} FROM articles WHERE id IN", changed))
    live = sorted((row for aid, row in members.items() if aid not in dead), key=lambda row: row[-2])
    canonical = duplicate_groups([article_from_row(row[:-3]) for row in live], {row[0]: row[-3] for row in live})
    moved = [(group, aid) for aid, group in canonical.items() if group != members[aid][-1]]
    db.executemany(f"INSERT OR IGNORE INTO {target}.articles(rowid, {ARTICLE_COLUMNS}) "
                   f"SELECT rowid, {ARTICLE_COLUMNS} FROM articles WHERE id = ?", [(aid,) for _, aid in moved])
    db.executemany(f"UPDATE {target}.articles SET duplicate_of = ? WHERE id = ?", moved)


def _write_passages(db: sqlite3.Connection, target: str, passages: list, first: int, first_sentence: int) -> None:
    """The new passages with ids from ``first`` on, and their sentences as rows ``first_sentence`` on of the
    sentence vectors (a sentence's rowid is its row + 1, as a merge writes them), into the ``target`` schema."""
    db.executemany(f"INSERT INTO {target}.passages VALUES (?,?,?,?,?,?)",
                   ((first + i, p.article_id, p.position, p.start, p.end, p.text) for i, p in enumerate(passages)))
    spans = [(first + i, start, end) for i, p in enumerate(passages) for start, end in p.sentences]
    db.executemany(f"INSERT INTO {target}.sentences (rowid, passage_id, start, end) VALUES (?,?,?,?)",
                   ((first_sentence + n + 1, *span) for n, span in enumerate(spans)))


def _sentence_parts(live: IndexVersion, tmp: Path, version_id: str, blocks: list[np.ndarray],
                    dimension: int) -> tuple[list[str], list[str]]:
    """Put the version's sentence vector files in ``tmp``: the live version's hard-linked (copied where the file
    system refuses links), and a new part (:mod:`index.sentence_parts`) holding ``blocks``; past
    ``MAX_PARTS`` the live version's parts are folded into the new one (copying appended rows only).
    Returns the version's parts and the names linked from the live version."""
    parts = list(live.manifest.get(PARTS, []))
    carried: list[np.ndarray] = []
    if len(parts) >= MAX_PARTS:
        carried, parts = [np.load(live.path / name, mmap_mode="r") for name in parts], []
    linked = [name for name in (SENTENCES, *parts) if link_or_copy(live.path / name, tmp / name)]
    rows = carried + [block for block in blocks if len(block)]
    if rows:
        name = part_name(version_id)
        with durable_file(tmp / name) as handle:
            np.lib.format.write_array_header_1_0(handle, {
                "descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)), "fortran_order": False,
                "shape": (sum(len(block) for block in rows), dimension)})
            for block in rows:
                for start in range(0, len(block), 65536):  # a carried part is memory-mapped: read a slice at a time
                    handle.write(np.ascontiguousarray(block[start:start + 65536], dtype=np.float16).tobytes())
        parts.append(name)
    return parts, linked


def _vector_parts(live: IndexVersion, tmp: Path, version_id: str, backend: type[VectorIndex],
                  vectors: np.ndarray | None, first: int) -> tuple[list[dict[str, Any]], list[str]]:
    """Put the version's vector files in ``tmp``: the live version's hard-linked (copied where the file system
    refuses links), and a new part (:mod:`index.vectors.parts`) holding ``vectors`` under the passage ids from
    ``first`` on; past ``MAX_PARTS`` the live version's parts are folded into the new one (copying appended
    vectors only). Returns the version's parts and the names linked from the live version."""
    parts = list(live.manifest.get(VECTOR_PARTS, []))
    # the files as they are (an IVF index is mapped: its centroids are read, no list); not ``live.vectors``, which
    # would also check every id against the database, as opening the new version does anyway
    indexes = indexes_of(read_vectors(live.path, live.manifest))
    carried: list[VectorIndex] = []
    part_first = first
    if len(parts) >= MAX_PARTS:
        carried, part_first, parts = indexes[1:], parts[0]["first"], []
    linked = [name for name in (*backend.files, *(part["file"] for part in parts))
              if link_or_copy(live.path / name, tmp / name)]
    if carried or vectors is not None:
        part = indexes[0].empty_like()
        for old in carried:
            ids = old.ids()
            part.add(old.vectors(ids), ids)
        if vectors is not None:
            part.add(vectors, np.arange(first, first + len(vectors), dtype=np.int64))
        name = vector_part_name(backend, version_id)
        part.save(tmp, name)
        parts.append({"file": name, "first": part_first})
    return parts, linked

