"""Hybrid fusion never hurts: it follows dense where lexical evidence means nothing (another script,
no shared term) and lets lexical evidence reorder only in proportion to how much of the query it covers."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.lexical import token_script
from search.candidates import Candidates, Evidence
from search.engine import SearchEngine
from search.fusion import DEFAULT_FUSION, Fusion

SAMPLE_QUERIES = Path(__file__).resolve().parents[1] / "data" / "sample" / "queries.txt"


def _queries() -> list[tuple[str, str]]:
    return [tuple(line.split("\t")) for line in SAMPLE_QUERIES.read_text().splitlines() if line.strip()]


def _rank_of(engine: SearchEngine, query: str, expected: str, method: str) -> int:
    ranked = [article_id for article_id, _ in engine.ranked_articles(query, 24, method=method)]
    return ranked.index(expected) + 1 if expected in ranked else 99


def test_unusable_lexical_evidence_leaves_the_dense_order():
    dense = np.array([1.0, 0.9, 0.5])
    lexical = np.array([0.0, 1.0, 1.0])
    coverage = np.array([0.0, 1.0, 1.0])
    fused = DEFAULT_FUSION.combine(dense, lexical * coverage, usable=np.zeros(3, dtype=bool))
    assert np.allclose(fused, dense, rtol=0, atol=1e-12)


def test_lexical_evidence_counts_by_the_share_of_the_query_matched():
    fusion = Fusion()
    dense = np.array([1.0, 0.9, 0.9])
    # BM25 shares 0, 0.1 and 1 of a query of IDF mass 1, holding none, a tenth and all of it
    evidence = fusion.evidence(Evidence(bm25=np.array([0.0, 0.1, 1.0]), matched=np.array([0.0, 0.1, 1.0]), query_mass=1.0))
    fused = fusion.combine(dense, evidence, usable=np.ones(3, dtype=bool))
    assert fused[2] > fused[0] > fused[1]  # a full match overrules a close dense lead, a weak one does not


def test_fuse_normalizes_raw_scores_before_combining():
    # cosines within the dense pool's range [0.7, 0.9]; BM25 against a query mass of 4; no sentence re-rank
    cosine = np.array([0.9, 0.7, 0.8, 0.6])
    words = Evidence(bm25=np.array([4.0, 0.0, 8.0, 0.0]), matched=np.array([4.0, 0.0, 2.0, 0.0]), query_mass=4.0)
    candidates = Candidates(ids=np.arange(4), cosine=cosine, pool_low=0.7, pool_high=0.9, tokens=words, stems=None,
                            usable=np.array([True, True, True, False]), best_sentence=lambda top: cosine[top])
    fused = Fusion(lexical_weight=0.5, sentence_weight=0.0, stem_weight=0.75).fuse(candidates)
    # full match at the top of the pool; no term at its bottom; BM25 share capped at 1, half the query
    # covered; an unusable passage below the pool keeps its (clipped) dense score; no stems field: words alone
    assert np.allclose(fused, [1.0, 0.0, 0.5 * 0.5 + 0.5 * 1.0 * 0.5, 0.0])


def test_stem_evidence_is_mixed_with_word_evidence_by_its_weight():
    cosine = np.array([0.9, 0.7, 0.8])
    words = Evidence(bm25=np.array([4.0, 0.0, 0.0]), matched=np.array([4.0, 0.0, 0.0]), query_mass=4.0)
    stemmed = Evidence(bm25=np.array([4.0, 4.0, 0.0]), matched=np.array([4.0, 4.0, 0.0]), query_mass=4.0)
    candidates = Candidates(ids=np.arange(3), cosine=cosine, pool_low=0.7, pool_high=0.9, tokens=words, stems=stemmed,
                            usable=np.ones(3, dtype=bool), best_sentence=lambda top: cosine[top])
    fused = Fusion(lexical_weight=0.5, sentence_weight=0.0, stem_weight=0.75).fuse(candidates)
    # passage 1 holds the query's stems but not its words (کتاب for کتابها): three quarters of full evidence
    assert np.allclose(fused, [1.0, 0.5 * 0.0 + 0.5 * 0.75, 0.5 * 0.5 + 0.0])
    without = Fusion(lexical_weight=0.5, sentence_weight=0.0, stem_weight=0.0).fuse(candidates)
    assert np.allclose(without, [1.0, 0.0, 0.25])


def test_english_query_over_persian_text_ranks_as_without_lexical_evidence(search_engine):
    # dense alone, apart from the best-sentence re-rank of the top passages (which "dense" does not do)
    dense_only = SearchEngine(search_engine.version, search_engine.embedder,
                              Fusion(lexical_weight=0.0, sentence_weight=DEFAULT_FUSION.sentence_weight))
    for query in ("oil exports from the Jask terminal", "dust storm closes government offices in Ahvaz",
                  "Which film won best film at the Fajr film festival?"):
        persian_dense = [a for a, _ in dense_only.ranked_articles(query, 24, method="hybrid") if a.startswith("fa-")]
        persian_hybrid = [a for a, _ in search_engine.ranked_articles(query, 24, method="hybrid") if a.startswith("fa-")]
        assert persian_hybrid == persian_dense


@pytest.mark.parametrize("query, expected", _queries())
def test_hybrid_never_ranks_the_answer_below_dense(search_engine, query, expected):
    if token_script(query[0]) == "arabic" and expected.startswith("en-"):
        # a Persian query for an English article: Persian articles sharing the query's words are
        # rightly lifted by them, so the English answer may move down a place; no promise here
        pytest.skip("Persian query, English answer")
    assert _rank_of(search_engine, query, expected, "hybrid") <= _rank_of(search_engine, query, expected, "dense")


def test_persian_keyboard_title_finds_arabic_letter_text(search_engine):
    # fa-010 is stored with Arabic ي ك ("نسخه خطي كهني از گلستان سعدي"); the query is typed on a Persian keyboard
    assert search_engine.ranked_articles("نسخه خطی کهنی از گلستان سعدی", 1, method="lexical")[0][0] == "fa-010"
    assert search_engine.ranked_articles("نسخه خطی کهنی از گلستان سعدی", 1, method="hybrid")[0][0] == "fa-010"
