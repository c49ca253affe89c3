"""One query-parameters type: every caller's bad field is refused with a message naming it."""
from __future__ import annotations

from datetime import date

import pytest

from index.filter import Filter
from search.query import MAX_K, MAX_QUERY_CHARS, METHODS, Query


@pytest.mark.parametrize("fields, message", [
    ({"text": 42}, "query must be text"),
    ({"text": "x" * (MAX_QUERY_CHARS + 1)}, f"at most {MAX_QUERY_CHARS}"),
    ({"method": "bm25"}, "unknown method 'bm25'"),
    ({"k": 0}, f"k must be a whole number from 1 to {MAX_K}"),
    ({"k": True}, "k must be"),
    ({"offset": -1}, "offset must be"),
    ({"category": 3}, "category must be text"),
    ({"date_from": "2024-01-01"}, "date_from must be a date"),
    ({"date_from": date(2024, 5, 1), "date_to": date(2024, 1, 1)}, "date_from 2024-05-01 is after date_to 2024-01-01"),
])
def test_a_bad_field_is_named(fields, message):
    with pytest.raises(ValueError, match=message):
        Query(**{"text": "تهران", **fields})


def test_of_reads_iso_dates_and_names_a_bad_one():
    query = Query.of("تهران", 5, 10, method="dense", category="sport", date_from="2024-01-01", date_to="2024-02-01")
    assert query.filter == Filter("sport", date(2024, 1, 1), date(2024, 2, 1))
    assert (query.k, query.offset, query.method) == (5, 10, "dense")
    with pytest.raises(ValueError, match="date_to: '1403-01-01x' is not a date"):
        Query.of("تهران", date_to="1403-01-01x")


def test_of_reads_solar_hijri_dates_in_persian_digits():
    query = Query.of("تهران", date_from="۱۴۰۲/۰۵/۱۲", date_to="1402-05-13")
    assert (query.date_from, query.date_to) == (date(2023, 8, 3), date(2023, 8, 4))
    with pytest.raises(ValueError, match="date_from 2023-08-04 is after date_to 2023-08-03"):
        Query.of("تهران", date_from="1402-05-13", date_to="2023-08-03")


def test_methods_default_first_and_an_unfiltered_query_has_an_empty_filter():
    assert METHODS[0] == Query("x").method == "hybrid"
    assert Query("x").filter.is_empty
