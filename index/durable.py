"""Writing files so they survive a crash: fsync of files, folders and whole-file writes, folders swapped in whole."""
from __future__ import annotations

import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

COPY_CHUNK = 16 << 20  # bytes read and written at a time when a file is copied byte by byte


@contextmanager
def durable_file(path: Path) -> Iterator[BinaryIO]:
    """``path`` opened for writing; flushed and fsynced when the block ends without an error."""
    with open(path, "wb") as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def write_durably(path: Path, data: bytes) -> None:
    with durable_file(path) as handle:
        handle.write(data)


@contextmanager
def replacing_file(target: Path) -> Iterator[BinaryIO]:
    """Write a new file beside ``target`` through the yielded handle, then fsync it and rename it over
    ``target``: readers see the old file or the whole new one. An error removes the partial file, and a
    crash leaves it as ``.tmp-<name>`` beside ``target`` for the owner to clear."""
    tmp = target.with_name(f".tmp-{target.name}")
    try:
        with durable_file(tmp) as handle:
            yield handle
        os.rename(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def copy_file(source: Path, target: Path) -> None:
    """Copy ``source`` to a new file ``target`` and fsync it: by ``copy_file_range``, which a file system with
    shared extents (XFS, Btrfs) answers without copying a byte until either file is written (so a copy costs
    what is later changed in it), else by reading and writing it."""
    with open(source, "rb") as src, open(target, "wb") as dst:
        try:
            left = os.fstat(src.fileno()).st_size
            while left > 0 and (sent := os.copy_file_range(src.fileno(), dst.fileno(), left)):
                left -= sent
        except OSError:  # not offered between these files (another file system, an old kernel): copy the bytes
            src.seek(0)
            dst.seek(0)
            dst.truncate()
            shutil.copyfileobj(src, dst, COPY_CHUNK)
        dst.flush()
        os.fsync(dst.fileno())


def link_or_copy(source: Path, target: Path) -> bool:
    """Hard-link ``source`` as ``target`` (a version's files never change, so sharing one is safe), or copy it
    where the file system refuses links; True when linked."""
    try:
        os.link(source, target)
        return True
    except OSError:
        copy_file(source, target)
        return False


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fsync_file(path)


@contextmanager
def replacing_folder(target: Path) -> Iterator[Path]:
    """Fill a new folder beside ``target`` (the yielded path), then swap it in for ``target`` by renames:
    readers see the old folder or the new one, never half of one; an error leaves ``target`` as it was."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    tmp = target.parent / f".{target.name}.tmp-{tag}"
    old = target.parent / f".{target.name}.old-{tag}"
    try:
        tmp.mkdir()
        yield tmp
        if target.exists() or target.is_symlink():
            os.rename(target, old)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not target.exists():
            os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
