"""A version's sentence vectors read as one array from the files that hold them: ``sentences.npy``, then the parts
appended updates wrote (``sentences-<version>.npy``, listed in the manifest's ``sentence_parts``, in order).

An appending update (:mod:`index.append`) hard-links the files the live version has and writes a part holding only
its new sentences, instead of copying the largest file of a version (a third of it) to add a few rows to it. A
merge writes them as one file again.

The files are read run of rows by run of rows with positioned reads (``os.preadv``), not memory-mapped. A search
reads the sentences of about a hundred passages scattered over the largest file of a version (2.9 GB at 10^6
passages), and mapped, each run put about 145 KB of the page cache into the process: a server's PSS grew by tens
of MB a search until it held the file (docs/benchmarks.md, "Sentence vectors read, not mapped"). Read pages stay
in the page cache, shared by every process once per machine and counted in none of their PSS; the reads cost
about 2 µs a run, 0.35 ms of a search at the sample size.
"""
from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from index.layout import SENTENCES

PARTS = "sentence_parts"  # the manifest's list of appended part files


def part_name(version_id: str) -> str:
    """The file an appending update that writes version ``version_id`` puts its new sentence vectors in."""
    return f"sentences-{version_id}.npy"


def sentence_files(manifest: dict[str, Any]) -> list[str]:
    """The version's sentence vector files, in row order."""
    return [SENTENCES, *manifest.get(PARTS, [])]


class _Part:
    """One ``.npy`` file of rows held open: where its rows begin, how many, of what."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as handle:
            try:
                version = np.lib.format.read_magic(handle)
                read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                               (2, 0): np.lib.format.read_array_header_2_0}[version]
                shape, fortran_order, self.dtype = read_header(handle)
            except (KeyError, ValueError, EOFError) as exc:
                raise ValueError(f"{path.name} is not a NumPy array file ({exc})") from None
            self.offset = handle.tell()
        if len(shape) != 2 or fortran_order:
            raise ValueError(f"{path.name} holds a {'Fortran-ordered ' if fortran_order else ''}array of shape "
                             f"{shape}, not rows of vectors")
        self.rows, self.width = shape
        self.row_bytes = self.width * self.dtype.itemsize
        size, expected = path.stat().st_size, self.offset + self.rows * self.row_bytes
        if size != expected:
            raise ValueError(f"{path.name} holds {size} bytes, its header says {expected}")
        self.fd = os.open(path, os.O_RDONLY)
        self.path = path
        self.close = weakref.finalize(self, os.close, self.fd)  # closed with the version, or when collected

    def read(self, into: memoryview, position: int) -> None:
        """Fill ``into`` with the file's bytes from ``position`` on: one read but for the rare short one (Linux
        stops a read at about 2 GB)."""
        while into:
            done = os.preadv(self.fd, [into], position)
            if done == 0:
                raise OSError(f"{self.path}: the file ends before byte {position + len(into)}; it was cut short")
            into, position = into[done:], position + done


class SentenceVectors:
    """Rows of one or more ``.npy`` files of one width read as one array: ``vectors[rows]`` for a slice or a
    sequence of row numbers (what the engine and an update's rewrite ask), ``shape``, ``len``; each run of
    consecutive rows is one read."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.parts = [_Part(path) for path in paths]
        for kind, values in (("widths", {part.width for part in self.parts}),
                             ("types", {part.dtype for part in self.parts})):
            if len(values) > 1:
                for part in self.parts:
                    part.close()
                raise ValueError(f"sentence vector files of different {kind}: {sorted(map(str, values))}")
        self.starts = np.cumsum([0] + [part.rows for part in self.parts])
        self.headers = np.array([part.offset for part in self.parts])  # where each file's rows begin
        self.shape = (int(self.starts[-1]), self.parts[0].width)
        self.dtype = self.parts[0].dtype

    @classmethod
    def load(cls, folder: Path, names: Sequence[str]) -> "SentenceVectors":
        """The files ``names`` of ``folder``, opened."""
        return cls([folder / name for name in names])

    def close(self) -> None:
        for part in self.parts:
            part.close()

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice | Sequence[int] | np.ndarray) -> np.ndarray:
        if isinstance(rows, slice):
            rows = np.arange(*rows.indices(self.shape[0]))
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows) and (rows.min() < 0 or rows.max() >= self.shape[0]):
            raise IndexError(f"sentence rows out of 0..{self.shape[0] - 1}")
        out = np.empty((len(rows), self.shape[1]), dtype=self.dtype)
        if not len(rows):
            return out
        part_of = np.searchsorted(self.starts, rows, side="right") - 1
        # a run ends where the next row is not the next one of the same file; per run, where its bytes go in
        # ``out``, how many, and where they are in their file (worked out for all runs at once: ~2 µs a run)
        begins = np.flatnonzero(np.r_[True, (np.diff(rows) != 1) | (np.diff(part_of) != 0)])
        row_bytes = self.parts[0].row_bytes
        parts = part_of[begins]
        offsets = self.headers[parts] + (rows[begins] - self.starts[parts]) * row_bytes
        bounds = np.r_[begins, len(rows)] * row_bytes
        whole = memoryview(out.reshape(-1).view(np.uint8))
        for part, start, end, position in zip(parts.tolist(), bounds[:-1].tolist(), bounds[1:].tolist(),
                                              offsets.tolist()):
            self.parts[part].read(whole[start:end], position)
        return out
