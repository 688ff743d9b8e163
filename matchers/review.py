"""Analysts' review decisions: import, carry forward to later runs, labels for the linkage model.

A decision is attached to what it is about, not to a row number: the person keys of the records
(and the field, for a discrepancy). So next month's list shows "已确认 by whom, when" for the same
person although the roster was re-exported in another order, and a pair rejected once is dropped
from the linkage until one of its two records changes.
"""
from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from matchers.columnar import by_position, read_list
from matchers.store import (ATTR_SEPARATOR, FINGERPRINT_COLUMNS, JOB_TABLES, KINDS, TABLES, RunRecord, cell_text, connect,
                            fetch_one, fingerprints, is_recorded, latest_run_before, previous_run, record_identities,
                            row_keys, run_id_of, run_record)

CONCLUSIONS = ("确认", "否决", "待定")
HISTORY_LABEL = {"确认": "已确认", "否决": "已否决", "待定": "待定"}
REVIEW_COLUMNS = ("复核结论", "复核人", "备注")
HISTORY_COLUMNS = ("历史复核", "历史复核人", "复核时间", "历史备注", "变化", "批次")
NEW, CONTINUING, RESOLVED = "新增", "延续", "已解决"
CHANGED_SINCE = "记录已变更，需重新复核"
CANDIDATE_TABLES = ("inclusion_candidates", "discrepancies", "relief_candidates")
TABLE_TITLES = {"matches": "匹配结果", "inclusion_candidates": "纳入救助候选", "discrepancies": "两部门记录不一致",
                "relief_candidates": "临时救助候选"}
MAX_PROBLEMS_SHOWN = 20
RUN_COLUMN = "批次"


class ReviewImportError(ValueError):
    """The reviewed file cannot be imported; nothing was stored. Each problem names file and row."""

    def __init__(self, file: str, problems: list[str]):
        self.file, self.problems = file, problems
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = f"\n  … and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        super().__init__(f"{file}: not imported, nothing was stored ({len(problems)} problem"
                         f"{'s' if len(problems) != 1 else ''}):\n  " + "\n  ".join(shown) + more)


@dataclass
class ImportSummary:
    file: str
    table: str
    run_id: str
    period: str
    rows: int
    decided: dict[str, int] = field(default_factory=dict)
    already_imported: bool = False


def read_review_file(path: str | Path) -> pd.DataFrame:
    """A reviewed list as text cells: CSV (UTF-8 with or without BOM, or GB18030 as Excel saves it) or XLSX."""
    path = Path(path)
    if not path.is_file():
        raise ReviewImportError(path.name, ["the file does not exist"])
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            frame = pd.read_excel(path, sheet_name=0, dtype=str, keep_default_na=False, engine="openpyxl")
        elif suffix == ".csv":
            raw = path.read_bytes()
            for encoding in ("utf-8-sig", "gb18030"):
                try:
                    text = raw.decode(encoding)
                    break
                except UnicodeDecodeError:
                    continue
            else:
                raise ReviewImportError(path.name, ["the file is neither UTF-8 nor GB18030 text: save it again as CSV or XLSX"])
            import io

            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        else:
            raise ReviewImportError(path.name, [f"'{suffix}' files are not read: save the list as .csv or .xlsx"])
    except ReviewImportError:
        raise
    except Exception as error:  # a broken workbook or CSV: say which file, not what is inside
        raise ReviewImportError(path.name, [f"the file cannot be read ({type(error).__name__}): save it again as .csv or .xlsx"]) from None
    frame.columns = [unicodedata.normalize("NFKC", str(c)).strip().lstrip("\ufeff") for c in frame.columns]
    frame = frame.fillna("")
    blank = np.logical_and.reduce([frame[c].astype(str).str.strip().eq("").to_numpy() for c in frame.columns]) if len(frame.columns) else np.array([], bool)
    frame["_line"] = np.arange(len(frame)) + 2
    return frame.loc[~blank].reset_index(drop=True)


def detect_table(frame: pd.DataFrame) -> tuple[str, str] | None:
    """(job, table) from the columns the pipeline writes."""
    columns = set(frame.columns)
    if "candidate_type" in columns:
        return "crosscheck", "inclusion_candidates"
    if {"field", "discrepancy_type"} <= columns:
        return "crosscheck", "discrepancies"
    if "relief_type" in columns:
        return "health-match", "relief_candidates"
    if "match_probability" in columns:
        return ("health-match" if "health_row" in columns else "crosscheck"), "matches"
    return None


