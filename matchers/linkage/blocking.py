"""Candidate pairs: the union of equality blocking rules, joined on integer key codes.

A rule's keys are SQL expressions (DuckDB dialect). Each expression is evaluated once per
distinct combination of the columns it reads (a name's pinyin has ~10^5 distinct values
among 10^6 rows), the results are factorised jointly over both sides, and a rule joins on
integer codes by sorting, never on strings. Rules run in order; each reports the pairs it
generated and how many were new. Blocks whose pair count exceeds the cap (a namesake block
of a common name in one county) are skipped and counted, so the cost stays bounded and the
loss is visible in the report.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from matchers.columnar import fixed_width_bytes

from .comparisons import ColumnStore
from .settings import BlockingRule, LinkageSettings, with_optional_columns

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class Candidates:
    left_pos: np.ndarray
    right_pos: np.ndarray
    report: pd.DataFrame


def _combine(codes: list[np.ndarray], with_first: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Code of each row's tuple of codes (-1 if any is -1), and the first row of each tuple.

    Dense codes with with_first; without, codes may be sparse but stay below max(2n, 2^20). Which
    tuple gets which code is unspecified: only equality counts.
    """
    n = len(codes[0])
    combined = np.zeros(n, dtype=np.int64)
    valid = np.ones(n, dtype=bool)
    span = 1
    for c in codes:
        valid &= c >= 0
        width = int(c.max(initial=0)) + 2
        if span * width >= 2**62:
            combined = pd.factorize(combined)[0].astype(np.int64)
            span = int(combined.max(initial=0)) + 1
        combined = combined * np.int64(width) + (c.astype(np.int64) + 1)
        span *= width
    out = np.full(n, -1, dtype=np.int64)
    if span <= max(2 * n, 1 << 20):
        # few possible tuples: the mixed-radix value is already a small code (a join needs no density)
        if not with_first:
            out[valid] = combined[valid]
            return out, None
        # dense by ranking the possible values (a table of span flags), not by hashing each row's
        seen = np.zeros(span, dtype=bool)
        seen[combined[valid]] = True
        dense = (np.cumsum(seen) - 1)[combined[valid]]
        k = int(np.count_nonzero(seen))
    else:
        dense, uniq = pd.factorize(combined[valid])
        k = len(uniq)
    out[valid] = dense
    if not with_first:
        return out, None
    return out, _first_rows(dense, np.flatnonzero(valid), k)


def _first_rows(dense: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """First row of each of k dense codes (assignment in reverse: the earliest row is written last)."""
    first = np.zeros(k, dtype=np.int64)
    first[dense[::-1]] = rows[::-1]
    return first


class KeyEvaluator:
    """Evaluates blocking expressions on distinct values and keeps joint integer codes per equality."""

    def __init__(self, store: ColumnStore, threads: int) -> None:
        self.store = store
        self.threads = threads
        self._values: dict[tuple[str, str], tuple[np.ndarray, pa.Array, str]] = {}
        self._single: dict[tuple[str, str], pa.Array] = {}
        self._codes: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self._con: duckdb.DuckDBPyConnection | None = None

    def close(self) -> None:
        if self._con is not None:
            self._con.close()

    def _evaluate(self, expr: str, table: pa.Table) -> pa.Array:
        """The expression on each row of a small table of distinct values, as text (NULL for '')."""
        if self._con is None:
            self._con = duckdb.connect()
            self._con.execute(f"SET threads={int(self.threads)}")
            # a projection then keeps the rows' order: results are read by position, without a sort by __i
            self._con.execute("SET preserve_insertion_order = true")
        self._con.register("__distinct", table)
        try:
            result = self._con.sql(f"SELECT NULLIF(CAST(({expr}) AS VARCHAR), '') AS k FROM __distinct").to_arrow_table()
        finally:
            self._con.unregister("__distinct")
        return result.column("k").combine_chunks()

    def _side_values(self, side: str, expr: str) -> tuple[np.ndarray, pa.Array, str]:
        """Per row an index into the expression's distinct results, the results, and a name for them."""
        got = self._values.get((side, expr))
        if got is not None:
            return got
        frame = self.store.left if side == "left" else self.store.right
        words = set(_WORD.findall(expr))
        columns = [c for c in frame.columns if c in words]
        if len(columns) == 1:
            # evaluated once on the column's distinct values of both sides; slot 0 is NULL
            column = columns[0]
            enc = self.store.get(column)
            results = self._single.get((expr, column))
            if results is None:
                values = pa.concat_arrays([pa.nulls(1, pa.string()), enc.text()])
                table = pa.table({column: values, "__i": np.arange(len(values), dtype=np.int64)})
                results = self._evaluate(expr, table)
                self._single[(expr, column)] = results
            got = (getattr(enc, side).astype(np.int64) + 1, results, f"{expr}\0{column}")
        else:
            # a missing value is a value here: the expression decides what NULL gives
            codes = [getattr(self.store.get(c), side) for c in columns] or [np.zeros(len(frame), np.int32)]
            combo, first = _combine([c.astype(np.int64) + 1 for c in codes])
            table = pa.table({
                # code -1 (missing) reads the appended slot, masked: a column may have no value at all
                **{c: pa.array(np.append(self.store.get(c).uniques, "")[code[first]], type=pa.string(),
                               mask=code[first] < 0) for c, code in zip(columns, codes)},
                "__i": np.arange(len(first), dtype=np.int64),
            })
            got = (combo, self._evaluate(expr, table), f"{side}\0{expr}")
        self._values[(side, expr)] = got
        return got

    def codes(self, left_expr: str, right_expr: str) -> tuple[np.ndarray, np.ndarray]:
        """Joint codes (-1 = NULL or empty) of one equality on both sides."""
        got = self._codes.get((left_expr, right_expr))
        if got is not None:
            return got
        if left_expr == right_expr and left_expr in self.store.left.columns and left_expr in self.store.right.columns:
            enc = self.store.get(left_expr)
            got = (enc.left.astype(np.int64), enc.right.astype(np.int64))
        else:
            lrow, lval, lname = self._side_values("left", left_expr)
            rrow, rval, rname = self._side_values("right", right_expr)
            if lname == rname:
                joint = _dictionary_codes(lval)
                got = (joint[lrow], joint[rrow])
            else:
                joint = _dictionary_codes(pa.concat_arrays([lval, rval]))
                got = (joint[:len(lval)][lrow], joint[len(lval):][rrow])
        self._codes[(left_expr, right_expr)] = got
        return got


def _dictionary_codes(values: pa.Array) -> np.ndarray:
    """Dense code per value (first appearance order), -1 for NULL."""
    fixed = _fixed_width_codes(values)
    if fixed is not None:
        return fixed
    encoded = pc.dictionary_encode(values)
    return pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)


