"""Resumable rebuild benchmark (not a test): cutting in one process or in workers, and what a resume saves.

    python bench/resume.py --passages 10000 --repeats 3 --json /tmp/resume.json

On a synthetic archive (bench/synthetic.py) of about ``--passages`` passages:

1. cutting alone, in this process: serial vs the worker pool (its start-up included), median of
   ``--repeats``; and the pool's start-up on its own (one one-article shard), which sets
   ``index.cutting.PARALLEL_MIN_ARTICLES``;
2. full rebuilds with ``python -m index.rebuild`` and the 1-layer model (bench/cut_model.py), with
   KAVOSH_CUT_WORKERS=1 and (on an archive large enough for the pool) 2: wall time, the rebuild's own
   stage times and peak RSS (the rebuild process, and its largest child process, such as a cut worker);
3. a rebuild killed with SIGKILL once half its shards are on disk, then run again: the resumed run's wall
   time against an uninterrupted one.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from cut_model import cut_model  # noqa: E402
from scale import _SUMMARY, PASSAGES_PER_ARTICLE  # noqa: E402
from synthetic import write_archive  # noqa: E402

# Runs index.rebuild in this child and reports its peak RSS (its own VmHWM: a child's ru_maxrss also counts the
# RSS its parent had when it forked, bench/scale.py) and its workers' (ru_maxrss of its children, which counts
# this child's RSS when it started them: an upper bound), in KiB
_MEASURED = """
import re, resource, runpy, sys
sys.argv = ["index.rebuild", *sys.argv[1:]]
try:
    runpy.run_module("index.rebuild", run_name="__main__")
except SystemExit as end:
    code = end.code
else:
    code = 0
print("peak_rss_kib", re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1),
      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def cutting(archive: Path, model: Path, shard_articles: int, repeats: int) -> dict:
    """Median seconds to cut the archive serially and in 2 workers, and the pool's start-up."""
    from transformers import AutoTokenizer

    from index.articles import read_articles
    from index.cutting import ShardCutter

    articles = read_articles([archive])
    groups = [articles[i:i + shard_articles] for i in range(0, len(articles), shard_articles)]
    tokenizer = AutoTokenizer.from_pretrained(str(model))

    def count_tokens(texts: list[str]) -> list[int]:  # as Embedder.count_tokens, without loading the model
        return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]] if texts else []
    import index.cutting as module

    threshold, module.PARALLEL_MIN_ARTICLES = module.PARALLEL_MIN_ARTICLES, 0  # measure the pool even on a small archive
    figures: dict = {"articles": len(articles), "shards": len(groups)}
    for name, workers, work in (("startup", 2, [articles[:1]]), ("serial", 1, groups), ("parallel", 2, groups)):
        seconds = []
        for _ in range(repeats):
            started = time.perf_counter()
            with ShardCutter(count_tokens, tokenizer, 192, 48, workers) as cutter:
                passages = sum(len(shard.passages) for shard in cutter.cut(work, sum(map(len, work))))
            seconds.append(time.perf_counter() - started)
        figures[f"{name}_s"] = round(statistics.median(seconds), 2)
        figures[f"{name}_runs_s"] = [round(s, 2) for s in seconds]
        if name != "startup":
            figures["passages"] = passages
    module.PARALLEL_MIN_ARTICLES = threshold
    return figures


def rebuild(archive: Path, index_dir: Path, env: dict, kill_at_shards: int | None = None) -> dict:
    """One ``index.rebuild`` run: wall time, stage times, peak RSS; or, with ``kill_at_shards``, killed
    with SIGKILL once that many shards are on disk."""
    command = [sys.executable, "-c", _MEASURED, str(archive), "--index", str(index_dir), "--quiet"]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if kill_at_shards is not None:
        while process.poll() is None and len(list(index_dir.glob("builds/*/shard-*.npz"))) < kill_at_shards:
            time.sleep(0.5)
        process.send_signal(signal.SIGKILL)
        process.communicate()
        return {"killed_after_s": round(time.perf_counter() - started, 1),
                "shards_done": len(list(index_dir.glob("builds/*/shard-*.npz")))}
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"the rebuild failed ({process.returncode}):\n{stderr[-3000:]}")
    passages, articles, embed_s, _, cut_s, write_s = _SUMMARY.search(stdout).groups()
    rss = next(line.split()[1:] for line in stderr.splitlines() if line.startswith("peak_rss_kib"))
    return {"wall_s": round(wall, 1), "cutting_s": float(cut_s), "embedding_s": float(embed_s),
            "writing_s": float(write_s), "passages": int(passages), "articles": int(articles),
            "peak_rss_mib": round(int(rss[0]) / 1024), "worker_peak_rss_mib": round(int(rss[1]) / 1024),
            "resumed": "resuming:" in stderr}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=10_000, help="archive size in passages (approximate)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/kavosh-resume"), help="archive, indexes and the cut model")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="shared data (Fars News)")
    parser.add_argument("--shard-articles", type=int, default=500, help="KAVOSH_SHARD_ARTICLES (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each cutting measurement (default %(default)s)")
    parser.add_argument("--skip-rebuilds", action="store_true", help="measure cutting only")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)

    archive = args.work / f"archive-{args.passages}.jsonl"
    if not archive.is_file():
        write_archive(archive, max(1, round(args.passages / PASSAGES_PER_ARTICLE)), args.data)
    model = cut_model(args.work / "model-1layer")
    figures: dict = {"command": " ".join(["python bench/resume.py", *(argv or sys.argv[1:])]),
                     "cutting": cutting(archive, model, args.shard_articles, args.repeats)}
    print(json.dumps(figures["cutting"]), flush=True)
    if not args.skip_rebuilds:
        env = {**os.environ, "KAVOSH_MODEL": str(model), "KAVOSH_SHARD_ARTICLES": str(args.shard_articles)}
        from index.cutting import PARALLEL_MIN_ARTICLES

        # below the threshold a rebuild cuts in its own process whatever KAVOSH_CUT_WORKERS says
        for workers in (1, 2) if figures["cutting"]["articles"] >= PARALLEL_MIN_ARTICLES else (1,):
            index_dir = args.work / f"index-{workers}"
            figures[f"rebuild_workers_{workers}"] = rebuild(archive, index_dir, {**env, "KAVOSH_CUT_WORKERS": str(workers)})
            print(json.dumps(figures[f"rebuild_workers_{workers}"]), flush=True)
        shards = -(-figures["cutting"]["articles"] // args.shard_articles)
        index_dir = args.work / "index-resumed"
        figures["killed"] = rebuild(archive, index_dir, env, kill_at_shards=max(1, shards // 2))
        figures["resumed"] = rebuild(archive, index_dir, env)
        print(json.dumps({"killed": figures["killed"], "resumed": figures["resumed"]}), flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
