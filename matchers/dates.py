"""Dates as exported from Excel and office systems, normalised to 'YYYYMMDD'.

Also holds the small text helpers shared by the ID and phone standardisers: they all start from
a messy Series and need NFKC-normalised Arrow strings for the regex kernels.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

BLANK_TOKENS: frozenset[str] = frozenset(
    {"", "NAN", "NAT", "NONE", "NULL", "NA", "N/A", "<NA>", "-", "--", "—", "/", "\\",
     "无", "暂无", "空", "不详"}
)
MIN_YEAR = 1900
MAX_YEAR = 2100
EXCEL_SERIAL_MAX = 60000
DATE_STATUSES: tuple[str, ...] = ("ok", "blank", "unparseable", "out_of_range")

_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_EXCEL_EPOCH = np.datetime64("1899-12-30", "D")

_SEPARATED = (
    r"^(?P<y>[0-9]{4})\s*[-/.年]\s*(?P<m>[0-9]{1,2})\s*[-/.月]\s*(?P<d>[0-9]{1,2})\s*[日号.]?"
    r"(?:(?:T|\s+)[0-9]{1,2}[:：][0-9]{2}(?:[:：][0-9]{2}(?:\.[0-9]+)?)?\s*(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?$"
)
_COMPACT = r"^(?P<y>[0-9]{4})(?P<m>[0-9]{2})(?P<d>[0-9]{2})(?:\.0+|\s+[0-9]{1,2}:?[0-9]{2}:?[0-9]{2})?$"
_SERIAL = r"^(?P<n>[0-9]{1,7})(?:\.[0-9]+)?$"


def arrow_strings(raw: pd.Series) -> pa.Array:
    """A Series as an Arrow string array (null where missing), zero-copy when already Arrow-backed."""
    array = raw.array
    if pd.api.types.is_float_dtype(raw.dtype) or pd.api.types.is_integer_dtype(raw.dtype):
        return _numbers_as_strings(raw)
    if isinstance(array, pd.arrays.ArrowStringArray) or (
        isinstance(raw.dtype, pd.ArrowDtype) and pa.types.is_string(raw.dtype.pyarrow_dtype)
    ):
        arr = array._pa_array
    else:
        try:
            arr = pa.array(raw.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            arr = raw.astype("string[pyarrow]").array._pa_array
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    return pc.cast(arr, pa.string())


def _numbers_as_strings(raw: pd.Series) -> pa.Array:
    """Numeric columns (IDs, phones, serials read without dtype=str) as text, integers without '.0'.

    Whole floats below 2**53 are exact and written as integers; the rest keep a shortest
    float repr ('2.2010219900101123e+17') so the callers can see that digits were lost.
    """
    if pd.api.types.is_integer_dtype(raw.dtype):
        if isinstance(raw.dtype, np.dtype):
            return pc.cast(pa.array(raw.to_numpy()), pa.string())
        return pa.array(raw.to_numpy(dtype=object), type=pa.int64(), from_pandas=True).cast(pa.string())
    values = raw.to_numpy(dtype=np.float64, na_value=np.nan)
    floats = pa.array(values, type=pa.float64(), from_pandas=True)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(values) & (np.abs(values) < 2.0**53) & (values == np.round(values))
    as_int = pc.cast(pc.cast(pc.if_else(pa.array(whole), floats, None), pa.int64()), pa.string())
    return pc.if_else(pa.array(whole), as_int, pc.cast(floats, pa.string()))


def text_array(raw: pd.Series) -> pa.Array:
    """Any Series as upper-cased, NFKC-normalised, trimmed Arrow strings (null where missing).

    Arrow regex kernels then replace per-row Python; NFKC folds full-width digits and letters.
    """
    arr = pc.utf8_normalize(arrow_strings(raw), "NFKC")
    return pc.utf8_trim_whitespace(pc.utf8_upper(arr))


def blank_mask(text: pa.Array) -> np.ndarray:
    """True where a cleaned text cell means 'no value' (null, empty, 'nan', '-', '无' …)."""
    blank = pc.or_kleene(pc.is_null(text), pc.is_in(text, value_set=pa.array(sorted(BLANK_TOKENS))))
    return np.asarray(blank.fill_null(True).to_numpy(zero_copy_only=False), dtype=bool)


def valid_ymd(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Vectorised check that (year, month, day) is a real Gregorian calendar date."""
    year = np.asarray(year, dtype=np.int64)
    month = np.asarray(month, dtype=np.int64)
    day = np.asarray(day, dtype=np.int64)
    month_ok = (month >= 1) & (month <= 12)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    days = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + ((month == 2) & leap)
    return month_ok & (day >= 1) & (day <= days)


