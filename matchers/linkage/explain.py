"""Short Chinese explanations of the decisive agreements and disagreements of each link.

They go into analyst outputs (CSV), never into logs.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .comparisons import ColumnStore
from .model import LinkageModel
from .settings import LinkageSettings

SEPARATOR = "；"


def explain(
    store: ColumnStore,
    li: np.ndarray,
    ri: np.ndarray,
    gammas: Mapping[str, np.ndarray],
    settings: LinkageSettings,
    model: LinkageModel,
) -> np.ndarray:
    """One text per pair: level labels whose |weight| reaches the setting, values for flagged levels."""
    n = len(li)
    text = np.full(n, "", dtype=object)
    for spec in settings.comparisons:
        weights = model.comparison(spec.name).weights()
        labels = np.array([
            (lv.zh or f"{spec.zh or spec.name}:{lv.label}")
            if (not lv.is_null and abs(weights[j]) >= settings.explain_min_weight) else ""
            for j, lv in enumerate(spec.levels)
        ], dtype=object)
        gamma = gammas[spec.name]
        piece = labels[gamma]
        with_values = np.array([lv.explain_values and labels[j] != "" for j, lv in enumerate(spec.levels)])
        if spec.explain_column and with_values.any():
            at = np.flatnonzero(with_values[gamma])
            if len(at):
                enc = store.get(spec.explain_column)
                vals = np.append(enc.uniques, "").astype(object)
                piece[at] = piece[at] + "(" + vals[enc.left[li[at]]] + "/" + vals[enc.right[ri[at]]] + ")"
        glue = np.where((text != "") & (piece != ""), SEPARATOR, "").astype(object)
        text = text + glue + piece
    return text
