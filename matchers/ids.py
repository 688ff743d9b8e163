"""Chinese resident ID numbers (GB 11643-1999)."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from matchers.columnar import python_frame
from matchers.dates import arrow_strings, blank_mask, text_array, valid_ymd

ID_WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
ID_STATUSES: tuple[str, ...] = ("valid", "upgraded15", "bad_check", "truncated", "malformed", "blank")
ID_COLUMNS: tuple[str, ...] = ("id_number", "id_status", "id_prefix", "birth_date", "sex", "id_county")
BIRTH_YEAR_RANGE: tuple[int, int] = (1900, 2026)
# Excel and float64 keep at most 15 significant digits, so no more of a mangled ID is trustworthy.
TRUSTED_DIGITS = 15

_VALID, _UPGRADED15, _BAD_CHECK, _TRUNCATED, _MALFORMED, _BLANK = range(len(ID_STATUSES))
_WEIGHTS = np.array(ID_WEIGHTS, dtype=np.int32)
_CHECK_BYTES = np.frombuffer(CHECK_CHARACTERS.encode("ascii"), dtype=np.uint8)
_ZERO = ord("0")

# Separators and quoting that office exports wrap around IDs; NFKC has already folded widths.
_STRIP = r"[\s=\-\x{2010}-\x{2015}\x{2212}'`\"\x{2018}\x{2019}\x{201C}\x{201D}\x{200B}\x{FEFF}]"
# Look-alikes of X that NFKC leaves alone: multiplication sign, Cyrillic Ha, Greek Chi (upper-cased).
_X_LOOKALIKES = r"[\x{00D7}\x{0425}\x{03A7}]"
_RE_18 = r"^[0-9]{17}[0-9X]$"
_RE_15 = r"^[0-9]{15}$"
_RE_SCI = r"^(?P<lead>[0-9])(?:\.(?P<frac>[0-9]*))?E\+?(?P<exp>14|17)$"
_ID18_PATTERN = re.compile(r"[0-9]{17}[0-9X]")


def id_check_character(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise ValueError("expected 17 digits")
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS))
    return CHECK_CHARACTERS[total % 11]


def upgrade_15_to_18(id15: str) -> str:
    """Legacy 15-digit number (area + YYMMDD + sequence) to its 18-character form."""
    if len(id15) != 15 or not (id15.isascii() and id15.isdigit()):
        raise ValueError("expected 15 digits")
    first17 = id15[:6] + "19" + id15[6:]
    return first17 + id_check_character(first17)


def is_valid_id_number(id18: str) -> bool:
    """True for a normalised 18-character ID whose check character is right."""
    if not isinstance(id18, str) or not _ID18_PATTERN.fullmatch(id18):
        return False
    return id_check_character(id18[:17]) == id18[17]


def _repair_id_text(text: pa.Array) -> pa.Array:
    """Fold the dirt seen in exports; only run on cells that are not already a clean ID."""
    text = pc.replace_substring_regex(text, _STRIP, "")
    text = pc.replace_substring_regex(text, _X_LOOKALIKES, "X")
    text = pc.replace_substring_regex(text, r"^([0-9]+)\.0+$", r"\1")
    # A mantissa carrying every digit is an exact integer, not a truncation.
    text = pc.replace_substring_regex(text, r"^([0-9])\.([0-9]{14})E\+?14$", r"\1\2")
    return pc.replace_substring_regex(text, r"^([0-9])\.([0-9]{17})E\+?17$", r"\1\2")


def _bools(arr: pa.Array) -> np.ndarray:
    """Arrow booleans as a numpy mask, null counting as False."""
    return np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _mask(arr: pa.Array, pattern: str) -> np.ndarray:
    return _bools(pc.match_substring_regex(arr, pattern))


def _digit_matrix(arr: pa.Array, width: int) -> np.ndarray:
    """uint8 matrix of the bytes of an Arrow array whose values are all `width` ASCII chars."""
    if len(arr) == 0:
        return np.empty((0, width), dtype=np.uint8)
    arr = pc.cast(arr, pa.string())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
    return data[offsets[0] : offsets[-1]].reshape(-1, width)


def _text_from_matrix(mat: np.ndarray) -> pa.Array:
    """Arrow text from a uint8 matrix, one row per value, without per-row Python."""
    n, width = mat.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(mat).tobytes()
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)])


def _check_bytes(mat17: np.ndarray) -> np.ndarray:
    total = (mat17.astype(np.int32) - _ZERO) @ _WEIGHTS
    return _CHECK_BYTES[total % 11]


def _digits_value(mat: np.ndarray) -> np.ndarray:
    """Integer value of each row of an ASCII digit matrix."""
    powers = 10 ** np.arange(mat.shape[1] - 1, -1, -1, dtype=np.int64)
    return (mat.astype(np.int64) - _ZERO) @ powers


class _Text:
    """A text column that each ID shape fills for its rows with Arrow text; assembled once, in Arrow."""

    def __init__(self, n: int) -> None:
        self.source = np.full(n, -1, dtype=np.int64)  # each row's position among the pieces' values
        self.pieces: list[pa.Array] = []
        self.size = 0

    def fill(self, idx: np.ndarray, values: pa.Array) -> None:
        self.source[idx] = self.size + np.arange(len(idx))
        self.pieces.append(values.cast(pa.string()))
        self.size += len(values)

    def array(self) -> pa.Array:
        values = pa.concat_arrays([*self.pieces, pa.nulls(1, pa.string())])
        return values.take(pa.array(np.where(self.source < 0, self.size, self.source)))


class _Digits:
    """A column of zero-padded numbers (county codes, birth dates): each distinct number written once."""

    def __init__(self, n: int, width: int) -> None:
        self.value = np.full(n, -1, dtype=np.int64)
        self.width = width

    def array(self) -> pa.Array:
        codes, uniques = pd.factorize(self.value)
        labels = [str(v).zfill(self.width) if v >= 0 else None for v in uniques.tolist()]
        return pa.array(labels, type=pa.string()).take(pa.array(codes))


_SEXES = pa.array(["女", "男", None], type=pa.string())


class _Columns:
    """Full-length output columns that each ID shape fills for its own rows."""

    def __init__(self, n: int) -> None:
        self.status = np.full(n, _MALFORMED, dtype=np.int8)
        self.id_number = _Text(n)
        self.prefix = _Text(n)
        self.birth = _Digits(n, 8)
        self.sex = np.full(n, 2, dtype=np.int8)  # index into _SEXES: 2 is None
        self.county = _Digits(n, 6)

    def arrays(self) -> dict[str, pa.Array]:
        return {
            "id_number": self.id_number.array(),
            "id_status": pa.array(ID_STATUSES, type=pa.string()).take(pa.array(self.status)),
            "id_prefix": self.prefix.array(),
            "birth_date": self.birth.array(),
            "sex": _SEXES.take(pa.array(self.sex)),
            "id_county": self.county.array(),
        }

    def derive(self, idx: np.ndarray, mat: np.ndarray, trusted: int) -> None:
        """County, birth date and sex from the first `trusted` digits of 18-form ID rows."""
        if not len(idx) or trusted < 6:
            return
        self.county.value[idx] = _digits_value(mat[:, :6])
        if trusted < 14:
            return
        value = _digits_value(mat[:, 6:14])
        year, month, day = value // 10000, value // 100 % 100, value % 100
        real = valid_ymd(year, month, day) & (year >= BIRTH_YEAR_RANGE[0]) & (year <= BIRTH_YEAR_RANGE[1])
        self.birth.value[idx[real]] = value[real]
        if trusted < 17:
            return
        self.sex[idx] = mat[:, 16] % 2

    def fill_18(self, text: pa.Array, idx: np.ndarray) -> None:
        mat = _digit_matrix(text, 18)
        ok = _check_bytes(mat[:, :17]) == mat[:, 17]
        rounded = ~ok & (mat[:, 15:] == _ZERO).all(axis=1)
        self.status[idx] = np.where(ok, _VALID, np.where(rounded, _TRUNCATED, _BAD_CHECK))
        kept = text.filter(pa.array(~rounded))
        self.id_number.fill(idx[~rounded], kept)
        self.prefix.fill(idx[~rounded], kept)
        self.derive(idx[~rounded], mat[~rounded], 18)
        if rounded.any():
            self.prefix.fill(idx[rounded], _text_from_matrix(mat[rounded, :TRUSTED_DIGITS]))
            self.derive(idx[rounded], mat[rounded], TRUSTED_DIGITS)

    def fill_15(self, text: pa.Array, idx: np.ndarray) -> None:
        mat15 = _digit_matrix(text, 15)
        mat = np.empty((len(idx), 18), dtype=np.uint8)
        mat[:, :6] = mat15[:, :6]
        mat[:, 6:8] = np.frombuffer(b"19", dtype=np.uint8)
        mat[:, 8:17] = mat15[:, 6:]
        mat[:, 17] = _check_bytes(mat[:, :17])
        self.status[idx] = _UPGRADED15
        upgraded = _text_from_matrix(mat)
        self.id_number.fill(idx, upgraded)
        self.prefix.fill(idx, upgraded)
        self.derive(idx, mat, 18)

    def fill_scientific(self, text: pa.Array, idx: np.ndarray) -> None:
        parts = pc.extract_regex(text, _RE_SCI)
        digits = pc.binary_join_element_wise(parts.field("lead"), parts.field("frac"), "")
        exponent = pc.cast(parts.field("exp"), pa.int64()).to_numpy(zero_copy_only=False)
        fits = pc.utf8_length(digits).to_numpy(zero_copy_only=False) <= exponent + 1
        # The last significant digit shown may have been rounded; everything before it is exact.
        trusted = pc.utf8_slice_codeunits(pc.replace_substring_regex(digits, r"[0-9]$", ""), 0, TRUSTED_DIGITS)
        legacy = pc.replace_substring_regex(trusted, r"^([0-9]{6})", r"\119")
        trusted = pc.if_else(pa.array(exponent == 14), legacy, trusted)
        length = pc.utf8_length(trusted).to_numpy(zero_copy_only=False)
        self.status[idx[fits]] = _TRUNCATED
        keep = fits & (length > 0)
        self.prefix.fill(idx[keep], trusted.filter(pa.array(keep)))
        for width in np.unique(length[keep]):
            rows = np.flatnonzero(keep & (length == width))
            mat = _digit_matrix(trusted.take(pa.array(rows)), int(width))
            self.derive(idx[rows], mat, int(width))

    def fill_shapes(self, text: pa.Array, idx: np.ndarray) -> np.ndarray:
        """Fill rows of `text` (global positions `idx`) that have a known shape; return the rest."""
        for pattern, fill in ((_RE_18, self.fill_18), (_RE_15, self.fill_15), (_RE_SCI, self.fill_scientific)):
            if not len(idx):
                break
            hit = _mask(text, pattern)
            if hit.any():
                fill(text.take(pa.array(np.flatnonzero(hit))), idx[hit])
                text, idx = text.filter(pa.array(~hit)), idx[~hit]
        return idx


def standardise_id_numbers(raw: pd.Series) -> pd.DataFrame:
    """Normalise and classify a column of ID numbers, keeping whatever digits can be trusted.

    Columns: id_number, id_status, id_prefix, birth_date, sex, id_county (see ID_STATUSES).
    The area code is never checked against the birth year: adults got numbers long after birth.
    """
    return python_frame(id_columns(raw), raw.index)


def id_columns(raw: pd.Series) -> dict[str, pa.Array]:
    """standardise_id_numbers' columns as Arrow text: no Python string per row."""
    text = text_array(raw)
    out = _Columns(len(raw))
    blank = blank_mask(text)
    out.status[blank] = _BLANK
    # Clean cells take the fast path; only the leftovers pay for the repair regexes.
    present = np.flatnonzero(~blank)
    rest = out.fill_shapes(text.take(pa.array(present)), present)
    if len(rest):
        repaired = _repair_id_text(text.take(pa.array(rest)))
        out.status[rest[blank_mask(repaired)]] = _BLANK
        out.fill_shapes(repaired, rest)
    return out.arrays()


