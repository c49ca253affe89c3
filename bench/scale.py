"""Scale benchmark (not a test): synthetic archives of a chosen size, built and served as a user would.

    python bench/scale.py --passages 10000 100000 --json /tmp/scale.json
    python bench/scale.py --passages 100000 --build-only      # build (or keep) the index, measure nothing else

For each size: writes a synthetic archive (bench/synthetic.py, deterministic) under --work, builds it with
``python -m index.rebuild`` and the 1-layer model (bench/cut_model.py, KAVOSH_MODEL pointing at it),
serves it with gunicorn and the repository's gunicorn.conf.py, and reports build time by stage, index size
on disk, server memory (PSS of every gunicorn process), latency through the JSON API for six kinds of
query (1 client, each query sent once: the query embedding is always computed), and the recall@10 of the
index's vector search against exact search on the same vectors. An index already built for a size under
--work is reused with the build figures recorded then.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from cut_model import cut_model  # noqa: E402
from load_web import free_port, load_queries, memory, percentile, start_gunicorn, variant, wait_ready  # noqa: E402
from synthetic import write_archive  # noqa: E402

PASSAGES_PER_ARTICLE = 3.58  # measured on the 2,538-article synthetic archive (9,083 passages)
MODEL_LABEL = "1-layer model"
# (kind, extra API parameters): the filtered kinds use the commonest category and dates of the synthetic
# archive (2010-2024), as in issue 12
KINDS = (
    ("plain", {}),
    ("lexical", {"method": "lexical"}),
    ("category", {"cat": "{cat}"}),
    ("date range", {"date_from": "2018-01-01"}),
    ("category+date", {"cat": "{cat}", "date_from": "2016-01-01", "date_to": "2017-12-31"}),
    ("long query", {"cat": "{cat}"}),
)
LONG_QUERY_CHARS = 1000
_SUMMARY = re.compile(r"passages: (\d+) from (\d+) articles; embedding ([\d.]+) s \(([\d.]+) passages/s\), "
                      r"cutting ([\d.]+) s, writing ([\d.]+) s")


def build(size: int, work: Path, model: Path, data: Path, seed: int) -> dict:
    """Generate the archive and build its index (both kept under ``work``); the build's figures."""
    folder = work / f"n{size}"
    record = folder / "build.json"
    if record.is_file():
        return json.loads(record.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    articles = max(1, round(size / PASSAGES_PER_ARTICLE))
    archive = folder / "archive.jsonl"
    started = time.perf_counter()
    write_archive(archive, articles, data, seed)
    generated = time.perf_counter() - started
    env = {**os.environ, "KAVOSH_MODEL": str(model)}
    arguments = [str(archive), "--index", str(folder / "index"), "--quiet"]
    started = time.perf_counter()
    run = _run_measured("index.rebuild", arguments, env)
    wall = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"the rebuild failed ({run.returncode}):\n{run.stderr[-3000:]}")
    match = _SUMMARY.search(run.stdout)
    if not match:
        raise SystemExit(f"no build summary in the rebuild's output:\n{run.stdout[-2000:]}")
    passages, indexed, embed_s, rate, cut_s, write_s = match.groups()
    figures = {
        "model": MODEL_LABEL, "articles": int(indexed), "passages": int(passages),
        "archive_mb": round(archive.stat().st_size / 2**20, 1), "generate_s": round(generated, 1),
        "rebuild_wall_s": round(wall, 1), "cutting_s": float(cut_s), "embedding_s": float(embed_s),
        "embedding_passages_per_s": float(rate), "writing_s": float(write_s),
        "other_s": round(wall - float(cut_s) - float(embed_s) - float(write_s), 1),  # model load, reading, imports
        "cutting_passages_per_s": round(int(passages) / float(cut_s), 1) if float(cut_s) else None,
        "peak_rss_mib": round(run.peak_rss / 2**20, 1),
        # the version is written last: sampled peaks before it and while it is written
        "peak_rss_before_writing_mib": round(run.peak_between(0, wall - float(write_s)) / 2**20, 1),
        "peak_rss_writing_mib": round(run.peak_between(wall - float(write_s), wall) / 2**20, 1),
        "command": f"KAVOSH_MODEL={model} python -m index.rebuild {archive} --index {folder / 'index'} --quiet",
    }
    record.write_text(json.dumps(figures, indent=2))
    return figures


