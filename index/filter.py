"""Which articles a search may return, as data: each backend turns a :class:`Filter` into what it reads."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Filter:
    """Keep articles of ``category`` dated from ``date_from`` to ``date_to`` (inclusive); a date bound
    drops undated articles. A field left None does not filter."""

    category: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    @property
    def is_empty(self) -> bool:
        return self.category is None and self.date_from is None and self.date_to is None


NO_FILTER = Filter()
