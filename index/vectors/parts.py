"""A version's passage vectors held in several files and read as one: the vector index a rebuild or a merge
wrote, then the parts appending updates wrote (``vectors-<version>.faiss`` or ``.ivf``, listed in the
manifest's ``vector_parts`` with the first passage id each holds).

Why: an appending update (:mod:`index.append`) used to read the whole vector index, add its few vectors and
write all of it again, the second largest file of a version. It now hard-links the files the live version
has and writes a part holding only its new vectors, as it does for the sentence vectors
(:mod:`index.sentence_parts`). A part is made by :meth:`VectorIndex.empty_like` of the first index, so an IVF
part has the same trained centroids: a search probes the same clusters in every part
(:meth:`VectorIndex.search_among`) and so finds what one index holding all the vectors would find. Parts
hold consecutive passage ids (an update's new passages get the ids after the last one), which is how
:meth:`VectorParts.score` finds the part holding an id. A merge writes one file again.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from index.vectors.base import Allowed, VectorIndex, VectorIndexError, VectorSearch
from index.vectors.factory import DEFAULT_KIND, vector_index_class

VECTOR_PARTS = "vector_parts"  # the manifest's list of appended parts: {"file": name, "first": passage id}


def vector_part_name(backend: type[VectorIndex], version_id: str) -> str:
    """The file an appending update that writes version ``version_id`` puts its new vectors in."""
    return f"vectors-{version_id}{Path(backend.files[0]).suffix}"


def vector_files(manifest: dict[str, Any]) -> list[str]:
    """The version's vector files: its backend's own, then the appended parts, in id order."""
    backend = vector_index_class(manifest.get("vector_index", DEFAULT_KIND))
    return [*backend.files, *(part["file"] for part in manifest.get(VECTOR_PARTS, []))]


def read_vectors(folder: Path, manifest: dict[str, Any], loaded: dict[str, VectorIndex] | None = None) -> VectorSearch:
    """The vector index of the version in ``folder``: its one file, or its files read as one
    (:class:`VectorParts`); a file named in ``loaded`` is that index, not read again (another version's very
    file). :class:`index.vectors.base.VectorIndexError` when a file cannot be read."""
    backend = vector_index_class(manifest.get("vector_index", DEFAULT_KIND))
    reuse = loaded or {}
    first = reuse[backend.files[0]] if backend.files[0] in reuse else backend.load(folder)
    parts = manifest.get(VECTOR_PARTS, [])
    if not parts:
        return first
    loaded = [reuse[part["file"]] if part["file"] in reuse else backend.load(folder, part["file"]) for part in parts]
    for part, index in zip(parts, loaded):
        if index.parameters.get("nlist") != first.parameters.get("nlist"):  # its lists are probed by the first's
            raise VectorIndexError(f"{part['file']} is not tuned as the version's first vector index")
    return VectorParts([first, *loaded], [0, *(int(part["first"]) for part in parts)])


def part_ranges(manifest: dict[str, Any]) -> list[tuple[int, int]]:
    """The passage ids each of the version's :func:`vector_files` holds, as (first, end) in the same order."""
    firsts = [0, *(int(part["first"]) for part in manifest.get(VECTOR_PARTS, []))]
    return list(zip(firsts, [*firsts[1:], int(manifest["passages"])]))


def indexes_of(vectors: VectorSearch) -> list[VectorIndex]:
    """The indexes a version's vectors are read from, the one a rebuild or merge wrote first."""
    return list(vectors.parts) if isinstance(vectors, VectorParts) else [vectors]


class VectorParts(VectorSearch):
    """Indexes of one backend, each holding a run of consecutive passage ids from ``firsts[n]`` on, searched
    as one: each part is searched as a part of the whole, and the hits merged best first."""

    def __init__(self, parts: Sequence[VectorIndex], firsts: Sequence[int]) -> None:
        if len(parts) != len(firsts) or list(firsts) != sorted(firsts):
            raise ValueError("each vector part needs its first passage id, in increasing order")
        self.parts = list(parts)
        self.firsts = np.asarray(firsts, dtype=np.int64)

    def search(self, queries: np.ndarray, k: int, allowed: Allowed | None = None) -> tuple[np.ndarray, np.ndarray]:
        probes = self.parts[0].probe(queries, k, allowed, self.count)  # the parts share centroids: chosen once
        found = [part.search_among(queries, k, allowed, self.count, probes) for part in self.parts]
        ids = np.concatenate([ids for ids, _ in found], axis=1)
        scores = np.concatenate([np.asarray(scores, dtype=np.float32) for _, scores in found], axis=1)
        scores[ids < 0] = -np.inf
        order = np.lexsort((ids, -scores), axis=-1)[:, :k]  # best first; equal scores by passage id
        ids, scores = np.take_along_axis(ids, order, 1), np.take_along_axis(scores, order, 1)
        width = int((ids >= 0).sum(axis=1).max()) if ids.size else 0
        return ids[:, :width], scores[:, :width]

    def score(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        return self.vectors(ids) @ query

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        part_of = np.searchsorted(self.firsts, ids, side="right") - 1
        out = np.empty((len(ids), self.dimension), dtype=np.float32)
        for part in np.unique(part_of):
            where = part_of == part
            out[where] = self.parts[part].vectors(ids[where])
        return out

    def ids(self) -> np.ndarray:
        return np.concatenate([part.ids() for part in self.parts])

    @property
    def count(self) -> int:
        return sum(part.count for part in self.parts)

    @property
    def dimension(self) -> int:
        return self.parts[0].dimension

    @property
    def parameters(self) -> dict[str, int]:
        return self.parts[0].parameters
