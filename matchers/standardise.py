"""Turn a roster as read into standardised records, and set aside the rows that cannot be used."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from matchers.addresses import address_columns, arrow_text, current_county_code, parse_county
from matchers.dates import parse_dates
from matchers.ids import id_columns
from matchers.names import name_columns
from matchers.phones import normalise_phones
from schemas.readers import READ_PROBLEM, TEXT, RawRoster, arrow_strings
from schemas.rosters import roster_schema

USABLE_ID_STATUSES = ("valid", "upgraded15", "bad_check", "truncated")
DATE_FIELDS = {"civil": "enrolled_date", "health": "diagnosis_date"}
REGISTERED_ADDRESS_PARTS = ("town", "village", "detail", "norm")  # kept as reg_town … reg_norm (health)


@dataclass
class StandardisedRoster:
    """table: the used rows, as Arrow (a million rows are filtered and written without a pandas copy)."""

    kind: str
    table: pa.Table
    rejects: pd.DataFrame

    @property
    def records(self) -> pd.DataFrame:
        return self.table.to_pandas()


# what str.strip() removes (str.isspace), as an RE2 class: Arrow-backed text is checked without Python strings
PYTHON_WHITESPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + \
    "\u2028\u2029\u202f\u205f\u3000"
_BLANK_RE2 = "^[" + "".join(f"\\x{{{ord(c):x}}}" for c in PYTHON_WHITESPACE) + "]*$"


def _blank(series: pd.Series) -> np.ndarray:
    """Cells that are missing or only whitespace, as str.strip() sees them."""
    values = arrow_strings(series)
    if values is not None:
        return pc.fill_null(pc.match_substring_regex(values, _BLANK_RE2), True).to_numpy(zero_copy_only=False)
    return (series.fillna("").astype(str).str.strip() == "").to_numpy()


def _all_blank(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Rows blank in every column: each next column is checked only on the rows still blank."""
    blank = np.ones(len(frame), dtype=bool)
    for column in columns:
        candidates = np.flatnonzero(blank)
        if len(candidates) == 0:
            break
        blank[candidates] = _blank(frame[column].iloc[candidates])
    return blank


def _per_value(series: pd.Series, fn: Callable[[str], object]) -> pd.Series:
    """fn over series.fillna("").astype(str), once per distinct value (place names and codes repeat)."""
    values = series.fillna("").to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=False) != "string":  # not all text: as str() sees each value
        return series.fillna("").astype(str).map(fn).astype(object)
    codes, unique = pd.factorize(values)
    mapped = np.empty(len(unique), dtype=object)
    mapped[:] = [fn(value) for value in unique]
    return pd.Series(mapped[codes], index=series.index, dtype=object)


def _county_prefix(code: str) -> str | None:
    prefix = code.strip()[:6]
    return prefix if re.fullmatch(r"22\d{4}", prefix) else None


def _text(series: pd.Series) -> pd.Series:
    """Trimmed text with blanks as missing."""
    out = series.fillna("").astype(str).str.strip()
    return out.where(out != "", None)


POVERTY_PLACE_COLUMNS = ("province", "prefecture", "county", "town", "village")


def _address_text(frame: pd.DataFrame, kind: str) -> pd.Series:
    if kind == "civil":
        return frame["address"]
    if kind == "poverty":
        columns = [frame[c] for c in POVERTY_PLACE_COLUMNS]
        strings = [arrow_strings(c) for c in columns]
        if all(values is not None for values in strings):
            # in Arrow: each part stripped as str.strip() strips (the same whitespace), then joined
            parts = [pc.utf8_trim(pc.fill_null(values.cast(pa.string()), ""), PYTHON_WHITESPACE) for values in strings]
            return pd.Series(pd.array(pc.binary_join_element_wise(*parts, ""), dtype=TEXT), index=frame.index)
        parts = [_per_value(c, str.strip) for c in columns]
        return parts[0] + parts[1] + parts[2] + parts[3] + parts[4]
    return frame["current_address"]


def _residence_county(frame: pd.DataFrame, kind: str, county: pd.Series) -> pd.Series:
    """Current county code of where the person lives, from the best source each roster has (county: the address's)."""
    if kind == "civil":
        from_code = current_county_code(_per_value(frame["division_code"], _county_prefix))
        county = from_code.where(from_code.notna(), county)
    elif kind == "health":
        reported = parse_county(frame["report_area"])
        county = county.where(county.notna(), reported)
    return county


