"""Score normalization: each method's raw scores brought to [0, 1] before fusion (see :class:`search.fusion.Fusion`)."""
from __future__ import annotations

import numpy as np


def min_max(scores: np.ndarray, low: float, high: float) -> np.ndarray:
    """``scores`` placed within ``[low, high]`` (OpenSearch's ``min_max``): 1 at ``high``, 0 at ``low`` and
    below; all 1 when the range is empty."""
    return np.clip((scores - low) / (high - low), 0.0, 1.0) if high > low else np.ones(len(scores))


def bm25_share(bm25: np.ndarray, query_mass: float) -> np.ndarray:
    """BM25 divided by the query's mass (the score of a passage holding every query term once at average
    length), capped at 1: an absolute measure, unlike min-max, so a weak best hit stays weak."""
    return np.minimum(1.0, bm25 / query_mass)


def coverage(matched: np.ndarray, query_mass: float) -> np.ndarray:
    """The IDF-weighted share of the query's terms each passage holds."""
    return matched / query_mass