class Run(NamedTuple):
    """A finished command: exit status, output, peak RSS (bytes) and its RSS sampled twice a second."""

    returncode: int
    stdout: str
    stderr: str
    peak_rss: int
    samples: list[tuple[float, int]]  # (seconds since start, RSS in bytes)

    def peak_between(self, start: float, end: float) -> int:
        """The highest sampled RSS between ``start`` and ``end`` seconds (0 when none was sampled)."""
        return max((rss for at, rss in self.samples if start <= at <= end), default=0)


# Runs ``python -m MODULE ARGS`` and, as it exits, writes its peak RSS: the process's own ``VmHWM`` (its memory
# since exec) and the largest of its children's (``ru_maxrss``, KiB). A parent's ``ru_maxrss`` of its child is not
# that: it counts the RSS the parent had when it forked (this benchmark holds an index after measuring recall).
_PEAK = """
import atexit, re, resource, runpy, sys
def report():
    hwm = re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)
    print("kavosh-peak-kib", hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
atexit.register(report)
sys.argv = sys.argv[1:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def _run_measured(module: str, arguments: list[str], env: dict[str, str]) -> Run:
    """Run ``python -m module arguments`` from the repository root; its peak RSS is the larger of its own and its
    children's (see ``_PEAK``). The samples (``/proc/PID/status``) say when in the run memory was high."""
    command = [sys.executable, "-c", _PEAK, module, *arguments]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err, text=True)
        samples: list[tuple[float, int]] = []
        sampler = threading.Thread(target=_sample_rss, args=(child.pid, samples), daemon=True)
        sampler.start()
        child.wait()
        sampler.join()
        out.seek(0)
        err.seek(0)
        stderr = err.read()
        peaks = re.findall(r"^kavosh-peak-kib (\d+) (\d+)$", stderr, re.MULTILINE)
        peak = max(int(kib) for kib in peaks[-1]) * 1024 if peaks else 0
        return Run(child.returncode, out.read(), stderr, peak, samples)


def _sample_rss(pid: int, samples: list[tuple[float, int]], every: float = 0.5) -> None:
    started = time.perf_counter()
    while True:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        if not match:  # a zombie, waiting to be reaped
            return
        samples.append((time.perf_counter() - started, int(match.group(1)) * 1024))
        time.sleep(every)


def update_costs(built: Path, model: Path, data: Path, seed: int, count: int) -> dict:
    """Add ``count`` new articles with ``python -m index.update``, then delete ``count`` of the archive's,
    on a copy of the built index: wall time, peak RSS and the index folder's size before and after each."""
    folder = built.parent
    work = folder / "index-update"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(built, work, symlinks=True)
    articles = json.loads((folder / "build.json").read_text())["articles"]
    new = folder / f"new-{count}.jsonl"
    write_archive(new, count, data, seed + 1, first=articles + 1_000_000)  # links no article of the archive has
    env = {**os.environ, "KAVOSH_MODEL": str(model)}
    figures = {"articles": count, "folder_mib_before": folder_mib(work)}
    steps = (("add", [str(new)]), ("delete", ["--delete", *first_articles(work, count)]))
    for step, arguments in steps:
        started = time.perf_counter()
        run = _run_measured("index.update", [*arguments, "--index", str(work), "--quiet"], env)
        wall = time.perf_counter() - started
        if run.returncode != 0:
            raise SystemExit(f"the update ({step}) failed ({run.returncode}):\n{run.stderr[-3000:]}")
        if "cannot delete" in run.stderr:  # a deletion of ids the index lacks measures nothing
            raise SystemExit(f"the update ({step}) did not find articles to delete:\n{run.stderr[-3000:]}")
        embedded = re.search(r"passages embedded (\d+)", run.stdout)
        written = re.search(r"live index: .* \((.*)\)$", run.stdout, re.MULTILINE)
        figures[step] = {"wall_s": round(wall, 1), "peak_rss_mib": round(run.peak_rss / 2**20, 1),
                         "passages_embedded": int(embedded.group(1)) if embedded else None,
                         "written": written.group(1) if written else None,
                         "new_files_mib": new_files_mib((work / "current").resolve()),
                         "folder_mib_after": folder_mib(work)}
    shutil.rmtree(work)
    return figures


