"""Comparison vectors for candidate pairs, computed column-wise (never per pair in Python).

Each column is factorised once over both sides into integer codes; equality is an integer
comparison and string metrics run on the distinct (left value, right value) pairs only.
A level's `when` is a condition: a predicate name, a mapping {predicate: params, ...}
(all must hold), or the combinators `any: [...]` and `not: {...}`.
"""
from __future__ import annotations

import csv
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz.distance import DamerauLevenshtein, Jaro, JaroWinkler, Levenshtein
from rapidfuzz.process import cpdist

from matchers.columnar import blank_as_null, fixed_width_bytes, is_arrow_text, python_text

from .settings import Comparison, LinkageSettings

WORKERS = 2


class EncodedColumn:
    """Codes of one column on both sides (-1 = missing) and the distinct values.

    Text encoded in Arrow keeps its distinct values there until some step asks for them as
    Python strings (uniques): an ID column's 1.7M distinct values are compared exactly, searched
    and read as characters without ever being made into Python strings.
    """

    def __init__(self, left: np.ndarray, right: np.ndarray, uniques: np.ndarray | pa.Array) -> None:
        self.left = left
        self.right = right
        self._uniques = uniques.cast(pa.string()) if isinstance(uniques, pa.Array) else uniques
        self.size = len(uniques)

    @property
    def kept_in_arrow(self) -> bool:
        """Are the distinct values still Arrow text (never asked for as Python strings)?"""
        return isinstance(self._uniques, pa.Array)

    @property
    def uniques(self) -> np.ndarray:
        """The distinct values as an object array of Python values."""
        if isinstance(self._uniques, pa.Array):
            self._uniques = np.asarray(self._uniques.to_numpy(zero_copy_only=False), dtype=object)
        return self._uniques

    def text(self) -> pa.Array:
        """The distinct values as Arrow strings."""
        if isinstance(self._uniques, pa.Array):
            return self._uniques
        return pa.array(self._uniques, type=pa.string())

    def values_at(self, positions: np.ndarray) -> np.ndarray:
        """Some distinct values as Python values (object array)."""
        if isinstance(self._uniques, pa.Array):
            return np.asarray(self._uniques.take(pa.array(positions)).to_numpy(zero_copy_only=False), dtype=object)
        return self._uniques[positions]

    def frequencies(self) -> np.ndarray:
        """Share of each distinct value among non-missing values of both sides."""
        codes = np.concatenate([self.left, self.right])
        counts = np.bincount(codes[codes >= 0], minlength=self.size).astype(np.float64)
        total = counts.sum()
        return counts / total if total else counts


def _as_text(series: pd.Series) -> pd.Series:
    s = series.astype("string")
    return s.mask(s.str.len() == 0)