def standardise_roster(raw: RawRoster) -> StandardisedRoster:
    """Standardised records (used rows) and rejects (row, reason) of one roster."""
    kind = raw.kind
    schema = roster_schema(kind)
    row_col = schema.row_column
    frame = raw.frame.rename(columns={"id_number": "id_number_raw"}).reset_index(drop=True)

    # IDs, names and addresses stay in Arrow: made per distinct value or from bytes, never a Python string per row
    text = {("sex_from_id" if column == "sex" else column): values
            for column, values in id_columns(frame["id_number_raw"]).items()}
    text |= name_columns(arrow_text(frame["name"])) | address_columns(_address_text(frame, kind))
    out = frame.copy(deep=False)
    order = [*out.columns, *text]

    def add(column: str, values: pd.Series | pa.Array) -> None:
        if isinstance(values, pa.Array):
            text[column] = values
        else:
            out[column] = values
        order.append(column)

    add("phone_norm", normalise_phones(frame["phone"]))
    add("county_code", _residence_county(frame, kind, pd.Series(
        text["addr_county_code"].to_numpy(zero_copy_only=False), index=frame.index)))
    if kind == "health":
        add("report_county_code", parse_county(frame["report_area"]))
        # 户籍地址: a migrant falls ill (and is listed) where he lives now, but the civil and
        # poverty lists know him at this home; linkage compares it as a second address.
        registered = address_columns(frame["registered_address"])
        add("registered_county_code", registered["addr_county_code"])
        for part in REGISTERED_ADDRESS_PARTS:
            add("reg_" + part, registered["addr_" + part])
    if kind in DATE_FIELDS:
        dates = parse_dates(frame[DATE_FIELDS[kind]])
        add(DATE_FIELDS[kind] + "_norm", dates["date"])
        add(DATE_FIELDS[kind] + "_status", dates["date_status"])
    add("record_key", out[row_col].astype("int64"))

    data_columns = [spec.name for spec in schema.fields if spec.name != "seq"]
    raw_data = frame.rename(columns={"id_number_raw": "id_number"})[data_columns]
    all_blank = _all_blank(raw_data, data_columns)
    reasons = pd.Series("", index=out.index, dtype="object")
    read_problem = frame[READ_PROBLEM].fillna("").astype(str)
    no_name = _blank(frame["name"])
    no_id = ~pc.is_in(text["id_status"], value_set=pa.array(USABLE_ID_STATUSES)).to_numpy(zero_copy_only=False)
    reasons[no_name & no_id] = "no name and no usable ID number: add at least one of them"
    reasons[read_problem != ""] = read_problem[read_problem != ""]
    reasons[all_blank] = "blank row"
    rejected = (reasons != "").to_numpy()
    rejects = pd.DataFrame({
        "file_kind": kind,
        "row": out.loc[rejected, row_col].astype("int64").to_numpy(),
        "reason": reasons[rejected].to_numpy(),
    })
    table = _records_table(out.drop(columns=[READ_PROBLEM]), text, [c for c in order if c != READ_PROBLEM])
    return StandardisedRoster(kind, _without_rows(table, rejected), rejects)


def _records_table(frame: pd.DataFrame, text: dict[str, pa.Array], order: list[str]) -> pa.Table:
    """frame's columns and the Arrow text columns in order, as one table that reads back as the frame of them would.

    Each text column is typed and described (pandas metadata) as pyarrow describes a column of
    Python strings and None: string ('unicode', object), or, with no value at all, null ('empty').
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    metadata = json.loads(table.schema.metadata[b"pandas"])
    described = {entry["name"]: entry for entry in metadata["columns"]}
    columns, fields = [], []
    for name in order:
        if name in text:
            values = text[name]
            empty = values.null_count == len(values)
            values = pa.nulls(len(values)) if empty else values
            described[name] = {"name": name, "field_name": name, "pandas_type": "empty" if empty else "unicode",
                               "numpy_type": "object", "metadata": None}
            columns.append(pa.chunked_array([values]))
            fields.append(pa.field(name, values.type))
        else:
            columns.append(table.column(name))
            fields.append(table.schema.field(name))
    metadata["columns"] = [described[name] for name in order]
    return pa.Table.from_arrays(columns, schema=pa.schema(fields, metadata={b"pandas": json.dumps(metadata).encode("utf8")}))


MAX_SLICES = 1024  # beyond this, many small pieces write more slowly than one filtered copy


def _without_rows(table: pa.Table, rejected: np.ndarray) -> pa.Table:
    """The table without the rejected rows: the pieces between them, not copied.

    A roster rejects about one row in a thousand; filtering copied every other cell (0.8 s for
    the 700k poverty rows). Many scattered rejects are filtered as before.
    """
    rows = np.flatnonzero(rejected)
    if len(rows) == 0:
        return table
    starts, ends = np.r_[0, rows + 1], np.r_[rows, table.num_rows]
    kept = ends > starts
    if kept.sum() > MAX_SLICES:
        return table.filter(pa.array(~rejected))
    pieces = [table.slice(int(start), int(end - start)) for start, end in zip(starts[kept], ends[kept])]
    return pa.concat_tables(pieces) if pieces else table.slice(0, 0)
