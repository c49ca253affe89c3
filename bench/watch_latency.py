"""How long article files take to reach the live index through the resident updater, against runs of the
update command, on copies of one index (not a test).

    python bench/watch_latency.py --index INDEX --files new-a.jsonl new-b.jsonl [--work /tmp/kavosh-watch]

Two hard-linked copies of INDEX (``cp -al``: versions are never written again, so sharing their files is
safe). On the first, ``python -m index.update --watch`` runs; each file is moved into its inbox and timed
until the index's ``current`` link changes (so the watcher's look at an empty inbox, every 2 s, is
included); the watcher's own log says how long each file took from being picked up. On the second, each
file is applied by ``python -m index.update FILE``, timed as a command with its start-up. Same files, same
order, one after the other.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fresh_copy(index: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run(["cp", "-al", str(index), str(target)], check=True)
    return target


def wait_for_switch(index: Path, before: str, timeout: float = 600) -> None:
    deadline = time.perf_counter() + timeout
    while os.readlink(index / "current") == before:
        if time.perf_counter() > deadline:
            raise SystemExit("the watcher did not switch the index in time; see its log")
        time.sleep(0.02)


def through_watcher(index: Path, files: list[Path], work: Path) -> tuple[float, list[float], list[float]]:
    """Seconds until the watcher was ready, and for each file: moved in → live, and picked up → live (its log)."""
    inbox = work / "inbox"
    shutil.rmtree(inbox, ignore_errors=True)
    inbox.mkdir()
    log_path = work / "watcher.log"
    started = time.perf_counter()
    with open(log_path, "w") as log:
        watcher = subprocess.Popen([sys.executable, "-m", "index.update", "--watch", str(inbox), "--index", str(index),
                                    "--quiet"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            while "watching" not in log_path.read_text():
                if watcher.poll() is not None:
                    raise SystemExit(f"the watcher ended:\n{log_path.read_text()[-2000:]}")
                time.sleep(0.05)
            ready = time.perf_counter() - started
            moved_to_live = []
            for file in files:
                before = os.readlink(index / "current")
                staged = work / file.name
                shutil.copy2(file, staged)
                past = time.time() - 10  # as if written a while ago: the watcher need not wait for it to settle
                os.utime(staged, (past, past))
                moved = time.perf_counter()
                staged.rename(inbox / file.name)
                wait_for_switch(index, before)
                moved_to_live.append(time.perf_counter() - moved)
                time.sleep(1)
        finally:
            watcher.terminate()
            watcher.wait()
    picked_up = [float(s) for s in re.findall(r"applied in ([\d.]+) s", log_path.read_text())]
    return ready, moved_to_live, picked_up


def through_commands(index: Path, files: list[Path]) -> list[float]:
    times = []
    for file in files:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "index.update", str(file), "--index", str(index), "--quiet"],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True, help="the index to copy (it is not changed)")
    parser.add_argument("--files", type=Path, nargs="+", required=True, help="article files, applied in this order")
    parser.add_argument("--work", type=Path, default=Path("/tmp/kavosh-watch"))
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    files = [file.resolve() for file in args.files]
    ready, moved, picked = through_watcher(fresh_copy(args.index, args.work / "watched"), files, args.work)
    commands = through_commands(fresh_copy(args.index, args.work / "commanded"), files)
    print(f"watcher ready (imports, model) after {ready:.1f} s")
    print(f"{'file':<24}{'watcher: moved in → live':>26}{'picked up → live':>18}{'command':>10}")
    for file, m, p, c in zip(files, moved, picked + [float('nan')] * len(files), commands):
        print(f"{file.name:<24}{m:>24.2f} s{p:>16.2f} s{c:>8.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
