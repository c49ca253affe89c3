"""What an appending update's vectors cost, written as a part or into a copy of the whole index, and what parts
cost a search (not a test).

    python bench/vector_parts.py --vectors 1000000 --add 340 --parts 1 4 16 --json /tmp/vector-parts.json

On synthetic unit vectors (384 dimensions, clustered like text embeddings; seed 12) held by the product's IVF
index (``index.vectors.ivf``, parameters chosen by size as a version would), kept under --work:

- update: adding ``--add`` vectors as appending updates did before vector parts (read the index, add, write
  all of it, checksum the file, as the manifest needs) against what they do now (write a part made by
  ``empty_like`` with the same centroids, checksum it, link the index); each taking turns, ``--repeats``
  times; medians, and the bytes each writes.
- search: the engine's dense pool (k = 1,000) of ``--queries`` queries, unfiltered and with a filter
  allowing 19 % of the passages (the commonest category of the synthetic archives), on the index alone and
  with 1, 4 or 16 parts of ``--add`` vectors added (``index.vectors.parts``), and on the index alone searched
  by FAISS's own ``search`` as before the parts (read-ahead threads and all); the kinds take turns query by
  query. Recall@10 against exact search over the same vectors is printed for each.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.filter import Filter  # noqa: E402
from index.layout import file_facts  # noqa: E402
from index.vectors.base import Allowed, VectorBlocks  # noqa: E402
from index.vectors.ivf import VECTORS_IVF, IVFIndex  # noqa: E402
from index.vectors.parts import VectorParts  # noqa: E402

DIMENSION = 384
POOL = 1000  # search.candidates.DENSE_POOL
ALLOWED_SHARE = 0.19


def clustered(n: int, seed: int, clusters: int = 2000) -> np.ndarray:
    """Unit vectors around ``clusters`` random centres (the same centres for every seed's draw)."""
    centres = np.random.default_rng(12).normal(size=(clusters, DIMENSION)).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIMENSION), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        block = centres[rng.integers(0, clusters, stop - start)] + 1.5 * rng.normal(size=(stop - start, DIMENSION))
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def base_index(work: Path, count: int) -> tuple[Path, float | None]:
    """The folder holding an IVF index of ``count`` vectors (built once), and how long building took."""
    folder = work / f"n{count}"
    if (folder / VECTORS_IVF).is_file():
        return folder, None
    folder.mkdir(parents=True, exist_ok=True)
    vectors = clustered(count, seed=1)
    started = time.perf_counter()
    IVFIndex.build_from(VectorBlocks.of(vectors), np.arange(count)).save(folder)
    return folder, time.perf_counter() - started


def update_costs(folder: Path, count: int, add: int, repeats: int, work: Path) -> dict:
    """Median seconds and bytes written of adding ``add`` vectors: into a copy of the whole index, or as a part."""
    new = clustered(add, seed=2)
    ids = np.arange(count, count + add, dtype=np.int64)
    times: dict[str, list[float]] = {"whole": [], "part": []}
    written: dict[str, int] = {}
    for round_ in range(repeats):
        for way in (("whole", "part") if round_ % 2 == 0 else ("part", "whole")):
            target = work / f"update-{way}"
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            started = time.perf_counter()
            if way == "whole":
                index = IVFIndex.load(folder)
                index.add(new, ids)
                index.save(target)
                file_facts(target / VECTORS_IVF)
                written[way] = (target / VECTORS_IVF).stat().st_size
            else:
                part = IVFIndex.load(folder).empty_like()
                part.add(new, ids)
                part.save(target, "part.ivf")
                file_facts(target / "part.ivf")
                os.link(folder / VECTORS_IVF, target / VECTORS_IVF)
                written[way] = (target / "part.ivf").stat().st_size
            times[way].append(time.perf_counter() - started)
            shutil.rmtree(target)
    return {way: {"median_s": round(statistics.median(values), 3), "runs_s": [round(v, 3) for v in values],
                  "written_mib": round(written[way] / 2**20, 1)} for way, values in times.items()}


