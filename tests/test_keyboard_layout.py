"""Queries typed in the wrong keyboard layout are recognized and converted; real queries are left alone."""
import json
from pathlib import Path

import pytest

from search.layout import _script, _words, guess, to_latin, to_persian, vocabulary


def no_index_terms(words):
    return set()


def terms_of(texts):
    terms = {word for text in texts for word in _words(text)}
    return lambda words: set(words) & terms


def test_the_layouts_map_keys_both_ways() -> None:
    assert to_persian("sghl") == "سلام"
    assert to_latin("سلام") == "sghl"
    assert to_persian(to_latin("آژانس ژاپن")) == "آژانس ژاپن"  # Shift+h and Shift+c


@pytest.mark.parametrize("typed, meant", [("sghl", "سلام"), ("jvhc j[hvd", "تراز تجاری"),
                                          ("stv ,cdv hl,v ohv[i fi ls;,", "سفر وزیر امور خارجه به مسکو")])
def test_persian_typed_on_an_english_layout_is_converted(typed: str, meant: str) -> None:
    found = guess(typed, vocabulary(terms_of(["تراز تجاری ایران با روسیه"])))
    assert found is not None and found.converted == meant and found.meant == "fa"


@pytest.mark.parametrize("query", ["Iran Russia trade", "dust storm in Ahvaz", "covid", "OPEC", "تورم سالانه",
                                   "سفر وزیر خارجه به مسکو", "Iran تورم", "1402"])
def test_real_queries_are_not_converted(query: str) -> None:
    assert guess(query, vocabulary(no_index_terms)) is None


def test_english_typed_on_a_persian_layout_is_converted_where_the_index_knows_english() -> None:
    known = vocabulary(terms_of(["The trade volume between Iran and Russia grew"]))
    found = guess(to_persian("trade volume"), known)
    assert found is not None and found.converted == "trade volume" and found.meant == "en"
    assert guess(to_persian("trade volume"), vocabulary(no_index_terms)) is None  # nothing says it is English


@pytest.mark.slow
def test_on_real_titles_and_sentences_no_real_query_is_converted_and_mistyped_ones_are(shared_data: Path) -> None:
    records = json.loads((shared_data / "farsnews" / "fars-news-1.json").read_text(encoding="utf-8"))
    titles = [r["title"] for r in records[:150] if r.get("title")]
    english = (shared_data / "tatoeba" / "tatoeba.pes-eng.eng").read_text(encoding="utf-8").splitlines()[:150]
    known = vocabulary(terms_of([" ".join(r.get("paragraphs", [])) for r in records] + english))
    assert [q for q in titles + english if guess(q, known)] == []
    mistyped = [(to_latin(q), q) for q in titles if _script(to_latin(q))] + [(to_persian(q), q) for q in english]
    recovered = [typed for typed, q in mistyped if (g := guess(typed, known)) and _words(g.converted) == _words(q)]
    assert len(recovered) >= 0.95 * len(mistyped)
