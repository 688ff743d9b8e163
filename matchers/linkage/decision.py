"""From scored pairs to links: thresholds, vetoes, one-to-one and near-tie review flags."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .settings import DecisionSettings

MAX_ROUNDS = 100


def one_to_one(left: np.ndarray, right: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Greedy by weight: accept mutual best pairs, drop their keys, repeat. Returns accepted mask."""
    n = len(weight)
    accepted = np.zeros(n, dtype=bool)
    order = np.lexsort((right, left, -weight))  # best first, ties broken by position
    live = np.ones(n, dtype=bool)
    for _ in range(MAX_ROUNDS):
        idx = order[live[order]]
        if len(idx) == 0:
            break
        best_left = ~pd.Series(left[idx]).duplicated().to_numpy()
        best_right = ~pd.Series(right[idx]).duplicated().to_numpy()
        chosen = idx[best_left & best_right]
        if len(chosen) == 0:
            break
        accepted[chosen] = True
        live &= ~np.isin(left, left[chosen]) & ~np.isin(right, right[chosen])
    return accepted


def _best_other(keys: np.ndarray, weight: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each row in `rows`, the highest weight among other pairs with the same key (-inf if none)."""
    frame = pd.DataFrame({"k": keys, "w": weight, "i": np.arange(len(keys))})
    frame = frame.sort_values(["k", "w"], ascending=[True, False], kind="stable")
    top = frame.groupby("k", sort=False).nth(0)
    second = frame.groupby("k", sort=False).nth(1)
    top1_w = pd.Series(top["w"].to_numpy(), index=top["k"].to_numpy())
    top1_i = pd.Series(top["i"].to_numpy(), index=top["k"].to_numpy())
    top2_w = pd.Series(second["w"].to_numpy(), index=second["k"].to_numpy())
    k = keys[rows]
    t1w = top1_w.reindex(k).to_numpy()
    t1i = top1_i.reindex(k).to_numpy()
    t2w = top2_w.reindex(k).fillna(-np.inf).to_numpy()
    return np.where(t1i == rows, t2w, t1w)


def decide(
    left: np.ndarray,
    right: np.ndarray,
    weight: np.ndarray,
    prob: np.ndarray,
    veto: np.ndarray,
    settings: DecisionSettings,
) -> pd.DataFrame:
    """Rows (index into the scored pairs) that become links, with review flags and reasons."""
    eligible = (prob >= settings.lower) & ~veto
    idx = np.flatnonzero(eligible)
    if settings.one_to_one:
        keep = one_to_one(left[idx], right[idx], weight[idx])
        idx = idx[keep]
    low = prob[idx] < settings.upper
    rival = np.maximum(_best_other(left, weight, idx), _best_other(right, weight, idx)) if len(idx) else np.zeros(0)
    near_tie = weight[idx] - rival <= settings.tie_margin
    reason = np.where(low & near_tie, "low_confidence;near_tie",
                      np.where(low, "low_confidence", np.where(near_tie, "near_tie", "")))
    return pd.DataFrame({
        "row": idx,
        "review_required": low | near_tie,
        "review_reason": reason,
    })
