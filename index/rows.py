"""Rows a version is written from, read again on each walk instead of held in memory."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generic, Iterator, Protocol, TypeVar

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Rows(Protocol[T_co]):
    """Rows that can be counted and read again one by one: a list, or a :class:`Walk` over rows on disk (a
    rebuild's checkpointed shards, an update's live version), so that writing a version never needs all of
    them in memory at once."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[T_co]: ...


@dataclass(frozen=True)
class Walk(Generic[T]):
    """``count`` rows that ``read`` reads again, from the start, on each iteration."""

    count: int
    read: Callable[[], Iterator[T]]

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[T]:
        return self.read()
