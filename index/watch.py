"""``python -m index.update --watch INBOX``: a resident updater that applies each article file put into a folder.

Why: a newsroom publishes all day, and a run of ``index.update`` pays its start-up every time (importing torch,
loading the model and hazm's normalizer: about 9 s of the 10.5 s it takes to add 100 articles to a 10^5-passage
index, docs/benchmarks.md). A watcher loads them once; each file then costs what it changes.

Each regular, non-hidden file in INBOX (any format ``index.update SOURCE`` reads) is one update, applied in
name order once it has not changed for ``SETTLE_SECONDS`` (write it elsewhere, or under a hidden name, and
move it in, so that a half-written file is never read). It then moves to ``INBOX/done/``, or, when nothing
in it can be indexed, to ``INBOX/failed/`` beside a ``<name>.error.txt`` saying why; the live index is
unchanged then. A name used again gets the time added there, so no earlier file is overwritten. The index
lock is taken for each file only, so a rebuild or a deletion can run between them (a file met while another
process holds the lock waits for the next look). Anything else that goes wrong (the index missing or
damaged, the model changed by a rebuild, a full disk) stops the watcher with the error; the file stays in
the inbox for the next start.
"""
from __future__ import annotations

import logging
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from index import persian
from index.articles import IngestReport, read_articles
from index.changes import UpdateResult
from index.cli import publish
from index.embedder import Embedder
from index.errors import IndexBusy
from index.pipeline import update_index
from index.store import index_lock, open_index, remove_leftovers
from settings import Settings

log = logging.getLogger(__name__)

DONE, FAILED = "done", "failed"
SETTLE_SECONDS = 1.0  # a file changed more recently than this may still be being written
POLL_SECONDS = 2.0  # how often the inbox is looked at when it is empty


@dataclass
class Applied:
    """What the watcher did with one file: the update's result, or why the file failed."""

    path: Path
    result: UpdateResult | None = None
    error: str | None = None
    seconds: float = 0.0  # from reading the file to its version being live (or to giving up on it)


def waiting_files(inbox: Path, settle: float = SETTLE_SECONDS) -> list[Path]:
    """The files of ``inbox`` ready to apply, by name: regular, not hidden, unchanged for ``settle`` seconds."""
    now = time.time()
    ready = []
    for path in inbox.iterdir():
        try:
            facts = path.lstat()
        except FileNotFoundError:  # taken away since the folder was listed
            continue
        if stat.S_ISREG(facts.st_mode) and not path.name.startswith(".") and now - facts.st_mtime >= settle:
            ready.append(path)
    return sorted(ready)


def apply_file(path: Path, index_dir: Path, embedder: Embedder, settings: Settings, progress: bool) -> Applied:
    """Apply one file as an update under the index lock; IndexBusy when another process holds it."""
    with index_lock(index_dir):
        remove_leftovers(index_dir)
        live = open_index(index_dir, load_vectors=False)
        report = IngestReport()
        articles = read_articles([path], report)
        if not articles:
            return Applied(path, error=report.summary(indexed=0) + "\nno article could be read; the live index is unchanged")
        try:
            result = update_index(index_dir, embedder, articles, [], progress=progress, live=live,
                                  vector_index=settings.vector_index)
        except ValueError as exc:  # the articles, not the index: e.g. an article the index cannot hold
            return Applied(path, error=f"{exc}; the live index is unchanged")
        publish(index_dir, settings, progress)
    log.info("%s: %s", path.name, report.summary(indexed=len(articles)))
    return Applied(path, result=result)


def watch(inbox: Path, index_dir: Path, settings: Settings, progress: bool = False, poll: float = POLL_SECONDS,
          settle: float = SETTLE_SECONDS, keep_going: Callable[[], bool] = lambda: True,
          embedder: Embedder | None = None) -> list[Applied]:
    """Apply the files put into ``inbox`` until ``keep_going`` says stop (never, from the command line: Ctrl-C
    ends it, and an update it interrupts leaves the live index as it was). ``embedder``: the index's model,
    loaded here when None. Returns what was done with each file."""
    if not inbox.is_dir():
        raise ValueError(f"the inbox {inbox} is not a folder")
    if embedder is None:
        live = open_index(index_dir, load_vectors=False)
        embedder = Embedder.configured(live.manifest["model"], settings)
    persian.load()  # hazm's normalizer (about 2 s) once at the start, not in the first file's time
    for name in (DONE, FAILED):
        (inbox / name).mkdir(exist_ok=True)
    log.info("watching %s for article files; applying them to %s", inbox, index_dir)
    applied: list[Applied] = []
    while keep_going():
        ready, busy = waiting_files(inbox, settle), False
        for path in ready:
            if not path.exists():  # taken away again before its turn
                continue
            started = time.perf_counter()
            try:
                outcome = apply_file(path, index_dir, embedder, settings, progress)
            except IndexBusy as exc:
                log.info("%s waits: %s", path.name, exc)
                busy = True
                break
            outcome.seconds = time.perf_counter() - started
            if outcome.error is None:
                _set_aside(path, inbox / DONE)
                log.info("%s applied in %.1f s: %s (%s)", path.name, outcome.seconds, outcome.result.version.name,
                         outcome.result.written)
            else:
                kept = _set_aside(path, inbox / FAILED)
                kept.with_name(f"{kept.name}.error.txt").write_text(outcome.error + "\n", encoding="utf-8")
                log.error("%s failed: %s", path.name, outcome.error.splitlines()[-1])
            applied.append(outcome)
        if busy or not ready:
            time.sleep(poll)
    return applied


def _set_aside(path: Path, folder: Path) -> Path:
    """Move ``path`` into ``folder``; a name already there (an inbox file name used again) gets the time added,
    so no earlier file is overwritten. Returns where it went."""
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}-{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**9:09d}{path.suffix}"
    try:
        path.replace(target)
    except FileNotFoundError:
        log.warning("%s was taken out of the inbox while it was applied", path.name)
    return target
