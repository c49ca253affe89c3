"""An update in Milvus against a whole publication: what an update of three articles writes, and how long it takes.

    python bench/milvus_update.py [--data ../shared/data] [--task fa-qa] [--distractors 300]
    python bench/milvus_update.py --index /tmp/kavosh-scale/n20000/index    # e.g. an index bench/scale.py built

Copies an index (given, or an evaluation task's, built into the evaluation cache when missing) into a temporary
folder and publishes it to a Milvus Lite file there (timed: the whole collection). Then updates three
articles locally (one added, one with its text changed, one deleted; embedding timed apart) and
publishes the new version (timed: only the rows that differ), and, for comparison, publishes the same
new version whole into a collection of its own.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.articles import Article  # noqa: E402
from index.embedder import Embedder  # noqa: E402
from index.milvus.collection import connect  # noqa: E402
from index.milvus.sync import publish  # noqa: E402
from index.pipeline import update_index  # noqa: E402
from index.store import index_lock, open_index, stored_articles  # noqa: E402
from settings import Settings  # noqa: E402
from tasks import add_task_arguments, task_index  # noqa: E402


def timed(label: str, call):
    started = time.perf_counter()
    result = call()
    print(f"{label:<58} {time.perf_counter() - started:7.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_task_arguments(parser)
    parser.add_argument("--index", type=Path, help="use this index folder instead of the task's (its own model)")
    args = parser.parse_args()
    base = Settings.from_env()
    model = open_index(args.index).manifest["model"] if args.index else base.model
    embedder = Embedder(model, base.model_cache, base.bf16)
    source = args.index or task_index(args, embedder)[1]

    with tempfile.TemporaryDirectory(prefix="kavosh-milvus-update-") as tmp:
        index_dir = Path(tmp) / "index"
        shutil.copytree(source, index_dir, symlinks=True)
        settings = Settings.from_env({"KAVOSH_BACKEND": "milvus", "KAVOSH_MILVUS_URI": f"{tmp}/bench.db"})
        client = connect(settings)
        before = open_index(index_dir)
        first = timed(f"publish {before.manifest['passages']} passages, new collection",
                      lambda: publish(before, settings, client))
        articles = list(stored_articles(before).values())
        added = Article(id="bench-new", title="خبر تازه", text=articles[0].text, cat=articles[0].cat)
        changed = replace(articles[1], text=articles[1].text + " این خبر به‌روز شد.")
        with index_lock(index_dir):
            result = timed("update 3 articles locally (embed + write a version)",
                           lambda: update_index(index_dir, embedder, [added, changed], [articles[2].id]))
        after = open_index(index_dir)
        synced = timed("publish the update into the same collection", lambda: publish(after, settings, client))
        whole = timed(f"publish the same version whole ({after.manifest['passages']} passages)",
                      lambda: publish(after, replace(settings, milvus_collection="whole"), client))
        print(f"\nupdate: {result.embedded_passages} passages embedded; Milvus: {synced.inserted} rows written, "
              f"{synced.deleted} deleted (whole publication: {whole.inserted} written; first: {first.inserted}); "
              f"BM25 mean length {100 * synced.drift:+.2f}% from the collection's")
        client.close()


if __name__ == "__main__":
    main()
