"""What an update changed, and deleting articles by tombstones: the one change that needs neither the model nor
the archive's vectors, so this module imports neither (a deletion runs in about a second, docs/benchmarks.md)."""
from __future__ import annotations

import logging
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from index.store import IndexVersion, LinksUnsupported, write_deletions
from index.tombstones import MERGE_DELETED_SHARE, rows_for

log = logging.getLogger(__name__)


@dataclass
class UpdateResult:
    """What an update changed: articles added, replaced (re-embedded), kept as they were, deleted."""

    version: Path
    added: list[str]
    replaced: list[str]
    unchanged: list[str]
    metadata_only: list[str]
    deleted: list[str]
    unknown_deletions: list[str]
    embedded_passages: int
    reused_passages: int
    written: str = "tombstones only"  # how the version was written: appended, merged (and why), or nothing written


def delete_articles(index_dir: Path, live: IndexVersion, deletions: Sequence[str]) -> UpdateResult | None:
    """Delete articles from the live index by tombstones (:func:`index.store.write_deletions`): no file is
    copied and nothing is embedded or read whole. None when the deleted passages would pass
    ``MERGE_DELETED_SHARE`` of the version's, or where the file system refuses hard links: the caller then
    updates (:func:`index.pipeline.update_index`), which copies the version's files (:mod:`index.append`) or
    merges. Call under ``index_lock``."""
    wanted = list(dict.fromkeys(deletions))
    with closing(live.connect()) as db:
        present = {row[0] for row in rows_for(db, "SELECT id FROM articles WHERE id IN", wanted)}
        deleted = [article_id for article_id in wanted if article_id in present and article_id not in live.tombstones.articles]
        tombstones = live.tombstones.adding(db, deleted)
    unknown = [article_id for article_id in wanted if article_id not in deleted]
    for article_id in unknown:
        log.warning("cannot delete %s: no such article in the index", article_id)
    if len(tombstones.articles) >= live.manifest["articles"]:
        raise ValueError("the update would leave the index empty; the live index is unchanged")
    if len(tombstones.passages) > MERGE_DELETED_SHARE * live.manifest["passages"]:
        log.info("%d of %d passages would be deleted: merging (writing the index again without them)",
                 len(tombstones.passages), live.manifest["passages"])
        return None
    try:
        version = write_deletions(index_dir, live, tombstones) if deleted else live.path
    except LinksUnsupported as exc:
        log.warning("%s: copying the version's files instead", exc)
        return None
    return UpdateResult(version, [], [], [], [], deleted, unknown, 0,
                        live.manifest["passages"] - len(tombstones.passages))