def _stored_items(con, run_id: str, table: str) -> pd.DataFrame:
    return con.execute("SELECT * FROM items WHERE run_id = ? AND table_name = ?", [run_id, table]).df()


def _checked_columns(con, run_id: str, table: str) -> list[str]:
    found = fetch_one(con, "SELECT checked_columns FROM run_tables WHERE run_id = ? AND table_name = ?", [run_id, table])
    return found[0].split(ATTR_SEPARATOR) if found else []


def _agreement(frame: pd.DataFrame, items: pd.DataFrame, columns: list[str], table: str) -> pd.DataFrame:
    """File rows joined to a run's stored rows, with which checked columns differ."""
    keys = row_keys(frame, table) if all(c in frame for c in columns if c.endswith("_row")) else pd.Series("", index=frame.index)
    left = pd.DataFrame({"_pos": np.arange(len(frame)), "row_key": keys.to_numpy()})
    joined = left.merge(items, on="row_key", how="left")
    stored = joined["attrs"].fillna("").str.split(ATTR_SEPARATOR, expand=True, regex=False) if len(joined) else pd.DataFrame()
    differs = pd.DataFrame(index=joined.index)
    for i, column in enumerate(columns):
        if column in frame and i in stored.columns:
            differs[column] = joined["attrs"].notna() & (cell_text(frame[column]).to_numpy()[joined["_pos"]] != stored[i].fillna("").to_numpy())
    joined["_differs"] = differs.any(axis=1) if len(differs.columns) else False
    return joined, differs


def _choose_run(con, frame: pd.DataFrame, job: str, table: str, run_id: str | None, period: str | None, file: str) -> str:
    """The run the file came from: its 批次 column, --run, or the run whose rows agree best with the file."""
    if run_id is None and RUN_COLUMN in frame:
        values = set(cell_text(frame[RUN_COLUMN])) - {""}
        if len(values) > 1:
            raise ReviewImportError(file, [f"column {RUN_COLUMN} mixes several runs: import each run's list separately"])
        run_id = values.pop() if values else None
    if run_id is not None:
        found = fetch_one(con, "SELECT job FROM runs WHERE run_id = ?", [run_id])
        if not found:
            raise ReviewImportError(file, [f"run {run_id} is not in the history store: record the run first (reliefmatch record OUT_DIR)"])
        if found[0] != job:
            raise ReviewImportError(file, [f"run {run_id} is a {found[0]} run, but the file is a {job} list ({table})"])
        return run_id
    query = "SELECT run_id FROM runs WHERE job = ?" + (" AND period = ?" if period else "") + " ORDER BY period DESC, seq DESC"
    candidates = [r[0] for r in con.execute(query, [job, period] if period else [job]).fetchall()]
    if not candidates:
        raise ReviewImportError(file, [f"no recorded {job} run{' for ' + period if period else ''}: record the run first (reliefmatch record OUT_DIR)"])
    best, best_score = candidates[0], -1
    for candidate in candidates[:24]:
        joined, _ = _agreement(frame, _stored_items(con, candidate, table), _checked_columns(con, candidate, table), table)
        score = int((joined["attrs"].notna() & ~joined["_differs"]).sum())
        if score > best_score:
            best, best_score = candidate, score
    return best


