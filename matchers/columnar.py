"""Reading a standardised roster's Parquet columns, its repeated text as Arrow dictionaries."""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
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


def by_position(frame: pd.DataFrame) -> pd.DataFrame:
    """frame indexed 0..n-1; the frame itself when it already is (reset_index copies every column)."""
    return frame if frame.index.equals(pd.RangeIndex(len(frame))) else frame.reset_index(drop=True)
