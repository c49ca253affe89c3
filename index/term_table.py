"""Which terms each passage holds, as 32-bit hashes in memory-mapped arrays: how hybrid learns which query terms
each of its lexical hits holds without reading the hits' rows of ``lexical.sqlite``.

Hybrid weighs a hit's BM25 by the share of the query's IDF its terms cover, so every one of its thousand hits
needs the set of query terms it holds. Tantivy does not hand that out, and reading the hits' stored rows from
SQLite cost 12–16 ms a query at 10^6 passages; these arrays answer the same in about 2 ms (docs/benchmarks.md,
"Matched terms from a hash table"). A passage's distinct terms are stored as the CRC-32 of their UTF-8 bytes,
sorted, one run per passage; two terms share a hash about once in 4·10^9 pairs, and then a hit is credited with a
query term it does not hold (its BM25, read from tantivy, is exact all the same).

The arrays live in the version's tantivy folder, beside the index they serve, in parts of consecutive passage ids
(``terms-<first id>.offsets.npy``: where each passage's run ends; ``terms-<first id>.hashes.npy``: the runs):
a rebuild or merge writes one part, an appending update links the live version's parts and adds one for its new
passages (:func:`index.tantivy_lexical.write_tantivy`), past :data:`MAX_PARTS` folding all but the first into it.
A version written before them has none, and its hits' terms are read from SQLite as before.
"""
from __future__ import annotations

import re
import zlib
from array import array
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from index.durable import durable_file
from index.ranges import run_rows

MAX_PARTS = 16  # past this many parts an update folds all but the first into its own, as for vector parts
PART = re.compile(r"terms-(\d+)\.offsets\.npy")
TERMS = 3  # where a row of index.tantivy_lexical.ROWS holds its terms


def part_files(first: int) -> tuple[str, str]:
    """The offsets and hashes files of the part whose first passage id is ``first``."""
    return f"terms-{first:012d}.offsets.npy", f"terms-{first:012d}.hashes.npy"


def term_hashes(terms: Iterable[str]) -> np.ndarray:
    """The sorted distinct hashes of ``terms``."""
    return np.unique(np.fromiter((zlib.crc32(term.encode()) for term in terms), dtype=np.uint32))


def part_firsts(folder: Path) -> list[int]:
    """The first passage id of each part in ``folder``, in order."""
    return sorted(int(match.group(1)) for path in folder.glob("terms-*.offsets.npy")
                  if (match := PART.fullmatch(path.name)))


class PartWriter:
    """The part of passages ``first``, ``first + 1``, … gathered row by row while another writer reads the same
    rows (:func:`index.tantivy_lexical.write_tantivy`), then written. Holds only the hashes, compactly (about
    250 MB at 10^6 passages)."""

    def __init__(self, first: int) -> None:
        self.first = first
        self.ends = array("q")
        self.hashes = array("I")

    def recording(self, rows: Iterable[tuple]) -> Iterator[tuple]:
        """``rows`` (passage id, …, terms joined by spaces at ``TERMS``) passed on, their terms recorded; they must
        come in id order from ``first`` on: a gap would shift every later passage's run."""
        for row in rows:
            expected = self.first + len(self.ends)
            if row[0] != expected:
                raise ValueError(f"term table rows out of order: passage {row[0]} where {expected} was due")
            self.hashes.extend(term_hashes(row[TERMS].split()).tolist())
            self.ends.append(len(self.hashes))
            yield row

    def write(self, folder: Path) -> list[str]:
        """Write the part into ``folder``; returns its file names."""
        return _write(folder, self.first, np.frombuffer(self.ends, dtype=np.int64),
                      [np.frombuffer(self.hashes, dtype=np.uint32)])


def fold_parts(folder: Path, firsts: Sequence[int], source: Path) -> list[str]:
    """Write one part in ``folder`` holding the parts of ``source`` that start at ``firsts`` (consecutive),
    copying their runs; returns its files."""
    tables = [_load(source, first) for first in firsts]
    ends, base = [], 0
    for offsets, hashes in tables:
        ends.append(np.asarray(offsets, dtype=np.int64) + base)
        base += len(hashes)
    return _write(folder, firsts[0], np.concatenate(ends), [hashes for _, hashes in tables])