def first_articles(index_dir: Path, count: int) -> list[str]:
    """The ids of the index's first ``count`` articles: what the update step deletes (a replicated archive's ids
    are not the generated archive's links, bench/replicate.py)."""
    with closing(sqlite3.connect(f"file:{(index_dir / 'current').resolve() / 'index.sqlite'}?mode=ro", uri=True)) as db:
        return [aid for (aid,) in db.execute("SELECT id FROM articles ORDER BY rowid LIMIT ?", [count])]


def new_files_mib(version: Path) -> float:
    """What a version wrote to disk, in MiB: its files not hard-linked from another version."""
    return round(sum(file.stat().st_size for file in version.rglob("*") if file.is_file() and file.stat().st_nlink == 1)
                 / 2**20, 1)


def folder_mib(path: Path) -> float:
    """Everything under ``path``, in MiB (old versions and checkpoints too), a file hard-linked into several
    versions counted once."""
    files = {(stat.st_dev, stat.st_ino): stat.st_size for stat in
             (file.stat() for file in path.rglob("*") if file.is_file() and not file.is_symlink())}
    return round(sum(files.values()) / 2**20, 1)


def disk_usage(index_dir: Path) -> dict:
    """Size of the live version's files (a folder's together), in MiB."""
    version = (index_dir / "current").resolve()
    files = {path.name: round(sum(f.stat().st_size for f in ([path] if path.is_file() else path.rglob("*")) if f.is_file())
                              / 2**20, 1) for path in sorted(version.iterdir())}
    return {"files_mib": files, "total_mib": round(sum(files.values()), 1)}


def commonest_category(archive: Path) -> str:
    counts: dict[str, int] = {}
    with open(archive, encoding="utf-8") as handle:
        for line in handle:
            cat = json.loads(line)["cat"]
            if cat:
                counts[cat] = counts.get(cat, 0) + 1
    return max(counts, key=counts.__getitem__)


def long_queries(archive: Path, count: int) -> list[str]:
    """``count`` distinct queries of about LONG_QUERY_CHARS characters: runs of article sentences (common words)."""
    queries = []
    with open(archive, encoding="utf-8") as handle:
        for line in handle:
            text = " ".join(json.loads(line)["paragraphs"])
            if len(text) >= LONG_QUERY_CHARS:
                queries.append(text[:LONG_QUERY_CHARS].rsplit(" ", 1)[0])
            if len(queries) == count:
                break
    return queries


def latency(host: str, port: int, queries: list[str], long: list[str], category: str, requests: int) -> dict:
    """p50 / p99 / max per kind of query through ``GET /api/search``, one client on one keep-alive connection,
    and the slowest but the kind's first request (with few requests p99 is the slowest, often the first after
    start-up, when the index files' pages are still on disk). Each kind sends its own variants of the queries,
    so no query vector comes from a cache."""
    conn = http.client.HTTPConnection(host, port, timeout=120)
    figures = {}
    for n, (kind, params) in enumerate(KINDS):
        times, errors, took = [], 0, []
        for i in range(requests):
            query = long[i % len(long)] if kind == "long query" else variant(queries, i + (n + 1) * len(queries))
            values = {key: value.format(cat=category) for key, value in params.items()}
            path = "/api/search?" + urlencode({"q": query, "k": 10, **values})
            started = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            times.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                errors += 1
            else:
                took.append(json.loads(body)["took_ms"])
        figures[kind] = {"requests": requests, "errors": errors, "p50_ms": round(statistics.median(times), 1),
                         "p99_ms": round(percentile(times, 99), 1), "max_ms": round(max(times), 1),
                         "max_after_first_ms": round(max(times[1:], default=0.0), 1),
                         "engine_p50_ms": round(statistics.median(took), 1) if took else None}
    conn.close()
    return figures


