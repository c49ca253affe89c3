"""The approximate vector index for large archives: FAISS IVF over float16 vectors, memory-mapped from the
version folder.

The vectors are clustered around ``nlist`` centroids (k-means on a sample); a search compares the query
with the centroids and then with the stored vectors of the ``nprobe`` nearest clusters only, so its scores
are the inner products with the stored vectors and only the candidate set is approximate. They are stored as
float16 (FAISS's scalar quantizer ``QT_fp16``): half the bytes of float32, which every server maps and touches,
for scores within about 2·10^-5 of float32's at 10^6 passages (docs/benchmarks.md, "Float16 IVF lists"); the
model's own bf16 or int8 rounding is larger. Versions written before hold IVF-Flat (float32) files, read as
they are. The file is opened with ``IO_FLAG_MMAP``: every process serving the version reads the same
page-cache copy of the vectors. Parameters are chosen from the size by :func:`ivf_parameters` (see
docs/design.md for the measurements).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from index.durable import fsync_file
from index.vectors.base import Allowed, VectorBlocks, VectorIndex, VectorIndexError, ids_for

VECTORS_IVF = "vectors.ivf"
TRAINING_POINTS_PER_LIST = 64  # k-means sample: 64 vectors per cluster (FAISS asks for at least 39)
TRAINING_SEED = 12
# searched share of the clusters; a filtered search widens it by the filter's selectivity (see search)
PROBE_SHARE = 1 / 16
MIN_PROBES = 16
# a search for k hits compares at least this many vectors per hit, so that the tail of a deep pool (the
# engine asks for 1,000 passages and normalizes dense scores by the last) is nearly exact too
CANDIDATES_PER_HIT = 8


def ivf_parameters(count: int) -> dict[str, int]:
    """``nlist`` about 4·√count (a power of two, at most count / 64 so that k-means has enough points),
    ``nprobe`` a fixed share of it (at least MIN_PROBES): the scanned share of the vectors falls as the
    archive grows, while each cluster stays a few hundred vectors long."""
    nlist = max(1, 2 ** round(math.log2(max(1.0, 4 * math.sqrt(count)))))
    nlist = min(nlist, max(1, count // TRAINING_POINTS_PER_LIST))
    return {"nlist": nlist, "nprobe": min(nlist, max(MIN_PROBES, round(nlist * PROBE_SHARE)))}


@dataclass(frozen=True)
class Probes:
    """The clusters one search probes, nearest first, with their centroids' similarities (one row per query):
    computed once for every part of a version's vectors, since the parts share their centroids."""

    nprobe: int
    distances: np.ndarray
    lists: np.ndarray


