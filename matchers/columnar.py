"""Reading a standardised roster's Parquet columns, its repeated text as Arrow dictionaries."""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def is_text(arrow_type: pa.DataType) -> bool:
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def read_columns(path: str | Path, wanted: Iterable[str] | Callable[[list[str]], Iterable[str]] | None = None,
                 categories: Collection[str] | None = ()) -> pa.Table:
    """Those of the wanted columns the file has, in wanted's order (None: all; a function: of the file's column names).

    categories: text columns read as dictionaries, which pandas makes categoricals (None: every text
    column): each distinct value becomes one Python string, not one per row.
    """
    schema = pq.read_schema(path)
    chosen = wanted(schema.names) if callable(wanted) else wanted if wanted is not None else schema.names
    columns = [c for c in chosen if c in schema.names]
    dictionary = [c for c in columns if (categories is None or c in categories) and is_text(schema.field(c).type)]
    return pq.read_table(path, columns=columns, read_dictionary=dictionary or None)


def to_pandas(table: pa.Table, arrow_text: Collection[str] | None = ()) -> pd.DataFrame:
    """table as pandas, its plain text columns named in arrow_text (None: all) kept as Arrow-backed columns.

    Those become no Python string per row: for text a step reads for a few rows, or encodes in Arrow.
    Dictionary columns still become categoricals, the rest as pyarrow converts them."""
    if arrow_text is None:
        kept = {pa.string(): pd.ArrowDtype(pa.string()), pa.large_string(): pd.ArrowDtype(pa.large_string())}
        return table.to_pandas(types_mapper=kept.get)
    text = [c for c in table.column_names if c in arrow_text and is_text(table.schema.field(c).type)]
    if not text:
        return table.to_pandas()
    frame = table.drop_columns(text).to_pandas()
    for column in sorted(text, key=table.column_names.index):  # put in place: reordering copies every column
        frame.insert(table.column_names.index(column), column, pd.arrays.ArrowExtensionArray(table.column(column)))
    return frame


def blank_as_null(text: pa.Array) -> pa.Array:
    """Text with each empty value NULL (the missing value of every standardised column)."""
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)


def fixed_width_bytes(text: pa.Array, width: int) -> np.ndarray:
    """The bytes of text without NULLs whose values all have width bytes, as an (n, width) uint8 view."""
    if len(text) == 0:
        return np.zeros((0, width), dtype=np.uint8)
    offsets = np.dtype(np.int64 if pa.types.is_large_string(text.type) else np.int32)
    first = int(np.frombuffer(text.buffers()[1], dtype=offsets, count=1, offset=text.offset * offsets.itemsize)[0])
    return np.frombuffer(text.buffers()[2], dtype=np.uint8, count=len(text) * width, offset=first).reshape(-1, width)


def python_frame(columns: Mapping[str, pa.Array], index: pd.Index) -> pd.DataFrame:
    """Arrow text columns as a frame of Python strings and None, for the functions that give pandas."""
    return pd.DataFrame({name: values.to_numpy(zero_copy_only=False) for name, values in columns.items()}, index=index)


def read_list(path: str | Path) -> pd.DataFrame:
    """A written list as pandas, its text kept in Arrow: a million matches' text is not made into Python strings."""
    return to_pandas(pq.read_table(path), arrow_text=None)


def is_arrow_text(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.ArrowDtype) and is_text(series.dtype.pyarrow_dtype)


def python_text(series: pd.Series) -> pd.Series:
    """An Arrow-backed column as the Python strings and None that pyarrow's to_pandas gives; other columns as they are."""
    if isinstance(series.dtype, pd.ArrowDtype):
        return pd.Series(series.to_numpy(dtype=object, na_value=None), index=series.index, dtype=object)
    return series


def by_position(frame: pd.DataFrame) -> pd.DataFrame:
    """frame indexed 0..n-1; the frame itself when it already is (reset_index copies every column)."""
    return frame if frame.index.equals(pd.RangeIndex(len(frame))) else frame.reset_index(drop=True)
