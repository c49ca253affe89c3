"""Publishing an index version into Milvus: its lineage's collection created and filled once, then
brought in line with each later version by writing and deleting only the rows that differ."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pymilvus import MilvusClient
from tqdm import tqdm

from index.lexical import stems
from index.milvus.collection import (COMPLETE, FIELDS_CAT, INSERT_ROWS, MEAN_LENGTH, STEMS, SYNCED, WORDS, connect,
                                     create_collection, fields, properties, record, switch_live, version_collection)
from index.milvus.keys import KEY_COLUMNS, PassageKeys, row_key
from index.milvus.sparse import average_length, passage_vector
from index.store import IndexUnavailable, IndexVersion, open_index, open_version
from settings import Settings

log = logging.getLogger(__name__)

KEY_BATCH = 10_000  # keys per read and per delete call


@dataclass(frozen=True)
class Published:
    """What publishing a version did to its collection."""

    collection: str
    created: bool  # the collection was new (a rebuild's version); otherwise it was brought in line in place
    inserted: int  # rows written (upserted)
    deleted: int
    rows: int  # rows the version holds, and the collection now holds
    drift: float  # the version's mean passage length over the one the collection's BM25 weights use, less 1


def publish(version: IndexVersion, settings: Settings, client: MilvusClient | None = None,
            progress: bool = False) -> Published:
    """Make Milvus hold exactly ``version``'s rows and point the live alias at their collection.

    A rebuild's version starts a lineage, so its collection is new: filled, loaded, marked complete,
    and only then made live. An update's version shares its lineage's collection: the keys it holds
    are compared with the version's, the missing rows written first, then the rows no longer wanted
    deleted. The keys held are those of the version the collection last held exactly (recorded as
    :data:`SYNCED`, read from that version's folder, usually the one before); when that is unknown (a
    sync was cut short) or its folder is gone, they are read from Milvus, which is what repairs an
    interrupted sync: publishing again finishes it.
    """
    client = client or connect(settings)
    name = version_collection(settings, version)
    rows = _rows(version)
    keys = np.array([row[1] for row in rows], dtype=np.int64)
    created = not client.has_collection(name)
    if created:
        create_collection(client, name, int(version.manifest["dimension"]))
    else:
        client.load_collection(name)  # reading its keys needs it loaded: a restarted Milvus (Lite) holds it released
    facts = properties(client, name)
    mean_length = average_length(tokens.split() for *_, tokens in rows)
    if MEAN_LENGTH not in facts:  # recorded before any row, so that a fill cut short resumes with it
        facts[MEAN_LENGTH] = repr(mean_length)
        record(client, name, **{MEAN_LENGTH: facts[MEAN_LENGTH]})
    if facts.get(SYNCED) == version.manifest["version"]:
        held = keys
    else:
        held = np.zeros(0, dtype=np.int64) if created else _held(client, name, version, facts.get(SYNCED, "none"))
        record(client, name, **{SYNCED: "none"})  # before any write: a sync cut short claims no version
    missing = [row for row, wanted in zip(rows, ~np.isin(keys, held)) if wanted]
    gone = held[~np.isin(held, keys)]
    with_stems = STEMS in fields(client, name)
    if not with_stems:
        log.warning("Milvus collection %s was made before stems: hybrid search there ranks without them until a "
                    "rebuild starts a new collection", name)
    _insert(client, name, version, missing, float(facts[MEAN_LENGTH]), with_stems, progress)
    for start in range(0, len(gone), KEY_BATCH):
        client.delete(name, ids=gone[start:start + KEY_BATCH].tolist())
    client.load_collection(name)  # a no-op where it is loaded
    record(client, name, **{SYNCED: version.manifest["version"], COMPLETE: "true"})
    switch_live(client, settings, name)
    drift = mean_length / float(facts[MEAN_LENGTH]) - 1 if float(facts[MEAN_LENGTH]) else 0.0
    log.info("Milvus collection %s holds version %s: %d passages (%d rows written, %d deleted); BM25 mean "
             "length %+.1f%% from the collection's", name, version.manifest["version"], len(rows), len(missing),
             len(gone), 100 * drift)
    return Published(name, created, len(missing), len(gone), len(rows), drift)


def publish_live(index_dir: Path, settings: Settings, progress: bool = False) -> Published:
    """Publish the live version of ``index_dir`` (what rebuild and update do when KAVOSH_BACKEND=milvus)."""
    version = open_index(index_dir, load_vectors=False)  # vectors are read only for the rows inserted
    try:
        return publish(version, settings, progress=progress)
    finally:
        version.close()


def _held(client: MilvusClient, name: str, version: IndexVersion, synced: str) -> np.ndarray:
    """The keys the collection holds: the synced version's, from its folder beside ``version``'s (cheap),
    or else read from Milvus (a scan of the collection's keys)."""
    folder = version.path.parent / synced
    if synced != "none" and folder.is_dir():
        try:
            previous = open_version(folder, load_vectors=False)
            db = previous.connect()
            try:
                return PassageKeys.read(db, previous.tombstones.passage_set).keys  # Milvus dropped the dead ones
            finally:
                db.close()
        except IndexUnavailable as exc:
            log.warning("cannot read version %s that Milvus collection %s holds (%s); reading its keys from Milvus",
                        synced, name, exc)
    return held_keys(client, name)


def held_keys(client: MilvusClient, name: str) -> np.ndarray:
    """Every key a collection holds (read in batches; only the keys travel), including the latest writes."""
    found: list[int] = []
    batches = client.query_iterator(name, batch_size=KEY_BATCH, output_fields=["id"], consistency_level="Strong")
    try:
        while batch := batches.next():
            found.extend(row["id"] for row in batch)
    finally:
        batches.close()
    return np.array(found, dtype=np.int64)


def _rows(version: IndexVersion) -> list[tuple]:
    """(passage id, key, cat, date, terms) of every passage of ``version`` (but those of articles deleted since
    its last merge, and replaced passages: Milvus drops their rows), in passage order."""
    live, parameters = version.tombstones.excluded("a.id")
    db = version.connect()
    try:
        rows = db.execute(f"SELECT p.id, {KEY_COLUMNS}, l.c0 FROM passages p "
                          "JOIN articles a ON a.id = p.article_id JOIN lexical_content l ON l.id = p.id "
                          f"WHERE 1{live} ORDER BY p.id", parameters).fetchall()
    finally:
        db.close()
    dead = version.tombstones.passage_set  # replaced passages of live articles (index.append)
    return [(passage_id, row_key(article_id, content, position, cat, date_text), cat, date_text, tokens)
            for passage_id, article_id, content, position, cat, date_text, tokens in rows if passage_id not in dead]


def _insert(client: MilvusClient, name: str, version: IndexVersion, rows: list[tuple], mean_length: float,
            with_stems: bool, progress: bool) -> None:
    """Write rows with their vectors (read from the version) and BM25 weights of words and, ``with_stems``,
    of their stems (both at the collection's mean length: a passage has as many stems as words). Upserts,
    so that a row written twice (a retried sync) stays one row."""
    with tqdm(total=len(rows), unit="passage", desc="publishing to Milvus", disable=not progress or not rows) as bar:
        for start in range(0, len(rows), INSERT_ROWS):
            batch = rows[start:start + INSERT_ROWS]
            vectors = version.vectors.vectors(np.array([row[0] for row in batch], dtype=np.int64))
            written = []
            for (_, key, cat, date_text, tokens), vector in zip(batch, vectors):
                row = {"id": key, "vector": vector.tolist(), WORDS: passage_vector(tokens.split(), mean_length),
                       "cat": cat[:FIELDS_CAT], "date": date_text[:10]}
                if with_stems:
                    row[STEMS] = passage_vector(stems(tokens.split()), mean_length)
                written.append(row)
            client.upsert(name, written)
            bar.update(len(batch))
