"""Telephone numbers reduced to comparable digit strings."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from matchers.dates import blank_mask, text_array

MIN_DIGITS = 7
MAX_DIGITS = 12

_SCI = r"^(?P<lead>[0-9])(?:\.(?P<frac>[0-9]*))?E\+?(?P<exp>[0-9]{1,2})$"


def _mask(arr: pa.Array, pattern: str) -> np.ndarray:
    return np.asarray(pc.match_substring_regex(arr, pattern).fill_null(False), dtype=bool)


def _expand_scientific(text: pa.Array) -> pa.Array:
    """'1.38001380001E+10' → '13800138000'; null when Excel's display dropped digits."""
    idx = np.flatnonzero(_mask(text, _SCI))
    if not len(idx):
        return text
    parts = pc.extract_regex(text.take(pa.array(idx)), _SCI)
    digits = pc.binary_join_element_wise(parts.field("lead"), parts.field("frac"), "")
    exponent = pc.cast(parts.field("exp"), pa.int64()).to_numpy(zero_copy_only=False)
    length = pc.utf8_length(digits).to_numpy(zero_copy_only=False)
    expanded = np.full(len(idx), None, dtype=object)
    # Any digits past the integer part are float noise; fewer digits than it means a lost tail.
    for exp in np.unique(exponent):
        rows = np.flatnonzero((exponent == exp) & (length >= exp + 1))
        if len(rows):
            head = pc.utf8_slice_codeunits(digits.take(pa.array(rows)), 0, int(exp) + 1)
            expanded[rows] = head.to_numpy(zero_copy_only=False)
    values = text.to_numpy(zero_copy_only=False).astype(object, copy=True)
    values[idx] = expanded
    return pa.array(values, type=pa.string(), from_pandas=True)


def _repair(text: pa.Array) -> np.ndarray:
    """Full clean-up of cells that are not already a bare mobile number."""
    text = pc.replace_substring_regex(text, r"[,，;；/、|].*$", "")
    text = pc.replace_substring_regex(text, r"^(1[0-9]{10})\s+1[0-9]{10}.*$", r"\1")
    text = pc.replace_substring_regex(text, r"(转|分机|EXT).*$", "")
    text = pc.utf8_trim_whitespace(text)
    text = pc.replace_substring_regex(text, r"^([0-9]+)\.0+$", r"\1")
    text = _expand_scientific(text)
    international = _mask(text, r"^[(（]?\s*(\+|00)\s*86")
    digits = pc.replace_substring_regex(text, r"[^0-9]", "")

    without_country = pc.replace_substring_regex(digits, r"^(0086|86)", "")
    mobile_after_86 = _mask(digits, r"^(0086|86)1[0-9]{10}$")
    landline_after_86 = international & ~mobile_after_86 & _mask(digits, r"^(0086|86)[1-9][0-9]{6,10}$")
    trunk_mobile = _mask(digits, r"^01[3-9][0-9]{9}$")
    cleaned = pc.if_else(pa.array(mobile_after_86), without_country, digits)
    cleaned = pc.if_else(
        pa.array(landline_after_86), pc.binary_join_element_wise("0", without_country, ""), cleaned
    )
    cleaned = pc.if_else(pa.array(trunk_mobile), pc.utf8_slice_codeunits(digits, 1, 64), cleaned)
    # Local numbers have 7-8 digits, so 9-11 digits not starting with 0 or 1 is an area code whose
    # leading 0 was eaten by a numeric cell.
    lost_zero = _mask(cleaned, r"^[2-9][0-9]{8,10}$")
    cleaned = pc.if_else(pa.array(lost_zero), pc.binary_join_element_wise("0", cleaned, ""), cleaned)

    values = cleaned.to_numpy(zero_copy_only=False).astype(object, copy=False)
    length = pc.utf8_length(cleaned).fill_null(0).to_numpy(zero_copy_only=False)
    # 00000000 / 11111111111-style fillers; a repeated-digit landline such as 88888888 can be real.
    repeated = _mask(digits, r"^0+$") | _mask(digits, r"^(1{11}|2{11}|3{11}|4{11}|5{11}|6{11}|7{11}|8{11}|9{11})$")
    values[(length < MIN_DIGITS) | (length > MAX_DIGITS) | repeated] = None
    return values


def normalise_phones(raw: pd.Series) -> pd.Series:
    """Digits only, so the same phone written differently compares equal.

    Mobiles become 11 digits starting with 1 (+86 / 0086 / 86 / a trunk 0 removed); landlines keep
    their area code, and a leading 0 lost to a numeric cell is restored. Only the first of several
    numbers in a cell is kept, extensions after 转/分机/EXT are dropped, and anything outside
    7..12 digits or a filler (all zeros, 11 equal digits) becomes None.
    """
    text = text_array(raw)
    values = np.full(len(raw), None, dtype=object)
    blank = blank_mask(text)
    # Most cells are already a bare mobile number; only the rest pay for the repair regexes.
    plain = _mask(text, r"^1[3-9][0-9]{9}$")
    values[plain] = text.filter(pa.array(plain)).to_numpy(zero_copy_only=False)
    rest = np.flatnonzero(~plain & ~blank)
    if len(rest):
        values[rest] = _repair(text.take(pa.array(rest)))
    return pd.Series(values, index=raw.index, dtype=object)
