"""Category and date of every passage as arrays, read once per version, so a filter costs array work, not SQL."""
from __future__ import annotations

import copy
import sqlite3
from datetime import date

import numpy as np

from index.filter import Filter
from index.segments import AddedRows

UNDATED = np.iinfo(np.int32).min  # below every real day: a date bound drops undated passages
NO_CATEGORY = -1


class FilterIndex:
    """For each passage id its category's code and its article's day (proleptic ordinal): 8 bytes a passage.

    A filter becomes the allowed passage ids by vectorized comparisons over these arrays (about a
    millisecond per million passages), instead of a SQL join over every passage of the category or
    date range on each query, which grew with the archive (seconds at 10^5 passages, issue 12)."""

    def __init__(self, db: sqlite3.Connection, passages: int, deleted: np.ndarray | None = None) -> None:
        codes: dict[str, int] = {}
        self.category_of = np.full(passages, NO_CATEGORY, dtype=np.int32)
        self.day_of = np.full(passages, UNDATED, dtype=np.int32)
        rows = db.execute("SELECT p.id, a.cat, a.date FROM passages p JOIN articles a ON a.id = p.article_id")
        for passage_id, cat, day in rows:
            self.category_of[passage_id] = codes.setdefault(cat, len(codes))
            if day:
                self.day_of[passage_id] = date.fromisoformat(day).toordinal()
        self.codes = codes
        self.deleted = deleted  # passages of deleted articles (index.tombstones): no filter keeps them

    def extended(self, added: AddedRows, article_of: np.ndarray, positions: np.ndarray,
                 deleted: np.ndarray | None) -> "FilterIndex":
        """This index for a version that holds the ``added`` rows beyond this one's (:func:`index.segments.rows_added`):
        the new passages' category and day, and those of every passage of an article written since (an update may
        change them); ``article_of`` gives each passage's article as a position, ``positions`` those of the
        ``added.articles``."""
        articles = max(int(article_of.max(initial=-1)), int(positions.max(initial=-1))) + 1
        codes = dict(self.codes)
        written = np.zeros(articles, dtype=bool)
        category = np.full(articles, NO_CATEGORY, dtype=np.int32)
        day_of = np.full(articles, UNDATED, dtype=np.int32)
        for n, (_, _, cat, day) in zip(positions.tolist(), added.articles):
            written[n], category[n] = True, codes.setdefault(cat, len(codes))
            if day:
                day_of[n] = date.fromisoformat(day).toordinal()
        other = copy.copy(self)
        other.codes, other.deleted = codes, deleted
        new = len(article_of) - len(self.category_of)
        other.category_of = np.concatenate([self.category_of, np.full(new, NO_CATEGORY, dtype=np.int32)])
        other.day_of = np.concatenate([self.day_of, np.full(new, UNDATED, dtype=np.int32)])
        changed = written[article_of]
        other.category_of[changed] = category[article_of[changed]]
        other.day_of[changed] = day_of[article_of[changed]]
        return other

    def with_deleted(self, deleted: np.ndarray | None) -> "FilterIndex":
        """The same arrays (shared, not copied) with another version's deleted passages."""
        other = copy.copy(self)
        other.deleted = deleted
        return other

    def mask(self, where: Filter) -> np.ndarray:
        """True for each passage the filter keeps."""
        keep = np.ones(len(self.category_of), dtype=bool) if self.deleted is None else ~self.deleted
        if where.category is not None:
            code = self.codes.get(where.category)
            if code is None:
                return np.zeros(len(self.category_of), dtype=bool)
            keep &= self.category_of == code
        if where.date_from is not None:
            keep &= self.day_of >= where.date_from.toordinal()
        if where.date_to is not None:
            keep &= (self.day_of <= where.date_to.toordinal()) & (self.day_of != UNDATED)
        return keep

    def ids(self, where: Filter) -> np.ndarray:
        """The passage ids the filter keeps, ascending (int64)."""
        return np.flatnonzero(self.mask(where)).astype(np.int64)
