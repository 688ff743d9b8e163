"""Writing analyst-facing tables: Excel-safe CSV (UTF-8 with BOM) beside Parquet, staged atomically."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from matchers.columnar import blank_as_null, is_arrow_text

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
FILE_MODE = 0o600
DUCKDB_CSV_ROWS = 100_000  # below this, pandas writes a CSV as fast as DuckDB is set up
DIR_MODE = 0o700


def excel_safe(frame: pd.DataFrame, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Text cells that Excel would run as a formula are prefixed with an apostrophe (columns: only in those)."""
    out = frame.copy(deep=False)  # columns are replaced, never written into
    for column in out.columns if columns is None else columns:
        series = out[column]
        if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            if not _may_be_hostile(series):
                continue
            text = series.astype("string")
            hostile = text.str.startswith(FORMULA_TRIGGERS).fillna(False).to_numpy()
            if hostile.any():
                out[column] = text.where(~hostile, "'" + text)
    return out


def _may_be_hostile(series: pd.Series) -> bool:
    """False when no cell starts with a formula trigger, found in Arrow (a column of text) without a copy."""
    try:
        text = pa.array(series.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):  # not plain text: let pandas decide
        return True
    return bool(pc.any(_formula_cells(text)).as_py() or False)  # None for an empty column


def _formula_cells(text: pa.Array) -> pa.Array:
    """Per cell: does it start with a formula trigger (False for missing cells)."""
    return pc.fill_null(pc.is_in(pc.utf8_slice_codeunits(text, 0, 1), value_set=pa.array(FORMULA_TRIGGERS)), False)


def _csv_cells(series: pd.Series) -> pa.Array | None:
    """A column as the text pandas' to_csv writes for it, null where it writes nothing; None: a dtype left to pandas."""
    dtype = series.dtype
    if dtype == object or isinstance(dtype, pd.StringDtype):
        values = series.to_numpy() if dtype == object else series.to_numpy(dtype=object, na_value=None)
        if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
            return None  # numbers or dates among text: pandas' str() of each is the reference
        text = pa.array(values, type=pa.string(), from_pandas=True)
    elif isinstance(dtype, np.dtype) and dtype.kind == "f":
        values = series.to_numpy()
        text = pa.array(values.astype(str), type=pa.string(), mask=np.isnan(values))  # repr, as pandas writes floats
    elif isinstance(dtype, np.dtype) and dtype.kind == "b":
        text = pa.array(np.where(series.to_numpy(), "True", "False"), type=pa.string())
    elif pd.api.types.is_integer_dtype(dtype):  # numpy or nullable (Int64): Arrow writes ints as str() does
        text = pc.cast(pa.array(series, from_pandas=True), pa.string())
    else:
        return None
    return blank_as_null(text)


def _left_to_pandas(frame: pd.DataFrame, duckdb_from_rows: int) -> bool:
    return (len(frame) < duckdb_from_rows or len(frame.columns) < 2  # csv writes a lone empty cell as ""
            or not frame.columns.is_unique or not all(isinstance(c, str) for c in frame.columns))


def _excel_safe_text(frame: pd.DataFrame, table: pa.Table) -> dict[str, pa.Array]:
    """excel_safe's cells of frame's text columns, from the frame already in Arrow (table): text is converted once."""
    text: dict[str, pa.Array] = {}
    for i, column in enumerate(frame.columns):
        values, arrow = frame.iloc[:, i], table.column(i)
        if not is_arrow_text(values):  # text read from a list's Parquet file is Arrow already
            if values.dtype != object or not (pa.types.is_string(arrow.type) or pa.types.is_null(arrow.type)):
                continue
            if pd.api.types.infer_dtype(values.to_numpy(), skipna=True) not in ("string", "empty"):
                continue
        cells = arrow.combine_chunks().cast(pa.string())
        hostile = _formula_cells(cells)
        if pc.any(hostile).as_py():
            cells = pc.if_else(hostile, pc.binary_join_element_wise("'", cells, ""), cells)
        text[column] = cells
    return text