def _validate(frame: pd.DataFrame, items: pd.DataFrame, columns: list[str], table: str, file: str) -> tuple[pd.DataFrame, list[str]]:
    problems: list[str] = []
    lines = frame["_line"].to_numpy()
    missing = [c for c in columns + ["复核结论"] if c not in frame.columns]
    if missing:
        return pd.DataFrame(), [f"column {c} is missing: keep the columns of the list as written" for c in missing]
    joined, differs = _agreement(frame, items, columns, table)
    rows_blank = np.logical_and.reduce([cell_text(frame[c]).eq("").to_numpy() for c in columns if c.endswith("_row")])
    for pos in np.flatnonzero(rows_blank):
        problems.append(f"row {lines[pos]}: the row-number columns are blank; do not clear them")
    duplicated = joined["row_key"].duplicated(keep="first") & ~rows_blank[joined["_pos"]]
    for pos in joined.loc[duplicated, "_pos"]:
        problems.append(f"row {lines[pos]}: the same candidate appears twice; keep one row per candidate")
    unknown = joined["attrs"].isna() & ~rows_blank[joined["_pos"]]
    for pos in joined.loc[unknown, "_pos"]:
        problems.append(f"row {lines[pos]}: not in this run's list (a row was added or its row numbers edited)")
    for column in differs.columns:
        for pos in joined.loc[differs[column] & ~unknown, "_pos"]:
            problems.append(f"row {lines[pos]}: column {column} was edited; only 复核结论, 复核人 and 备注 may be changed")
    conclusion = cell_text(frame["复核结论"]).map(lambda v: unicodedata.normalize("NFKC", v).strip())
    reviewer = cell_text(frame["复核人"]) if "复核人" in frame else pd.Series("", index=frame.index)
    bad = ~conclusion.isin(("",) + CONCLUSIONS)
    for pos in np.flatnonzero(bad.to_numpy()):
        problems.append(f"row {lines[pos]}: 复核结论 must be one of {' / '.join(CONCLUSIONS)} (or left blank)")
    no_reviewer = conclusion.isin(CONCLUSIONS) & reviewer.eq("")
    for pos in np.flatnonzero(no_reviewer.to_numpy()):
        problems.append(f"row {lines[pos]}: 复核结论 is given but 复核人 is blank; name who reviewed it")
    joined["conclusion"] = conclusion.to_numpy()[joined["_pos"]]
    joined["reviewer"] = reviewer.to_numpy()[joined["_pos"]]
    joined["note"] = (cell_text(frame["备注"]) if "备注" in frame else pd.Series("", index=frame.index)).to_numpy()[joined["_pos"]]
    joined["_line"] = lines[joined["_pos"]]
    problems.sort(key=lambda text: int(text.split(":")[0].split()[1]) if text.startswith("row ") else 0)
    return joined, problems


def import_review(path: str | Path, store_path: str | Path | None = None, run_id: str | None = None,
                  period: str | None = None, decided_at: datetime | None = None) -> ImportSummary:
    """Validate a reviewed candidate list and store its decisions in one transaction (all or nothing)."""
    path = Path(path)
    file = path.name
    frame = read_review_file(path)
    found = detect_table(frame)
    if found is None:
        raise ReviewImportError(file, ["this is not a reliefmatch list: the columns written by the run "
                                       "(poverty_row, candidate_type, relief_type …) are missing"])
    job, table = found
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with connect(store_path) as con:
        chosen = _choose_run(con, frame, job, table, run_id, period, file)
        run_period = fetch_one(con, "SELECT period FROM runs WHERE run_id = ?", [chosen])[0]
        items = _stored_items(con, chosen, table)
        joined, problems = _validate(frame, items, _checked_columns(con, chosen, table), table, file)
        if problems:
            raise ReviewImportError(file, problems)
        summary = ImportSummary(file=file, table=table, run_id=chosen, period=run_period, rows=len(frame))
        if fetch_one(con, "SELECT 1 FROM decisions WHERE source_sha256 = ? AND run_id = ? LIMIT 1", [digest, chosen]):
            summary.already_imported = True
            return summary
        decided = joined[joined["conclusion"].isin(CONCLUSIONS)].copy()
        summary.decided = {c: int((decided["conclusion"] == c).sum()) for c in CONCLUSIONS}
        if decided.empty:
            return summary
        when = decided_at or datetime.now()
        con.begin()
        try:
            start = fetch_one(con, "SELECT coalesce(max(decision_id), 0) FROM decisions")[0]
            decided["decision_id"] = np.arange(start + 1, start + 1 + len(decided))
            decided["decided_at"] = when
            decided["source_file"] = file
            decided["source_sha256"] = digest
            con.register("new_decisions", decided)
            con.execute("""
                INSERT INTO decisions SELECT decision_id, job, table_name, identity, run_id, period, row_key,
                    conclusion, reviewer, note, decided_at, source_file, source_sha256,
                    civil_person, poverty_person, health_person, civil_fp, poverty_fp, health_fp,
                    match_probability, review_required FROM new_decisions""")
            con.unregister("new_decisions")
            con.commit()
        except BaseException:
            con.rollback()
            raise
    return summary


