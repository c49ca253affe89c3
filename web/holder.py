"""The process's search engine, held for the requests: opened once, retried while the index is missing."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask, current_app

from index.store import IndexMissing, IndexUnavailable
from search.live import LiveEngine
from settings import Settings

log = logging.getLogger(__name__)

RETRY_SECONDS = 10.0


class EngineUnavailable(Exception):
    """No engine to answer with; ``missing`` tells "not built yet" from "broken"."""

    def __init__(self, missing: bool) -> None:
        super().__init__("index missing" if missing else "index unavailable")
        self.missing = missing


class EngineHolder:
    """The process's search engine, or why there is none.

    Normally a :class:`search.live.LiveEngine`: each request takes the engine of the index's live
    version (so a rebuild or update is served without a restart, and one request never mixes two
    versions). An engine passed in (tests, embedding) is used as it is. When the index could not be
    opened, opening is tried again at most every ``RETRY_SECONDS``, so a later first build is picked up.
    """

    def __init__(self, settings: Settings, engine: Any = None) -> None:
        self.settings = settings
        self.fixed = engine
        self.live: Any = None
        self.problem: IndexUnavailable | None = None
        self._lock = threading.Lock()
        self._tried_at = 0.0
        if engine is None:
            self._open()

    def _open(self) -> None:
        self._tried_at = time.monotonic()
        try:
            self.live = LiveEngine(self.settings.index_dir, self.settings)
            self.problem = None
            log.info("serving index %s", self.settings.index_dir)
        except IndexUnavailable as exc:
            if self.problem is None or str(self.problem) != str(exc):  # say it once, not on every retry
                log.warning("search is unavailable until the index is usable: %s", exc)
            self.problem = exc

    @property
    def engine(self) -> Any:
        """The engine a request would get now, or ``None``."""
        if self.fixed is not None:
            return self.fixed
        return self.live.get() if self.live is not None else None

    def get(self) -> Any:
        """The engine to answer one request with (use it for the whole request), or :class:`EngineUnavailable`."""
        if self.fixed is not None:
            return self.fixed
        if self.live is None and time.monotonic() - self._tried_at >= RETRY_SECONDS:
            with self._lock:
                if self.live is None and time.monotonic() - self._tried_at >= RETRY_SECONDS:
                    self._open()
        if self.live is None:
            raise EngineUnavailable(isinstance(self.problem, IndexMissing))
        return self.live.get()


def engine_holder(app: Flask | None = None) -> EngineHolder:
    """The holder of ``app`` (default: the app of the current request)."""
    return (app or current_app).extensions["kavosh"]
