"""Which vector-index backend a name stands for: the one recorded in a version's manifest or configured."""
from __future__ import annotations

from index.vectors.base import VectorIndex
from index.vectors.flat import FlatIndex

DEFAULT_KIND = FlatIndex.kind
BACKENDS: dict[str, type[VectorIndex]] = {backend.kind: backend for backend in (FlatIndex,)}


def vector_index_class(kind: str) -> type[VectorIndex]:
    """The backend named ``kind``; ValueError naming the known ones otherwise."""
    try:
        return BACKENDS[kind]
    except KeyError:
        raise ValueError(f"unknown vector index {kind!r}; use one of {', '.join(BACKENDS)}") from None