FIXED_WIDTH_MAX = 16  # bytes: two 64-bit words


def _fixed_width_codes(values: pa.Array) -> np.ndarray | None:
    """_dictionary_codes of text whose values all have one length of up to 16 bytes (pieces of ID numbers).

    Their bytes are read as one or two integers, factorised without hashing text: on the 1M
    rosters' ID pieces 0.11-0.17 s against 0.23-0.31 s. None for any other text.
    """
    if not isinstance(values, pa.Array) or not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return None
    present = pc.drop_null(values)
    n = len(present)
    if n == 0:
        return None
    bounds = pc.min_max(pc.binary_length(present)).as_py()
    width = bounds["max"]
    if bounds["min"] != width or not 0 < width <= FIXED_WIDTH_MAX:
        return None
    words = np.zeros((n, 8 if width <= 8 else 16), dtype=np.uint8)
    words[:, :width] = fixed_width_bytes(present, width)
    words = words.view("<u8")
    codes, uniques = pd.factorize(words[:, 0])
    if words.shape[1] == 2:  # first appearance of the pair of words is first appearance of the text
        rest = 8 * (width - 8)  # bits of the second word
        if rest < 63 and len(uniques) < 1 << (63 - rest):  # the first word's code and the second word fit one integer
            codes, _ = pd.factorize((codes.astype(np.int64) << rest) | words[:, 1].astype(np.int64))
        else:
            low, low_uniques = pd.factorize(words[:, 1])
            codes, _ = pd.factorize(codes.astype(np.int64) * len(low_uniques) + low)
    out = np.full(len(values), -1, dtype=np.int64)
    out[values.is_valid().to_numpy(zero_copy_only=False)] = codes
    return out