def normalise_id_number(raw: str | None) -> str | None:
    """Scalar convenience: the 18-character ID for one raw value, or None."""
    return standardise_id_numbers(pd.Series([raw], dtype=object))["id_number"].iloc[0]


def id_edit_relation(a: pd.Series, b: pd.Series) -> pd.Series:
    """How two aligned 18-character IDs differ: the typo classes the check character catches.

    Returns "exact", "one_substitution", "adjacent_transposition", "other", or None when either
    side is missing.
    """
    if len(a) != len(b):
        raise ValueError("series must be aligned and of equal length")
    left, right = arrow_strings(a), arrow_strings(b)
    code = np.full(len(a), 4, dtype=np.int8)
    code[_bools(pc.equal(left, right))] = 1
    idx = np.flatnonzero(
        _bools(pc.equal(pc.binary_length(left), 18)) & _bools(pc.equal(pc.binary_length(right), 18)) & (code != 1)
    )
    if len(idx):
        take = pa.array(idx)
        ma = _digit_matrix(left.take(take), 18)
        mb = _digit_matrix(right.take(take), 18)
        diff = ma != mb
        count = diff.sum(axis=1)
        rows = np.arange(len(idx))
        first = diff.argmax(axis=1)
        second = np.minimum(first + 1, 17)
        swapped = (
            (count == 2)
            & diff[rows, second]
            & (ma[rows, first] == mb[rows, second])
            & (ma[rows, second] == mb[rows, first])
        )
        code[idx[count == 1]] = 2
        code[idx[swapped]] = 3
    code[_bools(pc.or_(pc.is_null(left), pc.is_null(right)))] = 0
    labels = np.array([None, "exact", "one_substitution", "adjacent_transposition", "other"], dtype=object)
    return pd.Series(labels[code], index=a.index, dtype=object)
