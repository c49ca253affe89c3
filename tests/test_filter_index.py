"""Per-passage category and date arrays: a filter selects exactly the passages the SQL filter selects."""
from __future__ import annotations

import sqlite3
from datetime import date

import numpy as np
import pytest

from index.filter import Filter
from index.filter_index import FilterIndex

ARTICLES = [  # id, cat, date
    ("a", "sports", "2018-03-01"),
    ("b", "sports", None),
    ("c", "politics", "2017-12-31"),
    ("d", "", "2019-06-30"),
    ("e", "politics", "2018-01-01"),
]
PASSAGES_PER_ARTICLE = 3


@pytest.fixture()
def db() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE articles (id TEXT PRIMARY KEY, cat TEXT NOT NULL, date TEXT)")
    db.execute("CREATE TABLE passages (id INTEGER PRIMARY KEY, article_id TEXT NOT NULL)")
    db.executemany("INSERT INTO articles VALUES (?,?,?)", ARTICLES)
    db.executemany("INSERT INTO passages VALUES (?,?)",
                   [(n * PASSAGES_PER_ARTICLE + i, article_id) for n, (article_id, _, _) in enumerate(ARTICLES)
                    for i in range(PASSAGES_PER_ARTICLE)])
    return db


def sql_ids(db: sqlite3.Connection, where: Filter) -> list[int]:
    conditions, params = ["1"], []
    if where.category is not None:
        conditions.append("a.cat = ?")
        params.append(where.category)
    if where.date_from is not None:
        conditions.append("a.date >= ?")
        params.append(where.date_from.isoformat())
    if where.date_to is not None:
        conditions.append("a.date <= ?")
        params.append(where.date_to.isoformat())
    rows = db.execute("SELECT p.id FROM passages p JOIN articles a ON a.id = p.article_id WHERE "
                      + " AND ".join(conditions) + " ORDER BY p.id", params)
    return [row[0] for row in rows]


@pytest.mark.parametrize("where", [
    Filter(category="sports"),
    Filter(category="politics", date_from=date(2018, 1, 1)),
    Filter(date_from=date(2017, 12, 31), date_to=date(2018, 3, 1)),
    Filter(date_to=date(2019, 6, 30)),
    Filter(category=""),
    Filter(category="weather"),
    Filter(category="sports", date_from=date(2020, 1, 1)),
])
def test_filter_keeps_exactly_what_the_sql_filter_keeps(db, where):
    filters = FilterIndex(db, len(ARTICLES) * PASSAGES_PER_ARTICLE)
    assert filters.ids(where).tolist() == sql_ids(db, where)


def test_a_date_bound_drops_undated_articles_and_no_bound_keeps_them(db):
    filters = FilterIndex(db, len(ARTICLES) * PASSAGES_PER_ARTICLE)
    undated = {3, 4, 5}  # article b
    assert undated <= set(filters.ids(Filter(category="sports")).tolist())
    assert not undated & set(filters.ids(Filter(category="sports", date_to=date(2030, 1, 1))).tolist())
    assert not undated & set(filters.ids(Filter(category="sports", date_from=date(1900, 1, 1))).tolist())
    assert filters.ids(Filter()).dtype == np.int64 and len(filters.ids(Filter())) == 15