class IVFIndex(VectorIndex):
    """Approximate search over exact vectors in inverted lists; ``score`` and ``vectors`` read the mapped lists."""

    kind = "ivf"
    files = (VECTORS_IVF,)

    def __init__(self, index: faiss.IndexIVF, path: Path | None = None, part: bool = False) -> None:
        self._index = index
        self._path = path  # the mapped file, while the lists are still the read-only mapping of it
        self._part = part  # a part of a version's vectors (:meth:`empty_like`): saved without the centroids
        _map_ids(self._index)

    @classmethod
    def build_from(cls, blocks: VectorBlocks, ids: np.ndarray) -> "IVFIndex":
        """Two passes over the blocks: the k-means sample (rows drawn over the whole range), then adding."""
        ids = ids_for(blocks, ids)
        params = ivf_parameters(blocks.rows)
        dimension = blocks.dimension
        index = _empty(faiss.IndexFlatIP(dimension), dimension, params["nlist"], float16=True)
        sample = min(blocks.rows, params["nlist"] * TRAINING_POINTS_PER_LIST)
        rows = np.sort(np.random.default_rng(TRAINING_SEED).choice(blocks.rows, sample, replace=False))
        picked = [block[rows[(rows >= start) & (rows < start + len(block))] - start] for start, block in blocks.checked()]
        index.cp.seed = TRAINING_SEED
        index.train(np.ascontiguousarray(np.concatenate(picked), dtype=np.float32))
        for start, block in blocks.checked():
            index.add_with_ids(np.ascontiguousarray(block, dtype=np.float32), ids[start:start + len(block)])
        index.nprobe = params["nprobe"]
        return cls(index)

    @classmethod
    def load(cls, folder: Path, name: str | None = None) -> "IVFIndex":
        name = name or VECTORS_IVF
        path = folder / name
        try:
            index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
        except RuntimeError as exc:
            raise VectorIndexError(f"{name} cannot be read ({str(exc).splitlines()[0]})") from None
        if not _is_ivf(index):
            raise VectorIndexError(f"{name} is not an inner-product IVF index of float16 or float32 vectors")
        part = _has_no_centroids(index)
        if part and getattr(index, "by_residual", False):
            raise VectorIndexError(f"{name} holds residuals from centroids it does not hold")
        if _mapped_end(index) > path.stat().st_size:  # reading a list past the end would crash the process
            raise VectorIndexError(f"{name} is shorter than its lists (truncated?)")
        return cls(index, path, part)

    def save(self, folder: Path, name: str | None = None) -> None:
        """Write the index; a part (:meth:`empty_like`) without its copy of the centroids, which it never reads."""
        written = _without_centroids(self._index) if self._part and not _has_no_centroids(self._index) else self._index
        faiss.write_index(written, str(folder / (name or VECTORS_IVF)))
        fsync_file(folder / (name or VECTORS_IVF))

    def empty_like(self) -> "IVFIndex":
        """A part whose clusters are this index's, so probing the same clusters of both finds what one index
        of both would find. It holds its vectors whole, not as residuals from their centroids: then reading
        it needs no centroids, and its file holds none (they were 6 of an update's 9 MiB at 10^6 passages,
        docs/benchmarks.md, "Parts without centroids"). The centroids are copied here only to assign the
        vectors added to it; its clusters are probed through this index (:meth:`probe`)."""
        float16 = isinstance(self._index, faiss.IndexIVFScalarQuantizer)
        index = _empty(faiss.clone_index(self._index.quantizer), self.dimension, self._index.nlist, float16)
        if float16:
            index.by_residual = False
        index.nprobe = self._index.nprobe
        return IVFIndex(index, part=True)

    @property
    def parameters(self) -> dict[str, int]:
        return {"nlist": int(self._index.nlist), "nprobe": int(self._index.nprobe)}

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        self._writable().add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)  # the hash-table id map removes only an IDSelectorArray
        self._writable().remove_ids(faiss.IDSelectorArray(len(ids), faiss.swig_ptr(ids)))

    def search(self, queries: np.ndarray, k: int, allowed: Allowed | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Without a filter, the ``nprobe`` nearest clusters (more when ``k`` is deep, see CANDIDATES_PER_HIT). With one, only allowed passages are compared
        (a bitmap selector) and the probed clusters grow by the inverse of the share allowed, so about as
        many allowed vectors are compared as an unfiltered search compares in all: a selective filter
        scans more clusters instead of returning fewer hits."""
        return self.search_among(queries, k, allowed, self.count)

    def probe(self, queries: np.ndarray, k: int, allowed: Allowed | None, population: int) -> "Probes":
        """The clusters a search for ``k`` hits among ``population`` vectors probes (see :meth:`search`)."""
        if _has_no_centroids(self._index):
            raise VectorIndexError("a part of a version's vectors holds no centroids: it is probed through the first index")
        nlist = self._index.nlist
        nprobe = max(self._index.nprobe, math.ceil(CANDIDATES_PER_HIT * k * nlist / max(1, population)))
        if allowed is not None and len(allowed.ids):
            nprobe = math.ceil(nprobe / (len(allowed.ids) / max(1, population)))
        nprobe = min(nlist, nprobe)
        distances, lists = self._index.quantizer.search(np.ascontiguousarray(queries, dtype=np.float32), nprobe)
        return Probes(nprobe, distances, lists)

    def search_among(self, queries: np.ndarray, k: int, allowed: Allowed | None, population: int,
                     probes: "Probes | None" = None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` with the probes chosen for ``population`` vectors, of which this index holds a part;
        ``probes`` from :meth:`probe` of a part with the same centroids, or chosen here."""
        if allowed is not None and not len(allowed.ids):
            return np.zeros((len(queries), 0), dtype=np.int64), np.zeros((len(queries), 0), dtype=np.float32)
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        probes = probes or self.probe(queries, k, allowed, population)
        selector = None if allowed is None else _bitmap_selector(allowed.bitmap)
        params = faiss.SearchParametersIVF(nprobe=probes.nprobe, sel=selector)
        return _search_preassigned(self._index, queries, k, probes, params)

    def score(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        return self.vectors(ids) @ query

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if not len(ids):
            return np.zeros((0, self.dimension), dtype=np.float32)
        # FAISS decodes each float16 vector in an OpenMP region of its own: 1,000 ids took 50-100 ms with two
        # threads and 4 ms with one (docs/benchmarks.md, "Float16 IVF lists"). The setting is the calling thread's
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self._index.reconstruct_batch(ids)
        finally:
            faiss.omp_set_num_threads(threads)

    def ids(self) -> np.ndarray:
        lists = self._index.invlists
        parts = [faiss.rev_swig_ptr(lists.get_ids(n), lists.list_size(n)).copy()
                 for n in range(self._index.nlist) if lists.list_size(n)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    @property
    def count(self) -> int:
        return int(self._index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self._index.d)

    def _writable(self) -> faiss.IndexIVF:
        """The index with its lists in memory (a mapped file is read-only, so changing it reads it in first)
        and a hash-table id map, the one that allows removal and ids in any order."""
        if self._path is not None:
            self._index = faiss.read_index(str(self._path))  # already of its own class
            self._path = None
        self._index.set_direct_map_type(faiss.DirectMap.Hashtable)
        return self._index


def _search_preassigned(index: faiss.IndexIVF, queries: np.ndarray, k: int, probes: Probes,
                        params: faiss.SearchParametersIVF) -> tuple[np.ndarray, np.ndarray]:
    """(ids, scores) of FAISS's search of the given probes with ``params`` (its selector and nprobe): the
    C++ call, since the Python wrapper of FAISS 1.8 refuses search parameters there. Unlike ``search``, it
    starts no threads to read a mapped index's lists ahead, which cost more than half of a search at 10^5
    vectors and nearly all of a small part's (docs/benchmarks.md, "Vector parts")."""
    scores = np.empty((len(queries), k), dtype=np.float32)
    found = np.empty((len(queries), k), dtype=np.int64)
    lists = np.ascontiguousarray(probes.lists, dtype=np.int64)
    distances = np.ascontiguousarray(probes.distances, dtype=np.float32)
    index.search_preassigned_c(len(queries), faiss.swig_ptr(queries), k, faiss.swig_ptr(lists),
                               faiss.swig_ptr(distances), faiss.swig_ptr(scores), faiss.swig_ptr(found), False, params)
    return found, scores


def _empty(quantizer: faiss.Index, dimension: int, nlist: int, float16: bool) -> faiss.IndexIVF:
    """An inner-product IVF index over ``quantizer``'s centroids, holding float16 vectors (what this Kavosh
    writes) or float32 ones (an IVF-Flat part of a version written before)."""
    if float16:
        index = faiss.IndexIVFScalarQuantizer(quantizer, dimension, nlist, faiss.ScalarQuantizer.QT_fp16,
                                              faiss.METRIC_INNER_PRODUCT)
        index.is_trained = quantizer.is_trained  # float16 has nothing to learn: trained where the centroids are
        return index
    return faiss.IndexIVFFlat(quantizer, dimension, nlist, faiss.METRIC_INNER_PRODUCT)


def _without_centroids(index: faiss.IndexIVF) -> faiss.IndexIVF:
    """``index``'s lists (borrowed, not copied) over a stand-in quantizer holding no centroids, to be written
    as a part: its vectors are stored whole (``by_residual`` off, or IVF-Flat), so nothing reads the centroids."""
    float16 = isinstance(index, faiss.IndexIVFScalarQuantizer)
    written = _empty(faiss.IndexFlatIP(index.d), index.d, index.nlist, float16)
    if float16:
        written.by_residual = False
    written.is_trained = True
    written.nprobe = index.nprobe
    written.replace_invlists(index.invlists, False)
    written.ntotal = index.ntotal
    return written


def _has_no_centroids(index: faiss.IndexIVF) -> bool:
    """Whether ``index`` is a part written by :func:`_without_centroids`."""
    return index.quantizer.ntotal == 0 and index.nlist > 0


def _is_ivf(index: faiss.Index) -> bool:
    """Whether ``index`` is one :func:`_empty` makes."""
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        return False
    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        return index.sq.qtype == faiss.ScalarQuantizer.QT_fp16
    return isinstance(index, faiss.IndexIVFFlat)


def _mapped_end(index: faiss.IndexIVF) -> int:
    """Where the last byte of the memory-mapped lists lies in the file."""
    lists = faiss.downcast_InvertedLists(index.invlists)
    entry = lists.code_size + 8  # a vector and its id
    return max((lists.lists.at(n).offset + lists.lists.at(n).capacity * entry for n in range(lists.nlist)), default=0)


def _map_ids(index: faiss.IndexIVF) -> None:
    """Where each id lies in the lists, for :meth:`IVFIndex.vectors`: an array (8 bytes a passage) when the ids
    are 0 .. count - 1, as a written version's are, else a hash table."""
    try:
        index.set_direct_map_type(faiss.DirectMap.Array)
    except RuntimeError:
        index.set_direct_map_type(faiss.DirectMap.Hashtable)


def _bitmap_selector(bits: np.ndarray) -> faiss.IDSelectorBitmap:
    """A selector reading one bit per passage id (:attr:`Allowed.bitmap`)."""
    selector = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))
    selector.referenced_bits = bits  # the selector reads the array; keep it alive as long as the selector
    return selector
