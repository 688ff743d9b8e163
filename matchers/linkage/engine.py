"""`link`: blocking, comparison vectors, EM (unless a model is given), scoring, decision."""
from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from matchers.columnar import by_position

from .blocking import generate_candidates
from .comparisons import ColumnStore, PairContext, compute_gammas
from .decision import decide
from .explain import explain
from .model import LinkageModel
from .partition import comparison_vectors_by_region
from .scoring import estimate_u, match_weights, patterns, probability, run_em
from .settings import LinkageSettings, with_optional_columns

CHUNK_PAIRS = 2_000_000


@dataclass
class LinkResult:
    """Links (one row per accepted pair), the model used, and what each blocking rule produced."""

    pairs: pd.DataFrame
    model: LinkageModel
    blocking_report: pd.DataFrame
    scored: pd.DataFrame | None = None


def _check_key(frame: pd.DataFrame, key: str, side: str) -> None:
    if key not in frame.columns:
        raise KeyError(f"key column {key!r} missing on the {side} side")
    if not pd.api.types.is_integer_dtype(frame[key]):
        raise TypeError(f"key column {key!r} on the {side} side must be integer")
    if not frame[key].is_unique:
        raise ValueError(f"key column {key!r} is not unique on the {side} side")


def _truth_positions(left: pd.DataFrame, right: pd.DataFrame, key: str, truth: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    lpos = pd.Index(left[key]).get_indexer(truth["left_key"])
    rpos = pd.Index(right[key]).get_indexer(truth["right_key"])
    ok = (lpos >= 0) & (rpos >= 0)
    return lpos[ok].astype(np.int64), rpos[ok].astype(np.int64)


def comparison_vectors(store: ColumnStore, li: np.ndarray, ri: np.ndarray, settings: LinkageSettings) -> dict[str, np.ndarray]:
    """Gamma (level index) per comparison for all pairs, in chunks to bound memory."""
    out: dict[str, list[np.ndarray]] = {c.name: [] for c in settings.comparisons}
    for s in range(0, max(len(li), 1), CHUNK_PAIRS):
        ctx = PairContext(store, li[s:s + CHUNK_PAIRS], ri[s:s + CHUNK_PAIRS])
        for name, gamma in compute_gammas(ctx, settings).items():
            out[name].append(gamma)
    return {k: (np.concatenate(v) if v else np.zeros(0, np.int8)) for k, v in out.items()}


def _match_method(gammas: dict[str, np.ndarray], settings: LinkageSettings, rows: np.ndarray) -> np.ndarray:
    method = np.full(len(rows), "fuzzy", dtype=object)
    mm = settings.match_method
    if mm.comparison is None:
        return method
    comp = settings.comparison(mm.comparison)
    gamma = gammas[comp.name][rows]
    method[np.isin(gamma, [comp.level_index(x) for x in mm.id_repaired])] = "id_repaired"
    method[np.isin(gamma, [comp.level_index(x) for x in mm.id_exact])] = "id_exact"
    return method


def link(
    left: pd.DataFrame,
    right: pd.DataFrame,
    settings: LinkageSettings,
    model: LinkageModel | None = None,
    progress: Callable[[str], None] | None = None,
    truth_pairs: pd.DataFrame | None = None,
    keep_scored: bool = False,
    executor: Executor | None = None,
) -> LinkResult:
    """Link two standardised frames. With `model`, EM is skipped and that model is applied.

    executor: where the pairs are compared, one task per region (partition.py); None: here, in chunks.
    """
    say = progress or (lambda _msg: None)
    key = settings.key
    _check_key(left, key, "left")
    _check_key(right, key, "right")
    if model is not None:
        model.check_compatible(settings)
    n_left, n_right = len(left), len(right)
    left = with_optional_columns(by_position(left), settings)  # the engine never writes into its inputs
    right = with_optional_columns(by_position(right), settings)

    t0 = time.perf_counter()
    truth = _truth_positions(left, right, key, truth_pairs) if truth_pairs is not None else None
    store = ColumnStore(left, right)
    with ThreadPoolExecutor(1, thread_name_prefix="estimate-u") as beside:
        # u from random pairs needs no candidate: it runs on the other core from the start, beside
        # blocking and the comparison of the candidates (numpy and DuckDB release the GIL); all
        # read the same store, whose caches are locked
        u_estimated = beside.submit(estimate_u, store, settings, n_left, n_right) if model is None else None
        cand = generate_candidates(left, right, settings, truth=truth, progress=say, store=store)
        li, ri = cand.left_pos, cand.right_pos
        say(f"blocking: {len(li)} candidate pairs in {time.perf_counter() - t0:.1f}s")
        t1 = time.perf_counter()
        gammas = (comparison_vectors(store, li, ri, settings) if executor is None
                  else comparison_vectors_by_region(left, right, li, ri, settings, executor))
        say(f"comparison vectors: {time.perf_counter() - t1:.1f}s")
        u = u_estimated.result() if u_estimated is not None else None

    if model is None:
        say(f"u estimated from random pairs beside them, ready {time.perf_counter() - t0:.1f}s after blocking began")
        model = run_em(patterns(gammas, settings), settings, u, n_left, n_right, progress=say)
        model.training.update({"n_left": n_left, "n_right": n_right, "n_candidates": int(len(li)),
                               "u_sample_pairs": int(min(settings.u_sample_size, n_left * n_right))})

    ctx = PairContext(store, li, ri)
    weight = match_weights(ctx, gammas, settings, model, n_left, n_right)
    prob = probability(weight)
    veto = np.zeros(len(li), dtype=bool)
    for spec in settings.comparisons:
        vetoed = [j for j, lv in enumerate(spec.levels) if lv.veto]
        if vetoed:
            veto |= np.isin(gammas[spec.name], vetoed)

    decided = decide(li, ri, weight, prob, veto, settings.decision)
    rows = decided["row"].to_numpy()
    lkeys = left[key].to_numpy()
    rkeys = right[key].to_numpy()
    pairs = pd.DataFrame({
        "left_key": lkeys[li[rows]],
        "right_key": rkeys[ri[rows]],
        "match_weight": weight[rows],
        "match_probability": prob[rows],
        "match_method": _match_method(gammas, settings, rows),
        "review_required": decided["review_required"].to_numpy(),
        "review_reason": decided["review_reason"].to_numpy(),
        "explanation": explain(store, li[rows], ri[rows], {k: v[rows] for k, v in gammas.items()}, settings, model),
    })
    for name, gamma in gammas.items():
        pairs[f"gamma_{name}"] = gamma[rows]
    pairs = pairs.sort_values(["left_key", "right_key"], kind="stable").reset_index(drop=True)
    say(f"links: {len(pairs)} ({int(pairs['review_required'].sum())} for review), "
        f"vetoed candidates: {int(veto.sum())}, total {time.perf_counter() - t0:.1f}s")

    scored = None
    if keep_scored:
        scored = pd.DataFrame({"left_key": lkeys[li], "right_key": rkeys[ri], "match_weight": weight,
                               "match_probability": prob, "veto": veto})
        for name, gamma in gammas.items():
            scored[f"gamma_{name}"] = gamma
    return LinkResult(pairs=pairs, model=model, blocking_report=cand.report, scored=scored)
