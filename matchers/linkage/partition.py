"""Comparison vectors computed region by region, on any concurrent.futures Executor.

The fuzzy work of a link (comparing candidate pairs field by field) splits by the region of the
left record: a task gets only its region's records and pairs, runs `comparison_vectors` on them
and returns level indices. No task reads anything outside its arguments, so the executor can be
another process or another machine: a Dask client's `get_executor()` is such an executor. The
result equals `comparison_vectors` on the whole frames: a level depends on the two records only.
"""
from __future__ import annotations

from concurrent.futures import Executor

import numpy as np
import pandas as pd

from .comparisons import ColumnStore
from .settings import LinkageSettings

PARTITION_PAIRS = 2_000_000  # a region with more candidate pairs is split: tasks stay a bounded size


def pair_regions(left: pd.DataFrame, li: np.ndarray, settings: LinkageSettings) -> np.ndarray:
    """Region code of each candidate pair: its left record's region (settings.region), -1 where unknown."""
    if settings.region is None:
        return np.zeros(len(li), dtype=np.int64)
    column, prefix = settings.region
    value_codes, values = pd.factorize(left[column], use_na_sentinel=True)
    value_region, _ = pd.factorize(pd.Series(np.asarray(values, dtype=object)).astype(str).str[:prefix], sort=True)
    return np.where(value_codes >= 0, value_region[np.maximum(value_codes, 0)], -1).astype(np.int64)[li]


def region_partitions(regions: np.ndarray, max_pairs: int | None = None) -> list[np.ndarray]:
    """Positions of the pairs of each region (in region order, pairs in their order), big regions split."""
    max_pairs = max_pairs or PARTITION_PAIRS
    order = np.argsort(regions, kind="stable")
    starts = np.flatnonzero(np.r_[True, regions[order][1:] != regions[order][:-1]]) if len(order) else np.zeros(0, int)
    bounds = [*starts.tolist(), len(order)]
    parts = []
    for begin, end in zip(bounds[:-1], bounds[1:]):
        parts.extend(order[s:min(s + max_pairs, end)] for s in range(begin, end, max_pairs))
    return parts


def region_task(left: pd.DataFrame, right: pd.DataFrame, li: np.ndarray, ri: np.ndarray,
                settings: LinkageSettings) -> dict[str, np.ndarray]:
    """Comparison vectors of one partition: its records only, pairs as positions within them."""
    from .engine import comparison_vectors

    return comparison_vectors(ColumnStore(left, right), li, ri, settings)


def comparison_vectors_by_region(left: pd.DataFrame, right: pd.DataFrame, li: np.ndarray, ri: np.ndarray,
                                 settings: LinkageSettings, executor: Executor,
                                 max_pairs: int | None = None) -> dict[str, np.ndarray]:
    """comparison_vectors(ColumnStore(left, right), li, ri, settings), one executor task per region partition."""
    parts = region_partitions(pair_regions(left, li, settings), max_pairs)
    futures = []
    for positions in parts:
        left_rows, left_local = np.unique(li[positions], return_inverse=True)
        right_rows, right_local = np.unique(ri[positions], return_inverse=True)
        futures.append(executor.submit(region_task, left.iloc[left_rows].reset_index(drop=True),
                                       right.iloc[right_rows].reset_index(drop=True),
                                       left_local.astype(np.int64), right_local.astype(np.int64), settings))
    out = {c.name: np.zeros(len(li), dtype=np.int8) for c in settings.comparisons}
    for positions, future in zip(parts, futures):
        for name, gamma in future.result().items():
            out[name][positions] = gamma
    return out
