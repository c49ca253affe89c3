"""A rebuild's finished shards, kept on disk so that a rebuild stopped halfway resumes where it stopped.

``INDEX/builds/<key>/shard-<n>.npz`` holds the passages, passage vectors and sentence vectors of the
n-th run of consecutive articles. The key is a hash of everything that decides those contents (the
articles' ids and content hashes in order, the model, the chunking and precision, the shard size), so a
rebuild with other sources or settings never reuses a shard; it removes the stale folders instead.
Each shard is written aside, fsynced and renamed, so a shard file that exists is whole.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from index.articles import Article
from index.durable import fsync_dir, replacing_file
from index.passages import Passage
from index.records import content_hash

log = logging.getLogger(__name__)

BUILDS = "builds"
CHECKPOINT_FORMAT = 1  # bumped when a shard file's contents change


_READ_ERRORS = (OSError, ValueError, KeyError, zipfile.BadZipFile)


@dataclass(frozen=True)
class Shard:
    """A shard's passages and their vectors, as :func:`index.store.write_version` takes them."""

    passages: list[Passage]
    vectors: np.ndarray
    sentence_vectors: np.ndarray


def build_key(articles: Sequence[Article], model: str, build_info: dict[str, Any], shard_articles: int) -> str:
    """A name for what a rebuild will produce: equal keys mean equal shards."""
    digest = hashlib.sha256(json.dumps([CHECKPOINT_FORMAT, model, build_info, shard_articles], sort_keys=True).encode())
    for article in articles:
        digest.update(f"\n{article.id}\t{content_hash(article)}".encode())
    return digest.hexdigest()[:32]


class BuildCheckpoint:
    """The finished shards of one rebuild (one key) in ``INDEX/builds/<key>``."""

    def __init__(self, index_dir: Path, key: str) -> None:
        self.folder = index_dir / BUILDS / key

    @classmethod
    def open(cls, index_dir: Path, key: str) -> "BuildCheckpoint":
        """The checkpoint for ``key``, created if new; other keys' folders and unfinished shard files
        are removed. Call under ``index_lock``."""
        checkpoint = cls(index_dir, key)
        builds = checkpoint.folder.parent
        if builds.is_dir():
            for stale in builds.iterdir():
                if stale != checkpoint.folder:
                    log.info("removing the checkpoint of an earlier rebuild with other sources or settings: %s", stale.name)
                    shutil.rmtree(stale, ignore_errors=True)
        checkpoint.folder.mkdir(parents=True, exist_ok=True)
        for unfinished in checkpoint.folder.glob(".tmp-*"):
            unfinished.unlink(missing_ok=True)
        fsync_dir(builds)
        return checkpoint

    def path(self, number: int) -> Path:
        return self.folder / f"shard-{number:06d}.npz"

    def load(self, number: int, articles: Sequence[Article]) -> Shard | None:
        """Shard ``number`` (of ``articles``) if it was finished and reads back whole, else None."""
        path = self.path(number)
        if not path.is_file():
            return None
        try:
            raw, vectors, sentence_vectors = self._members(number, "passages", "vectors", "sentence_vectors")
            passages = _passages(raw, articles)
        except _READ_ERRORS as error:
            log.warning("checkpoint shard %s is damaged (%s); cutting and embedding it again", path.name, error)
            path.unlink(missing_ok=True)
            return None
        if len(vectors) != len(passages) or len(sentence_vectors) != sum(len(p.sentences) for p in passages):
            log.warning("checkpoint shard %s does not add up; cutting and embedding it again", path.name)
            path.unlink(missing_ok=True)
            return None
        return Shard(passages, vectors, sentence_vectors)

    def passages(self, number: int, articles: Sequence[Article], count: int) -> list[Passage]:
        """Only the passages of finished shard ``number`` (of ``articles``), which must hold ``count``."""
        return self._counted(number, _passages(self._read_back(number, "passages"), articles), count)

    def vectors(self, number: int, member: str, count: int) -> np.ndarray:
        """Only the ``vectors`` or ``sentence_vectors`` of finished shard ``number``, which must hold ``count``."""
        return self._counted(number, self._read_back(number, member), count)

    def _members(self, number: int, *names: str) -> list[np.ndarray]:
        with np.load(self.path(number), allow_pickle=False) as data:  # reading a member checks its CRC
            return [data[name] for name in names]

    def _read_back(self, number: int, member: str) -> np.ndarray:
        """One member of a shard this run already checked; OSError if it can no longer be read."""
        try:
            return self._members(number, member)[0]
        except _READ_ERRORS as error:
            raise OSError(f"checkpoint shard {self.path(number)} cannot be read back ({error}); run the rebuild again") from None

    def _counted(self, number: int, rows: Any, count: int) -> Any:
        if len(rows) != count:
            raise OSError(f"checkpoint shard {self.path(number)} changed while the rebuild ran; run it again")
        return rows

    def save(self, number: int, shard: Shard) -> None:
        """Write shard ``number`` aside, fsync it and rename it into place."""
        rows = [[p.article_id, p.position, p.start, p.end, p.sentences] for p in shard.passages]
        with replacing_file(self.path(number)) as handle:
            np.savez(handle, passages=np.frombuffer(json.dumps(rows, ensure_ascii=False).encode(), dtype=np.uint8),
                     vectors=shard.vectors, sentence_vectors=shard.sentence_vectors)

    def remove(self) -> None:
        """Delete the shards once the version built from them is live."""
        shutil.rmtree(self.folder, ignore_errors=True)
        builds = self.folder.parent
        if builds.is_dir() and not any(builds.iterdir()):
            builds.rmdir()


def _passages(raw: np.ndarray, articles: Sequence[Article]) -> list[Passage]:
    """A shard's stored passage rows as passages, their texts cut from ``articles`` again."""
    by_id = {article.id: article for article in articles}
    return [Passage(aid, position, start, end, by_id[aid].text[start:end], tuple(map(tuple, spans)))
            for aid, position, start, end, spans in json.loads(raw.tobytes())]