def _factorize_text(both: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes (int32, -1 = missing or empty) and distinct values as text.

    Columns of Python strings are hashed as they are (twice as fast as via the string
    dtype); anything else goes through the string dtype first."""
    if both.dtype == object:
        codes, uniques = pd.factorize(both, use_na_sentinel=True)
        uniques = np.asarray(uniques, dtype=object)
        if pd.api.types.infer_dtype(uniques, skipna=False) in ("string", "empty"):
            empty = np.flatnonzero(uniques == "")
            if len(empty):
                keep = np.ones(len(uniques), dtype=bool)
                keep[empty] = False
                remap = np.append(np.cumsum(keep) - 1, -1)
                remap[empty] = -1
                codes, uniques = remap[codes], uniques[keep]
            return codes.astype(np.int32), uniques
    codes, uniques = pd.factorize(_as_text(both), use_na_sentinel=True)
    return codes.astype(np.int32), np.asarray(uniques, dtype=object)


def _categorical_text(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.CategoricalDtype) and pd.api.types.infer_dtype(
        series.cat.categories, skipna=True) in ("string", "empty")


def _all_missing(series: pd.Series) -> bool:
    return series.dtype == object and not series.notna().any()


def _arrow_text_or_nulls(series: pd.Series) -> pd.Series:
    """series if it is Arrow text, else (a column without a value) as many Arrow nulls."""
    if is_arrow_text(series):
        return series
    return pd.Series(pd.arrays.ArrowExtensionArray(pa.nulls(len(series), pa.string())), index=series.index)


def _dictionary_text(left: pd.Series, right: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """_factorize_text of two Arrow-backed text columns, by Arrow's dictionary encoding (no Python string per row).

    Codes follow first appearance and empty text counts as missing, as pd.factorize gives them;
    the distinct values stay in Arrow."""
    arrays = [pa.array(series.array) for series in (left, right)]  # the columns' own Arrow data (no copy)
    chunks = [chunk.cast(pa.large_string()) for array in arrays
              for chunk in (array.chunks if isinstance(array, pa.ChunkedArray) else [array])]
    both = pa.chunked_array(chunks, type=pa.large_string()).combine_chunks()
    both = blank_as_null(both)
    encoded = pc.dictionary_encode(both)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int32)
    return codes, encoded.dictionary


def _joint_codes(left: pd.Series, right: pd.Series) -> tuple[np.ndarray, np.ndarray | pa.Array]:
    """Codes (int32, -1 = missing or empty) and distinct text of two columns read against each other.

    Columns of categorical text (rosters read from Parquet with dictionary encoding) are recoded
    through their categories, so no string is hashed per row; text kept in Arrow is dictionary
    encoded there; others are factorised together.
    """
    if is_arrow_text(left) and is_arrow_text(right):
        return _dictionary_text(left, right)
    if is_arrow_text(left) and _all_missing(right) or is_arrow_text(right) and _all_missing(left):
        # a column one roster lacks (the poverty roster's house numbers): the other's million values stay in Arrow
        return _dictionary_text(_arrow_text_or_nulls(left), _arrow_text_or_nulls(right))
    left, right = python_text(left), python_text(right)
    if _categorical_text(left) and _categorical_text(right):
        categories = [np.asarray(left.cat.categories, dtype=object), np.asarray(right.cat.categories, dtype=object)]
        values, uniques = _factorize_text(pd.Series(np.concatenate(categories), dtype=object))
        maps = [np.append(values[: len(categories[0])], -1), np.append(values[len(categories[0]):], -1)]
        codes = np.concatenate([maps[0][left.cat.codes.to_numpy()], maps[1][right.cat.codes.to_numpy()]])
        return codes.astype(np.int32), uniques
    if isinstance(left.dtype, pd.CategoricalDtype) or isinstance(right.dtype, pd.CategoricalDtype):
        left, right = left.astype(object), right.astype(object)
    return _factorize_text(pd.concat([left, right], ignore_index=True))


MATRIX_WIDTH = 64  # characters of a value read by the character-level predicates


def _ascii_matrix(enc: EncodedColumn) -> tuple[np.ndarray, np.ndarray] | None:
    """ColumnStore.char_matrix of distinct values kept in Arrow and all ASCII (IDs, phones), from their bytes.

    None for any other column: its values are read as Python strings."""
    if not enc.kept_in_arrow or enc.size == 0:
        return None
    text = enc.text()
    if not pc.all(pc.string_is_ascii(text)).as_py():
        return None
    lengths = pc.binary_length(text).to_numpy(zero_copy_only=False).astype(np.int32)
    width = max(1, min(int(lengths.max(initial=1)), MATRIX_WIDTH))
    # every value cut or padded to width bytes: the values' bytes are then the rows of the matrix
    padded = pc.ascii_rpad(pc.utf8_slice_codeunits(text, 0, width), width, " ")
    mat = fixed_width_bytes(padded, width).copy()  # bytes: characters are only compared, a quarter of the memory read
    mat[np.arange(width) >= np.minimum(lengths, width)[:, None]] = 0  # the padding, not a character
    return mat, lengths


class ColumnStore:
    """Lazily encodes the columns of the two sides, so each column is hashed once."""

    def __init__(self, left: pd.DataFrame, right: pd.DataFrame) -> None:
        self.left = left
        self.right = right
        self._lock = threading.RLock()  # two threads may compare pairs at once (link: u beside the candidates)
        self._cols: dict[str | tuple[str, str], EncodedColumn] = {}
        self._matrices: dict[str | tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        # encodings of one column read on the left against another on the right (RemappedStore)
        self.crossed: dict[tuple[str, str], EncodedColumn] = {}
        self.crossed_matrices: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def _cached(self, cache: dict, key: Any, build: Callable[[], Any]) -> Any:
        """cache[key], built once: a second thread asking meanwhile waits for the first's result."""
        got = cache.get(key)
        if got is None:
            with self._lock:
                got = cache.get(key)
                if got is None:
                    got = cache[key] = build()
        return got

    def _encode(self, key: str | tuple[str, str], left_column: str, right_column: str) -> EncodedColumn:
        def build() -> EncodedColumn:
            for side, frame, col in (("left", self.left, left_column), ("right", self.right, right_column)):
                if col not in frame.columns:
                    raise KeyError(f"column {col!r} missing on the {side} side")
            codes, uniques = _joint_codes(self.left[left_column], self.right[right_column])
            n = len(self.left)
            return EncodedColumn(codes[:n], codes[n:], uniques if isinstance(uniques, pa.Array)
                                 else np.asarray(uniques, dtype=object))

        return self._cached(self._cols, key, build)

    def _char_matrix(self, key: str | tuple[str, str], column: str) -> tuple[np.ndarray, np.ndarray]:
        def build() -> tuple[np.ndarray, np.ndarray]:
            ascii_matrix = _ascii_matrix(self.get(column))
            if ascii_matrix is not None:
                return ascii_matrix
            uniq = self.get(column).uniques
            lengths = np.fromiter((len(v) for v in uniq), dtype=np.int32, count=len(uniq))
            width = max(1, min(int(lengths.max(initial=1)), MATRIX_WIDTH))
            mat = np.array(uniq if len(uniq) else [""], dtype=f"U{width}").view(np.uint32).reshape(-1, width)
            return mat, lengths

        return self._cached(self._matrices, key, build)

    def get(self, column: str) -> EncodedColumn:
        return self._encode(column, column, column)

    def char_matrix(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """Code points of each distinct value as a zero-padded uint32 matrix, plus lengths."""
        return self._char_matrix(column, column)


class RemappedStore(ColumnStore):
    """The same two frames with some columns read from others on one side or both (e.g. the
    left record's registered address in place of its current one). Encodings are cached on
    the base store, keyed by the (left column, right column) read."""

    def __init__(self, base: ColumnStore, left_map: Mapping[str, str], right_map: Mapping[str, str]) -> None:
        self.base = base
        self.left, self.right = base.left, base.right
        self.left_map, self.right_map = dict(left_map), dict(right_map)
        self._lock = base._lock
        self._cols = base.crossed  # type: ignore[assignment]  (keyed by (left, right) columns only)
        self._matrices = base.crossed_matrices  # type: ignore[assignment]

    def _read(self, column: str) -> tuple[str, str]:
        return self.left_map.get(column, column), self.right_map.get(column, column)

    def get(self, column: str) -> EncodedColumn:
        lc, rc = self._read(column)
        return self.base.get(column) if lc == rc == column else self._encode((lc, rc), lc, rc)

    def char_matrix(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        lc, rc = self._read(column)
        return self.base.char_matrix(column) if lc == rc == column else self._char_matrix((lc, rc), column)


class PairContext:
    """Candidate pairs (row positions) plus caches shared by all predicates."""

    def __init__(self, store: ColumnStore, li: np.ndarray, ri: np.ndarray) -> None:
        self.store = store
        self.li = li
        self.ri = ri
        self.n = len(li)
        self.gammas: dict[str, np.ndarray] = {}
        self.comparisons: dict[str, Comparison] = {}
        self._codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._distinct: dict[str, DistinctPairs] = {}
        self._matches: dict[tuple[str, str], np.ndarray] = {}

    def value_matches(self, column: str, pattern: str) -> np.ndarray:
        """Per distinct value of column: does the (RE2) pattern occur in it. Searched in Arrow, once per pattern."""
        key = (column, pattern)
        if key not in self._matches:
            enc = self.store.get(column)
            try:
                text = enc.text()
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                text = pa.array(pd.Series(enc.uniques).astype("string"))
            hit = pc.fill_null(pc.match_substring_regex(text, pattern), False)
            self._matches[key] = np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool)
        return self._matches[key]

    def codes(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        got = self._codes.get(column)
        if got is None:
            enc = self.store.get(column)
            got = (enc.left[self.li], enc.right[self.ri])
            self._codes[column] = got
        return got

    def equal(self, column: str) -> np.ndarray:
        cl, cr = self.codes(column)
        return (cl == cr) & (cl >= 0)

    def missing(self, column: str) -> np.ndarray:
        cl, cr = self.codes(column)
        return (cl < 0) | (cr < 0)

    def distinct(self, column: str) -> DistinctPairs:
        """Index of the distinct (left value, right value) pairs among pairs with two different values."""
        got = self._distinct.get(column)
        if got is None:
            cl, cr = self.codes(column)
            pos = np.flatnonzero((cl >= 0) & (cr >= 0) & (cl != cr))
            pair_id = np.full(self.n, -1, dtype=np.int64)
            if _mostly_distinct(cl[pos], cr[pos]):  # random pairs (u): finding the few repeats costs more than it saves
                pair_id[pos] = np.arange(len(pos))
                got = DistinctPairs(self.store, column, pair_id, cl[pos], cr[pos])
            else:
                n_uniq = np.int64(max(self.store.get(column).size, 1))
                inverse, uniq_keys = pd.factorize(cl[pos].astype(np.int64) * n_uniq + cr[pos])
                pair_id[pos] = inverse
                got = DistinctPairs(self.store, column, pair_id, uniq_keys // n_uniq, uniq_keys % n_uniq)
            self._distinct[column] = got
        return got

    def metric(self, column: str, name: str, mask: np.ndarray) -> np.ndarray:
        """A string metric for pairs under mask with both values present (NaN elsewhere)."""
        cl, cr = self.codes(column)
        out = np.full(self.n, np.nan)
        same = mask & (cl >= 0) & (cl == cr)
        out[same] = 0.0 if name in DISTANCES else 1.0
        dp = self.distinct(column)
        pos = np.flatnonzero(mask & (dp.pair_id >= 0))
        out[pos] = dp.metric(name, dp.pair_id[pos])
        return out


DEDUPLICATE_BELOW = 0.9  # share of distinct value pairs under which pairs are deduplicated before their metrics
SAMPLE_PAIRS = 1 << 16


def _mostly_distinct(left: np.ndarray, right: np.ndarray) -> bool:
    """Are nearly all (left, right) value pairs different? Judged on evenly spaced pairs: either answer gives
    the same metrics, only the work differs."""
    if len(left) < 4 * SAMPLE_PAIRS:
        return False
    step = len(left) // SAMPLE_PAIRS
    sample = left[::step].astype(np.int64) * (int(right.max()) + 1) + right[::step]
    return len(np.unique(sample)) >= DEDUPLICATE_BELOW * len(sample)


class DistinctPairs:
    """Distinct value pairs of one column, with features computed once, only where asked for."""

    def __init__(self, store: ColumnStore, column: str, pair_id: np.ndarray, left: np.ndarray, right: np.ndarray) -> None:
        self.store = store
        self.column = column
        self.pair_id = pair_id
        self.left = left.astype(np.int64)
        self.right = right.astype(np.int64)
        self._metrics: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._diff: tuple[np.ndarray, ...] | None = None
        self._share: np.ndarray | bool | None = None

    def _todo(self, done: np.ndarray, ids: np.ndarray) -> np.ndarray:
        need = np.zeros(len(done), dtype=bool)
        need[ids] = True
        return np.flatnonzero(need & ~done)

    def metric(self, name: str, ids: np.ndarray) -> np.ndarray:
        values, done = self._metrics.setdefault(name, (np.full(len(self.left), np.nan), np.zeros(len(self.left), bool)))
        todo = self._todo(done, ids)
        if len(todo):
            enc = self.store.get(self.column)
            computed = todo
            share = self._shares_a_character()
            if share is not None:
                # no common character: Jaro is 0 and an edit distance is the longer length
                lengths = self.store.char_matrix(self.column)[1]
                none = todo[~share[todo]]
                values[none] = np.maximum(lengths[self.left[none]], lengths[self.right[none]]) if name in DISTANCES else 0.0
                todo = todo[share[todo]]
            values[todo] = np.asarray(
                cpdist(enc.values_at(self.left[todo]), enc.values_at(self.right[todo]), scorer=METRICS[name],
                       workers=WORKERS),
                dtype=np.float64,
            )
            done[computed] = True
        return values[ids]

    def _shares_a_character(self) -> np.ndarray | None:
        if self._share is None:
            self._share = shares_a_character(self.store, self.column, self.left, self.right)
            if self._share is None:
                self._share = False
        return None if self._share is False else self._share

    def char_diff(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Differing characters (-1 if lengths differ) and the first two differing positions."""
        if self._diff is None:
            k = len(self.left)
            self._diff = (np.full(k, -1, np.int32), np.zeros(k, np.int32), np.zeros(k, np.int32), np.zeros(k, bool))
        ndiff, first, second, done = self._diff
        todo = self._todo(done, ids)
        if len(todo):
            nd, f, sc = diff_features(self.store, self.column, self.left[todo], self.right[todo])
            ndiff[todo], first[todo], second[todo] = nd, f, sc
            done[todo] = True
        return ndiff[ids], first[ids], second[ids]


SHORT_VALUES = 6


def _grouped_by(keys: np.ndarray, positions: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """The positions grouped by their key (small non-negative integers, such as lengths), keys ascending."""
    order = np.argsort(keys, kind="stable")
    counts = np.bincount(keys) if len(keys) else np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    for key in np.flatnonzero(counts):
        yield int(key), positions[order[ends[key] - counts[key]:ends[key]]]


def shares_a_character(store: ColumnStore, column: str, ul: np.ndarray, ur: np.ndarray) -> np.ndarray | None:
    """Per value pair: may the two values have a character in common? Exact for values of at
    most SHORT_VALUES characters (names); a longer value counts as sharing. None when most
    values are long (addresses), where the test would cost more than the metric."""
    enc = store.get(column)
    if enc.size == 0 or float(np.median(pc.utf8_length(enc.text()).to_numpy(zero_copy_only=False))) > SHORT_VALUES:
        return None
    mat, lengths = store.char_matrix(column)
    width = min(mat.shape[1], SHORT_VALUES)
    # a bit per character (its code modulo 64) per value: no common bit, no common character. Only
    # pairs with one (a tenth of random pairs of names) are compared character by character
    bits = np.where(mat[:, :width] != 0, np.left_shift(np.uint64(1), (mat[:, :width] % 64).astype(np.uint64)), np.uint64(0))
    signature = np.bitwise_or.reduce(bits, axis=1)
    out = (lengths[ul] > width) | (lengths[ur] > width)
    maybe = np.flatnonzero(~out & ((signature[ul] & signature[ur]) != 0))
    # by the longer value's length (1 to width): names of 3 compare 3 × 3 characters, not 6 × 6
    for read, group in _grouped_by(np.maximum(lengths[ul[maybe]], lengths[ur[maybe]]), maybe):
        for s in range(0, len(group), CHUNK):
            rows = group[s:s + CHUNK]
            a, b = mat[ul[rows], :read], mat[ur[rows], :read]
            hit = np.zeros(len(rows), dtype=bool)
            for j in range(read):
                col = b[:, j:j + 1]
                hit |= ((a == col) & (col != 0)).any(axis=1)
            out[rows] = hit
    return out


def diff_features(store: ColumnStore, column: str, ul: np.ndarray, ur: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per value pair: differing characters (-1 if lengths differ), first two differing positions."""
    mat, lengths = store.char_matrix(column)
    k = len(ul)
    ndiff, first, second = np.full(k, -1, np.int32), np.zeros(k, np.int32), np.zeros(k, np.int32)
    same = np.flatnonzero(lengths[ul] == lengths[ur])
    # by length: two values of L characters can differ in their first L columns only (the matrix is
    # as wide as the longest value: 11 characters for names, most of which have 3). A value longer
    # than the matrix holds: the slice stops at its edge
    for width, group in _grouped_by(lengths[ul[same]], same):
        if width == 0:  # two empty values (first and second stay 0, as for no difference)
            ndiff[group] = 0
            continue
        for s in range(0, len(group), CHUNK):
            idx = group[s:s + CHUNK]
            diff = mat[ul[idx], :width] != mat[ur[idx], :width]
            ndiff[idx] = diff.sum(axis=1)
            f = np.argmax(diff, axis=1)
            first[idx] = f
            diff[np.arange(len(idx)), f] = False
            second[idx] = np.argmax(diff, axis=1)
    return ndiff, first, second


CHUNK = 1_000_000
DIRECT_SHARE = 0.25


METRICS: dict[str, Callable[..., Any]] = {
    "jaro_winkler": JaroWinkler.normalized_similarity,
    "jaro": Jaro.normalized_similarity,
    "levenshtein": Levenshtein.distance,
    "damerau_levenshtein": DamerauLevenshtein.distance,
}
DISTANCES = {"levenshtein", "damerau_levenshtein"}


def _columns(params: Any) -> list[str]:
    if isinstance(params, str):
        return [params]
    if isinstance(params, (list, tuple)):
        return [str(p) for p in params]
    raise ValueError("expected a column or a list of columns")


def _pred_always(ctx: PairContext, params: Any, active: np.ndarray) -> np.ndarray:
    return active.copy()


def _pred_missing(ctx: PairContext, params: Any, active: np.ndarray) -> np.ndarray:
    out = np.zeros(ctx.n, dtype=bool)
    for col in _columns(params):
        out |= ctx.missing(col)
    return out & active


def _pred_exact(ctx: PairContext, params: Any, active: np.ndarray) -> np.ndarray:
    out = active.copy()
    for col in _columns(params):
        out &= ctx.equal(col)
    return out


def _similarity_at_least(name: str) -> Callable[[PairContext, Any, np.ndarray], np.ndarray]:
    def pred(ctx: PairContext, params: Any, active: np.ndarray) -> np.ndarray:
        values = ctx.metric(params["column"], name, active)
        return active & (values >= float(params["threshold"]))
    return pred


def _distance_at_most(name: str) -> Callable[[PairContext, Any, np.ndarray], np.ndarray]:
    def pred(ctx: PairContext, params: Any, active: np.ndarray) -> np.ndarray:
        values = ctx.metric(params["column"], name, active)
        return active & (values <= float(params["max"]))
    return pred


def _char_differences(ctx: PairContext, column: str, mask: np.ndarray) -> tuple[np.ndarray, ...]:
    """For pairs under mask with two different values: positions, their value codes, the number
    of differing characters (-1 if lengths differ) and the first two differing positions.
    Small subsets are computed pair by pair (vectorised); large ones once per distinct value pair."""
    cl, cr = ctx.codes(column)
    if column not in ctx._distinct and mask.sum() < DIRECT_SHARE * ctx.n:
        pos = np.flatnonzero(mask & (cl >= 0) & (cr >= 0) & (cl != cr))
        ul, ur = cl[pos].astype(np.int64), cr[pos].astype(np.int64)
        return (pos, ul, ur, *diff_features(ctx.store, column, ul, ur))
    dp = ctx.distinct(column)
    pos = np.flatnonzero(mask & (dp.pair_id >= 0))
    ids = dp.pair_id[pos]
    ndiff, first, second = dp.char_diff(ids)
    return pos, dp.left[ids], dp.right[ids], ndiff, first, second


def _scatter(ctx: PairContext, pos: np.ndarray, ok: np.ndarray) -> np.ndarray:
    out = np.zeros(ctx.n, dtype=bool)
    out[pos] = ok
    return out


def _pred_hamming_one(ctx: PairContext, params: Any, active: np.ndarray) -> np.ndarray:
    column = params if isinstance(params, str) else params["column"]
    pos, _, _, ndiff, _, _ = _char_differences(ctx, column, active)
    return _scatter(ctx, pos, ndiff == 1)


def _pred_hamming_at_most(ctx: PairContext, params: Any, active: np.ndarray) -> np.ndarray:
    """Two different values of equal length differing in at most `max` positions."""
    pos, _, _, ndiff, _, _ = _char_differences(ctx, params["column"], active)
    return _scatter(ctx, pos, (ndiff >= 1) & (ndiff <= int(params["max"])))


def _pred_adjacent_transposition(ctx: PairContext, params: Any, active: np.ndarray) -> np.ndarray:
    column = params if isinstance(params, str) else params["column"]
    mat, _ = ctx.store.char_matrix(column)
    pos, ul, ur, ndiff, first, second = _char_differences(ctx, column, active)
    ok = (ndiff == 2) & (second == first + 1)
    idx = np.flatnonzero(ok)
    a1, a2 = mat[ul[idx], first[idx]], mat[ul[idx], second[idx]]
    b1, b2 = mat[ur[idx], first[idx]], mat[ur[idx], second[idx]]
    ok[idx] = (a1 == b2) & (a2 == b1)
    return _scatter(ctx, pos, ok)


def _pred_lookalike(ctx: PairContext, params: Any, active: np.ndarray) -> np.ndarray:
    """Equal length, one character differs, and the two characters are a listed look-alike pair."""
    column = params["column"]
    pairs = tuple(params.get("pairs", ())) + (_schema_pairs(params["table"]) if "table" in params else ())
    table = _lookalike_table(pairs)
    mat, _ = ctx.store.char_matrix(column)
    pos, ul, ur, ndiff, first, _ = _char_differences(ctx, column, active)
    ok = ndiff == 1
    idx = np.flatnonzero(ok)
    ca = mat[ul[idx], first[idx]].astype(np.int64)
    cb = mat[ur[idx], first[idx]].astype(np.int64)
    ok[idx] = np.isin(ca * 0x110000 + cb, table)
    return _scatter(ctx, pos, ok)


@lru_cache(maxsize=8)
def _schema_pairs(name: str) -> tuple[str, ...]:
    """Character pairs from a CSV (columns char_a, char_b) shipped in the schemas package."""
    with (resources.files("schemas") / name).open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return tuple(r["char_a"].strip() + r["char_b"].strip() for r in rows if r.get("char_a") and r.get("char_b"))


@lru_cache(maxsize=16)
def _lookalike_table(pairs: tuple[str, ...]) -> np.ndarray:
    codes: set[int] = set()
    for p in pairs:
        if len(p) != 2:
            raise ValueError("look-alike entries are two characters")
        a, b = ord(p[0]), ord(p[1])
        codes.update((a * 0x110000 + b, b * 0x110000 + a))
    return np.fromiter(codes, dtype=np.int64, count=len(codes))


def _pred_month_day_swapped(ctx: PairContext, params: Any, active: np.ndarray) -> np.ndarray:
    """YYYYMMDD against YYYYDDMM (day and month exchanged), values differing."""
    column = params if isinstance(params, str) else params["column"]
    mat, lengths = ctx.store.char_matrix(column)
    pos, ul, ur, ndiff, _, _ = _char_differences(ctx, column, active)
    ok = (ndiff >= 1) & (lengths[ul] == 8)
    idx = np.flatnonzero(ok)
    if mat.shape[1] < 8:
        return np.zeros(ctx.n, dtype=bool)
    a, b = mat[ul[idx]], mat[ur[idx]]
    ok[idx] = ((a[:, :4] == b[:, :4]).all(axis=1) & (a[:, 4:6] == b[:, 6:8]).all(axis=1)
               & (a[:, 6:8] == b[:, 4:6]).all(axis=1))
    return _scatter(ctx, pos, ok)


def _pred_prefix_equal(ctx: PairContext, params: Any, active: np.ndarray) -> np.ndarray:
    """The shorter value is a prefix of the longer one and has at least min_length characters."""
    column = params["column"]
    min_length = int(params.get("min_length", 1))
    cl, cr = ctx.codes(column)
    mat, lengths = ctx.store.char_matrix(column)
    cand = active & (cl >= 0) & (cr >= 0)
    out = cand & (cl == cr) & (lengths[np.maximum(cl, 0)] >= min_length)
    pos = np.flatnonzero(cand & (cl != cr))
    ul, ur = cl[pos], cr[pos]
    common = np.minimum(lengths[ul], lengths[ur])
    ok = common >= min_length
    cols = np.arange(mat.shape[1])
    for s in range(0, len(ul), CHUNK):
        sl = slice(s, s + CHUNK)
        within = cols[None, :] < common[sl, None]
        ok[sl] &= ~((mat[ul[sl]] != mat[ur[sl]]) & within).any(axis=1)
    out[pos] = ok
    return out


def _pred_same_prefix(ctx: PairContext, params: Any, active: np.ndarray) -> np.ndarray:
    """The first `length` characters agree (both values at least that long)."""
    column, length = params["column"], int(params["length"])
    mat, lengths = ctx.store.char_matrix(column)
    cl, cr = ctx.codes(column)
    pos = np.flatnonzero(active & (cl >= 0) & (cr >= 0))
    ul, ur = cl[pos], cr[pos]
    ok = (lengths[ul] >= length) & (lengths[ur] >= length)
    if length > mat.shape[1]:
        return np.zeros(ctx.n, dtype=bool)
    for s in range(0, len(pos), CHUNK):
        sl = slice(s, s + CHUNK)
        ok[sl] &= (mat[ul[sl], :length] == mat[ur[sl], :length]).all(axis=1)
    return _scatter(ctx, pos, ok)


def _pred_prefix_close(ctx: PairContext, params: Any, active: np.ndarray) -> np.ndarray:
    """The first `length` characters (both values at least that long) differ in 1..`max` positions,
    or, with `transposition`, in exactly two neighbouring positions whose characters are swapped."""
    column, length = params["column"], int(params["length"])
    max_diff = int(params.get("max", 1))
    mat, lengths = ctx.store.char_matrix(column)
    if length > mat.shape[1]:
        return np.zeros(ctx.n, dtype=bool)
    cl, cr = ctx.codes(column)
    pos = np.flatnonzero(active & (cl >= 0) & (cr >= 0) & (cl != cr))
    ul, ur = cl[pos], cr[pos]
    ok = (lengths[ul] >= length) & (lengths[ur] >= length)
    for s in range(0, len(pos), CHUNK):
        sl = slice(s, s + CHUNK)
        a, b = mat[ul[sl], :length], mat[ur[sl], :length]
        diff = a != b
        ndiff = diff.sum(axis=1)
        close = (ndiff >= 1) & (ndiff <= max_diff)
        if params.get("transposition"):
            first = np.argmax(diff, axis=1)
            second = np.minimum(first + 1, length - 1)
            rows = np.arange(len(first))
            swapped = ((ndiff == 2) & (second > first) & diff[rows, second]
                       & (a[rows, first] == b[rows, second]) & (a[rows, second] == b[rows, first]))
            close |= swapped
        ok[sl] &= close
    return _scatter(ctx, pos, ok)


def _side_hits(ctx: PairContext, column: str, hit: np.ndarray, side: str) -> np.ndarray:
    hit = np.append(hit, False)  # code -1 indexes this slot
    cl, cr = ctx.codes(column)
    hl, hr = hit[cl], hit[cr]
    result = {"either": hl | hr, "both": hl & hr, "one": hl ^ hr, "left": hl, "right": hr}.get(side)
    if result is None:
        raise ValueError(f"unknown side {side!r}")
    return result


def _pred_value_matches(ctx: PairContext, params: Any, active: np.ndarray) -> np.ndarray:
    """A value matches a regular expression (RE2 syntax, searched) on `either`, `both`, `one`, `left` or `right` side."""
    column = params["column"]
    hit = ctx.value_matches(column, params["pattern"])
    return active & _side_hits(ctx, column, hit, params.get("side", "either"))


def _pred_value_in(ctx: PairContext, params: Any, active: np.ndarray) -> np.ndarray:
    """Values of a column (e.g. id_status) in a set, on `either`, `both`, `one`, `left` or `right` side."""
    column = params["column"]
    values = set(params["values"])
    side = params.get("side", "either")
    enc = ctx.store.get(column)
    hit = np.fromiter((v in values for v in enc.uniques), dtype=bool, count=len(enc.uniques))
    return active & _side_hits(ctx, column, hit, side)


def _pred_level_of(ctx: PairContext, params: Any, active: np.ndarray) -> np.ndarray:
    """An earlier comparison ended in one of the listed levels."""
    comp = ctx.comparisons[params["comparison"]]
    gamma = ctx.gammas[comp.name]
    wanted = [comp.level_index(lbl) for lbl in params["levels"]]
    return active & np.isin(gamma, wanted)


def _pred_abs_diff_at_most(ctx: PairContext, params: Any, active: np.ndarray) -> np.ndarray:
    column = params["column"]
    enc = ctx.store.get(column)
    numbers = pd.to_numeric(pd.Series(enc.uniques), errors="coerce").to_numpy(dtype=np.float64)
    numbers = np.append(numbers, np.nan)
    cl, cr = ctx.codes(column)
    return active & (np.abs(numbers[cl] - numbers[cr]) <= float(params["max"]))


def _pred_cross_exact(ctx: PairContext, params: Any, active: np.ndarray) -> np.ndarray:
    """Left column equals a different right column (e.g. given name and surname swapped)."""
    enc_l = ctx.store.get(params["left"])
    enc_r = ctx.store.get(params["right"])
    lookup = pd.Index(enc_r.uniques)
    translated = np.append(lookup.get_indexer(enc_l.uniques), -1).astype(np.int64)
    cl = translated[enc_l.left[ctx.li]]
    cr = enc_r.right[ctx.ri]
    return active & (cl >= 0) & (cl == cr)


Predicate = Callable[[PairContext, Any, np.ndarray], np.ndarray]

PREDICATES: dict[str, Predicate] = {
    "else": _pred_always,
    "missing": _pred_missing,
    "exact": _pred_exact,
    "jaro_winkler": _similarity_at_least("jaro_winkler"),
    "jaro": _similarity_at_least("jaro"),
    "levenshtein": _distance_at_most("levenshtein"),
    "damerau_levenshtein": _distance_at_most("damerau_levenshtein"),
    "hamming_one": _pred_hamming_one,
    "hamming_at_most": _pred_hamming_at_most,
    "adjacent_transposition": _pred_adjacent_transposition,
    "lookalike": _pred_lookalike,
    "month_day_swapped": _pred_month_day_swapped,
    "prefix_equal": _pred_prefix_equal,
    "value_in": _pred_value_in,
    "value_matches": _pred_value_matches,
    "same_prefix": _pred_same_prefix,
    "prefix_close": _pred_prefix_close,
    "level_of": _pred_level_of,
    "abs_diff_at_most": _pred_abs_diff_at_most,
    "cross_exact": _pred_cross_exact,
}


def _items(condition: Any) -> list[tuple[str, Any]]:
    if isinstance(condition, str):
        return [(condition, None)]
    if isinstance(condition, Mapping):
        return list(condition.items())
    raise ValueError("a condition is a predicate name or a mapping of predicates")


def validate_condition(condition: Any, earlier: Mapping[str, Comparison]) -> None:
    """Reject unknown predicates and references to comparisons not computed before."""
    for name, params in _items(condition):
        if name == "any":
            for sub in params:
                validate_condition(sub, earlier)
        elif name == "not":
            validate_condition(params, earlier)
        elif name not in PREDICATES:
            raise ValueError(f"unknown predicate {name!r}")
        elif name == "level_of":
            comp = earlier.get(params["comparison"])
            if comp is None:
                raise ValueError("level_of must refer to an earlier comparison")
            for label in params["levels"]:
                comp.level_index(label)
        elif name not in ("else",) and params is None:
            raise ValueError(f"predicate {name!r} needs parameters")


def evaluate(ctx: PairContext, condition: Any, active: np.ndarray) -> np.ndarray:
    """Truth of a condition on the pairs under `active` (False elsewhere)."""
    current = active.copy()
    for name, params in _items(condition):
        if not current.any():
            break
        if name == "any":
            hit = np.zeros(ctx.n, dtype=bool)
            for sub in params:
                hit |= evaluate(ctx, sub, current & ~hit)
            current &= hit
        elif name == "not":
            current &= ~evaluate(ctx, params, current)
        else:
            current &= PREDICATES[name](ctx, params, current)
    return current


def _level_gamma(ctx: PairContext, comp: Comparison, active: np.ndarray) -> np.ndarray:
    """First level whose condition holds, for pairs under active (-1 elsewhere)."""
    gamma = np.full(ctx.n, -1, dtype=np.int8)
    todo = active.copy()
    for j, level in enumerate(comp.levels):
        if not todo.any():
            break
        hit = evaluate(ctx, level.when, todo)
        gamma[hit] = j
        todo &= ~hit
    if todo.any():
        gamma[todo] = len(comp.levels) - 1
    return gamma


def _has_reading(ctx: PairContext, frame: pd.DataFrame, side: str, columns: Collection[str]) -> np.ndarray | None:
    """Pairs whose record on `side` has any of the columns filled (None: the frame lacks one)."""
    if not all(c in frame.columns for c in columns):
        return None
    out = np.zeros(ctx.n, dtype=bool)
    rows = ctx.li if side == "left" else ctx.ri
    for column in columns:
        out |= getattr(ctx.store.get(column), side)[rows] >= 0
    return out


def _alternative_gamma(ctx: PairContext, comp: Comparison, gamma: np.ndarray) -> np.ndarray:
    """The comparison over every pairing of the two records' readings (own columns or an
    alternative's): the first level that holds in any pairing, a null level only if all are null.
    Each pairing is evaluated only on the pairs whose records have that reading."""
    null = np.array([lv.is_null for lv in comp.levels] + [True])  # slot -1: not evaluated
    best = gamma.copy()
    for alternative in comp.alternatives:
        mapping = dict(alternative)
        left_alt = _has_reading(ctx, ctx.store.left, "left", mapping.values())
        right_alt = _has_reading(ctx, ctx.store.right, "right", mapping.values())
        for left_map, right_map, active in (
            (mapping, {}, left_alt),
            ({}, mapping, right_alt),
            (mapping, mapping, None if left_alt is None or right_alt is None else left_alt & right_alt),
        ):
            if active is None or not active.any():
                continue
            variant = PairContext(RemappedStore(ctx.store, left_map, right_map), ctx.li, ctx.ri)
            variant.gammas, variant.comparisons = ctx.gammas, ctx.comparisons
            other = _level_gamma(variant, comp, active)
            take = ~null[other] & (null[best] | (other < best))
            best[take] = other[take]
    return best


def compute_gammas(ctx: PairContext, settings: LinkageSettings) -> dict[str, np.ndarray]:
    """Level index (int8) of every comparison for every pair; first matching level wins."""
    for comp in settings.comparisons:
        gamma = _level_gamma(ctx, comp, np.ones(ctx.n, dtype=bool))
        if comp.alternatives:
            gamma = _alternative_gamma(ctx, comp, gamma)
        ctx.comparisons[comp.name] = comp
        ctx.gammas[comp.name] = gamma
    return ctx.gammas


def _tf(params: Mapping[str, Any], column: str) -> str | None:
    return column if params.get("term_frequency") else None


def _kind_exact(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    col = p["column"]
    return [
        {"label": "missing", "when": {"missing": col}, "is_null": True, "zh": "缺失"},
        {"label": "exact", "when": {"exact": col}, "tf_column": _tf(p, col), "zh": f"{p.get('zh', col)}相同"},
        {"label": "different", "when": "else", "zh": f"{p.get('zh', col)}不同"},
    ]


def _kind_jaro_winkler(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    col = p["column"]
    zh = p.get("zh", col)
    levels = _kind_exact(p)[:2]
    for t in p.get("thresholds", [0.92, 0.88, 0.7]):
        levels.append({"label": f"jw_{t}", "when": {"jaro_winkler": {"column": col, "threshold": t}}, "zh": f"{zh}相似(≥{t})"})
    levels.append({"label": "different", "when": "else", "zh": f"{zh}不同"})
    return levels


def _kind_levenshtein(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    col = p["column"]
    zh = p.get("zh", col)
    levels = _kind_exact(p)[:2]
    for d in p.get("distances", [1, 2]):
        levels.append({"label": f"lev_{d}", "when": {"levenshtein": {"column": col, "max": d}}, "zh": f"{zh}相差{d}字符内"})
    levels.append({"label": "different", "when": "else", "zh": f"{zh}不同"})
    return levels


def _kind_numeric(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    col = p["column"]
    zh = p.get("zh", col)
    levels = _kind_exact(p)[:2]
    for d in p.get("abs_differences", [1]):
        levels.append({"label": f"within_{d}", "when": {"abs_diff_at_most": {"column": col, "max": d}}, "zh": f"{zh}相差≤{d}"})
    levels.append({"label": "different", "when": "else", "zh": f"{zh}不同"})
    return levels


def _determined(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    det = p.get("determined_by")
    if not det:
        return []
    return [{"label": "determined_by_id", "when": {"level_of": det}, "is_null": True, "zh": "由身份证号决定"}]


def _kind_birth_date(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    col = p.get("column", "birth_date")
    return [
        {"label": "missing", "when": {"missing": col}, "is_null": True, "zh": "出生日期缺失"},
        *_determined(p),
        {"label": "exact", "when": {"exact": col}, "zh": "出生日期相同"},
        {"label": "month_day_swapped", "m_prior": 0.005, "when": {"month_day_swapped": col}, "zh": "出生日期月日颠倒"},
        {"label": "one_digit", "m_prior": 0.01, "when": {"hamming_one": col}, "zh": "出生日期差一位数字"},
        {"label": "different", "when": "else", "zh": "出生日期不同"},
    ]


def _kind_sex(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    col = p.get("column", "sex")
    return [
        {"label": "missing", "when": {"missing": col}, "is_null": True, "zh": "性别缺失"},
        *_determined(p),
        {"label": "exact", "when": {"exact": col}, "zh": "性别相同"},
        {"label": "different", "when": "else", "zh": "性别不同"},
    ]


def _kind_phone(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    col = p.get("column", "phone")
    return [
        {"label": "missing", "when": {"missing": col}, "is_null": True, "zh": "电话缺失"},
        {"label": "exact", "when": {"exact": col}, "zh": "电话相同"},
        {"label": "different", "when": "else", "zh": "电话不同"},
    ]


def _kind_id_number(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    idc, st, pre = p.get("column", "id_number"), p.get("status", "id_status"), p.get("prefix", "id_prefix")
    return [
        {"label": "null", "is_null": True, "zh": "身份证号缺失",
         "when": {"any": [{"missing": pre}, {"value_in": {"column": st, "values": ["blank", "malformed"], "side": "either"}}]}},
        {"label": "upgraded15", "zh": "身份证号15位升18位后相同", "m_prior": 0.03,
         "when": {"exact": idc, "value_in": {"column": st, "values": ["upgraded15"], "side": "one"}}},
        {"label": "exact", "when": {"exact": idc}, "zh": "身份证号相同"},
        {"label": "check_repair", "m_prior": 0.03, "zh": "身份证号差一位或相邻两位颠倒(校验位不符)",
         "when": {"value_in": {"column": st, "values": ["bad_check"], "side": "either"},
                  "any": [{"hamming_one": idc}, {"adjacent_transposition": idc}]}},
        {"label": "truncated_prefix", "m_prior": 0.02, "zh": "截断身份证号前段相同",
         "when": {"value_in": {"column": st, "values": ["truncated"], "side": "either"},
                  "prefix_equal": {"column": pre, "min_length": p.get("min_prefix_length", 14)}}},
        {"label": "different_valid", "m_prior": 0.002, "zh": "身份证号不同(均有效)",
         "when": {"value_in": {"column": st, "values": ["valid", "upgraded15"], "side": "both"}}},
        {"label": "different", "when": "else", "zh": "身份证号不同"},
    ]


KINDS: dict[str, Callable[[Mapping[str, Any]], list[dict[str, Any]]]] = {
    "exact": _kind_exact,
    "jaro_winkler": _kind_jaro_winkler,
    "levenshtein": _kind_levenshtein,
    "numeric": _kind_numeric,
    "birth_date": _kind_birth_date,
    "sex": _kind_sex,
    "phone": _kind_phone,
    "id_number": _kind_id_number,
    # these two need look-alike tables and address columns; their levels live in the YAML
    "chinese_name": lambda p: _fail("chinese_name needs explicit levels"),
    "address": lambda p: _fail("address needs explicit levels"),
    "custom": lambda p: _fail("custom comparisons need explicit levels"),
}


def _fail(message: str) -> list[dict[str, Any]]:
    raise ValueError(message)
