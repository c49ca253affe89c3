"""Page fuzzing: whatever the query string holds (any Unicode, odd digits, huge numbers, invisible
characters, bytes that are not UTF-8), the search page answers 200 or a 400 that says why, never a 500."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from settings import Settings
from web.app import create_app

EXAMPLES = 150

odd_text = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.characters(categories=["Nd", "No", "Nl", "Mn", "Cf", "Zs"]), max_size=12),
    st.integers(-10**30, 10**30).map(str),
    st.sampled_from(["", "۲", "٣", "²", "𝟐", "9" * 5000, "\u200b", "\ufeff", "0x10", "1e3", "١٠١", "۱۰۲"]),
)


@pytest.fixture(scope="module")
def client(sample_index: Path, search_engine):
    return create_app(Settings(index_dir=sample_index), engine=search_engine).test_client()


@pytest.mark.slow  # ~30 s: each example renders a results page
def test_any_query_string_is_answered_without_a_server_error(client) -> None:
    statuses = []

    @given(q=odd_text, page=odd_text, cat=odd_text | st.just(""), lang=st.sampled_from(["", "en", "fa", "xx"]))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(q: str, page: str, cat: str, lang: str) -> None:
        response = client.get("/", query_string={"q": q, "page": page, "cat": cat, "lang": lang})
        statuses.append(response.status_code)
        assert response.status_code in (200, 400), (q, page, cat, response.status_code)
        assert "Traceback" not in response.get_data(as_text=True)

    check()
    assert len(statuses) >= EXAMPLES and 400 in statuses and 200 in statuses


@given(raw=st.binary(max_size=40))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_any_bytes_in_the_url_are_not_a_server_error(client, raw: bytes) -> None:
    encoded = quote_from_bytes(raw)
    response = client.get(f"/?q={encoded}&page={encoded}&cat={encoded}")
    assert response.status_code in (200, 400)
