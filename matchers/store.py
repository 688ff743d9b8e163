"""The embedded history: every finished run's candidate lists and pairs, keyed by run and period.

One DuckDB file in the state folder. Rows are stored with a stable person key per record, so the
same person is recognised across months although row numbers change with every export. The store
holds person keys and categories, never names or display columns (those stay in the out folder).
Without RELIEFMATCH_PERSON_KEY the person key is the normalised ID itself: keep the state folder
private (it already holds the standardised rosters).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterator

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from matchers.addresses import current_county_code
from matchers.columnar import by_position, is_arrow_text, read_columns, to_pandas
from matchers.privacy import key_text, person_key_array, store_secret
from matchers.state import state_home

STORE_FILE = "reliefmatch.duckdb"
KINDS = ("civil", "poverty", "health")
FINGERPRINT_COLUMNS = ("id_number", "name_norm", "birth_date", "sex_from_id", "county_code", "addr_norm", "phone_norm")
FALLBACK_KEY_COLUMNS = ("name_norm", "birth_date", "county_code", "household_id")


@dataclass(frozen=True)
class TableSpec:
    """How a candidate list is identified across runs and which of its columns an analyst must not edit."""

    identity_kinds: tuple[str, ...]      # whose person keys make the identity; () = every row column present
    discriminator: str | None            # a column that splits one person's rows (discrepancies: field)
    checked: tuple[str, ...]             # columns an analyst must not edit, besides the row columns
    item_type: str | None
    bucket: str | None
    county_from: tuple[str, ...]         # a county-code column of the table, or a kind whose record's county is used


TABLES: dict[str, TableSpec] = {
    "matches": TableSpec((), None, ("match_method",), "match_method", None, ("civil", "health", "poverty")),
    "inclusion_candidates": TableSpec(("poverty",), None, ("candidate_type", "policy_bucket"), "candidate_type",
                                      "policy_bucket", ("poverty",)),
    "discrepancies": TableSpec(("civil", "poverty"), "field", ("field", "poverty_says", "civil_says"), "field", None,
                               ("civil", "poverty")),
    "relief_candidates": TableSpec(("health",), None, ("relief_type", "一事一议", "非户籍地", "救助责任县代码"),
                                   "relief_type", None, ("救助责任县代码", "health")),
}
JOB_TABLES = {
    "crosscheck": ("matches", "inclusion_candidates", "discrepancies"),
    "health-match": ("matches", "relief_candidates"),
}
YES = "是"

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, job VARCHAR NOT NULL, period VARCHAR NOT NULL, seq BIGINT NOT NULL,
    recorded_at TIMESTAMP NOT NULL, out_dir VARCHAR, manifest VARCHAR);
CREATE TABLE IF NOT EXISTS run_inputs (
    run_id VARCHAR, kind VARCHAR, sha256 VARCHAR, rows_used BIGINT, records_path VARCHAR);
CREATE TABLE IF NOT EXISTS items (
    run_id VARCHAR NOT NULL, job VARCHAR NOT NULL, period VARCHAR NOT NULL, table_name VARCHAR NOT NULL,
    row_key VARCHAR NOT NULL, identity VARCHAR NOT NULL,
    civil_row BIGINT, poverty_row BIGINT, health_row BIGINT,
    civil_person VARCHAR, poverty_person VARCHAR, health_person VARCHAR,
    civil_fp VARCHAR, poverty_fp VARCHAR, health_fp VARCHAR,
    item_type VARCHAR, bucket VARCHAR, county_code VARCHAR, death BOOLEAN, migrant BOOLEAN,
    match_probability DOUBLE, review_required BOOLEAN, attrs VARCHAR);
CREATE TABLE IF NOT EXISTS run_tables (
    run_id VARCHAR, table_name VARCHAR, rows BIGINT, checked_columns VARCHAR);
CREATE TABLE IF NOT EXISTS decisions (
    decision_id BIGINT NOT NULL, job VARCHAR NOT NULL, table_name VARCHAR NOT NULL, identity VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL, period VARCHAR NOT NULL, row_key VARCHAR NOT NULL,
    conclusion VARCHAR NOT NULL, reviewer VARCHAR, note VARCHAR, decided_at TIMESTAMP NOT NULL,
    source_file VARCHAR, source_sha256 VARCHAR,
    civil_person VARCHAR, poverty_person VARCHAR, health_person VARCHAR,
    civil_fp VARCHAR, poverty_fp VARCHAR, health_fp VARCHAR,
    match_probability DOUBLE, review_required BOOLEAN);
"""


