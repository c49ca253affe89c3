"""A larger index made from a built one by copying its articles (not a test): serving, update and deletion
figures at a size no build here reaches in a session (10^6 passages from the 10^5 synthetic archive).

    python bench/replicate.py --source WORK/n100000 --copies 10 --target WORK/n1000000
    python bench/scale.py --passages 1000000 --work WORK ...   # then serves it like a built size

Copy n of each article gets the id ``<id>~n``, the link ``<link>#copy-n`` and its own duplicate key, so no two
copies are collapsed as the same story; its passages, sentences, category, date and lexical terms are the
original's; its passage and sentence vectors are the original's plus Gaussian noise (``--noise``, per
dimension, then normalized again: cosine to the original about 0.98), so that ten copies are ten nearby
points, not one point ten times. The version is written by the product's own ``write_version`` (the vector
index it chooses for the size, FTS5, tantivy, verification); nothing is analyzed or embedded.

What this is not: a real archive of that size. Each term's postings are ten times longer and every IDF as
before; each top-k holds near-copies; the vectors cluster more tightly than real text does, so ANN recall on
them says little about recall on real text. Figures made from it are labelled "replicated".
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.lock import index_lock  # noqa: E402
from index.rewrite import Rewrite, stored_order  # noqa: E402
from index.rows import Walk  # noqa: E402
from index.store import open_index, write_version  # noqa: E402
from index.vectors.base import VectorBlocks  # noqa: E402


def noisy(block: np.ndarray, noise: float, seed: int) -> np.ndarray:
    """``block``'s rows plus Gaussian noise, each row normalized again."""
    rng = np.random.default_rng(seed)
    moved = np.asarray(block, dtype=np.float32) + rng.normal(0.0, noise, block.shape).astype(np.float32)
    return moved / np.linalg.norm(moved, axis=1, keepdims=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="a scale benchmark size folder (WORK/n<size>)")
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--target", type=Path, required=True, help="the size folder to write (WORK/n<size>)")
    parser.add_argument("--noise", type=float, default=0.01, help="standard deviation of the noise per dimension")
    args = parser.parse_args(argv)
    if args.copies < 2:
        parser.error("--copies must be at least 2")
    live = open_index(args.source / "index", load_vectors=False)
    order = stored_order(live)
    source = Rewrite(live, order, {}, {})
    with closing(live.connect()) as db:
        keys = dict(db.execute("SELECT id, text_key FROM articles"))
    copies = range(args.copies)

    def articles():
        for n in copies:
            for article in source.articles():
                yield replace(article, id=f"{article.id}~{n}", link=f"{article.link}#copy-{n}" if article.link else "")

    def passages():
        for n in copies:
            for passage in source.passage_rows():
                yield replace(passage, article_id=f"{passage.article_id}~{n}")

    def blocks(read, salt: int):
        def walk():
            for n in copies:
                for i, block in enumerate(read()):
                    yield block if n == 0 else noisy(block, args.noise, (salt, n, i))
        return walk

    def lexical():
        for _ in copies:
            yield from source.lexical()

    dimension = live.manifest["dimension"]
    args.target.mkdir(parents=True, exist_ok=True)
    (args.target / "archive.jsonl").unlink(missing_ok=True)
    (args.target / "archive.jsonl").symlink_to((args.source / "archive.jsonl").resolve())
    index_dir = args.target / "index"
    started = time.perf_counter()
    with index_lock(index_dir):
        write_version(index_dir, Walk(len(order) * args.copies, articles), Walk(source.passages * args.copies, passages),
                      VectorBlocks(source.passages * args.copies, dimension, blocks(source.vector_blocks, 1)),
                      VectorBlocks(source.sentences * args.copies, dimension, blocks(source.sentence_vector_blocks, 2)),
                      live.manifest["model"], {key: live.manifest[key] for key in ("chunking", "bf16", "precision")
                                               if key in live.manifest},
                      lexical=lexical(),
                      text_keys={f"{aid}~{n}": f"{keys[aid]}~{n}" for n in copies for aid in order})
    wall = time.perf_counter() - started
    built = json.loads((args.source / "build.json").read_text())
    version = open_index(index_dir, load_vectors=False)
    record = {"model": f"{built['model']}, replicated x{args.copies} from {args.source}",
              "articles": version.manifest["articles"], "passages": version.manifest["passages"],
              "replicated_s": round(wall, 1), "noise": args.noise, "source_build": built,
              "command": " ".join([os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]]),
              # the fields the scale benchmark prints for a build, for this size: not a build
              "rebuild_wall_s": round(wall, 1), "cutting_s": 0.0, "embedding_s": 0.0, "embedding_passages_per_s": None,
              "writing_s": round(wall, 1), "other_s": 0.0, "cutting_passages_per_s": None}
    (args.target / "build.json").write_text(json.dumps(record, indent=2, ensure_ascii=False))
    print(f"{record['passages']:,} passages ({record['articles']:,} articles) written in {wall:.0f} s: {index_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