def _rows_with_partners(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of each side whose code in every part also occurs on the other side, ascending.

    No other row can share the rule's key with a row of the other side: an infection list of
    50k against a million civil rows keeps a few percent of them, so the rule's joint
    factorisation and sort run on those rows only. Codes of a part share one space (-1: NULL).
    """
    keep_left = np.ones(len(parts[0][0]), dtype=bool)
    keep_right = np.ones(len(parts[0][1]), dtype=bool)
    for left, right in parts:
        size = int(max(left.max(initial=-1), right.max(initial=-1))) + 2  # code -1 indexes the last slot
        on_right = np.zeros(size, dtype=bool)
        on_right[right[keep_right]] = True
        on_right[-1] = False
        keep_left &= on_right[left]
        on_left = np.zeros(size, dtype=bool)
        on_left[left[keep_left]] = True
        on_left[-1] = False
        keep_right &= on_left[right]
    return np.flatnonzero(keep_left), np.flatnonzero(keep_right)


def _rule_keys(keys: KeyEvaluator, rule: BlockingRule) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rows of each side that may join (ascending) and their joint key codes (-1 where any part is NULL)."""
    parts = [keys.codes(le, re_) for le, re_ in rule.on]
    left_rows, right_rows = _rows_with_partners(parts)
    both, _ = _combine([np.concatenate([pl[left_rows], pr[right_rows]]) for pl, pr in parts], with_first=False)
    return left_rows, both[:len(left_rows)], right_rows, both[len(left_rows):]


def _join(kl: np.ndarray, kr: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Row pairs with equal keys, skipping blocks above the cap; also (blocks, pairs) capped.

    Pairs come by left row, then right row, ascending."""
    n_keys = int(max(kl.max(initial=-1), kr.max(initial=-1))) + 1
    cl = np.bincount(kl[kl >= 0], minlength=n_keys).astype(np.int64)
    cr = np.bincount(kr[kr >= 0], minlength=n_keys).astype(np.int64)
    size = cl * cr
    capped = size > cap
    blocks_capped, pairs_capped = int(capped.sum()), int(size[capped].sum())
    keep_key = np.append((size > 0) & ~capped, False)  # code -1 indexes the last slot
    lrows = np.flatnonzero(keep_key[kl])
    if len(lrows) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), blocks_capped, pairs_capped
    rorder = np.argsort(kr, kind="stable")
    start = np.count_nonzero(kr < 0) + np.cumsum(cr) - cr  # where each key's rows begin in rorder
    lk = kl[lrows]
    count = cr[lk]
    li = np.repeat(lrows, count)
    offset = np.arange(len(li), dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    ri = rorder[np.repeat(start[lk], count) + offset]
    return li.astype(np.int64), ri.astype(np.int64), blocks_capped, pairs_capped


def generate_candidates(
    left: pd.DataFrame,
    right: pd.DataFrame,
    settings: LinkageSettings,
    truth: tuple[np.ndarray, np.ndarray] | None = None,
    progress: Callable[[str], None] | None = None,
    store: ColumnStore | None = None,
) -> Candidates:
    """Union of all blocking rules as row positions (left, right), sorted by (left, right), deduplicated."""
    if store is None:
        store = ColumnStore(with_optional_columns(left, settings), with_optional_columns(right, settings))
    keys = KeyEvaluator(store, settings.duckdb_threads)
    n_right = np.int64(max(len(right), 1))
    truth_codes = np.unique(truth[0] * n_right + truth[1]) if truth is not None else None
    found = np.zeros(0, dtype=np.int64)
    rows, chunks = [], []
    try:
        for rule in settings.blocking_rules:
            left_rows, kl, right_rows, kr = _rule_keys(keys, rule)
            li, ri, blocks_capped, pairs_capped = _join(kl, kr, int(rule.max_block_pairs or settings.max_block_pairs))
            code = left_rows[li] * n_right + right_rows[ri]
            code.sort()
            chunks.append(code)
            row = {"rule": rule.name, "pairs_generated": int(len(code)), "new_pairs": 0,
                   "blocks_capped": blocks_capped, "pairs_capped": pairs_capped}
            if truth_codes is not None:
                hit = truth_codes[np.isin(truth_codes, code, assume_unique=True)]
                found = np.union1d(found, hit)
                row["truth_found"] = int(len(hit))
                row["pairs_completeness"] = len(found) / len(truth_codes) if len(truth_codes) else float("nan")
            rows.append(row)
    finally:
        keys.close()
    if chunks:
        rule_of = np.repeat(np.arange(len(chunks)), [len(c) for c in chunks])
        allc = np.concatenate(chunks)
        del chunks
        order = np.argsort(allc, kind="stable")  # equal pairs keep rule order: the first rule owns a pair
        allc = allc[order]
        first = np.ones(len(allc), dtype=bool)
        first[1:] = allc[1:] != allc[:-1]
        union = allc[first]
        new = np.bincount(rule_of[order[first]], minlength=len(rows))
        del allc, order, rule_of
    else:
        union, new = np.zeros(0, np.int64), np.zeros(0, np.int64)
    for row, n_new in zip(rows, new):
        row["new_pairs"] = int(n_new)
        if progress:
            progress(f"blocking rule {row['rule']}: {row['pairs_generated']} pairs, {row['new_pairs']} new")
    total = {
        "rule": "(union)",
        "pairs_generated": int(sum(r["pairs_generated"] for r in rows)),
        "new_pairs": int(len(union)),
        "blocks_capped": int(sum(r["blocks_capped"] for r in rows)),
        "pairs_capped": int(sum(r["pairs_capped"] for r in rows)),
    }
    if truth_codes is not None:
        total["truth_found"] = int(len(found))
        total["pairs_completeness"] = len(found) / len(truth_codes) if len(truth_codes) else float("nan")
    rows.append(total)
    return Candidates(union // n_right, union % n_right, pd.DataFrame(rows))
