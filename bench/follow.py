"""What a server pays to follow an appending update (not a test), in one process: the new version's engine made
from the served one's, its per-passage arrays and filter arrays extended by the rows the update added
(:func:`index.segments.rows_added`), against the same engine made from nothing, every row read again.

    KAVOSH_MODEL=MODEL python bench/follow.py --index INDEX_DIR [--articles 20] [--rounds 3] [--data ../shared/data]

``INDEX_DIR`` is copied by hard links (a version's files are never written again) and ``--articles`` synthetic
articles are added to the copy by ``python -m index.update``, which appends them (a segment, above 20,000
passages). Each round makes both engines, each from the new version opened anew, the one going first
alternating; the figures are medians over rounds of the time to make the engine (its vector index loaded and
checked, or extended) and ``prepare`` it, what ``search.live.LiveEngine`` does before it swaps a version in,
with opening and checking the version apart.
Both engines must then hold the same arrays and give the same answers.
"""
from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.load_web import load_queries  # noqa: E402
from bench.synthetic import write_archive  # noqa: E402
from index.store import live_path, open_index, open_version  # noqa: E402
from search.engine import SearchEngine  # noqa: E402
from settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def per_passage(engine: SearchEngine) -> dict[str, np.ndarray]:
    """The served arrays by article id and category name rather than position or code, live passages only."""
    articles, where, sentences = engine.arrays.articles, engine._filter_index, engine.arrays.sentences
    live = np.ones(engine.arrays.passages, dtype=bool) if engine.deleted is None else ~engine.deleted
    ids = np.array(articles.article_ids, dtype=object)
    names = np.array([name for name, _ in sorted(where.codes.items(), key=lambda item: item[1])], dtype=object)
    counts = np.diff(sentences.first)
    return {"article": ids[articles.article_of][live], "group": ids[articles.group_of][live],
            "script": engine.arrays.scripts[live], "category": names[where.category_of][live],
            "day": where.day_of[live], "sentences": counts[live], "starts": sentences.starts, "ends": sentences.ends}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True, help="index folder (copied by hard links, not changed)")
    parser.add_argument("--articles", type=int, default=20, help="synthetic articles the update adds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=20, help="queries whose answers must agree")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="shared data (Fars News)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    with tempfile.TemporaryDirectory(dir=args.index.parent) as scratch:
        copy = Path(scratch) / "index"
        shutil.copytree(args.index, copy, symlinks=True, copy_function=os.link)
        served = SearchEngine.open(copy, settings)
        served.prepare()
        new = Path(scratch) / "new.jsonl"
        write_archive(new, args.articles, args.data, seed=7, first=10_000_000)  # links no archive has
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "index.update", str(new), "--index", str(copy), "--quiet"], cwd=ROOT,
                       check=True, capture_output=True)
        update_s = time.perf_counter() - started
        target = live_path(copy)
        print(f"{served.arrays.passages:,} passages served; the update appended "
              f"{open_index(copy, load_vectors=False).manifest['passages'] - served.arrays.passages} passages in "
              f"{update_s:.1f} s")
        times: dict[str, list[float]] = {"open": [], "extended": [], "read whole": []}
        for round_ in range(args.rounds):
            engines = {}
            for way in (("extended", "read whole") if round_ % 2 == 0 else ("read whole", "extended")):
                gc.collect()
                started = time.perf_counter()
                version = open_version(target, load_vectors=False)  # each its own: its vectors loaded or extended
                times["open"].append(time.perf_counter() - started)
                started = time.perf_counter()
                engine = SearchEngine(version, served.embedder, served.fusion, backend=served.backend,
                                      stem_search=served.stem_search, previous=served if way == "extended" else None)
                engine.prepare()
                times[way].append(time.perf_counter() - started)
                engines[way] = engine
            if round_ == 0:
                extended, whole = (per_passage(engines[way]) for way in ("extended", "read whole"))
                differ = [name for name in whole if not np.array_equal(extended[name], whole[name])]
                queries = load_queries(ROOT / "bench" / "queries.txt", args.data)[::7][:args.queries]
                answers = [[[(r.article_id, r.passage_id, r.score) for r in engines[way].search(q, k=10).results]
                            for q in queries] for way in ("extended", "read whole")]
                if differ or answers[0] != answers[1]:
                    raise SystemExit(f"the extended engine differs from one read whole: {differ or 'answers'}")
            del engines, engine
        medians = {way: statistics.median(values) for way, values in times.items()}
        for way, values in times.items():
            print(f"{way:>11}: median {medians[way] * 1000:8.1f} ms   ({', '.join(f'{v * 1000:.1f}' for v in values)})")
        print(f"read whole / extended: {medians['read whole'] / medians['extended']:.1f}x; "
              f"arrays and {len(queries)} answers agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
