"""Writing an index version: written aside, fsynced, verified, then switched to atomically.

The index folder's public names (lock, opening, errors, reading back) are imported here too, so
``index.store`` is the one place callers import the folder's operations from; each lives in a module
named for what it holds (``index.layout``, ``index.lock``, ``index.verify``, ``index.records``,
``index.duplicates``, ``index.errors``, ``index.faults``).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
from tqdm import tqdm

from index.articles import Article
from index.durable import durable_file, fsync_dir, fsync_file, write_durably
from index.errors import IndexBusy, IndexDamaged, IndexMissing, IndexUnavailable, ModelMismatch
from index.faults import crash_point
from index.layout import (DATABASE, FORMAT_VERSION, LEXICAL, MANIFEST, SENTENCES, file_facts, live_path,
                          remove_leftovers, switch_to)
from index.lexical import Analyzed, write_lexical
from index.lock import index_lock
from index.passages import Passage
from index.rows import Rows
from index.records import content_hash, stored_articles, write_database
from index.segments import EXTENDS, extends_after
from index.tantivy_lexical import write_tantivy
from index.tombstones import TOMBSTONES, Tombstones
from index.vectors.base import VectorBlocks, VectorIndex
from index.vectors.factory import AUTO, choose_kind, vector_index_class
from index.verify import IndexVersion, open_index, open_version, require_model

__all__ = ["DATABASE", "FORMAT_VERSION", "LEXICAL", "MANIFEST", "SENTENCES", "IndexBusy", "IndexDamaged",
           "IndexMissing", "IndexUnavailable", "IndexVersion", "ModelMismatch", "content_hash", "crash_point",
           "index_lock", "live_path", "open_index", "open_version", "remove_leftovers", "require_model",
           "LinksUnsupported", "make_live", "new_version_folder", "now", "stored_articles", "write_database",
           "write_deletions", "write_version"]

log = logging.getLogger(__name__)


def write_version(
    index_dir: Path,
    articles: Rows[Article],
    passages: Rows[Passage],
    vectors: np.ndarray | VectorBlocks,
    sentence_vectors: np.ndarray | VectorBlocks,
    model: str,
    build_info: dict[str, Any],
    vector_index: str = AUTO,
    lexical: Iterable[str | Analyzed] | None = None,
    text_keys: Mapping[str, str] | None = None,
    progress: bool = False,
) -> Path:
    """Write a complete version beside the live one, verify it, then make it live. Call under :func:`index_lock`.
    ``passages`` come in their articles' order; both are read a few times, one by one, so either may be a
    sequence that reads them from disk (a rebuild's, :mod:`index.staging`, ``index.pipeline``).
    ``vectors`` holds one vector per passage, ``sentence_vectors`` those of every passage's sentences, both in
    passage order: arrays, or :class:`VectorBlocks` read one block at a time (a rebuild reads its shards so,
    never holding all the vectors at once). ``vector_index`` names the vector backend
    (:mod:`index.vectors.factory`), or ``auto`` to choose it by size. ``lexical``: what the lexical index
    reads of each passage, in order, when the caller has it (:func:`index.lexical.write_lexical`); by
    default each passage's title and text, analyzed. ``text_keys``: the duplicate keys the caller already
    knows (:func:`index.records.write_database`). ``progress``: a bar of the stages (minutes each at 10^6
    passages)."""
    backend = vector_index_class(choose_kind(len(passages), vector_index))
    vectors = vectors if isinstance(vectors, VectorBlocks) else VectorBlocks.of(vectors)
    sentence_vectors = sentence_vectors if isinstance(sentence_vectors, VectorBlocks) else VectorBlocks.of(sentence_vectors)
    if len(passages) != vectors.rows:
        raise ValueError(f"{len(passages)} passages but {vectors.rows} vectors")
    if sum(len(p.sentences) for p in passages) != sentence_vectors.rows:
        raise ValueError(f"{sum(len(p.sentences) for p in passages)} sentences but {sentence_vectors.rows} sentence vectors")
    version_id, tmp = new_version_folder(index_dir)
    stages = tqdm(total=6, desc="writing the version", unit="stage", disable=not progress)
    try:
        ids = np.arange(len(passages), dtype=np.int64)
        with _stage(stages, "writing the database"):
            write_database(tmp / DATABASE, articles, passages, text_keys)
        crash_point("database-written")
        with _stage(stages, f"writing the {backend.kind} vector index"):
            vector_parameters = _write_vector_index(backend, vectors, ids, tmp)
        crash_point("vectors-written")
        with _stage(stages, "writing FTS5's lexical index"):
            write_lexical(tmp / LEXICAL, _lexical_texts(articles, passages) if lexical is None else lexical)
            fsync_file(tmp / LEXICAL)
        crash_point("lexical-written")
        with _stage(stages, "writing tantivy's lexical index"):
            tantivy, _ = write_tantivy(tmp)
        crash_point("tantivy-written")
        with _stage(stages, "writing the sentence vectors"):
            _write_sentence_vectors(tmp / SENTENCES, sentence_vectors)
        manifest = {
            "format": FORMAT_VERSION,
            "version": version_id,
            "lineage": version_id,  # a rebuild starts a lineage; an update's build_info carries its own
            "model": model,
            "dimension": vectors.dimension,
            "vector_index": backend.kind,
            "vector_parameters": vector_parameters,
            "articles": len(articles),
            "passages": len(passages),
            "built_at": now(),
            "files": {name: file_facts(tmp / name) for name in (DATABASE, *backend.files, LEXICAL, *tantivy, SENTENCES)},
            **build_info,
        }
        write_durably(tmp / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2).encode())
        crash_point("manifest-written")
        with _stage(stages, "verifying the version"):
            open_version(tmp, verify_checksums=True).close()
        final = make_live(index_dir, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        stages.close()
    log.info("index version %s is live: %d articles, %d passages", version_id, len(articles), len(passages))
    return final


def _write_vector_index(backend: type[VectorIndex], vectors: VectorBlocks, ids: np.ndarray,
                        folder: Path) -> dict[str, int]:
    """Build the vector index into ``folder`` and return its parameters. Its memory (0.8 GB at 10^6 passages) is
    freed on return, before the lexical indexes are written (docs/benchmarks.md, "A real 10^6 rebuild")."""
    vector_index = backend.build_from(vectors, ids)
    vector_index.save(folder)
    return vector_index.parameters


@contextmanager
def _stage(stages: tqdm, name: str) -> Iterator[None]:
    """One of :func:`write_version`'s stages: named on its bar (and logged, for a log without a terminal),
    counted when done."""
    stages.set_postfix_str(name)
    log.info("%s", name)
    yield
    stages.update()


def write_deletions(index_dir: Path, live: IndexVersion, tombstones: Tombstones) -> Path:
    """Make live a version that is ``live`` with ``tombstones`` (its own and the new ones,
    :meth:`Tombstones.adding`): every file of ``live`` is hard-linked, never copied or read whole, so the cost
    is that of the deleted articles. Call under :func:`index_lock`."""
    version_id, tmp = new_version_folder(index_dir)
    try:
        files = {name: facts for name, facts in live.manifest["files"].items() if name != TOMBSTONES}
        for name in files:
            (tmp / name).parent.mkdir(exist_ok=True)  # the tantivy folder's files
            try:
                os.link(live.path / name, tmp / name)  # a version is never written again: sharing its files is safe
            except OSError as exc:
                raise LinksUnsupported(f"cannot hard-link {live.path / name} ({exc.strerror})") from exc
        write_durably(tmp / TOMBSTONES, tombstones.to_json())
        crash_point("tombstones-written")
        manifest = {**live.manifest, "version": version_id, "built_at": now(), EXTENDS: extends_after(live.manifest),
                    "deleted": {"articles": len(tombstones.articles), "passages": len(tombstones.passages)},
                    "files": {**files, TOMBSTONES: file_facts(tmp / TOMBSTONES)}}
        write_durably(tmp / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2).encode())
        crash_point("manifest-written")
        # the linked files are the live version's own (verified when it was written): their sizes and counts
        # are checked, the tombstones' checksum too, without reading the archive's files again
        if not open_version(tmp, load_vectors=False).shares_files_with(live):
            raise IndexDamaged(f"{tmp}: its files are not the live version's")
        final = make_live(index_dir, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("index version %s is live: %d articles deleted, %d in all since the last merge", version_id,
             len(tombstones.articles) - len(live.tombstones.articles), len(tombstones.articles))
    return final


def _lexical_texts(articles: Iterable[Article], passages: Iterable[Passage]) -> Iterator[str]:
    """What the lexical index reads of each passage: its article's title, then its text. A walk through
    both in step (passages come in their articles' order), so no table of every title is held."""
    remaining = iter(articles)
    article: Article | None = None
    for passage in passages:
        while article is None or article.id != passage.article_id:
            article = next(remaining, None)
            if article is None:
                raise ValueError(f"a passage of article {passage.article_id} is out of its articles' order")
        yield f"{article.title}\n{passage.text}"


class LinksUnsupported(OSError):
    """The index folder's file system refuses hard links, so a version cannot share the live one's files."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_version_folder(index_dir: Path) -> tuple[str, Path]:
    """A new version id and the folder it is written in, beside the live one (``versions/.tmp-<id>``). Ids
    sort in the order versions are made, to the microsecond: :func:`index.layout.remove_leftovers` keeps the
    last two by name (with whole seconds, two versions made in one second sorted by their random suffix)."""
    version_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f") + "-" + uuid.uuid4().hex[:6]
    versions = index_dir / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    tmp = versions / f".tmp-{version_id}"
    tmp.mkdir()
    return version_id, tmp


def make_live(index_dir: Path, tmp: Path) -> Path:
    """Rename a written and verified version folder to its final name and switch ``current`` to it."""
    crash_point("verified")
    final = tmp.parent / tmp.name[len(".tmp-"):]
    os.rename(tmp, final)
    fsync_dir(tmp.parent)
    crash_point("renamed")
    switch_to(index_dir, final)
    crash_point("switched")
    remove_leftovers(index_dir)
    return final


def _write_sentence_vectors(path: Path, blocks: VectorBlocks) -> None:
    """The sentence vectors as a float16 ``.npy`` file, written block by block (one in memory at a time)."""
    with durable_file(path) as handle:
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)), "fortran_order": False,
                  "shape": (blocks.rows, blocks.dimension)}
        np.lib.format.write_array_header_1_0(handle, header)
        for _, block in blocks.checked("sentence vectors"):
            handle.write(np.ascontiguousarray(block, dtype=np.float16).tobytes())
