"""Following the live index: a server keeps answering while rebuilds and updates switch versions.

Each request takes the engine of one version with :meth:`LiveEngine.get` and uses it to the end, so
no request ever mixes two versions; requests that started on the old version finish on it (its
files stay readable: the store keeps the previous version, and open files outlive deletion). A new
version is opened beside the old one and swapped in only once it has been opened and verified; a
damaged new version is reported and the last good one keeps serving.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from index.store import IndexUnavailable, open_version
from search.engine import SearchEngine
from settings import Settings

log = logging.getLogger(__name__)

CHECK_SECONDS = 1.0  # how often a request may look at the `current` link (one readlink call)


class LiveEngine:
    """The search engine of ``index_dir``'s live version, reopened when ``current`` moves."""

    def __init__(self, index_dir: Path, settings: Settings, check_seconds: float = CHECK_SECONDS) -> None:
        self.index_dir = index_dir
        self.check_seconds = check_seconds
        self._engine = SearchEngine.open(index_dir, settings)
        self._target = self._engine.version.path.name
        self._checked_at = time.monotonic()
        self._refused: str | None = None
        self._lock = threading.Lock()

    def get(self) -> SearchEngine:
        """The engine to answer one request with (the newest good version)."""
        if time.monotonic() - self._checked_at >= self.check_seconds and self._lock.acquire(blocking=False):
            try:
                self._checked_at = time.monotonic()
                self._follow()
            finally:
                self._lock.release()
        return self._engine

    def _follow(self) -> None:
        try:
            target = Path(os.readlink(self.index_dir / "current")).name
        except OSError as exc:
            log.error("cannot read %s/current (%s); still serving version %s", self.index_dir, exc, self._target)
            return
        if target in (self._target, self._refused):
            return
        try:
            version = open_version(self.index_dir / "versions" / target)
            engine = SearchEngine(version, self._engine.embedder, self._engine.fusion)
        except IndexUnavailable as exc:
            log.error("not switching to index version %s: %s; still serving %s", target, exc, self._target)
            self._refused = target
            return
        log.info("now serving index version %s (was %s)", target, self._target)
        self._engine, self._target, self._refused = engine, target, None
