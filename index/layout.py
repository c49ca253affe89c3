"""The index folder's layout: file names, the live version, switching to a new one, removing old ones.

Layout of an index folder::

    INDEX/current            symlink to the live version (replaced atomically)
    INDEX/versions/<id>/     manifest.json, vectors.faiss, index.sqlite, lexical.sqlite (BM25, see index.lexical),
                             lexical.tantivy/ (the same terms in tantivy, index.tantivy_lexical, and each
                             passage's term hashes, index.term_table),
                             tombstones.json after a deletion (index.tombstones; the other files then link
                             the version before's) or an update that appended (index.append), which also
                             writes vectors-<id>.faiss|.ivf and sentences-<id>.npy parts (index.vectors.parts,
                             index.sentence_parts) and links the parts before; above index.segments.SEGMENTS_FROM
                             passages it links the databases too and writes records-<id>.sqlite (index.segments)
    INDEX/versions/.tmp-*    a version being written; removed when a later run finds it
    INDEX/builds/<key>/      a rebuild's finished shards, kept until its version is live (index.checkpoints);
                             not a leftover: a rebuild with the same sources resumes from them
    INDEX/.staging-articles.sqlite  a rebuild's articles read from its sources (index.staging); read again
                             by the next rebuild, so a leftover is removed
    INDEX/.lock              held by the one rebuild or update allowed at a time

Readers resolve ``current`` once and keep using that version, so a switch never mixes two versions.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from index.durable import fsync_dir
from index.faults import crash_point

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 2: lexical.sqlite and articles.duplicate_of; 3: sentences and their vectors
MANIFEST = "manifest.json"
DATABASE = "index.sqlite"
LEXICAL = "lexical.sqlite"
TANTIVY = "lexical.tantivy"  # a folder: the lexical index again, in tantivy (index.tantivy_lexical)
SENTENCES = "sentences.npy"  # one float16 vector per row of the sentences table, in rowid order
STAGING = ".staging-articles.sqlite"  # a running rebuild's articles (index.staging), in the index folder
KEEP_VERSIONS = 2  # the live version and the one before it, for readers still finishing on it


def live_path(index_dir: Path) -> Path | None:
    """The version folder ``index_dir/current`` points at, or None when there is no live version."""
    current = index_dir / "current"
    return current.resolve() if current.is_symlink() else None


def remove_leftovers(index_dir: Path) -> None:
    """Delete what an interrupted run left behind and versions no reader needs any more."""
    (index_dir / STAGING).unlink(missing_ok=True)
    versions = index_dir / "versions"
    if not versions.is_dir():
        return
    for path in versions.glob(".tmp-*"):
        log.info("removing unfinished version %s", path.name)
        shutil.rmtree(path, ignore_errors=True)
    for link in index_dir.glob(".current-*"):
        link.unlink(missing_ok=True)
    live = live_path(index_dir)
    finished = sorted((p for p in versions.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)
    for path in finished[:-KEEP_VERSIONS]:
        if path != live:
            shutil.rmtree(path, ignore_errors=True)


def switch_to(index_dir: Path, version: Path) -> None:
    link = index_dir / f".current-{version.name}"
    link.unlink(missing_ok=True)
    link.symlink_to(version.relative_to(index_dir))
    crash_point("link-made")
    os.replace(link, index_dir / "current")
    fsync_dir(index_dir)


def file_facts(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": sha256(path)}


def sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
