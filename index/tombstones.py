"""Deleted articles and replaced passages of a version: marked, not removed, so that a change costs what it changes.

A deletion writes a new version whose files are hard links to the live version's (versions never change once
written) plus ``tombstones.json``: the deleted articles' ids and their passages' ids. An update that appends
(:mod:`index.append`) marks the old passages of an article it re-embeds the same way, the article itself staying
live. Readers drop those passages from every search and those articles from every page. BM25's statistics
still count a deletion's passages until the next update, which deletes their lexical rows from the copy it
writes, or a merge (``python -m index.update --rewrite``) writes a version without them.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from index.errors import IndexDamaged
from index.layout import sha256

TOMBSTONES = "tombstones.json"
# A deletion that would leave more than this share of a version's passages deleted merges instead (writes the
# version again without them): past it, searches would read mostly dead postings and dense pools would thin.
MERGE_DELETED_SHARE = 0.2
_ID_BATCH = 500  # ids per SQL lookup (SQLite's bound-parameter limit is far above)


def rows_for(db: sqlite3.Connection, sql: str, ids: Sequence[str | int]) -> list[tuple]:
    """The rows of ``sql``, which ends in ``IN``, for ``ids``: asked in batches, so any number of ids can be given."""
    rows: list[tuple] = []
    for start in range(0, len(ids), _ID_BATCH):
        batch = list(ids[start:start + _ID_BATCH])
        rows += db.execute(f"{sql} ({','.join('?' * len(batch))})", batch).fetchall()
    return rows


@dataclass(frozen=True)
class Tombstones:
    """The deleted article ids of a version, and the ids (sorted) of their passages and of the replaced
    passages of live articles."""

    articles: frozenset[str] = frozenset()
    passages: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def __bool__(self) -> bool:
        return bool(self.articles) or bool(len(self.passages))

    @cached_property
    def passage_set(self) -> frozenset[int]:
        """The dead passage ids, for dropping them from rows read by article."""
        return frozenset(self.passages.tolist())

    def mask(self, passages: int) -> np.ndarray | None:
        """True for each deleted passage of a version of ``passages`` passages; None when none is deleted."""
        if not self:
            return None
        deleted = np.zeros(passages, dtype=bool)
        deleted[self.passages] = True
        return deleted

    def adding(self, db: sqlite3.Connection, article_ids: Iterable[str]) -> "Tombstones":
        """These tombstones and those of ``article_ids`` (articles of the version ``db`` reads)."""
        new = sorted(set(article_ids) - self.articles)
        return Tombstones(self.articles | set(new), np.union1d(self.passages, _passages_of(db, new)))

    def changing(self, db: sqlite3.Connection, deleted: Iterable[str], replaced: Iterable[str],
                 revived: Iterable[str]) -> "Tombstones":
        """These tombstones after an update that deletes the ``deleted`` articles, re-embeds the ``replaced``
        ones (their passages now dead, the articles live) and adds back the ``revived`` ones (deleted before, so
        their old passages stay dead) of the version ``db`` reads."""
        gone = self.adding(db, deleted)
        return Tombstones(gone.articles - set(revived), np.union1d(gone.passages, _passages_of(db, sorted(set(replaced)))))

    def excluded(self, column: str) -> tuple[str, list[str]]:
        """An SQL condition (starting with AND) and its parameters that drop the deleted articles, ``column``
        naming the article id; nothing when none is deleted."""
        if not self.articles:
            return "", []
        return f" AND {column} NOT IN (SELECT value FROM json_each(?))", [json.dumps(sorted(self.articles))]

    def to_json(self) -> bytes:
        return json.dumps({"articles": sorted(self.articles), "passages": self.passages.tolist()}).encode()

    @classmethod
    def read(cls, folder: Path, manifest: dict) -> "Tombstones":
        """A version's tombstones (none when its manifest lists no tombstones file), checked against its
        manifest's counts."""
        facts = manifest.get("files", {}).get(TOMBSTONES)
        if facts is None:
            return cls()
        if sha256(folder / TOMBSTONES) != facts["sha256"]:  # small: always checked, not only when writing
            raise IndexDamaged(f"{folder}: {TOMBSTONES} does not match its checksum")
        try:
            data = json.loads((folder / TOMBSTONES).read_text(encoding="utf-8"))
            tombstones = cls(frozenset(data["articles"]), np.array(data["passages"], dtype=np.int64).reshape(-1))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexDamaged(f"{folder}: {TOMBSTONES} is unreadable ({exc})") from None
        expected = manifest.get("deleted", {})
        if (len(tombstones.articles), len(tombstones.passages)) != (expected.get("articles"), expected.get("passages")):
            raise IndexDamaged(f"{folder}: {TOMBSTONES} deletes {len(tombstones.articles)} articles and "
                               f"{len(tombstones.passages)} passages, the manifest says {expected}")
        if len(tombstones.passages) and not (0 <= tombstones.passages.min() and tombstones.passages.max() < manifest["passages"]):
            raise IndexDamaged(f"{folder}: {TOMBSTONES} names passages the version does not hold")
        return tombstones


def _passages_of(db: sqlite3.Connection, article_ids: Sequence[str]) -> np.ndarray:
    """The ids of every passage the version ``db`` reads holds for these articles."""
    return np.array([row[0] for row in rows_for(db, "SELECT id FROM passages WHERE article_id IN", article_ids)],
                    dtype=np.int64)