class StoreError(RuntimeError):
    """A run cannot be recorded or found; the message names the folder and what to do."""


def default_store_path() -> Path:
    return state_home() / STORE_FILE


@contextmanager
def connect(store_path: str | Path | None = None, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """The store, created owner-only on first use."""
    path = Path(store_path) if store_path else default_store_path()
    if read_only and not path.exists():
        raise StoreError(f"{path}: no history store yet. Record a finished run first (reliefmatch record OUT_DIR)")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        if not read_only:
            con.execute(SCHEMA)
            os.chmod(path, 0o600)
        yield con
    finally:
        con.close()


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple | None:
    """First row or None; fetches everything so the connection is free for the next statement."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


FINGERPRINT_HASH_KEY = "reliefmatch-fp01"  # 16 bytes; changing it makes every record look changed
_HEX = np.frombuffer(b"0123456789abcdef", dtype="S1")


def _hex64(values: np.ndarray) -> pa.Array:
    """uint64 values as 16-character lowercase hex strings (Arrow text), without a Python loop."""
    octets = values.astype("<u8").view(np.uint8).reshape(-1, 8)[:, ::-1]
    out = np.empty((len(values), 16), dtype="S1")
    out[:, 0::2], out[:, 1::2] = _HEX[octets >> 4], _HEX[octets & 15]
    offsets = np.arange(0, 16 * (len(values) + 1), 16, dtype=np.int32)
    return pa.StringArray.from_buffers(len(values), pa.py_buffer(offsets), pa.py_buffer(out.tobytes()))


def _plain_text(frame: pd.DataFrame, columns: tuple[str, ...], keep_categories: bool = False) -> pd.DataFrame:
    """The named columns as object text with blanks as "" (absent columns blank).

    keep_categories: a categorical column of text stays categorical (blanks a category ""), which
    pandas hashes per category: the same hashes as of the text, from one hash per distinct value.
    """
    out = {}
    for column in columns:
        if column not in frame:
            out[column] = ""
            continue
        series = frame[column]
        if keep_categories and isinstance(series.dtype, pd.CategoricalDtype) and \
                pd.api.types.infer_dtype(series.cat.categories, skipna=False) in ("string", "empty"):
            if "" not in series.cat.categories:
                series = series.cat.add_categories([""])
            out[column] = series.fillna("")
        else:
            out[column] = series.astype("object").where(series.notna(), "").astype(str)
    return pd.DataFrame(out, index=frame.index)


def fingerprints(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series:
    """A stable 64-bit hash (hex) of a record's linkage fields: vectorised SipHash, no secret needed."""
    return pd.Series(_fingerprint_array(frame, columns).to_numpy(zero_copy_only=False), index=frame.index, dtype="object")


def _fingerprint_array(frame: pd.DataFrame, columns: tuple[str, ...]) -> pa.Array:
    text = _plain_text(frame, columns, keep_categories=True)
    return _hex64(pd.util.hash_pandas_object(text, index=False, hash_key=FINGERPRINT_HASH_KEY, categorize=False).to_numpy())


def record_identities(records: pd.DataFrame, kind: str, secret: bytes | None = None,
                      use_env_secret: bool = True, rows: np.ndarray | None = None) -> pd.DataFrame:
    """Per record: row number, stable person key, fingerprint of the linkage fields, county code.

    person key: HMAC of the normalised ID with the configured key, else this installation's own random
    key (so the store never holds a raw ID); a record with no usable
    ID gets a key from name, birth date, county and household, prefixed "~" so it never equals an ID key.
    fingerprint: changes whenever a field the linkage compares changes (a rejected pair may then be linked again).
    """
    if secret is None and use_env_secret:
        secret = store_secret(state_home())
    row = f"{kind}_row"
    if rows is not None:  # only the records a table refers to: hashing is the expensive part
        records = records[records[row].isin(rows)]
    return _identity_table(records, kind, secret).to_pandas()


def _identity_table(records: pd.DataFrame, kind: str, secret: bytes | None) -> pa.Table:
    """record_identities as an Arrow table: a million keys and fingerprints are never Python strings."""
    row = f"{kind}_row"
    ids = records["id_number"] if "id_number" in records else pd.Series(None, index=records.index, dtype="object")
    text = key_text(ids.astype("object").where(ids.notna(), None))
    keys = person_key_array(text, secret) if secret is not None else text
    missing = keys.is_null().to_numpy(zero_copy_only=False)
    if missing.any():
        parts = _plain_text(records.loc[missing], FALLBACK_KEY_COLUMNS)
        fallback = parts[FALLBACK_KEY_COLUMNS[0]]
        for column in FALLBACK_KEY_COLUMNS[1:]:
            fallback = fallback + "\x1f" + parts[column]
        fallback_keys = (person_key_array(pa.array(fallback.to_numpy(), type=pa.string()), secret) if secret is not None
                         else _fingerprint_array(fallback.to_frame("k"), ("k",)))
        keys = pc.replace_with_mask(keys, pa.array(missing), pc.binary_join_element_wise("~", fallback_keys, ""))
    county = current_county_code(records["county_code"]) if "county_code" in records else pd.Series(None, index=records.index)
    return pa.table({
        row: pa.array(records[row].astype("int64").to_numpy()),
        f"{kind}_person": keys,
        f"{kind}_fp": _fingerprint_array(records, FINGERPRINT_COLUMNS),
        f"{kind}_county": pa.array(county.to_numpy(), from_pandas=True),
    })


def _find_records(entry: dict, home: Path) -> Path | None:
    """The cached standardised records of one manifest input."""
    explicit = entry.get("records_path")
    if explicit and Path(explicit).is_file():
        return Path(explicit)
    cache = home / "cache"
    prefix = f"{entry['kind']}-{entry['sha256'][:24]}-"
    try:
        from matchers.pipeline import standardiser_version

        exact = cache / f"{prefix}{standardiser_version()}" / "records.parquet"
        if exact.is_file():
            return exact
    except Exception:  # the version hash needs the source tree; fall back to the newest entry
        pass
    found = sorted(cache.glob(f"{prefix}*/records.parquet"), key=lambda p: p.stat().st_mtime_ns)
    return found[-1] if found else None


def run_id_of(out_dir: str | Path) -> str:
    """A run is identified by its manifest without the timing block: the same job, period and
    inputs give the same run, so recording a rerun is a no-op and its outputs stay byte-identical."""
    manifest = Path(out_dir) / "manifest.json"
    if not manifest.is_file():
        raise StoreError(f"{out_dir}: no manifest.json; this is not a finished reliefmatch run folder")
    content = json.loads(manifest.read_text(encoding="utf-8"))
    content.pop("run", None)
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


def _read_table(out_dir: Path, table: str) -> pd.DataFrame | None:
    parquet, csv = out_dir / f"{table}.parquet", out_dir / f"{table}.csv"
    if parquet.is_file():
        return pd.read_parquet(parquet)
    if csv.is_file():
        return pd.read_csv(csv, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    return None


_EXCEL_INT = re.compile(r"^(-?\d+)\.0+$")


def _clean_cell(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    text = str(value).strip()
    text = text[1:] if text.startswith("'") else text
    text = _EXCEL_INT.sub(r"\1", text)
    return "" if text in ("<NA>", "nan", "None") else text


def cell_text(series: pd.Series) -> pd.Series:
    """Values as an analyst's spreadsheet shows them: ints without .0, blanks as "", no Excel apostrophe."""
    return pd.Series(_cell_array(series).to_numpy(zero_copy_only=False), index=series.index, dtype=object)


def _cell_array(series: pd.Series) -> pa.Array:
    """cell_text as Arrow text without nulls, so that columns are joined into keys without a Python string per cell.

    Text is cleaned once per distinct value: candidate columns hold few distinct categories.
    """
    if pd.api.types.is_integer_dtype(series.dtype):
        return pc.fill_null(pc.cast(pa.array(series, from_pandas=True), pa.string()), "")
    if pd.api.types.is_bool_dtype(series.dtype):
        return pa.array(series.astype("string").fillna("").to_numpy(dtype=object), type=pa.string())
    if is_arrow_text(series):  # distinct values found in Arrow: no Python string per row
        encoded = pc.dictionary_encode(pa.chunked_array(pa.array(series.array)).combine_chunks())
        cleaned = pa.array([_clean_cell(value) for value in encoded.dictionary.to_pylist()] + [""], type=pa.string())
        return cleaned.take(pc.fill_null(encoded.indices, len(cleaned) - 1))
    values = series.astype("object").to_numpy()
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        values = np.array([str(value) for value in values], dtype=object)  # 0 and -0.0 hash alike; their text does not
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return pa.array([_clean_cell(value) for value in uniques], type=pa.string()).take(pa.array(codes))


def _joined(parts: list[pa.Array | pa.Scalar], separator: str, index: pd.Index) -> pd.Series:
    return pd.Series(pc.binary_join_element_wise(*parts, separator).to_numpy(zero_copy_only=False), index=index,
                     dtype=object)


def row_columns(frame: pd.DataFrame) -> list[str]:
    return [f"{k}_row" for k in KINDS if f"{k}_row" in frame.columns]


def row_keys(frame: pd.DataFrame, table: str) -> pd.Series:
    """The key of a row within one run: its row numbers (and field, for discrepancies)."""
    spec = TABLES[table]
    columns = row_columns(frame) + ([spec.discriminator] if spec.discriminator else [])
    return _joined([_cell_array(frame[column]) for column in columns], "|", frame.index)


def checked_columns(frame: pd.DataFrame, table: str) -> list[str]:
    spec = TABLES[table]
    return row_columns(frame) + [c for c in spec.checked if c in frame.columns]


ATTR_SEPARATOR = "\x1f"


def _attrs_text(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """The checked columns' values joined by a unit separator (the column list is kept per run table)."""
    return _joined([_cell_array(frame[column]) for column in columns], ATTR_SEPARATOR, frame.index)


def table_items(frame: pd.DataFrame, table: str, identities: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One stored row per candidate or pair: keys, person keys, fingerprints, categories, county."""
    spec = TABLES[table]
    rows = row_columns(frame)
    items = pd.DataFrame(index=frame.index)
    items["row_key"] = row_keys(frame, table)
    work = frame[rows].copy()
    for kind in KINDS:
        row = f"{kind}_row"
        if row in rows and kind in identities:
            work[row] = pd.to_numeric(work[row], errors="coerce").astype("Int64")
            ident = identities[kind].astype({row: "Int64"})
            work = work.merge(ident, on=row, how="left")
        for suffix in ("person", "fp", "county"):
            if f"{kind}_{suffix}" not in work:
                work[f"{kind}_{suffix}"] = None
        if row not in work:
            work[row] = pd.array([pd.NA] * len(work), dtype="Int64")
    work.index = frame.index
    identity_kinds = spec.identity_kinds or tuple(k for k in KINDS if f"{k}_row" in rows)
    identity: list[pa.Array | pa.Scalar] = [pa.repeat(pa.scalar(table), len(frame))]
    for kind in identity_kinds:
        person = work[f"{kind}_person"].astype("object").to_numpy()
        identity.append(pc.fill_null(pa.array(person, type=pa.string(), from_pandas=True), "-"))
    if spec.discriminator:
        identity.append(_cell_array(frame[spec.discriminator]))
    items["identity"] = _joined(identity, "|", frame.index)
    for kind in KINDS:
        items[f"{kind}_row"] = work[f"{kind}_row"]
        items[f"{kind}_person"] = work[f"{kind}_person"]
        items[f"{kind}_fp"] = work[f"{kind}_fp"]
    items["item_type"] = cell_text(frame[spec.item_type]) if spec.item_type in frame else ""
    items["bucket"] = cell_text(frame[spec.bucket]) if spec.bucket in frame else None
    county = pd.Series(None, index=frame.index, dtype="object")
    for source in spec.county_from:
        candidate = (current_county_code(cell_text(frame[source]).replace("", None)) if source in frame
                     else work[f"{source}_county"] if f"{source}_county" in work else None)
        if candidate is not None:
            county = county.where(county.notna() & (county != ""), candidate)
    items["county_code"] = county
    items["death"] = cell_text(frame["一事一议"]).eq(YES) if "一事一议" in frame else None
    items["migrant"] = cell_text(frame["非户籍地"]).eq(YES) if "非户籍地" in frame else None
    items["match_probability"] = pd.to_numeric(frame["match_probability"], errors="coerce") if "match_probability" in frame else np.nan
    items["review_required"] = (cell_text(frame["review_required"]).str.lower() == "true") if "review_required" in frame else None
    items["attrs"] = _attrs_text(frame, checked_columns(frame, table))
    return by_position(items)


# identity columns with few distinct values: read as categories, so each value is converted and hashed once
REPEATED_IDENTITY_COLUMNS = ("name_norm", "birth_date", "sex_from_id", "county_code")


def _identity_columns(path: Path, kind: str, rows: np.ndarray | None) -> pd.DataFrame:
    """The columns record_identities uses, of the wanted rows only (filtered before pandas sees them)."""
    wanted = [f"{kind}_row", "id_number", *FINGERPRINT_COLUMNS, *FALLBACK_KEY_COLUMNS, "county_code"]
    # the household is read only for records without a usable ID: kept in Arrow, not a million Python strings
    return _read_rows(path, kind, list(dict.fromkeys(wanted)), rows, categories=REPEATED_IDENTITY_COLUMNS,
                      arrow_text=("household_id",))


def _read_rows(path: Path, kind: str, wanted: list[str] | None, rows: np.ndarray | None,
               categories: tuple[str, ...] = (), arrow_text: tuple[str, ...] = ()) -> pd.DataFrame:
    """Those of the wanted columns a Parquet file has (None: all), of the wanted rows only; categories: text read as
    categoricals; arrow_text: text kept as Arrow-backed columns."""
    row = f"{kind}_row"
    table = read_columns(path, wanted, categories)
    if rows is not None and row in table.column_names:  # filtered in Arrow: a filters= list of 700k rows is slower
        table = table.filter(pc.is_in(table[row], value_set=pa.array(np.asarray(rows, dtype="int64"))))
    return to_pandas(table, arrow_text)


def load_identities(manifest: dict, home: Path | None = None,
                    rows: dict[str, np.ndarray] | None = None) -> dict[str, pd.DataFrame]:
    """Person keys, fingerprints and counties of a run's inputs (the referenced rows), from the ingest cache."""
    home = home or state_home()
    found = {}
    for entry in manifest.get("inputs", []):
        if rows is not None and entry["kind"] not in rows:
            continue
        path = _find_records(entry, home)
        if path is None:
            raise StoreError(f"the standardised {entry['kind']} roster of this run is no longer in {home / 'cache'}: "
                             "run the job again on the same file, then record it")
        found[entry["kind"]] = path

    def identities_of(kind: str) -> pd.DataFrame:
        path, wanted = found[kind], rows.get(kind) if rows is not None else None
        cached = identities_path(path)
        if cached.is_file():
            return _read_rows(cached, kind, None, wanted)
        return record_identities(_identity_columns(path, kind, wanted), kind, rows=wanted)

    # the rosters' identities are read at once: Parquet and Arrow's filter run without the GIL
    with ThreadPoolExecutor(max(1, min(len(found), 2)), thread_name_prefix="identities") as readers:
        return dict(zip(found, readers.map(identities_of, found)))


def identities_path(records_path: str | Path, secret: bytes | None = None) -> Path:
    """Where a standardised roster's identities are cached: named by the key and the code that derives them.

    The name is a digest, never the key; another key (RELIEFMATCH_PERSON_KEY set or changed) or a
    change to how keys and fingerprints are made reads another file.
    """
    digest = hashlib.sha256(secret if secret is not None else store_secret(state_home()))
    digest.update(_identity_code_digest())
    return Path(records_path).parent / f"identities-{digest.hexdigest()[:16]}.parquet"


@functools.lru_cache(maxsize=1)
def _identity_code_digest() -> bytes:
    """The code that makes person keys and fingerprints, hashed once per process."""
    from matchers import privacy

    return hashlib.sha256(b"".join(Path(module).read_bytes() for module in (privacy.__file__, __file__))).digest()


def cache_identities(records_path: str | Path, kind: str) -> Path:
    """Every record's identity (person key, fingerprint, county) beside the roster, computed once per key.

    Recording a run then reads the rows its lists refer to instead of hashing them: on a
    million-row roster that takes the hashing (seconds) off the end of every run that uses it.
    """
    target = identities_path(records_path)
    if not target.is_file():
        identities = _identity_table(_identity_columns(Path(records_path), kind, None), kind, store_secret(state_home()))
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
        try:
            pq.write_table(identities, partial, compression="zstd")
            os.chmod(partial, 0o600)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return target


def record_run(out_dir: str | Path, store_path: str | Path | None = None, final_dir: str | Path | None = None,
               tables: dict[str, pd.DataFrame] | None = None) -> str:
    """Store a finished run's pairs and candidate lists with person keys; returns the run id.

    Idempotent: a run already recorded is left as it is. final_dir: where the folder will live
    once moved into place (when recording from a staging folder), so a later run finds it.
    tables: the run's lists as the caller has already read them (a million matches take seconds to read).
    """
    run_id = run_id_of(Path(out_dir).resolve())
    with connect(store_path) as con:
        if is_recorded(con, run_id):
            return run_id
    record = run_record(out_dir, final_dir, tables)
    record.store(store_path)
    return record.run_id


def is_recorded(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    return fetch_one(con, "SELECT 1 FROM runs WHERE run_id = ?", [run_id]) is not None


@dataclass
class RunRecord:
    """A finished run's rows for the store, made and not yet stored: a caller can store them beside other work."""

    run_id: str
    job: str
    period: str
    manifest: dict
    out_dir: str
    tables: list[tuple[str, str, int, str]]
    inputs: pd.DataFrame
    table_items: dict[str, pd.DataFrame]  # per list, in the order stored: its rows' items (table_name, row_key, …)

    @property
    def items(self) -> pd.DataFrame | None:
        """Every list's items in one frame (None if there is no list)."""
        return _stacked(list(self.table_items.values())) if self.table_items else None

    def store(self, store_path: str | Path | None = None) -> None:
        """One transaction; a run already recorded (by another process meanwhile) is left as it is."""
        with connect(store_path) as con:
            con.begin()
            try:
                if is_recorded(con, self.run_id):
                    con.rollback()
                    return
                seq = fetch_one(con, "SELECT coalesce(max(seq), 0) + 1 FROM runs")[0]
                con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [self.run_id, self.job, self.period, seq, datetime.now(), self.out_dir,
                             json.dumps(self.manifest, ensure_ascii=False)])
                if self.tables:
                    con.executemany("INSERT INTO run_tables VALUES (?, ?, ?, ?)", self.tables)
                if len(self.inputs):
                    con.register("new_inputs", self.inputs)
                    con.execute("INSERT INTO run_inputs SELECT ?, kind, sha256, rows_used, records_path FROM new_inputs",
                                [self.run_id])
                    con.unregister("new_inputs")
                # list by list, in order: the same rows as the lists stacked, without a frame of them all being made
                for items in self.table_items.values():
                    if not len(items):
                        continue
                    con.register("new_items", pa.Table.from_pandas(items, preserve_index=False))
                    con.execute("""
                        INSERT INTO items SELECT ?, ?, ?, table_name, row_key, identity,
                            civil_row, poverty_row, health_row, civil_person, poverty_person, health_person,
                            civil_fp, poverty_fp, health_fp, item_type, bucket, county_code, death, migrant,
                            match_probability, review_required, attrs FROM new_items""", [self.run_id, self.job, self.period])
                    con.unregister("new_items")
                con.commit()
            except BaseException:
                con.rollback()
                raise


def run_record(out_dir: str | Path, final_dir: str | Path | None = None,
               tables: dict[str, pd.DataFrame] | None = None) -> RunRecord:
    """The rows record_run stores for a finished run folder: its lists' items with person keys, its tables and inputs.

    final_dir, tables: as for record_run."""
    out_dir = Path(out_dir).resolve()
    run_id = run_id_of(out_dir)
    manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    job, period = manifest.get("job"), manifest.get("period")
    if job not in JOB_TABLES or not period:
        raise StoreError(f"{out_dir / 'manifest.json'}: job or period missing; this run cannot be recorded")
    read = {table: tables[table] if tables and table in tables else _read_table(out_dir, table)
            for table in JOB_TABLES[job]}
    read = {table: frame for table, frame in read.items() if frame is not None}
    referenced: dict[str, list[np.ndarray]] = {}
    for frame in read.values():
        for column in row_columns(frame):
            values = pd.to_numeric(frame[column], errors="coerce").dropna().astype("int64").unique()
            referenced.setdefault(column[:-4], []).append(values)
    identities = load_identities(manifest, rows={k: pd.unique(np.concatenate(v)) for k, v in referenced.items()})
    frames, stored_tables = {}, []
    for table, frame in read.items():
        items = table_items(frame, table, identities)
        items.insert(0, "table_name", table)
        frames[table] = items
        stored_tables.append((run_id, table, len(frame), ATTR_SEPARATOR.join(checked_columns(frame, table))))
    inputs = pd.DataFrame([{"kind": e["kind"], "sha256": e["sha256"], "rows_used": e.get("rows_used"),
                            "records_path": str(_find_records(e, state_home()) or "")} for e in manifest.get("inputs", [])])
    return RunRecord(run_id=run_id, job=job, period=period, manifest=manifest,
                     out_dir=str(Path(final_dir).resolve() if final_dir else out_dir), tables=stored_tables,
                     inputs=inputs, table_items=frames)


def _stacked(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """pd.concat(frames, ignore_index=True) of frames with the same columns, a column at a time.

    pandas' frame concat checks every value of an all-missing text column in Python (a 1M
    crosscheck's items: two million checks, most of a second); columns whose dtype differs
    between frames are still concatenated together, by pandas' rules for frames. An all-missing
    text column keeps its own None or NaN, which pandas may swap; the store reads both as NULL.
    """
    columns = list(frames[0].columns)
    if any(list(frame.columns) != columns for frame in frames[1:]):
        return pd.concat(frames, ignore_index=True)
    mixed = [c for c in columns if len({frame[c].dtype for frame in frames}) > 1]
    together = pd.concat([frame[mixed] for frame in frames], ignore_index=True) if mixed else None
    return pd.DataFrame({c: together[c] if together is not None and c in mixed
                         else pd.concat([frame[c] for frame in frames], ignore_index=True) for c in columns})


def runs(store_path: str | Path | None = None) -> pd.DataFrame:
    """Every recorded run, oldest first."""
    with connect(store_path) as con:
        return con.execute("SELECT run_id, job, period, seq, recorded_at, out_dir FROM runs ORDER BY period, seq").df()


def latest_run_before(con: duckdb.DuckDBPyConnection, job: str, period: str, run_id: str) -> str | None:
    """The run previous_run will return for a run of job and period not recorded yet (it is recorded last)."""
    found = con.execute("""
        SELECT run_id FROM runs WHERE job = ? AND period <= ? AND run_id <> ?
        ORDER BY period DESC, seq DESC LIMIT 1""", [job, period, run_id]).fetchall()
    return found[0][0] if found else None


def previous_run(con: duckdb.DuckDBPyConnection, run_id: str) -> str | None:
    """The run of the same job just before this one (by period, then by when it was recorded)."""
    found = con.execute("""
        SELECT p.run_id FROM runs p, runs r
        WHERE r.run_id = ? AND p.job = r.job AND p.run_id <> r.run_id
          AND (p.period < r.period OR (p.period = r.period AND p.seq < r.seq))
        ORDER BY p.period DESC, p.seq DESC LIMIT 1""", [run_id]).fetchall()
    return found[0][0] if found else None
