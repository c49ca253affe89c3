"""``python -m index.info``: what the live index holds (version, model, counts, categories, dates), without loading the model."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from index.store import IndexUnavailable, open_index
from settings import Settings


def describe(index_dir: Path) -> dict[str, Any]:
    """The live version's manifest facts plus its categories and date range, read from its database; counts
    leave out articles deleted since the last merge (``deleted_articles``)."""
    version = open_index(index_dir)
    facts = {key: version.manifest[key] for key in ("version", "model", "dimension", "built_at")}
    facts.update(articles=version.live_articles, passages=version.live_passages,
                 deleted_articles=len(version.tombstones.articles),
                 # what decides when an update merges (index.append.merge_reason)
                 dead_passages=len(version.tombstones.passages),
                 appended_passages=version.manifest.get("appended", 0),
                 segments=len(version.manifest.get("segments", [])))  # index.segments
    live, parameters = version.tombstones.excluded("id")
    db = version.connect()
    try:
        facts["categories"] = {cat: n for cat, n in db.execute(
            f"SELECT cat, COUNT(*) FROM articles WHERE cat != ''{live} GROUP BY cat ORDER BY COUNT(*) DESC, cat", parameters)}
        first, last, dated = db.execute(f"SELECT MIN(date), MAX(date), COUNT(date) FROM articles WHERE 1{live}",
                                        parameters).fetchone()
    finally:
        db.close()
    facts["dates"] = {"first": first, "last": last, "dated_articles": dated}
    return facts


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m index.info", description=__doc__.splitlines()[0].split(": ", 1)[1])
    parser.add_argument("--index", type=Path, default=settings.index_dir, help="index folder (env KAVOSH_INDEX; default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the facts as JSON")
    args = parser.parse_args(argv)
    try:
        facts = describe(args.index)
    except IndexUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(facts, ensure_ascii=False, indent=2))
        return 0
    for key in ("version", "model", "dimension", "articles", "passages", "deleted_articles", "dead_passages",
                "appended_passages", "segments", "built_at"):
        print(f"{key}: {facts[key]}")
    dates = facts["dates"]
    print(f"dates: {dates['first'] or '-'} to {dates['last'] or '-'} ({dates['dated_articles']} articles dated)")
    print("categories: " + (", ".join(f"{cat} ({n})" for cat, n in facts["categories"].items()) or "(none)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
