"""Writing analyst-facing tables: Excel-safe CSV (UTF-8 with BOM) beside Parquet, staged atomically."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
FILE_MODE = 0o600
DIR_MODE = 0o700


def excel_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that Excel would run as a formula are prefixed with an apostrophe."""
    out = frame.copy(deep=False)  # columns are replaced, never written into
    for column in out.columns:
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
    import pyarrow.compute as pc

    try:
        text = pa.array(series.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):  # not plain text: let pandas decide
        return True
    first = pc.utf8_slice_codeunits(text, 0, 1)
    return bool(pc.any(pc.is_in(first, value_set=pa.array(FORMULA_TRIGGERS))).as_py() or False)


def write_table(frame: pd.DataFrame, folder: Path, stem: str, csv: bool = True) -> dict[str, Any]:
    """stem.csv (UTF-8 with BOM, Excel-safe, IDs as text) and stem.parquet; returns row counts.

    csv=False: the Parquet file only, for a table a later step rewrites with more columns (the CSV,
    the slow part on a million rows, is then written once, by that step).
    """
    csv_path = folder / f"{stem}.csv"
    written = [folder / f"{stem}.parquet"]
    if csv:
        excel_safe(frame).to_csv(csv_path, index=False, encoding="utf-8-sig", lineterminator="\r\n")
        written.append(csv_path)
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    pq.write_table(table.replace_schema_metadata(None), folder / f"{stem}.parquet", compression="zstd")
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