def _int_column(parts: pa.StructArray, name: str) -> np.ndarray:
    return pc.cast(parts.field(name), pa.int64()).to_numpy(zero_copy_only=False)


def _format_ymd(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """'YYYYMMDD' strings from integer columns, without a Python call per value."""
    number = (year * 10000 + month * 100 + day).astype(np.int64)
    return number.astype("U8").astype(object)


def _parse_unique_text(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Parse distinct cleaned strings; returns (YYYYMMDD object array, status index array)."""
    n = len(text)
    year = np.zeros(n, dtype=np.int64)
    month = np.zeros(n, dtype=np.int64)
    day = np.zeros(n, dtype=np.int64)
    matched = np.zeros(n, dtype=bool)
    status = np.full(n, DATE_STATUSES.index("unparseable"), dtype=np.int8)
    blank = blank_mask(text)

    for pattern in (_SEPARATED, _COMPACT):
        hit = np.asarray(pc.match_substring_regex(text, pattern).fill_null(False), dtype=bool) & ~matched
        if hit.any():
            idx = np.flatnonzero(hit)
            parts = pc.extract_regex(text.take(pa.array(idx)), pattern)
            year[idx], month[idx], day[idx] = (_int_column(parts, k) for k in ("y", "m", "d"))
            matched |= hit

    serial_hit = np.asarray(pc.match_substring_regex(text, _SERIAL).fill_null(False), dtype=bool) & ~matched
    if serial_hit.any():
        idx = np.flatnonzero(serial_hit)
        serial = _int_column(pc.extract_regex(text.take(pa.array(idx)), _SERIAL), "n")
        looks_like_year = (serial >= MIN_YEAR) & (serial <= MAX_YEAR)
        in_range = (serial >= 1) & (serial <= EXCEL_SERIAL_MAX)
        status[idx[~in_range & ~looks_like_year & (serial < 10**5)]] = DATE_STATUSES.index("out_of_range")
        # Excel's serial 60 is the fictitious 1900-02-29; serials before it are shifted by one day.
        usable = in_range & ~looks_like_year & (serial != 60)
        offset = np.where(serial < 60, serial + 1, serial)[usable]
        ymd = pd.DatetimeIndex((_EXCEL_EPOCH + offset.astype("timedelta64[D]")).astype("datetime64[ns]"))
        target = idx[usable]
        year[target], month[target], day[target] = ymd.year, ymd.month, ymd.day
        matched[target] = True

    real = matched & valid_ymd(year, month, day)
    in_years = (year >= MIN_YEAR) & (year <= MAX_YEAR)
    ok = real & in_years
    status[real & ~in_years] = DATE_STATUSES.index("out_of_range")
    status[ok] = DATE_STATUSES.index("ok")
    status[blank] = DATE_STATUSES.index("blank")
    dates = np.full(n, None, dtype=object)
    if ok.any():
        dates[ok] = _format_ymd(year[ok], month[ok], day[ok])
    return dates, status


def parse_dates(raw: pd.Series) -> pd.DataFrame:
    """Parse a column of dates to 'YYYYMMDD' (or None) plus a status the caller can reject on.

    Accepts 2020-02-03, 2020/2/3, 2020.2.3, 20200203, 2020年2月3日, a trailing time of day and
    Excel serial numbers 1..60000 ('43864', '43864.0'). A bare 1900..2100 is read as a year,
    not a serial, and is 'unparseable'; impossible dates (2020-02-30) too. Years outside
    1900..2100 are 'out_of_range'. Work is done once per distinct value.
    """
    status_labels = np.array(DATE_STATUSES, dtype=object)
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        stamp = pd.DatetimeIndex(raw)
        present = ~stamp.isna()
        year = stamp.year.to_numpy(dtype=np.int64, na_value=0)
        in_years = present & (year >= MIN_YEAR) & (year <= MAX_YEAR)
        dates = np.full(len(raw), None, dtype=object)
        dates[in_years] = stamp[in_years].strftime("%Y%m%d").to_numpy(dtype=object)
        status = np.where(in_years, 0, np.where(present, 3, 1))
        return pd.DataFrame({"date": dates, "date_status": status_labels[status]}, index=raw.index)

    codes, uniques = pd.factorize(raw.to_numpy(dtype=object), use_na_sentinel=True)
    unique_dates, unique_status = _parse_unique_text(text_array(pd.Series(uniques, dtype=object)))
    dates = np.full(len(raw), None, dtype=object)
    status = np.full(len(raw), DATE_STATUSES.index("blank"), dtype=np.int8)
    present = codes >= 0
    dates[present] = unique_dates[codes[present]]
    status[present] = unique_status[codes[present]]
    return pd.DataFrame({"date": dates, "date_status": status_labels[status]}, index=raw.index)
