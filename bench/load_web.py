"""Load benchmark of the web API (not a test): latency with one client, throughput with several.

    python bench/load_web.py --index var/fars-index   # starts gunicorn on a free loopback port
    python bench/load_web.py --url http://127.0.0.1:8000 --pid PID   # against a server already running

Queries: 140 Fars News titles read from ../shared/data and the 60 English phrases of bench/queries.txt.
The one-client phase sends each once (none cached by the engine), then all again on the same connection,
so to the same worker (query vectors cached); the concurrent phase sends distinct variants (query + one
suffix word) so it is not served from the cache either. Loopback only;
every phase sends a bounded number of requests. With --embedding it also times query embedding alone
(in this process) for torch thread counts and bf16 on/off, which is most of a search's time.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
sys.path.insert(0, str(ROOT))


def load_queries(path: Path, data: Path, titles: int = 140) -> list[str]:
    """The fixed benchmark queries: ``titles`` Fars News titles read from the shared data (evenly spaced
    by article id, first 10 words, typed with Persian keyboard letters), then the English phrases in ``path``."""
    from index.articles import read_articles

    articles = sorted(read_articles([data / "farsnews"]), key=lambda article: article.id)
    step = len(articles) / titles
    persian = [" ".join(articles[int(i * step)].title.split()[:10]).replace("ي", "ی").replace("ك", "ک")
               for i in range(titles)]
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return persian + [line for line in lines if line and not line.startswith("#")]


# Suffixes that make query variants distinct, so that the concurrent phase is not served from the engine's
# query-vector cache (256 entries) after the first 200 requests.
SUFFIXES = ("خبر", "news", "امروز", "today", "ایران", "Iran", "گزارش", "report", "جدید", "latest")


def variant(queries: list[str], i: int) -> str:
    """Request ``i``'s query: the fixed queries once, then each with a suffix (all distinct up to 2,200)."""
    base = queries[i % len(queries)]
    rounds = i // len(queries)
    return base if rounds == 0 else f"{base} {SUFFIXES[(rounds - 1) % len(SUFFIXES)]}"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


class Client:
    """One keep-alive connection; reconnects after an error."""

    def __init__(self, host: str, port: int, k: int) -> None:
        self.host, self.port, self.k = host, port, k
        self.conn: http.client.HTTPConnection | None = None

    def search(self, query: str) -> tuple[float, bool, float | None]:
        """(latency ms, ok, server took_ms)."""
        path = f"/api/search?q={quote(query)}&k={self.k}"
        started = time.perf_counter()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            self.conn.request("GET", path)
            response = self.conn.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                return elapsed, False, None
            return elapsed, True, json.loads(body)["took_ms"]
        except (OSError, http.client.HTTPException, ValueError):
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return (time.perf_counter() - started) * 1000, False, None


def single_client(client: Client, queries: list[str], requests: int) -> dict:
    latencies, took, errors = [], [], 0
    for i in range(requests):
        elapsed, ok, server_ms = client.search(variant(queries, i))
        latencies.append(elapsed)
        errors += not ok
        if server_ms is not None:
            took.append(server_ms)
    return {
        "requests": requests, "errors": errors,
        "median_ms": statistics.median(latencies), "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99), "max_ms": max(latencies),
        "engine_median_ms": statistics.median(took) if took else None,
    }


