"""The scale benchmark's synthetic archives: deterministic, readable by the product, made of real sentences."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import pytest  # noqa: E402
from synthetic import real_material, synthetic_articles, write_archive  # noqa: E402

from index.articles import IngestReport, read_articles  # noqa: E402

pytestmark = pytest.mark.slow  # reading and cutting the 1,500 real articles into sentences (once per session)


def test_same_seed_same_archive_and_another_seed_another(shared_data, tmp_path):
    first, second, other = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    write_archive(first, 40, shared_data, seed=3)
    write_archive(second, 40, shared_data, seed=3)
    write_archive(other, 40, shared_data, seed=4)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()


def test_archive_reads_back_as_distinct_dated_articles_of_real_sentences_and_categories(shared_data, tmp_path):
    archive = tmp_path / "archive.jsonl"
    write_archive(archive, 60, shared_data)
    report = IngestReport()
    articles = read_articles([archive], report)
    assert len(articles) == 60 and not report.skipped and not report.duplicates
    sentences, shapes = real_material(shared_data)
    real_categories = {shape.cat for shape in shapes}
    known = set(sentences)
    for article in articles:
        assert article.title and article.cat in real_categories
        assert "2010-01-01" <= article.date <= "2024-12-31"
        first_sentence = next(s for s in known if article.text.startswith(s))
        assert first_sentence
    assert len({article.date[:4] for article in articles}) > 5


def test_records_follow_the_shape_of_the_real_article_they_copy(shared_data):
    sentences, shapes = real_material(shared_data)
    records = list(synthetic_articles(30, sentences, shapes, seed=5))
    assert [r["link"] for r in records] == [f"https://synthetic.kavosh.example/news/{n}" for n in range(30)]
    paragraph_counts = {len(shape.paragraphs) for shape in shapes}
    assert all(len(r["paragraphs"]) in paragraph_counts for r in records)
