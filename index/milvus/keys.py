"""Milvus row keys: one per passage, the same in every version while the passage is unchanged, and the
map from keys back to one version's passage ids.

A version numbers its passages 0..n-1 afresh (an update renumbers them), so Milvus rows are keyed by
what makes a row's content instead: the article, the hash of what was embedded, the passage's
position in the article, and the fields Milvus filters on. An update then rewrites only the rows of
articles that changed, and a server maps each key it gets back to its own version's passage id.
"""
from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass

import numpy as np

#: What a row's key is made of, as SQL over ``passages p JOIN articles a``, in :func:`row_key`'s order
KEY_COLUMNS = "a.id, a.content_hash, p.position, a.cat, coalesce(a.date, '')"
KEY_BITS = 63  # Milvus primary keys are signed 64-bit integers


def row_key(article_id: str, content_hash: str, position: int, cat: str, date: str) -> int:
    """A passage's key: a 63-bit hash of its content's identity (collisions: about n²/2⁶⁴, 5·10⁻⁸ at a
    million passages). The filter fields are part of it, so a changed category or date rewrites the row."""
    text = "\x1f".join((article_id, content_hash, str(position), cat, date))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") & ((1 << KEY_BITS) - 1)


@dataclass(frozen=True)
class PassageKeys:
    """One version's keys sorted, with each key's passage id, and the reverse, both looked up by binary search."""

    keys: np.ndarray  # int64, sorted
    passages_of_keys: np.ndarray  # int64: the passage id of keys[i]
    passage_ids: np.ndarray  # int64, sorted
    keys_of_passages: np.ndarray  # int64: the key of passage_ids[i]

    @classmethod
    def read(cls, db: sqlite3.Connection, dead: frozenset[int] = frozenset()) -> "PassageKeys":
        """The keys of every live passage of the version ``db`` is connected to (read once per version); ``dead``:
        its tombstoned passages (index.tombstones), left out: a re-embedded article's old passage has the key
        of its new one at the same position, which Milvus holds."""
        rows = [row for row in db.execute(f"SELECT p.id, {KEY_COLUMNS} FROM passages p "
                                          "JOIN articles a ON a.id = p.article_id ORDER BY p.id")
                if row[0] not in dead]
        return cls.of(np.array([row[0] for row in rows], dtype=np.int64),
                      np.array([row_key(*row[1:]) for row in rows], dtype=np.int64))

    @classmethod
    def of(cls, passage_ids: np.ndarray, keys: np.ndarray) -> "PassageKeys":
        by_id, by_key = np.argsort(passage_ids, kind="stable"), np.argsort(keys, kind="stable")
        return cls(keys[by_key], passage_ids[by_key], passage_ids[by_id], keys[by_id])

    def __len__(self) -> int:
        return len(self.keys)

    def passages(self, keys: np.ndarray) -> np.ndarray:
        """The passage id of each key, -1 for a key this version does not hold (a row another version
        wrote, seen while an update is being synchronized)."""
        return _lookup(self.keys, self.passages_of_keys, np.asarray(keys, dtype=np.int64))

    def keys_of(self, passage_ids: np.ndarray) -> np.ndarray:
        """The key of each passage id (KeyError for an id the version does not hold)."""
        found = _lookup(self.passage_ids, self.keys_of_passages, np.asarray(passage_ids, dtype=np.int64))
        if (found == -1).any():
            raise KeyError(f"no passage {int(np.asarray(passage_ids)[found == -1][0])} in this version")
        return found


def _lookup(sorted_from: np.ndarray, to: np.ndarray, values: np.ndarray) -> np.ndarray:
    at = np.clip(np.searchsorted(sorted_from, values), 0, max(len(sorted_from) - 1, 0))
    if not len(sorted_from):
        return np.full(len(values), -1, dtype=np.int64)
    return np.where(sorted_from[at] == values, to[at], -1)