def concurrent_clients(host: str, port: int, queries: list[str], clients: int, requests: int, k: int) -> dict:
    lock = threading.Lock()
    counter = iter(range(requests))
    latencies: list[float] = []
    errors = [0]

    def work() -> None:
        client = Client(host, port, k)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            elapsed, ok, _ = client.search(variant(queries, i))
            with lock:
                latencies.append(elapsed)
                errors[0] += not ok

    threads = [threading.Thread(target=work) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {
        "clients": clients, "requests": len(latencies), "errors": errors[0], "seconds": wall,
        "throughput_rps": len(latencies) / wall,
        "median_ms": statistics.median(latencies), "p99_ms": percentile(latencies, 99),
    }


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    for child in Path(f"/proc/{pid}/task").glob("*/children"):
        for text in child.read_text().split():
            pids.extend(process_tree(int(text)))
    return pids


def memory(pid: int) -> dict:
    """RSS of the server and its workers, and PSS (shared pages split between processes: the honest total)."""
    rss = pss = 0
    pids = process_tree(pid)
    per_process = {}
    for p in pids:
        try:
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text().splitlines()
        except OSError:
            continue
        fields = {line.split(":")[0]: int(line.split()[1]) for line in rollup[1:] if line.split()[1].isdigit()}
        rss += fields.get("Rss", 0)
        pss += fields.get("Pss", 0)
        per_process[p] = round(fields.get("Rss", 0) / 1024)
    return {"processes": len(per_process), "rss_mib_each": per_process,
            "rss_mib_total": round(rss / 1024), "pss_mib_total": round(pss / 1024)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(index: Path, port: int, extra_env: dict[str, str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "KAVOSH_INDEX": str(index), "KAVOSH_HOST": "127.0.0.1", "KAVOSH_PORT": str(port), **extra_env}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with open(log, "w") as handle:  # a file, not a pipe: nobody reads a pipe while the benchmark runs
        return subprocess.Popen([str(gunicorn), "web.app:create_app()"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=handle)


def wait_ready(host: str, port: int, server: subprocess.Popen | None, log: Path | None, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}:\n{log.read_text()[-3000:] if log else ''}")
        try:
            conn = http.client.HTTPConnection(host, port, timeout=5)
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            body = response.read()
            if response.status == 200:
                return
            if response.status == 503:
                raise SystemExit(f"the server runs but cannot search: {body.decode(errors='replace')}")
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the server at {host}:{port} did not become ready in {seconds:.0f} s")


def embedding_latency(queries: list[str]) -> list[dict]:
    """Median single-query embedding time for torch threads 1/2 and bf16 weights on/off."""
    import torch

    from index.embedder import Embedder
    from settings import Settings

    settings = Settings.from_env()
    rows = []
    for bf16 in ("off", "on"):
        embedder = Embedder(settings.model, settings.model_cache, bf16)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for query in queries[:10]:
                embedder.embed_queries([query])
            times = []
            for query in queries:
                started = time.perf_counter()
                embedder.embed_queries([query])
                times.append((time.perf_counter() - started) * 1000)
            rows.append({"bf16": bf16, "torch_threads": threads, "median_ms": statistics.median(times),
                         "p99_ms": percentile(times, 99)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--index", type=Path, help="start gunicorn (gunicorn.conf.py) over this index on a free loopback port")
    target.add_argument("--url", help="benchmark a server already running on loopback, e.g. http://127.0.0.1:8000")
    parser.add_argument("--pid", type=int, help="with --url: the gunicorn master's pid, for memory figures")
    parser.add_argument("--queries", type=Path, default=ROOT / "bench" / "queries.txt", help="English queries")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="shared data (Fars News titles)")
    parser.add_argument("--single", type=int, default=200,
                        help="requests for the one-client phase, each query once (default %(default)s)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default %(default)s)")
    parser.add_argument("--requests", type=int, default=2000, help="requests for the concurrent phase (default %(default)s)")
    parser.add_argument("-k", type=int, default=10, help="results per search (default %(default)s)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for gunicorn, e.g. KAVOSH_WORKERS=2 (repeatable)")
    parser.add_argument("--embedding", action="store_true", help="also time query embedding alone in this process")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    for name, limit in (("single", 10_000), ("requests", 20_000), ("clients", 64)):
        if not 1 <= getattr(args, name) <= limit:
            parser.error(f"--{name} must be between 1 and {limit}")
    queries = load_queries(args.queries, args.data)

    server = log = None
    if args.index:
        host, port = "127.0.0.1", free_port()
        extra = dict(item.split("=", 1) for item in args.env)
        log = Path(tempfile.mkdtemp(prefix="kavosh-bench-")) / "gunicorn.log"
        server = start_gunicorn(args.index.resolve(), port, extra, log)
        pid = server.pid
    else:
        parts = urlsplit(args.url)
        host, port, pid = parts.hostname or "", parts.port or 80, args.pid
        if host not in LOOPBACK:
            parser.error("only loopback servers may be benchmarked (127.0.0.1, localhost, ::1)")
    report: dict = {"queries": len(queries), "k": args.k, "cpus": os.cpu_count()}
    try:
        started = time.perf_counter()
        wait_ready(host, port, server, log)
        report["startup_s"] = round(time.perf_counter() - started, 1) if server else None
        warm_up = [f"warm-up query {n}" for n in range(20)]  # not in the list: the measured queries stay uncached
        single_client(Client(host, port, args.k), warm_up, len(warm_up))
        # one keep-alive connection for both passes, so the second reaches the worker that cached the first
        client = Client(host, port, args.k)
        report["one_client"] = single_client(client, queries, args.single)
        report["one_client_cached"] = single_client(client, queries, min(args.single, len(queries)))
        report["concurrent"] = concurrent_clients(host, port, queries[::-1], args.clients, args.requests, args.k)
        if pid:
            report["memory"] = memory(pid)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    if args.embedding:
        report["embedding"] = embedding_latency(queries)
    text = json.dumps(report, indent=2, ensure_ascii=False, default=lambda v: round(v, 2))
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    one, cached, many = report["one_client"], report["one_client_cached"], report["concurrent"]
    print(f"\none client: median {one['median_ms']:.1f} ms, p99 {one['p99_ms']:.1f} ms "
          f"(engine median {one['engine_median_ms'] or 0:.1f} ms), errors {one['errors']}/{one['requests']}")
    print(f"one client, same queries again (query vectors cached): median {cached['median_ms']:.1f} ms, "
          f"p99 {cached['p99_ms']:.1f} ms")
    print(f"{many['clients']} clients: {many['throughput_rps']:.1f} req/s over {many['requests']} requests, "
          f"median {many['median_ms']:.1f} ms, p99 {many['p99_ms']:.1f} ms, errors {many['errors']}")
    if "memory" in report:
        print(f"server memory: RSS {report['memory']['rss_mib_total']} MiB over {report['memory']['processes']} "
              f"processes (PSS {report['memory']['pss_mib_total']} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
