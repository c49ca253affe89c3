"""A version's sentence vectors read as one array from the files that hold them: ``sentences.npy``, then the parts
appended updates wrote (``sentences-<version>.npy``, listed in the manifest's ``sentence_parts``, in order).

An appending update (:mod:`index.append`) hard-links the files the live version has and writes a part holding only
its new sentences, instead of copying the largest file of a version (a third of it) to add a few rows to it. A
merge writes them as one file again. Each file is memory-mapped, so every server process shares its pages.
"""
from __future__ import annotations

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


class SentenceVectors:
    """Rows of several memory-mapped ``.npy`` files of one width, read as one array: ``vectors[rows]`` for
    a slice or a sequence of row numbers (what the engine and an update's rewrite ask), ``shape``, ``len``."""

    def __init__(self, parts: Sequence[np.ndarray]) -> None:
        self.parts = list(parts)
        self.starts = np.cumsum([0] + [len(part) for part in self.parts])
        width = {part.shape[1] for part in self.parts}
        if len(width) > 1:
            raise ValueError(f"sentence vector files of different widths: {sorted(width)}")
        self.shape = (int(self.starts[-1]), width.pop())

    @classmethod
    def load(cls, folder: Path, names: Sequence[str]) -> "SentenceVectors | np.ndarray":
        """The files ``names`` of ``folder`` memory-mapped; a lone file is returned as its own array."""
        parts = [np.load(folder / name, mmap_mode="r") for name in names]
        return parts[0] if len(parts) == 1 else cls(parts)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice | Sequence[int] | np.ndarray) -> np.ndarray:
        if isinstance(rows, slice):
            rows = np.arange(self.shape[0])[rows]
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows) and (rows.min() < 0 or rows.max() >= self.shape[0]):
            raise IndexError(f"sentence rows out of 0..{self.shape[0] - 1}")
        part_of = np.searchsorted(self.starts, rows, side="right") - 1
        out = np.empty((len(rows), self.shape[1]), dtype=self.parts[0].dtype)
        for part in np.unique(part_of):
            where = part_of == part
            out[where] = self.parts[part][rows[where] - self.starts[part]]
        return out
