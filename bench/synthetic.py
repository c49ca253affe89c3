"""Synthetic news archives of any size for the scale benchmark, made from the real Fars News articles.

    python bench/synthetic.py --articles 30000 --output /tmp/archive.jsonl [--seed 12]

Each synthetic article takes the shape of a real one picked at random (its category, subcategory and
number of sentences per paragraph) and fills it with sentences drawn at random from all real articles;
its title is the first words of another random sentence, its link is unique, its date is spread evenly
over 2010-2024. The same seed and size give the same file, byte for byte. Written as JSON Lines in the
Fars News layout that ``python -m index.rebuild`` reads.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass
from functools import lru_cache
from datetime import date, timedelta
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST_DAY = date(2010, 1, 1)
DAYS = (date(2024, 12, 31) - FIRST_DAY).days + 1
LINK = "https://synthetic.kavosh.example/news/{}"
TITLE_WORDS = (5, 12)


@dataclass(frozen=True)
class Shape:
    """What is kept of a real article: its category and how many sentences each paragraph has."""

    cat: str
    subcat: str
    paragraphs: tuple[int, ...]


@lru_cache(maxsize=2)
def real_material(data: Path) -> tuple[list[str], list[Shape]]:
    """All sentences of the real Fars News articles, and the shape of each article, in a fixed order
    (read once per process: cutting 1,500 articles into sentences takes seconds)."""
    from hazm import sent_tokenize

    from index.articles import read_articles

    sentences: list[str] = []
    shapes: list[Shape] = []
    for article in sorted(read_articles([data / "farsnews"]), key=lambda a: a.id):
        counts = []
        for paragraph in article.text.split("\n"):
            found = [s.strip() for s in sent_tokenize(paragraph) if len(s.strip()) > 1]
            if found:
                sentences.extend(found)
                counts.append(len(found))
        if counts:
            shapes.append(Shape(article.cat, article.subcat, tuple(counts)))
    return sentences, shapes


def synthetic_articles(count: int, sentences: list[str], shapes: list[Shape], seed: int = 12,
                       first: int = 0) -> Iterator[dict]:
    """``count`` article records, deterministic for a given seed and material; links are numbered from
    ``first`` (so a later batch with another seed adds articles instead of replacing them)."""
    rng = random.Random(seed)
    for n in range(first, first + count):
        shape = shapes[rng.randrange(len(shapes))]
        words = sentences[rng.randrange(len(sentences))].split()
        title = " ".join(words[:rng.randint(*TITLE_WORDS)])
        paragraphs = [" ".join(sentences[rng.randrange(len(sentences))] for _ in range(size)) for size in shape.paragraphs]
        yield {
            "title": title,
            "abstract": "",
            "paragraphs": paragraphs,
            "cat": shape.cat,
            "subcat": shape.subcat,
            "tags": [],
            "link": LINK.format(n),
            "date": (FIRST_DAY + timedelta(days=rng.randrange(DAYS))).isoformat(),
        }


def write_archive(path: Path, count: int, data: Path, seed: int = 12, first: int = 0) -> int:
    """Write ``count`` synthetic articles to ``path`` (JSON Lines), links numbered from ``first``; returns
    the count written."""
    sentences, shapes = real_material(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(path, "w", encoding="utf-8") as handle:
        for record in synthetic_articles(count, sentences, shapes, seed, first):
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            written += 1
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, required=True, help="how many articles to write")
    parser.add_argument("--output", type=Path, required=True, help="the JSON Lines file to write")
    parser.add_argument("--seed", type=int, default=12, help="random seed (default %(default)s)")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="shared data (Fars News)")
    args = parser.parse_args(argv)
    if args.articles < 1:
        parser.error("--articles must be at least 1")
    if not (args.data / "farsnews").is_dir():
        parser.error(f"no Fars News articles under {args.data / 'farsnews'}")
    print(f"{write_archive(args.output, args.articles, args.data, args.seed)} articles written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