def serve_and_measure(index_dir: Path, model: Path, queries: list[str], long: list[str], category: str,
                      requests: int, extra_env: dict[str, str]) -> dict:
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="kavosh-scale-")) / "gunicorn.log"
    server = start_gunicorn(index_dir.resolve(), port, {"KAVOSH_MODEL": str(model), **extra_env}, log)
    try:
        started = time.perf_counter()
        wait_ready("127.0.0.1", port, server, log)
        startup = time.perf_counter() - started
        figures = {"startup_s": round(startup, 1), "category": category,
                   "latency": latency("127.0.0.1", port, queries, long, category, requests)}
        figures["memory"] = memory(server.pid)
        return figures
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def recall(index_dir: Path, model: Path, queries: list[str], k: int = 10) -> dict:
    """Recall@k of the served vector search against exact inner product over the same vectors, for the queries."""
    from index.embedder import Embedder
    from index.store import open_index
    from index.vectors.flat import FlatIndex
    from settings import Settings

    version = open_index(index_dir)
    vectors = Embedder(str(model), Settings.from_env().model_cache).embed_queries(queries)
    ids = version.vectors.ids()
    exact, _ = FlatIndex.build(version.vectors.vectors(ids), ids).search(vectors, k)
    served, _ = version.vectors.search(vectors, k)
    hits = sum(len(set(a) & set(b)) for a, b in zip(exact.tolist(), served.tolist()))
    return {"queries": len(queries), "k": k, "recall": round(hits / (k * len(queries)), 4),
            "kind": version.manifest.get("vector_index", "flat"),
            "parameters": version.manifest.get("vector_parameters", {})}


def with_vector_index(index_dir: Path, kind: str, model: Path) -> tuple[Path, float | None]:
    """A copy of the built index whose vectors are held by ``kind`` (rewritten from the stored vectors,
    nothing re-embedded), made once beside it; and how long rewriting took. ``auto``: the index as built."""
    if kind == "auto":
        return index_dir, None
    target = index_dir.with_name(f"index-{kind}")
    if not (target / "current").exists():
        from index.embedder import Embedder
        from index.pipeline import update_index
        from index.store import index_lock
        from settings import Settings

        shutil.rmtree(target, ignore_errors=True)
        version = (index_dir / "current").resolve()
        shutil.copytree(version, target / "versions" / version.name)
        (target / "current").symlink_to(Path("versions") / version.name)
        started = time.perf_counter()
        with index_lock(target):
            update_index(target, Embedder(str(model), Settings.from_env().model_cache), vector_index=kind, merge=True)
        (target / "rewrite_s").write_text(f"{time.perf_counter() - started:.1f}")
    return target, float((target / "rewrite_s").read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, nargs="+", default=[10_000], help="archive sizes in passages (approximate)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/kavosh-scale"), help="archives, indexes and the cut model")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="shared data (Fars News)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--requests", type=int, default=100, help="requests per kind of query (default %(default)s)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for gunicorn (repeatable)")
    parser.add_argument("--kinds", nargs="+", default=["auto"],
                        help="vector indexes to serve each size with: auto (as built), flat, ivf (default auto)")
    parser.add_argument("--build-only", action="store_true", help="only generate and build")
    parser.add_argument("--update", type=int, default=100, metavar="N",
                        help="then add N new articles and delete N on a copy of the index, timed (0: skip; default %(default)s)")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 2000:
        parser.error("--requests must be between 1 and 2000")
    model = cut_model(args.work / "e5-1layer")
    queries = load_queries(ROOT / "bench" / "queries.txt", args.data)
    extra = dict(item.split("=", 1) for item in args.env)
    report = {"model": MODEL_LABEL, "cpus": os.cpu_count(), "sizes": {}}
    for size in args.passages:
        figures = {"build": build(size, args.work, model, args.data, args.seed), "kinds": {}}
        built = args.work / f"n{size}" / "index"
        archive = args.work / f"n{size}" / "archive.jsonl"
        for kind in ([] if args.build_only else args.kinds):
            index_dir, rewrite_s = with_vector_index(built, kind, model)
            figures["kinds"][kind] = {
                "rewrite_s": rewrite_s, "disk": disk_usage(index_dir),
                "serve": serve_and_measure(index_dir, model, queries, long_queries(archive, 50),
                                           commonest_category(archive), args.requests, extra),
                "ann_recall": recall(index_dir, model, queries),
            }
        if args.update and not args.build_only:
            figures["update"] = update_costs(built, model, args.data, args.seed, args.update)
        figures["disk"] = disk_usage(built)
        report["sizes"][size] = figures
        print_table(figures)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return 0