def write_csv(frame: pd.DataFrame, path: Path, duckdb_from_rows: int = DUCKDB_CSV_ROWS,
              safe_text: dict[str, pa.Array] | None = None) -> None:
    """frame as pandas' to_csv writes it (UTF-8 with BOM, CRLF, minimal quoting), byte for byte.

    From duckdb_from_rows rows on, DuckDB writes it: pandas formats about a million cells a
    second on one core. Text, integers, floats and booleans are then formatted here as pandas
    would; any other column (dates, categories, mixed objects) or a duplicate or non-text column
    name leaves the frame to pandas. safe_text: excel_safe's cells of some text columns, already in Arrow
    (_excel_safe_text), written in their place.
    """
    import duckdb

    safe_text = safe_text or {}
    plain = _left_to_pandas(frame, duckdb_from_rows)
    columns = [None] if plain else [blank_as_null(safe_text[c]) if c in safe_text else _csv_cells(frame[c])
                                    for c in frame.columns]
    if any(c is None for c in columns):
        excel_safe(frame, list(safe_text)).to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\r\n")
        return
    body = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        with duckdb.connect() as con:
            con.register("csv_rows", pa.table(dict(zip(frame.columns, columns))))
            # COMMENT '': no quotes around a cell only because it holds '#'; pandas quotes only , " CR LF
            con.execute(f"COPY csv_rows TO '{_sql_text(body)}' (FORMAT csv, HEADER, NEW_LINE '\r\n', COMMENT '')")
        with open(path, "wb") as out, open(body, "rb") as written:
            out.write(b"\xef\xbb\xbf")
            shutil.copyfileobj(written, out, 1 << 22)
    finally:
        body.unlink(missing_ok=True)


def _sql_text(value: object) -> str:
    return str(value).replace("'", "''")


def write_table(frame: pd.DataFrame, folder: Path, stem: str, csv: bool = True) -> dict[str, Any]:
    """stem.csv (UTF-8 with BOM, Excel-safe, IDs as text) and stem.parquet; returns row counts.

    csv=False: the Parquet file only, for a table a later step rewrites with more columns (the CSV,
    the slow part on a million rows, is then written once, by that step).
    """
    csv_path = folder / f"{stem}.csv"
    written = [folder / f"{stem}.parquet"]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with ThreadPoolExecutor(1, thread_name_prefix="parquet") as beside:
        # one chunk per column, as a frame of Python objects gives: the writer's pages follow the chunks, so a list
        # read back from Parquet (in chunks of 131,072 rows) would otherwise be written in other bytes. Written
        # beside the CSV: both writers work without the GIL
        parquet = beside.submit(pq.write_table, table.combine_chunks().replace_schema_metadata(None),
                                folder / f"{stem}.parquet", compression="zstd")
        if csv:
            # text columns are made Excel-safe from their Arrow form (converted once, for the Parquet file too)
            text = {} if _left_to_pandas(frame, DUCKDB_CSV_ROWS) else _excel_safe_text(frame, table)
            write_csv(excel_safe(frame, [c for c in frame.columns if c not in text]), csv_path, DUCKDB_CSV_ROWS, text)
            written.append(csv_path)
        parquet.result()
    for path in written:
        os.chmod(path, FILE_MODE)
    return {"csv": csv_path.name, "parquet": f"{stem}.parquet", "rows": int(len(frame))}


def write_json(data: Any, path: Path) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=_json_default) + "\n", encoding="utf-8")
    os.chmod(path, FILE_MODE)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value).__name__)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def make_private_tree(root: Path) -> None:
    """Owner-only permissions on a folder and everything below it."""
    for path in [root, *root.rglob("*")]:
        os.chmod(path, DIR_MODE if path.is_dir() else FILE_MODE)


def make_private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path


def recover_interrupted(out_dir: Path) -> None:
    """Undo what a run killed mid-swap or mid-write left behind beside out_dir."""
    parent = out_dir.parent
    if not parent.is_dir():
        return
    previous = sorted(parent.glob(f".{out_dir.name}.previous-*"))
    if previous and not out_dir.exists():
        os.replace(previous[-1], out_dir)
        previous = previous[:-1]
    for leftover in [*previous, *parent.glob(f".{out_dir.name}.staging-*")]:
        shutil.rmtree(leftover, ignore_errors=True)


@contextmanager
def staged_output(out_dir: Path) -> Iterator[Path]:
    """A private staging folder that replaces out_dir only if the block finishes without error.

    A run killed at any point leaves the previous out_dir (or, mid-swap, its renamed copy, which
    the next run puts back) and never a half-written file under out_dir.
    """
    out_dir = Path(out_dir)
    make_private_dir(out_dir.parent)
    recover_interrupted(out_dir)
    staging = out_dir.parent / f".{out_dir.name}.staging-{uuid.uuid4().hex[:8]}"
    make_private_dir(staging)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    make_private_tree(staging)
    previous = out_dir.parent / f".{out_dir.name}.previous-{uuid.uuid4().hex[:8]}"
    if out_dir.exists():
        os.replace(out_dir, previous)
    os.replace(staging, out_dir)
    shutil.rmtree(previous, ignore_errors=True)
