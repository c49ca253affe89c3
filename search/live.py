"""Following the live index: a server keeps answering while rebuilds and updates switch versions.

Each request takes the engine of one version with :meth:`LiveEngine.get` and uses it to the end, so
no request ever mixes two versions; requests that started on the old version finish on it (its
files stay readable: the store keeps the previous version, and open files outlive deletion). A new
version is opened beside the old one, on a thread of its own, and swapped in only once it has been opened,
verified and prepared; a damaged new version is reported and the last good one keeps serving.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from index.store import IndexUnavailable, live_path, open_version
from search.backends import CollectionMissing
from search.engine import SearchEngine
from settings import Settings

log = logging.getLogger(__name__)

CHECK_SECONDS = 1.0  # how often a request may look at where the `current` link points


class LiveEngine:
    """The search engine of ``index_dir``'s live version, reopened when ``current`` moves."""

    def __init__(self, index_dir: Path, settings: Settings, check_seconds: float = CHECK_SECONDS) -> None:
        self.index_dir = index_dir
        self.check_seconds = check_seconds
        self._engine = SearchEngine.open(index_dir, settings)
        self._checked_at = time.monotonic()
        self._refused: Path | None = None  # a damaged version already reported
        self._lock = threading.Lock()

    def get(self) -> SearchEngine:
        """The engine to answer one request with (the newest good version). Where ``current`` points is looked
        at on a thread of its own, which opens and prepares a new version before swapping it in: no request
        waits for that (at 10^6 passages it took seconds, paid by the request that happened to look)."""
        if time.monotonic() - self._checked_at >= self.check_seconds and self._lock.acquire(blocking=False):
            self._checked_at = time.monotonic()
            try:
                threading.Thread(target=self._follow_then_release, name="kavosh-follow", daemon=True).start()
            except RuntimeError:  # no thread to be had (interpreter shutting down): look again later
                self._lock.release()
        return self._engine

    def _follow_then_release(self) -> None:
        try:
            self._follow()
        finally:
            self._lock.release()

    def _follow(self) -> None:
        serving = self._engine.version.path
        target = live_path(self.index_dir)
        if target is None:
            log.error("%s/current is missing; still serving version %s", self.index_dir, serving.name)
            return
        if target in (serving, self._refused):
            return
        try:
            engine = SearchEngine(open_version(target, load_vectors=False), self._engine.embedder, self._engine.fusion,
                                  backend=self._engine.backend, stem_search=self._engine.stem_search,
                                  previous=self._engine)
            engine.prepare()  # what its first searches would read, read here instead
        except IndexUnavailable as exc:
            log.error("not switching to index version %s: %s; still serving %s", target.name, exc, serving.name)
            if not isinstance(exc, CollectionMissing):  # a collection being published is looked for again
                self._refused = target
            return
        except Exception:  # noqa: BLE001 (whatever stops a version opening, the server keeps the one it has)
            log.exception("not switching to index version %s; still serving %s", target.name, serving.name)
            self._refused = target
            return
        log.info("now serving index version %s (was %s)", target.name, serving.name)
        self._engine, self._refused = engine, None
