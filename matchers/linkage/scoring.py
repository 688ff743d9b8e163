"""Fellegi–Sunter scoring: u from random pairs and value frequencies, m by EM on pattern counts.

u stays fixed during EM (as in Splink): estimating it on blocked pairs would make "same name,
same place" look like a match. EM treats pairs outside the candidate set as non-matches, so
the prior it learns is the prior over all left×right pairs, consistent with random-pair u.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .comparisons import ColumnStore, PairContext, compute_gammas
from .model import ComparisonModel, LinkageModel
from .settings import Comparison, LinkageSettings

# A level EM never sees among matches still happens (both sides mistyped): 1e-5 made one
# disagreeing field cost 16 bits, more than a repaired ID earns.
M_FLOOR = 1e-3


def _single_exact_column(when: object) -> str | None:
    if isinstance(when, Mapping) and len(when) == 1 and isinstance(when.get("exact"), str):
        return str(when["exact"])
    return None


def sample_pairs(n_left: int, n_right: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """All pairs when the product is small, else `size` uniform random pairs."""
    if n_left * n_right <= size:
        li = np.repeat(np.arange(n_left, dtype=np.int64), n_right)
        ri = np.tile(np.arange(n_right, dtype=np.int64), n_left)
        return li, ri
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_left, size, dtype=np.int64), rng.integers(0, n_right, size, dtype=np.int64)


def _exact_u_from_frequencies(store: ColumnStore, column: str) -> float | None:
    """P(two random non-missing values agree) = Σ p_left(v)·p_right(v), summed exactly.

    Not np.dot: OpenBLAS splits a long dot product among the machine's cores, so its last bits,
    and the weights written from them, would depend on how many cores ran the job.
    """
    enc = store.get(column)
    n = enc.size
    left = np.bincount(enc.left[enc.left >= 0], minlength=n).astype(np.float64)
    right = np.bincount(enc.right[enc.right >= 0], minlength=n).astype(np.float64)
    left_total, right_total = left.sum(), right.sum()
    if left_total == 0 or right_total == 0:
        return None
    both = (left > 0) & (right > 0)  # the other products are 0
    return math.fsum(((left[both] / left_total) * (right[both] / right_total)).tolist())


def estimate_u(store: ColumnStore, settings: LinkageSettings, n_left: int, n_right: int) -> dict[str, np.ndarray]:
    """u per non-null level: share among random pairs whose comparison is not null."""
    li, ri = sample_pairs(n_left, n_right, settings.u_sample_size, settings.seed)
    ctx = PairContext(store, li, ri)
    gammas = compute_gammas(ctx, settings)
    out: dict[str, np.ndarray] = {}
    for comp in settings.comparisons:
        n_levels = len(comp.levels)
        counts = np.bincount(gammas[comp.name].astype(np.int64), minlength=n_levels).astype(np.float64)
        null = np.array([lv.is_null for lv in comp.levels])
        counts[null] = 0.0
        total = counts.sum()
        u = np.where(null, np.nan, 0.0)
        if total > 0:
            u[~null] = np.maximum(counts[~null], 0.5) / total
        else:
            u[~null] = 1.0 / max((~null).sum(), 1)
        for j, level in enumerate(comp.levels):
            column = _single_exact_column(level.when)
            if level.is_null or column is None:
                continue
            freq_u = _exact_u_from_frequencies(store, column)
            if freq_u is not None and freq_u > 0:
                others = ~null.copy()
                others[j] = False
                rest = u[others].sum()
                u[j] = freq_u
                if rest > 0:
                    u[others] *= (1.0 - freq_u) / rest
        for j, level in enumerate(comp.levels):
            if level.fixed and level.u is not None:
                u[j] = level.u
        out[comp.name] = u
    return out


def initial_m(comp: Comparison) -> np.ndarray:
    """Priors: the best non-null level likely for matches, the last level rare."""
    null = np.array([lv.is_null for lv in comp.levels])
    m = np.where(null, np.nan, 0.0)
    idx = np.flatnonzero(~null)
    if len(idx) == 0:
        return m
    exact = [j for j in idx if comp.levels[j].label == "exact"]
    top = exact[0] if exact else idx[0]
    rest = [j for j in idx if j != top]
    m[top] = 0.9 if rest else 1.0
    if rest:
        share = np.array([0.5 ** (k + 1) for k in range(len(rest))])
        m[rest] = 0.1 * share / share.sum()
    for j in idx:
        lv = comp.levels[j]
        if lv.fixed:
            m[j] = lv.m
        elif lv.m_prior is not None:
            m[j] = lv.m_prior
    return m


@dataclass
class Patterns:
    """Distinct comparison vectors with their counts (EM runs on these, not on pairs)."""

    levels: np.ndarray  # n_patterns × n_comparisons, int
    counts: np.ndarray
    inverse: np.ndarray  # pattern id of each pair


def patterns(gammas: Mapping[str, np.ndarray], settings: LinkageSettings) -> Patterns:
    names = [c.name for c in settings.comparisons]
    n = len(gammas[names[0]]) if names else 0
    code = np.zeros(n, dtype=np.int64)
    for comp in settings.comparisons:
        code = code * np.int64(len(comp.levels)) + gammas[comp.name].astype(np.int64)
    inverse, uniq = pd.factorize(code)
    first = np.full(len(uniq), n, dtype=np.int64)
    np.minimum.at(first, inverse, np.arange(n, dtype=np.int64))
    levels = np.stack([gammas[c][first] for c in names], axis=1).astype(np.int64) if n else np.zeros((0, len(names)), np.int64)
    counts = np.bincount(inverse, minlength=len(uniq)).astype(np.float64)
    return Patterns(levels, counts, inverse)


def _pattern_weights(pat: Patterns, comps: list[ComparisonModel]) -> np.ndarray:
    total = np.zeros(len(pat.counts))
    for k, comp in enumerate(comps):
        total += comp.weights()[pat.levels[:, k]]
    return total


def _em_pass(
    pat: Patterns, settings: LinkageSettings, model: LinkageModel, n_left: int, n_right: int, learn_m: bool
) -> tuple[int, bool]:
    """EM iterations on the given patterns; with learn_m False only the match rate moves."""
    comps = model.comparisons
    iterations, converged = 0, False
    for iterations in range(1, settings.em_max_iterations + 1):
        logit = model.prior_weight(n_left, n_right) + _pattern_weights(pat, comps)
        p = 1.0 / (1.0 + np.exp2(-np.clip(logit, -1000, 1000)))
        expected = pat.counts * p
        total_matches = float(expected.sum())
        change = 0.0
        for k, (comp, spec) in enumerate(zip(comps, settings.comparisons)):
            if not learn_m:
                break
            null = np.array(comp.null)
            fixed = np.array([lv.fixed for lv in spec.levels])
            by_level = np.bincount(pat.levels[:, k], weights=expected, minlength=len(null))
            # A level no candidate pair reached tells EM nothing: it keeps its prior m, but
            # that prior must not take mass from the levels matches do reach (a roster
            # without a detail address would otherwise leave "same village" a tenth of its m).
            seen = np.bincount(pat.levels[:, k], weights=pat.counts, minlength=len(null)) > 0
            keep = fixed | ~seen
            free = ~null & ~keep
            old = np.array(comp.m, dtype=np.float64)
            new = old.copy()
            mass = by_level[free].sum()
            budget = 1.0 - np.nansum(old[fixed & ~null])
            if mass > 0 and free.any():
                new[free] = np.maximum(by_level[free] / mass * budget, M_FLOOR)
            change = max(change, float(np.nanmax(np.abs(new - old), initial=0.0)))
            comp.m = new.tolist()
        new_rate = total_matches / max(min(n_left, n_right), 1)
        change = max(change, abs(new_rate - model.match_rate))
        model.match_rate = new_rate
        if change < settings.em_tolerance:
            converged = True
            break
    return iterations, converged


def _subset(pat: Patterns, keep: np.ndarray) -> Patterns:
    return Patterns(pat.levels[keep], pat.counts[keep], np.zeros(0, np.int64))


def run_em(
    pat: Patterns,
    settings: LinkageSettings,
    u: Mapping[str, np.ndarray],
    n_left: int,
    n_right: int,
    progress: Callable[[str], None] | None = None,
) -> LinkageModel:
    """EM for m and the match rate with u fixed; iterates on pattern counts only.

    With `em_anchor`, m is learned only on pairs where that comparison (the ID) carries
    evidence: without it, members of one household (same address, same phone) form a
    latent class EM would mistake for "same person". The match rate is then re-estimated
    on all pairs with m held.
    """
    comps = [
        ComparisonModel(
            name=c.name,
            labels=[lv.label for lv in c.levels],
            null=[lv.is_null for lv in c.levels],
            m=initial_m(c).tolist(),
            u=u[c.name].tolist(),
        )
        for c in settings.comparisons
    ]
    model = LinkageModel(settings.name, comps, float(settings.initial_match_rate))
    names = [c.name for c in settings.comparisons]
    anchored = settings.em_anchor is not None
    if anchored:
        k = names.index(settings.em_anchor)
        null_levels = np.flatnonzero([lv.is_null for lv in settings.comparisons[k].levels])
        informative = ~np.isin(pat.levels[:, k], null_levels)
        iterations, converged = _em_pass(_subset(pat, informative), settings, model, n_left, n_right, learn_m=True)
        rate_iterations, rate_converged = _em_pass(pat, settings, model, n_left, n_right, learn_m=False)
        converged = converged and rate_converged
        model.training.update({"em_anchor": settings.em_anchor, "em_anchor_pairs": float(pat.counts[informative].sum()),
                               "em_rate_iterations": rate_iterations})
    else:
        iterations, converged = _em_pass(pat, settings, model, n_left, n_right, learn_m=True)
    if progress:
        progress(f"EM stopped after {iterations} iterations (converged={converged}), "
                 f"{len(pat.counts)} patterns, expected matches {model.match_rate * min(n_left, n_right):.0f}")
    model.training.update({"em_iterations": iterations, "em_converged": converged, "n_patterns": int(len(pat.counts))})
    return model


def match_weights(
    ctx: PairContext,
    gammas: Mapping[str, np.ndarray],
    settings: LinkageSettings,
    model: LinkageModel,
    n_left: int,
    n_right: int,
) -> np.ndarray:
    """log2 Bayes factor incl. prior, with term-frequency adjustment on flagged levels."""
    weight = np.full(ctx.n, model.prior_weight(n_left, n_right))
    for spec in settings.comparisons:
        comp = model.comparison(spec.name)
        gamma = gammas[spec.name]
        weight += comp.weights()[gamma]
        for j, level in enumerate(spec.levels):
            if level.tf_column is None or level.is_null:
                continue
            at = np.flatnonzero(gamma == j)
            if len(at) == 0:
                continue
            enc = ctx.store.get(level.tf_column)
            freq = enc.frequencies()
            codes = enc.left[ctx.li[at]]
            known = codes >= 0
            tf = np.where(known, freq[np.maximum(codes, 0)], np.nan)
            tf = np.maximum(tf, settings.tf_minimum_u)
            adjust = np.log2(comp.u[j] / tf)
            weight[at] += np.where(known & (tf > 0), adjust, 0.0)
    return weight


def probability(weight: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp2(-np.clip(weight, -1000, 1000)))
