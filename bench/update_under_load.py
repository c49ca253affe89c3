"""An update while 8 clients search (not a test): no request may fail, and each response must come wholly
from one index version.

    python bench/update_under_load.py --index var/fars-index [--clients 8] [--changes 50] [--deletions-only | --merge]

The live version of ``--index`` is copied to a temporary folder and served by gunicorn on a free loopback
port. While the clients search, ``python -m index.update`` adds ``--changes`` new articles and deletes as
many existing ones (``--deletions-only``: only deletes, which tombstones them, docs/design.md; ``--merge``: the
update writes the version whole, as ``--rewrite`` asks). Every response names the version that answered it; a response from the old version
must not contain an added article, one from the new version no deleted article.
"""
from __future__ import annotations

import argparse
import http.client
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.load_web import ROOT, free_port, load_queries, start_gunicorn, variant, wait_ready  # noqa: E402
from index.articles import Article  # noqa: E402
from index.store import open_index, stored_articles  # noqa: E402


def copy_live_version(index: Path, target: Path) -> None:
    live = open_index(index).path
    (target / "versions").mkdir(parents=True)
    shutil.copytree(live, target / "versions" / live.name)
    (target / "current").symlink_to(Path("versions") / live.name)


def plan_changes(articles: list[Article], count: int, folder: Path) -> tuple[Path, list[str], list[str]]:
    """A file of ``count`` new articles (copies of existing ones under new ids) and ``count`` ids to delete."""
    deleted = [article.id for article in articles[:count]]
    added = []
    with open(folder / "added.jsonl", "w", encoding="utf-8") as handle:
        for article in articles[count:2 * count]:
            new_id = f"{article.id}#republished"
            added.append(new_id)
            record = {"id": new_id, "title": article.title, "text": article.text, "cat": article.cat}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return folder / "added.jsonl", deleted, added


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--after", type=float, default=10.0, help="seconds of load after the switch")
    parser.add_argument("--deletions-only", action="store_true", help="delete --changes articles, add none")
    parser.add_argument("--merge", action="store_true", help="the update merges (--rewrite) instead of appending")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="kavosh-update-load-"))
    index = work / "index"
    copy_live_version(args.index, index)
    live = open_index(index)
    articles = list(stored_articles(live).values())
    added_file, deleted, added = plan_changes(articles, args.changes, work)
    sources = [str(added_file)]
    if args.deletions_only:
        sources, added = [], []
    old_version = live.manifest["version"]
    queries = load_queries(ROOT / "bench" / "queries.txt", ROOT.parent / "shared" / "data")
    # queries that name the changed articles, so that both kinds of response are really exercised
    queries = [article.title for article in articles[:args.changes] if article.title] + queries

    port = free_port()
    log = work / "gunicorn.log"
    server = start_gunicorn(index, port, {}, log)
    records: list[tuple[float, int, str | None, list[str]]] = []
    lock = threading.Lock()
    stop = threading.Event()
    counter = iter(range(10**9))

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while not stop.is_set():
            with lock:
                i = next(counter)
            try:
                conn.request("GET", f"/api/search?q={quote(variant(queries, i))}&k=10")
                response = conn.getresponse()
                body = json.loads(response.read())
                record = (time.monotonic(), response.status, body.get("index_version"),
                          [r["article_id"] for r in body.get("results", [])])
            except (OSError, http.client.HTTPException, ValueError):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                record = (time.monotonic(), 0, None, [])
            with lock:
                records.append(record)

    try:
        wait_ready("127.0.0.1", port, server, log)
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        time.sleep(5)
        update_started = time.monotonic()
        completed = subprocess.run(
            [sys.executable, "-m", "index.update", *sources, "--delete", *deleted, "--index", str(index), "--quiet",
             *(["--rewrite"] if args.merge else [])],
            cwd=ROOT, capture_output=True, text=True)
        update_ended = time.monotonic()
        if completed.returncode != 0:
            raise SystemExit(f"the update failed:\n{completed.stderr[-3000:]}")
        new_manifest = open_index(index).manifest
        new_version = new_manifest["version"]
        written = "appended to a copy of the live one" if "appended" in new_manifest else "written whole (a merge)"
        time.sleep(args.after)
        stop.set()
        for thread in threads:
            thread.join()
    finally:
        server.terminate()
        server.wait(timeout=30)

    added_set, deleted_set = set(added), set(deleted)
    failed = sum(1 for _, status, _, _ in records if status != 200)
    by_version = Counter(version for _, status, version, _ in records if status == 200)
    mixed = sum(
        1 for _, status, version, ids in records if status == 200 and (
            (version == old_version and added_set & set(ids)) or (version == new_version and deleted_set & set(ids))
            or version not in (old_version, new_version))
    )
    during = sum(1 for t, *_ in records if update_started <= t <= update_ended)
    switched_at = min((t for t, _, version, _ in records if version == new_version), default=None)
    print(f"update: +{len(added)} articles, -{len(deleted)} articles, {update_ended - update_started:.1f} s "
          f"({completed.stdout.strip().splitlines()[0]})")
    print(f"requests: {len(records)} in all, {during} while the update ran, failed {failed}")
    print(f"answered by old version {old_version}: {by_version[old_version]}, by new {new_version}: {by_version[new_version]}"
          f" (the new version was {written})")
    if switched_at is not None:
        print(f"first answer from the new version {switched_at - update_started:.1f} s after the update started "
              f"(the command exited after {update_ended - update_started:.1f} s)")
    print(f"responses mixing versions (old with an added article, new with a deleted one, or unknown): {mixed}")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if failed == 0 and mixed == 0 and by_version[new_version] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
