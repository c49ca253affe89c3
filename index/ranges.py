"""Row numbers of several runs of consecutive rows, as one array: how a thousand passages' sentences or term
hashes are gathered from a flat array with one fancy index instead of a slice per passage."""
from __future__ import annotations

import numpy as np


def run_rows(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``starts[0] .. starts[0] + counts[0] - 1``, then the next run's rows, and so on, concatenated."""
    return np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