def search_costs(folder: Path, count: int, add: int, parts_counts: list[int], queries: int, work: Path) -> dict:
    """p50 ms of a k = POOL search, unfiltered and filtered, for the index alone and with each number of parts;
    and recall@10 of each against exact search over the same vectors."""
    base = IVFIndex.load(folder)
    kinds: dict[str, object] = {"one index": base, "one index, FAISS's search": FaissSearch(base)}
    all_new = clustered(add * max(parts_counts), seed=3)
    for n in parts_counts:
        target = work / f"parts-{n}"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        parts, firsts = [base], [0]
        for number in range(n):
            part = base.empty_like()
            part.add(all_new[number * add:(number + 1) * add],
                     np.arange(count + number * add, count + (number + 1) * add, dtype=np.int64))
            part.save(target, f"part-{number}.ivf")
            parts.append(IVFIndex.load(target, f"part-{number}.ivf"))
            firsts.append(count + number * add)
        kinds[f"{n} parts"] = VectorParts(parts, firsts)
    asked = clustered(queries, seed=4)
    rng = np.random.default_rng(5)
    allowed_ids = np.sort(rng.choice(count + add * max(parts_counts), int(ALLOWED_SHARE * count), replace=False))
    times: dict[tuple[str, str], list[float]] = {}
    for q in range(queries):
        names = list(kinds) if q % 2 == 0 else list(reversed(kinds))
        for name in names:
            for filtered in (False, True):
                allowed = Allowed(Filter(category="x"), lambda _: allowed_ids) if filtered else None
                started = time.perf_counter()
                kinds[name].search(asked[q:q + 1], POOL, allowed)
                times.setdefault((name, "filtered" if filtered else "plain"), []).append(time.perf_counter() - started)
    figures = {f"{name}, {kind}": round(statistics.median(values) * 1000, 2) for (name, kind), values in times.items()}
    return {"p50_ms": figures, "recall_at_10": {name: _recall(kinds[name], asked[:50], 10) for name in kinds}}


class FaissSearch:
    """An IVF index searched as the product did before parts: FAISS's own ``search``, which chooses the probes
    and starts threads reading the probed lists of a mapped index ahead, with the same nprobe and selector."""

    def __init__(self, index: IVFIndex) -> None:
        self.index = index

    def search(self, queries: np.ndarray, k: int, allowed: Allowed | None = None) -> tuple[np.ndarray, np.ndarray]:
        probes = self.index.probe(queries, k, allowed, self.index.count)
        selector = None
        if allowed is not None:
            selector = faiss.IDSelectorBitmap(len(allowed.bitmap), faiss.swig_ptr(allowed.bitmap))
        params = faiss.SearchParametersIVF(nprobe=probes.nprobe, sel=selector)
        scores, found = self.index._index.search(queries, k, params=params)
        return found, scores

    def ids(self) -> np.ndarray:
        return self.index.ids()

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return self.index.vectors(ids)


def _recall(index, queries: np.ndarray, k: int) -> float:
    ids = index.ids()
    vectors = index.vectors(ids)
    exact = ids[np.argsort(-(queries @ vectors.T), axis=1)[:, :k]]
    found, _ = index.search(queries, k)
    return round(float(np.mean([len(set(a) & set(b)) / k for a, b in zip(found.tolist(), exact.tolist())])), 4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=100_000, help="vectors in the index (default %(default)s)")
    parser.add_argument("--add", type=int, default=340, help="vectors an update adds (default %(default)s: 100 articles)")
    parser.add_argument("--parts", type=int, nargs="+", default=[1, 4, 16], help="part counts to search with")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--work", type=Path, default=Path("/tmp/kavosh-vector-parts"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    folder, built = base_index(args.work, args.vectors)
    base = IVFIndex.load(folder)
    report = {"vectors": args.vectors, "add": args.add, "parameters": base.parameters,
              "index_mib": round((folder / VECTORS_IVF).stat().st_size / 2**20, 1), "build_s": built and round(built, 1),
              "update": update_costs(folder, args.vectors, args.add, args.repeats, args.work),
              "search": search_costs(folder, args.vectors, args.add, args.parts, args.queries, args.work)}
    print(f"IVF index of {args.vectors:,} vectors ({report['index_mib']} MiB, {report['parameters']}); "
          f"an update adds {args.add}")
    for way, row in report["update"].items():
        print(f"update, {way:<6}: median {row['median_s']} s (runs {row['runs_s']}), writes {row['written_mib']} MiB")
    ratio = report["update"]["whole"]["median_s"] / max(report["update"]["part"]["median_s"], 1e-9)
    print(f"update: a part is {ratio:.1f}x faster than writing the whole index again")
    for name, p50 in report["search"]["p50_ms"].items():
        print(f"search k={POOL}, {name:<40} p50 {p50} ms")
    print("recall@10 against exact:", report["search"]["recall_at_10"])
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
