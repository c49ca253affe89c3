"""Wrong-keyboard-layout detection measured on real queries and the same queries typed in the wrong layout.

    python bench/layout_detection.py [--data ../shared/data]

Persian queries: the 1,500 Fars News titles (index vocabulary: the Fars articles' words). English queries:
the 1,000 Tatoeba English sentences (index vocabulary: the Tatoeba English sentences, as an English
archive would hold). For each side it prints how many real queries were converted (false alarms) and how
many typed-in-the-wrong-layout ones were recognized and converted back exactly.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Iterable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from search.layout import _script, _words, guess, to_latin, to_persian, vocabulary  # noqa: E402


def index_terms(texts: Iterable[str]) -> Callable[[Iterable[str]], set[str]]:
    terms = {word for text in texts for word in _words(text)}
    return lambda words: set(words) & terms


def measure(name: str, queries: list[str], mistype: Callable[[str], str], known) -> None:
    false_alarms = [q for q in queries if guess(q, known) is not None]
    # only queries whose every letter has a key in the other layout can be typed there (not ئ, أ, ة, ...)
    typable = [q for q in queries if _script(mistype(q)) is not None]
    recovered = 0
    for q in typable:
        found = guess(mistype(q), known)
        recovered += found is not None and _words(found.converted) == _words(q)
    print(f"{name}: real queries converted: {len(false_alarms)} of {len(queries)} ({len(false_alarms) / len(queries):.1%}); "
          f"typed in the wrong layout and converted back: {recovered} of {len(typable)} ({recovered / len(typable):.1%})")
    for q in false_alarms[:5]:
        print(f"    converted by mistake: {q!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    records = [r for path in sorted((args.data / "farsnews").glob("*.json"))
               for r in json.loads(path.read_text(encoding="utf-8"))]
    titles = [r["title"] for r in records if r.get("title")]
    fars_known = vocabulary(index_terms(" ".join([r.get("abstract", ""), *r.get("paragraphs", [])]) for r in records))
    english = (args.data / "tatoeba" / "tatoeba.pes-eng.eng").read_text(encoding="utf-8").splitlines()
    english_known = vocabulary(index_terms(english))
    measure("fa (Fars titles, Fars index)", titles, to_latin, fars_known)
    measure("en (Tatoeba English, English index)", english, to_persian, english_known)
    measure("en (Tatoeba English, Fars index)", english, to_persian, fars_known)


if __name__ == "__main__":
    main()