LATEST_DECISIONS = """
    SELECT * FROM decisions
    QUALIFY row_number() OVER (PARTITION BY job, table_name, identity ORDER BY decided_at DESC, decision_id DESC) = 1
"""


def current_decisions(con) -> pd.DataFrame:
    """The latest decision on each candidate or pair (a later import overrides an earlier one)."""
    return con.execute(LATEST_DECISIONS).df()


def _history(items: pd.DataFrame, decisions: pd.DataFrame, table: str, previous: set[str] | None) -> pd.DataFrame:
    """History columns for a run's stored rows (in their order).

    Only rows with a decision are merged with the decisions (one each: the latest per identity);
    the others, most of a month's matches, are blank. Merging all of a million-row run's items
    cost half a second, with no decision at all.
    """
    shown = {column: np.full(len(items), "", dtype=object) for column in HISTORY_COLUMNS[:4]}
    decided = items["identity"].isin(decisions["identity"]).to_numpy()
    if decided.any():
        merged = items.loc[decided, ["identity", *[f"{k}_fp" for k in KINDS]]].merge(
            decisions[["identity", "conclusion", "reviewer", "note", "decided_at", *[f"{k}_fp" for k in KINDS]]],
            on="identity", how="left", suffixes=("", "_decided"))
        label = merged["conclusion"].map(HISTORY_LABEL)
        if table == "matches":
            changed = np.zeros(len(merged), dtype=bool)
            for kind in KINDS:
                now, then = merged[f"{kind}_fp"], merged[f"{kind}_fp_decided"]
                changed |= (now.fillna("") != then.fillna("")).to_numpy()
            label = label.where(~(changed & merged["conclusion"].notna().to_numpy()), CHANGED_SINCE)
        decided_at = pd.to_datetime(merged["decided_at"]).dt.strftime("%Y-%m-%d %H:%M")
        for column, values in zip(shown, (label, merged["reviewer"], decided_at, merged["note"])):
            shown[column][decided] = values.fillna("").to_numpy(dtype=object)
    out = items[["row_key", "identity"]].reset_index(drop=True).assign(**shown)
    out["变化"] = NEW if previous is None else np.where(out["identity"].isin(previous), CONTINUING, NEW)
    return out