def _write(folder: Path, first: int, ends: np.ndarray, runs: list[np.ndarray]) -> list[str]:
    offsets_name, hashes_name = part_files(first)
    with durable_file(folder / offsets_name) as handle:
        np.save(handle, ends)
    with durable_file(folder / hashes_name) as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint32)),
                                                      "fortran_order": False, "shape": (int(sum(map(len, runs))),)})
        for run in runs:
            handle.write(np.ascontiguousarray(run, dtype=np.uint32).tobytes())
    return [offsets_name, hashes_name]


def _load(folder: Path, first: int) -> tuple[np.ndarray, np.ndarray]:
    offsets_name, hashes_name = part_files(first)
    return np.load(folder / offsets_name, mmap_mode="r"), np.load(folder / hashes_name, mmap_mode="r")


class TermTable:
    """The term hashes of every passage of a version, read from its parts (memory-mapped: the servers' processes
    share their pages)."""

    def __init__(self, folder: Path, firsts: Sequence[int]) -> None:
        self.firsts = np.asarray(firsts, dtype=np.int64)
        self.parts = [_load(folder, first) for first in firsts]
        self.passages = int(self.firsts[-1]) + len(self.parts[-1][0])

    @classmethod
    def load(cls, folder: Path) -> "TermTable | None":
        """The table in ``folder``; None when it holds no part (a version written before them)."""
        firsts = part_firsts(folder)
        return cls(folder, firsts) if firsts else None

    def problem(self, passages: int) -> str | None:
        """What is wrong with the table for a version of ``passages`` passages, or None."""
        for (offsets, hashes), first, end in zip(self.parts, self.firsts, [*self.firsts[1:], passages]):
            if len(offsets) != end - first:
                return f"its term table part from passage {first} holds {len(offsets)} passages, not {end - first}"
            if len(offsets) and offsets[-1] != len(hashes):
                return f"its term table part from passage {first} holds {len(hashes)} hashes, its offsets end at {offsets[-1]}"
        if self.firsts[0] != 0:
            return f"its term table starts at passage {self.firsts[0]}"
        return None

    def holding(self, ids: Sequence[int], terms: Sequence[str]) -> Iterator[tuple[int, frozenset[str]]]:
        """Each passage of ``ids`` with the ``terms`` it holds (up to 63 distinct terms: a bit each; a search
        asks at most ``MAX_QUERY_TERMS``)."""
        terms = list(dict.fromkeys(terms))
        if len(terms) > 63:
            raise ValueError(f"{len(terms)} distinct terms asked; the term table tells 63 apart")
        ids = np.asarray(ids, dtype=np.int64)
        masks = np.zeros(len(ids), dtype=np.int64)
        if not terms:
            yield from ((passage_id, frozenset()) for passage_id in ids.tolist())
            return
        # each distinct hash and the bits of the terms that have it (two terms may share one)
        wanted, term_of = np.unique([zlib.crc32(term.encode()) for term in terms], return_inverse=True)
        wanted = wanted.astype(np.uint32)
        bits = np.zeros(len(wanted), dtype=np.int64)
        np.bitwise_or.at(bits, term_of, np.left_shift(1, np.arange(len(terms), dtype=np.int64)))
        part_of = np.searchsorted(self.firsts, ids, side="right") - 1
        for part in np.unique(part_of):
            where = np.flatnonzero(part_of == part)
            offsets, hashes = self.parts[part]
            local = ids[where] - self.firsts[part]
            ends = np.asarray(offsets[local], dtype=np.int64)
            starts = np.where(local > 0, np.asarray(offsets[np.maximum(local - 1, 0)], dtype=np.int64), 0)
            counts = ends - starts
            found = np.asarray(hashes[run_rows(starts, counts)])
            at = np.minimum(np.searchsorted(wanted, found), len(wanted) - 1)
            hit = wanted[at] == found
            owner = np.repeat(where, counts)
            np.bitwise_or.at(masks, owner[hit], bits[at[hit]])
        sets: dict[int, frozenset[str]] = {}
        for passage_id, mask in zip(ids.tolist(), masks.tolist()):
            if mask not in sets:
                sets[mask] = frozenset(term for i, term in enumerate(terms) if mask >> i & 1)
            yield passage_id, sets[mask]
