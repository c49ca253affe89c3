"""Cutting articles into passages: sentence boundaries, token bounds, overlap and offsets."""
from pathlib import Path

import pytest

from index.articles import Article, read_articles
from index.passages import sentence_spans, split_passages


def count_words(texts):
    return [len(text.split()) for text in texts]


ARTICLE = Article(
    id="a",
    title="عنوان",
    text="جمله اول کوتاه است. جمله دوم کمی بلندتر از اولی است؟ سومی!\n\nپاراگراف دوم با یک جمله نسبتا طولانی که ادامه دارد. پایان.",
)


def test_sentence_spans_follow_hazm_sentences_and_line_breaks() -> None:
    sentences = [ARTICLE.text[s:e] for s, e in sentence_spans(ARTICLE.text)]
    assert sentences == [
        "جمله اول کوتاه است.",
        "جمله دوم کمی بلندتر از اولی است؟",
        "سومی!",
        "پاراگراف دوم با یک جمله نسبتا طولانی که ادامه دارد.",
        "پایان.",
    ]


def test_passages_are_spans_of_the_article_and_respect_the_bound() -> None:
    passages = split_passages(ARTICLE, count_words, max_tokens=12, overlap_tokens=0)
    for position, passage in enumerate(passages):
        assert passage.position == position and passage.article_id == "a"
        assert ARTICLE.text[passage.start:passage.end] == passage.text
        assert sum(count_words([passage.text])) <= 12
    sentences = {ARTICLE.text[s:e] for s, e in sentence_spans(ARTICLE.text)}
    covered = " ".join(p.text for p in passages)
    assert all(sentence in covered for sentence in sentences)


def test_no_passage_cuts_a_sentence() -> None:
    starts = {s for s, _ in sentence_spans(ARTICLE.text)}
    ends = {e for _, e in sentence_spans(ARTICLE.text)}
    for passage in split_passages(ARTICLE, count_words, max_tokens=12, overlap_tokens=4):
        assert passage.start in starts and passage.end in ends


def test_overlap_repeats_the_last_sentence() -> None:
    first, second, *_ = split_passages(ARTICLE, count_words, max_tokens=12, overlap_tokens=4)
    last_sentence_of_first = first.text.split("؟")[-1].strip()
    assert last_sentence_of_first and second.text.startswith(last_sentence_of_first)
    assert second.start < first.end


def test_every_passage_brings_a_new_sentence() -> None:
    passages = split_passages(ARTICLE, count_words, max_tokens=9, overlap_tokens=8)
    assert all(later.end > earlier.end for earlier, later in zip(passages, passages[1:]))


def test_a_sentence_longer_than_the_bound_is_cut_between_words() -> None:
    long_sentence = " ".join(f"واژه{i}" for i in range(50)) + "."
    article = Article(id="b", title="", text=f"کوتاه. {long_sentence}")
    passages = split_passages(article, count_words, max_tokens=10, overlap_tokens=0)
    assert all(sum(count_words([p.text])) <= 10 for p in passages)
    assert "".join(p.text for p in passages[1:]).replace(" ", "") == long_sentence.replace(" ", "")
    assert all(article.text[p.start:p.end] == p.text for p in passages)


def test_one_enormous_word_is_cut_into_bounded_pieces() -> None:
    article = Article(id="c", title="", text="x" * 5000)
    passages = split_passages(article, lambda texts: [len(t) + 1 for t in texts], max_tokens=100, overlap_tokens=0)
    assert all(len(p.text) + 1 <= 100 for p in passages)
    assert "".join(p.text for p in passages) == article.text


def test_seed_article_offsets(shared_data: Path) -> None:
    (article,) = read_articles([shared_data / "seed"])
    passages = split_passages(article, count_words, max_tokens=60, overlap_tokens=15)
    assert len(passages) > 1
    assert all(article.text[p.start:p.end] == p.text for p in passages)
    assert passages[0].start == 0 and passages[-1].end == len(article.text.rstrip())


@pytest.mark.parametrize("max_tokens", [5, 40, 400])
def test_passages_cover_the_whole_text(max_tokens: int) -> None:
    passages = split_passages(ARTICLE, count_words, max_tokens=max_tokens, overlap_tokens=0)
    covered = set()
    for p in passages:
        covered.update(range(p.start, p.end))
    assert all(i in covered for i, ch in enumerate(ARTICLE.text) if not ch.isspace())