def _place_history(frame: pd.DataFrame, history: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """Review columns present, history columns right after them, old history columns replaced.

    Made from the columns as they are (frame and history by position): dropping, concatenating and
    reordering copied a million-row list's columns three times."""
    frame, history = by_position(frame), by_position(history)
    columns = [c for c in frame.columns if c not in HISTORY_COLUMNS]
    after = columns.index("explanation") + 1 if "explanation" in columns else len(columns)
    for offset, column in enumerate(c for c in REVIEW_COLUMNS if c not in columns):
        columns.insert(min(after + offset, len(columns)), column)
    anchor = max(columns.index(c) for c in REVIEW_COLUMNS) + 1
    ordered = [c for c in columns[:anchor] if c not in REVIEW_COLUMNS] + list(REVIEW_COLUMNS) + list(HISTORY_COLUMNS) + [
        c for c in columns[anchor:] if c not in REVIEW_COLUMNS]

    def filled(value: str) -> pd.Series:
        return pd.Series(np.full(len(frame), value, dtype=object), index=frame.index)

    source = {c: (frame[c] if c in frame.columns else filled("")) for c in columns} | {
        c: history[c] for c in HISTORY_COLUMNS if c != RUN_COLUMN} | {RUN_COLUMN: filled(run_id)}
    return pd.DataFrame({c: source[c] for c in ordered}, index=frame.index, copy=False)


def annotate_with_history(out_dir: str | Path, store_path: str | Path | None = None,
                          final_dir: str | Path | None = None,
                          once_stored: Callable[[], object] | None = None) -> pd.DataFrame:
    """Mark a finished run's lists with earlier decisions and 新增/延续; write and return the 已解决 list.

    Records the run first if needed (final_dir: see record_run). Adds 复核结论/复核人/备注 where missing (matches) and
    历史复核, 历史复核人, 复核时间, 历史备注, 变化, 批次 to each list's CSV and Parquet. once_stored: work that
    reads the store with this run in it (a report), done beside the marking; it is over when this returns.
    """
    out_dir = Path(out_dir)
    manifest = out_dir / "manifest.json"
    job = json.loads(manifest.read_text(encoding="utf-8")).get("job") if manifest.is_file() else None
    frames = {table: read_list(path) for table in JOB_TABLES.get(job, ())
              if (path := out_dir / f"{table}.parquet").is_file()}
    run_id = run_id_of(out_dir.resolve())
    with connect(store_path) as con:
        recorded = None if is_recorded(con, run_id) else run_record(out_dir, final_dir, tables=frames)
    with ThreadPoolExecutor(1, thread_name_prefix="record-run") as beside:
        # the run's items are stored (DuckDB, without the GIL) while its lists are marked and written
        stored = beside.submit(recorded.store, store_path) if recorded is not None else None
        after = beside.submit(once_stored) if once_stored is not None else None  # the same thread: once stored
        resolved = _mark_history(out_dir, store_path, run_id, recorded, frames)
        for work in (stored, after):
            if work is not None:
                work.result()
    return resolved


def _mark_history(out_dir: Path, store_path: str | Path | None, run_id: str, recorded: RunRecord | None,
                  frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """annotate_with_history once the run's record is made (recorded: None if it was stored before)."""
    from matchers.outputs import write_table

    resolved_frames = []
    with connect(store_path) as con:
        if recorded is None:
            job = fetch_one(con, "SELECT job FROM runs WHERE run_id = ?", [run_id])[0]
            before = previous_run(con, run_id)
        else:  # being stored beside: the previous run is the latest one stored
            job, before = recorded.job, latest_run_before(con, recorded.job, recorded.period, run_id)
        decisions = current_decisions(con)
        decisions = decisions[decisions["job"] == job]
        for table in JOB_TABLES[job]:
            parquet = out_dir / f"{table}.parquet"
            if not parquet.is_file():
                continue
            frame = frames[table] if table in frames else pd.read_parquet(parquet)
            items = _stored_items(con, run_id, table) if recorded is None else recorded.table_items[table]
            previous_items = _stored_items(con, before, table) if before else None
            previous = set(previous_items["identity"]) if previous_items is not None else None
            history = _history(items, decisions[decisions["table_name"] == table], table, previous)
            if recorded is None or len(items) != len(frame):  # stored rows: found by their row keys
                keys = row_keys(frame, table)
                history = history.drop_duplicates("row_key").set_index("row_key").reindex(keys.to_numpy())
            # else: the items were made from this frame, row for row (table_items): history is in its order already
            write_table(_place_history(frame, by_position(history), run_id), out_dir, table)
            if previous_items is not None and table in CANDIDATE_TABLES:
                gone = previous_items[~previous_items["identity"].isin(set(items["identity"]))]
                if len(gone):
                    resolved_frames.append(_resolved_rows(con, gone, before, table, decisions[decisions["table_name"] == table]))
    resolved = pd.concat(resolved_frames, ignore_index=True) if resolved_frames else pd.DataFrame(
        columns=["列表", "变化", "上期期间", "上期批次"])
    write_table(resolved, out_dir, "resolved_candidates")
    return resolved


def _resolved_rows(con, gone: pd.DataFrame, before: str, table: str, decisions: pd.DataFrame) -> pd.DataFrame:
    """Last run's rows that are no longer listed, with their display columns if that run's folder still exists."""
    period, out_dir = fetch_one(con, "SELECT period, out_dir FROM runs WHERE run_id = ?", [before])
    shown = None
    parquet = Path(out_dir or "") / f"{table}.parquet"
    if parquet.is_file():
        earlier = pd.read_parquet(parquet)
        earlier = earlier.drop(columns=[c for c in HISTORY_COLUMNS if c in earlier.columns])
        earlier["row_key"] = row_keys(earlier, table).to_numpy()
        shown = gone[["row_key", "identity"]].merge(earlier, on="row_key", how="left")
    if shown is None:
        shown = gone[["row_key", "identity", *[f"{k}_row" for k in KINDS if gone[f"{k}_row"].notna().any()]]].copy()
        spec = TABLES[table]
        shown[spec.item_type] = gone["item_type"].to_numpy()
    history = _history(gone, decisions, table, None).drop(columns=["变化"])
    shown = shown.merge(history.drop(columns=["identity"]), on="row_key", how="left")
    shown.insert(0, "上期批次", before)
    shown.insert(0, "上期期间", period)
    shown.insert(0, "变化", RESOLVED)
    shown.insert(0, "列表", TABLE_TITLES[table])
    return shown.drop(columns=["row_key", "identity"])


def rejected_pairs(store_path: str | Path | None, left_kind: str, right_kind: str) -> pd.DataFrame:
    """Pairs whose latest decision is 否决: person keys and the record fingerprints at the time."""
    columns = ["left_person_key", "right_person_key", "left_fingerprint", "right_fingerprint"]
    if left_kind not in KINDS or right_kind not in KINDS or left_kind == right_kind:
        raise ValueError("left_kind and right_kind must be two of civil, poverty, health")
    path = Path(store_path) if store_path else None
    from matchers.store import default_store_path

    if not (path or default_store_path()).exists():
        return pd.DataFrame(columns=columns)
    with connect(store_path) as con:
        found = con.execute(f"""
            SELECT {left_kind}_person, {right_kind}_person, {left_kind}_fp, {right_kind}_fp
            FROM ({LATEST_DECISIONS}) WHERE table_name = 'matches' AND conclusion = '否决'
              AND {left_kind}_person IS NOT NULL AND {right_kind}_person IS NOT NULL""").df()
    found.columns = columns
    return found.drop_duplicates().reset_index(drop=True)


def drop_rejected_pairs(pairs: pd.DataFrame, left_kind: str, right_kind: str, left_records: pd.DataFrame,
                        right_records: pd.DataFrame, rejected: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Pairs minus those an analyst rejected, unless one of the two records has changed since.

    Fingerprints (a fast vectorised hash) narrow the pairs first; person keys (an HMAC each) are
    computed only for the few pairs whose two records are unchanged since some rejection.
    """
    if pairs.empty or rejected.empty:
        return pairs, 0
    left_row, right_row = f"{left_kind}_row", f"{right_kind}_row"
    rows = pairs[[left_row, right_row]].astype("int64")
    left_fp = _fingerprint_lookup(left_records, left_row, rows[left_row])
    right_fp = _fingerprint_lookup(right_records, right_row, rows[right_row])
    suspect = left_fp.isin(set(rejected["left_fingerprint"])).to_numpy() & right_fp.isin(set(rejected["right_fingerprint"])).to_numpy()
    if not suspect.any():
        return pairs, 0
    few = rows[suspect]
    left = record_identities(left_records, left_kind, rows=few[left_row].unique()).rename(columns={
        f"{left_kind}_person": "left_person_key", f"{left_kind}_fp": "left_fingerprint"})
    right = record_identities(right_records, right_kind, rows=few[right_row].unique()).rename(columns={
        f"{right_kind}_person": "right_person_key", f"{right_kind}_fp": "right_fingerprint"})
    keyed = few.reset_index().merge(left[[left_row, "left_person_key", "left_fingerprint"]], on=left_row, how="left").merge(
        right[[right_row, "right_person_key", "right_fingerprint"]], on=right_row, how="left")
    hit = keyed.merge(rejected.drop_duplicates().assign(_rejected=True), how="inner",
                      on=["left_person_key", "right_person_key", "left_fingerprint", "right_fingerprint"])
    drop = pairs.index.isin(hit["index"])
    return pairs.loc[~drop].reset_index(drop=True), int(drop.sum())


def _fingerprint_lookup(records: pd.DataFrame, row: str, wanted: pd.Series) -> pd.Series:
    """Fingerprints of the records at the given row numbers (computed for those records only)."""
    subset = records[records[row].isin(wanted.unique())]
    table = pd.Series(fingerprints(subset, FINGERPRINT_COLUMNS).to_numpy(), index=subset[row].astype("int64").to_numpy())
    return wanted.map(table)


@dataclass
class ReviewStats:
    labelled: int
    confirmed: int
    rejected: int
    lower: float
    upper: float
    bands: pd.DataFrame
    suggested_lower: float | None
    suggested_upper: float | None
    target: float
    note: str


def _wilson_low(successes: int, n: int, z: float = 1.96) -> float:
    if n == 0:
        return float("nan")
    p = successes / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - margin) / (1 + z * z / n)


def _smallest_threshold(prob: np.ndarray, label: np.ndarray, target: float, min_count: int) -> float | None:
    """The lowest cut-off at which the labelled pairs at or above it reach the target precision."""
    order = np.argsort(-prob, kind="stable")
    p, y = prob[order], label[order]
    counts = np.arange(1, len(p) + 1)
    precision = np.cumsum(y) / counts
    last_of_value = np.r_[p[1:] != p[:-1], True]
    ok = (precision >= target) & (counts >= min_count) & last_of_value
    return float(p[np.flatnonzero(ok)[-1]]) if ok.any() else None


def review_stats(store_path: str | Path | None = None, target: float = 0.98, upper_target: float = 0.995,
                 min_labels: int = 20, settings_name: str = "chinese_rosters") -> ReviewStats:
    """Measured precision of the linkage at the current thresholds, from confirmed and rejected pairs."""
    from matchers.linkage import load_settings

    decision = load_settings(settings_name).decision
    with connect(store_path, read_only=False) as con:
        labels = con.execute(f"""
            SELECT conclusion, match_probability, review_required FROM ({LATEST_DECISIONS})
            WHERE table_name = 'matches' AND conclusion IN ('确认', '否决') AND match_probability IS NOT NULL""").df()
    prob = labels["match_probability"].to_numpy(dtype=float)
    good = (labels["conclusion"] == "确认").to_numpy()
    bands = []
    for name, mask in (
        (f"p ≥ {decision.lower:g} (all links)", prob >= decision.lower),
        (f"{decision.lower:g} ≤ p < {decision.upper:g} (review band)", (prob >= decision.lower) & (prob < decision.upper)),
        (f"p ≥ {decision.upper:g} (no review)", prob >= decision.upper),
    ):
        n, ok = int(mask.sum()), int(good[mask].sum())
        bands.append({"band": name, "labelled": n, "confirmed": ok, "rejected": n - ok,
                      "precision": ok / n if n else float("nan"), "precision_95_low": _wilson_low(ok, n)})
    enough = len(labels) >= min_labels
    note = ("analysts review mostly flagged pairs, so these labels over-represent hard cases: "
            "precision on all links is likely higher than measured here")
    if not enough:
        note = f"only {len(labels)} labelled pairs; at least {min_labels} are needed before a threshold is suggested"
    return ReviewStats(
        labelled=len(labels), confirmed=int(good.sum()), rejected=int((~good).sum()),
        lower=decision.lower, upper=decision.upper, bands=pd.DataFrame(bands),
        suggested_lower=_smallest_threshold(prob, good, target, min_labels) if enough else None,
        suggested_upper=_smallest_threshold(prob, good, upper_target, min_labels) if enough else None,
        target=target, note=note)


def format_stats(stats: ReviewStats) -> str:
    """The stats as printed by `reliefmatch review stats` (counts and rates only)."""
    lines = [f"labelled pairs: {stats.labelled} (confirmed {stats.confirmed}, rejected {stats.rejected})",
             f"current thresholds: link at p ≥ {stats.lower:g}; links below p {stats.upper:g} are flagged for review"]
    for band in stats.bands.to_dict(orient="records"):
        precision = "—" if band["labelled"] == 0 else f"{band['precision']:.3f} (95% lower bound {band['precision_95_low']:.3f})"
        lines.append(f"  {band['band']:<36} labelled {band['labelled']:>6}  precision {precision}")
    if stats.suggested_lower is not None:
        lines.append(f"suggested link threshold for precision ≥ {stats.target:g}: {stats.suggested_lower:.4f}"
                     + (" (current is fine)" if stats.suggested_lower <= stats.lower else ""))
    if stats.suggested_upper is not None:
        lines.append(f"suggested no-review threshold: {stats.suggested_upper:.4f}")
    if stats.labelled and stats.suggested_lower is None and "needed" not in stats.note:
        lines.append(f"no threshold reaches precision {stats.target:g} on the labelled pairs: review the rejected pairs' explanations")
    lines.append(f"note: {stats.note}")
    return "\n".join(lines)


__all__ = [
    "ImportSummary", "ReviewImportError", "ReviewStats", "annotate_with_history", "current_decisions",
    "drop_rejected_pairs", "format_stats", "import_review", "read_review_file", "rejected_pairs", "review_stats",
]
