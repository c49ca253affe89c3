"""Which vector-index backend a name stands for: the one recorded in a version's manifest or configured."""
from __future__ import annotations

from index.vectors.base import VectorIndex
from index.vectors.flat import FlatIndex
from index.vectors.ivf import IVFIndex

DEFAULT_KIND = FlatIndex.kind
BACKENDS: dict[str, type[VectorIndex]] = {backend.kind: backend for backend in (FlatIndex, IVFIndex)}
AUTO = "auto"
# From this many passages on, a version is written with the approximate index (see docs/design.md, "Scale")
ANN_THRESHOLD = 50_000


def vector_index_class(kind: str) -> type[VectorIndex]:
    """The backend named ``kind``; ValueError naming the known ones otherwise."""
    try:
        return BACKENDS[kind]
    except KeyError:
        raise ValueError(f"unknown vector index {kind!r}; use one of {', '.join(BACKENDS)}") from None


def choose_kind(passages: int, setting: str = AUTO) -> str:
    """The backend a version of ``passages`` passages is written with: exact below ANN_THRESHOLD,
    approximate from it on, unless the setting (KAVOSH_VECTOR_INDEX) names one."""
    if setting == AUTO:
        return IVFIndex.kind if passages >= ANN_THRESHOLD else FlatIndex.kind
    if setting not in BACKENDS:
        raise ValueError(f"KAVOSH_VECTOR_INDEX must be {AUTO} or one of {', '.join(BACKENDS)}, not {setting!r}")
    return setting