def print_table(figures: dict) -> None:
    b, d = figures["build"], figures["disk"]
    print(f"\n== {b['passages']:,} passages ({b['articles']:,} articles), {b['model']} ==")
    print(f"build: {b['rebuild_wall_s']} s wall = cutting {b['cutting_s']} s ({b['cutting_passages_per_s']} passages/s)"
          f" + embedding {b['embedding_s']} s ({b['embedding_passages_per_s']} passages/s) + writing {b['writing_s']} s"
          f" + other {b['other_s']} s; peak RSS {b.get('peak_rss_mib', '?')} MiB (sampled: before writing "
          f"{b.get('peak_rss_before_writing_mib', '?')}, writing {b.get('peak_rss_writing_mib', '?')})")
    print(f"index on disk as built: {d['total_mib']} MiB " + ", ".join(f"{k} {v}" for k, v in d["files_mib"].items()))
    for kind, row in figures["kinds"].items():
        s, r = row["serve"], row["ann_recall"]
        print(f"-- vector index {kind}: {r['kind']} {r['parameters']}"
              + (f", rewritten from stored vectors in {row['rewrite_s']} s" if row["rewrite_s"] is not None else ""))
        print(f"server: startup {s['startup_s']} s, PSS {s['memory']['pss_mib_total']} MiB over "
              f"{s['memory']['processes']} processes (RSS {s['memory']['rss_mib_total']} MiB), "
              f"disk {row['disk']['total_mib']} MiB")
        print(f"{'kind':<15}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'max after 1st':>15}{'engine p50':>12}{'errors':>8}")
        for name, line in s["latency"].items():
            print(f"{name:<15}{line['p50_ms']:>9}{line['p99_ms']:>9}{line['max_ms']:>9}{line['max_after_first_ms']:>15}"
                  f"{line['engine_p50_ms']!s:>12}{line['errors']:>8}")
        print(f"vector search recall@{r['k']} against exact: {r['recall']} ({r['queries']} queries)")
    if "update" in figures:
        u = figures["update"]
        print(f"update of the index ({u['folder_mib_before']} MiB): add {u['articles']} articles {u['add']['wall_s']} s "
              f"({u['add']['passages_embedded']} passages embedded, {u['add']['written']}, {u['add']['new_files_mib']} MiB "
              f"written, peak RSS {u['add']['peak_rss_mib']} MiB); delete {u['articles']} {u['delete']['wall_s']} s "
              f"({u['delete']['written']}, {u['delete']['new_files_mib']} MiB written, peak RSS "
              f"{u['delete']['peak_rss_mib']} MiB)")


if __name__ == "__main__":
    sys.exit(main())
