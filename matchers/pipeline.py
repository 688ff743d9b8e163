"""File-in, file-out steps of the two jobs. The flows wrap each step as a task and pass paths.

Standardised rosters are cached by the input file's SHA-256, so the biweekly health run reuses
the month's civil and poverty rosters instead of standardising them again.
"""
from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import shutil
import threading
import uuid
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Collection

import numpy as np
import pandas as pd

from matchers.columnar import is_arrow_text, python_text, read_columns, to_pandas
from matchers.outputs import make_private_dir, sha256_file, write_json
from matchers.privacy import mask_id_numbers, person_key_secret, person_keys
from schemas.rosters import SCHEMA_DIR, roster_schema

Progress = Callable[[str], None]
STANDARDISER_MODULES = ("ids", "names", "addresses", "dates", "phones", "standardise", "validation")


def standardiser_version() -> str:
    """Hash of the code and data that shape a standardised, validated roster: a change invalidates the cache."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in STANDARDISER_MODULES:
        digest.update((here / f"{name}.py").read_bytes())
    for suite in sorted((here.parent / "expectations").glob("*.json")):
        digest.update(suite.read_bytes())
    for path in sorted(SCHEMA_DIR.glob("*.csv")) + [SCHEMA_DIR / "rosters.yaml", SCHEMA_DIR / "readers.py"]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class IngestResult:
    kind: str
    source: str
    sha256: str
    file_format: str
    encoding: str | None
    header_row: int
    rows_read: int
    rows_used: int
    rows_rejected: int
    trailing_blank_rows: int
    unmapped_headers: list[str]
    records_path: str
    rejects_path: str
    validation: dict[str, Any] = field(default_factory=dict)
    docs_path: str | None = None
    from_cache: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ISOLATE_BYTES = 32 * 2**20  # an export this big standardises in a process of its own: two rosters, two cores
ISOLATE_ROWS = 100_000  # validating or linking fewer rows, spawning a process (imports) costs more than it saves
HALVES_BYTES = 96 * 2**20  # about 500,000 rows: on a smaller export a helper's start-up eats what the halves save


def ingest_roster(path: str | Path, kind: str, cache_dir: Path, sheet: str | None = None,
                  validate: bool = True, progress: Progress | None = None,
                  isolate: bool | None = None, halves: bool = False) -> IngestResult:
    """Read, standardise and validate one roster, or reuse the cached result for the same bytes.

    isolate: do the work in a child process (default: for exports of ISOLATE_BYTES or more), so
    that callers ingesting several rosters from threads use every core.
    halves: standardise an export of HALVES_BYTES or more in two halves at once (see _build_entry);
    for the roster that sets a run's pace, the longest one.
    """
    path = Path(path)
    roster_schema(kind)  # an unknown kind fails before any work
    if not path.is_file():
        from schemas.errors import InputError
        raise InputError(str(path), "the file does not exist" if not path.exists() else "this is not a file",
                         f"Check the --{kind} path")
    digest, entry = _cache_entry(path, kind, cache_dir, sheet)
    ahead = _take_ahead(entry)
    if ahead is not None:  # standardising since before the flow started (standardise_ahead)
        child, building = ahead
        if progress:
            progress(f"standardising {kind} roster (started while the flow was starting)")
        try:
            result = building.result()
        finally:
            child.shutdown(wait=False)
    elif (entry / "ingest.json").exists():
        result = IngestResult(**json.loads((entry / "ingest.json").read_text(encoding="utf-8")))
        result.source, result.from_cache = str(path), True
    else:
        halves = halves and _worth_halves(path)
        if isolate if isolate is not None else path.stat().st_size >= ISOLATE_BYTES:
            result = in_child_process(_build_entry, path, kind, digest, entry, sheet, halves, progress=progress)
        else:
            result = _build_entry(path, kind, digest, entry, sheet, halves, progress)
    return validate_roster(result, progress=progress, isolate=isolate) if validate else result


def _worth_halves(path: Path) -> bool:
    return path.stat().st_size >= HALVES_BYTES


def _cache_entry(path: Path, kind: str, cache_dir: Path, sheet: str | None) -> tuple[str, Path]:
    """The file's sha256 and the cache folder of its standardised roster (by content, standardiser and sheet)."""
    digest = _file_digest(str(path), *_stamp(path))
    name = f"{kind}-{digest[:24]}-{standardiser_version()}{'-' + sheet if sheet else ''}"
    return digest, make_private_dir(cache_dir) / name


def _stamp(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_size, status.st_mtime_ns


@functools.lru_cache(maxsize=16)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a file, once per process while its size and modification time stay the same."""
    return sha256_file(Path(path))


_ahead: dict[str, tuple["ChildProcess", Future]] = {}  # cache entry -> its standardising, started by standardise_ahead
_ahead_lock = threading.Lock()


def longest_roster(rosters: dict[str, str | Path]) -> str | None:
    """The roster whose standardising sets the pace of a run (the others finish first): the biggest file."""
    sizes = {kind: Path(path).stat().st_size for kind, path in rosters.items() if Path(path).is_file()}
    return max(sizes, key=lambda kind: (sizes[kind], kind)) if sizes else None


def standardise_ahead(rosters: dict[str, str | Path], cache_dir: Path,
                      sheets: dict[str, str] | None = None) -> list[str]:
    """Start standardising each big roster that is not cached yet, in a child process; returns their kinds.

    For a caller with a moment to wait (the CLI, while Prefect's API boots: two to three seconds
    with a core idle). ingest_roster on the same file then waits for that work instead of starting
    it; work no flow asked for still completes its cache entry before the process exits.
    """
    big = {kind: Path(path) for kind, path in rosters.items()
           if Path(path).is_file() and Path(path).stat().st_size >= ISOLATE_BYTES}
    longest = longest_roster(big)
    started = []
    for kind, path in big.items():
        sheet = (sheets or {}).get(kind)
        digest, entry = _cache_entry(path, kind, cache_dir, sheet)
        with _ahead_lock:
            if (entry / "ingest.json").exists() or str(entry) in _ahead:
                continue
            child = ChildProcess(f"ingest-{kind}")
            halves = kind == longest and _worth_halves(path)
            _ahead[str(entry)] = (child, child.submit(_build_entry, path, kind, digest, entry, sheet, halves, None))
        started.append(kind)
    if started:
        atexit.register(_finish_ahead)
    return started


def _take_ahead(entry: Path) -> tuple["ChildProcess", Future] | None:
    with _ahead_lock:
        return _ahead.pop(str(entry), None)


def _finish_ahead() -> None:
    with _ahead_lock:
        left = list(_ahead.values())
        _ahead.clear()
    for child, _ in left:
        child.close()  # waits: the cache entry is then complete for the next run


_child_messages: Any = None  # in a child process: the queue its progress messages go to


def _child_started(messages: Any, niceness: int) -> None:
    global _child_messages
    _child_messages = messages
    if niceness and hasattr(os, "nice"):
        os.nice(niceness)


def _child_progress(message: str) -> None:
    _child_messages.put(message)


class ChildProcess(Executor):
    """A spawned process that runs steps one after another, its progress messages relayed to each caller.

    CPU-bound pandas work holds the GIL: two rosters (or two links) use two cores only from two
    processes. Kept for several steps, the child pays its imports (Great Expectations: seconds) once.
    Arguments and results cross as pickles, so steps take and return paths and counts.
    """

    def __init__(self, name: str = "child", niceness: int = 0) -> None:
        """niceness: lower the child's CPU priority, for work that must not slow the critical path."""
        self.name = name
        self.niceness = niceness
        self._lock = threading.Lock()  # one run() at a time: the relay knows whose progress it carries
        self._caller_idle = threading.Event()  # see run_queued_here
        self._pool_lock = threading.Lock()  # starting and stopping the pool
        self._progress: Progress | None = None
        self._pool: Any = None
        self._messages: Any = None
        self._relaying: threading.Thread | None = None

    def _start(self) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("spawn")
        self._messages = context.SimpleQueue()
        self._relaying = threading.Thread(target=self._relay, name=f"relay-{self.name}", daemon=True)
        self._relaying.start()
        self._pool = ProcessPoolExecutor(1, mp_context=context, initializer=_child_started,
                                         initargs=(self._messages, self.niceness))

    def _relay(self) -> None:
        while (message := self._messages.get()) is not None:
            if self._progress:
                self._progress(message)

    def run(self, step: Callable[..., Any], *args: Any, progress: Progress | None = None, or_here: bool = False,
            **kwargs: Any) -> Any:
        """step(*args, progress=..., **kwargs) in the child (started on first use).

        or_here: if, while the step still waits for the child, the caller declares it has a core
        to spare (run_queued_here), the step runs in the calling process instead."""
        while not self._lock.acquire(timeout=0.05 if or_here else -1):
            if self._caller_idle.is_set():
                return step(*args, progress=progress, **kwargs)
        try:
            self._progress = progress
            return self.submit(step, *args, progress=_child_progress if progress else None, **kwargs).result()
        finally:
            self._progress = None
            self._lock.release()

    def run_queued_here(self) -> None:
        """The caller now only waits for this child: steps queued with or_here, and later ones, run in its process.

        The flow's validation process validates and keys the rosters one after another; once the
        lists are written the flow's own process is idle, and a roster's keys still waiting their
        turn are computed there, beside the child's last validation."""
        self._caller_idle.set()

    def submit(self, step: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """step(*args, **kwargs) in the child, without waiting (no progress relayed): work beside the caller's.

        It queues behind the step running now and does not wait for a run() to end."""
        with self._pool_lock:
            if self._pool is None:
                self._start()
            return self._pool.submit(step, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """wait=False: the child finishes its steps and exits while the caller goes on.

        A child that has done its work still takes a few tenths of a second to free a roster's
        memory and exit; the caller need not wait for that (interpreter exit does)."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)
                self._messages.put(None)
                if wait:
                    self._relaying.join()
                self._pool = None

    def close(self) -> None:
        self.shutdown(wait=True)

    def __exit__(self, *exc: object) -> None:
        """Leaving a with block lets the child go: it finishes its steps and exits on its own (shutdown(wait=False))."""
        self.shutdown(wait=False)


def in_child_process(step: Callable[..., Any], *args: Any, progress: Progress | None = None, **kwargs: Any) -> Any:
    """step(*args, progress=..., **kwargs) in a process of its own, spawned for this step only."""
    with ChildProcess(step.__name__) as child:
        return child.run(step, *args, progress=progress, **kwargs)


def _build_entry(path: Path, kind: str, digest: str, entry: Path, sheet: str | None, halves: bool,
                 progress: Progress | None) -> IngestResult:
    """The cache entry of one roster, built aside and renamed into place when complete (validate_roster adds its checks).

    halves: the second half of the rows is standardised by a helper process at the same time,
    started before the file is read so that its imports overlap the reading.
    """
    import pyarrow.parquet as pq

    from schemas.readers import read_roster

    def read() -> Any:
        if progress:
            progress(f"reading {kind} roster")
        raw = read_roster(path, roster_schema(kind), sheet=sheet)
        if progress:
            progress(f"standardising {kind} roster ({raw.rows_read:,} rows{', in two halves' if halves else ''})")
        return raw

    building = make_private_dir(entry.parent / f".{entry.name}.building-{uuid.uuid4().hex[:8]}")
    try:
        if halves:
            with ChildProcess(f"standardise-{kind}") as helper:
                helper.submit(_load_standardiser)
                raw = read()
                standard = standardise_in_halves(raw, helper, building)
        else:
            from matchers.standardise import standardise_roster  # not imported when every roster is cached

            raw = read()
            standard = standardise_roster(raw)
        # no column statistics: nothing filters the records by them, and on the 1M civil roster they were
        # 0.45 of the write's 1.56 s, while the link waits for the file
        pq.write_table(standard.table, building / "records.parquet", write_statistics=False)
        standard.rejects.to_parquet(building / "rejects.parquet", index=False)
        result = IngestResult(
            kind=kind, source=str(path), sha256=digest, file_format=raw.file_format, encoding=raw.encoding,
            header_row=raw.header_row, rows_read=raw.rows_read, rows_used=standard.table.num_rows,
            rows_rejected=len(standard.rejects), trailing_blank_rows=raw.trailing_blank_rows,
            unmapped_headers=raw.unmapped_headers, records_path=str(entry / "records.parquet"),
            rejects_path=str(entry / "rejects.parquet"),
        )
        write_json(result.to_dict(), building / "ingest.json")
        try:
            os.replace(building, entry)  # complete entries only: another run may have finished first
        except OSError:
            if not (entry / "ingest.json").exists():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return result


def _load_standardiser() -> Callable[..., Any]:
    """standardise_roster with its readings and division tables loaded (one sample value each).

    Imported only when a roster is not cached: pinyin and OpenCC take seconds to load.
    """
    from matchers.addresses import standardise_addresses
    from matchers.names import standardise_names
    from matchers.standardise import standardise_roster

    standardise_names(pd.Series(["张三"]))
    standardise_addresses(pd.Series(["吉林省长春市南关区"]))
    return standardise_roster


# The helper's part costs more than its rows: they go to it and its records come back as Arrow files,
# and it starts its work later. On the 1M bench crosscheck, with even halves this process waited
# 0.1-1.3 s for the helper; at 52% 0.2 s; at 55% the helper was done first. Once names and addresses
# were read in Arrow (03fdf35), at 53% the helper was done 0.5 s first; at 51% 0.2 and 1.1 s first.
HERE_SHARE = 0.51


def standardise_in_halves(raw: Any, helper: ChildProcess, work_dir: Path) -> Any:
    """standardise_roster on the first part of the rows (HERE_SHARE) here and on the rest in helper, joined.

    Standardising is row by row (values are cached per distinct value, not across rows), so the
    halves joined equal the whole; on two cores the longest roster is ready sooner. The helper's
    records come back as an Arrow file, read without a copy (a pickle would cost seconds).
    """
    import pyarrow as pa

    from matchers.standardise import StandardisedRoster, standardise_roster

    middle = int(len(raw.frame) * HERE_SHARE)
    rows, part = work_dir / "second-half-rows.arrow", work_dir / "second-half.arrow"
    # the helper's rows go as an Arrow file it maps: pickled through the pipe they cost 0.6 s of both processes
    _write_arrow(pa.Table.from_pandas(raw.frame.iloc[middle:], preserve_index=False), rows)
    second = helper.submit(_standardise_part, replace(raw, frame=raw.frame.iloc[:0]), str(rows), str(part))
    first = standardise_roster(replace(raw, frame=raw.frame.iloc[:middle]))
    rejects = second.result()
    rows.unlink()
    with pa.memory_map(str(part)) as source:
        rest = pa.ipc.open_file(source).read_all()
    part.unlink()  # POSIX: the mapping stays valid; the cache entry must not keep the file
    table = pa.concat_tables([first.table, rest], promote_options="default")
    return StandardisedRoster(raw.kind, table, pd.concat([first.rejects, rejects], ignore_index=True))


def _write_arrow(table: Any, path: Path | str) -> None:
    import pyarrow as pa

    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _standardise_part(raw: Any, rows_path: str, records_path: str) -> pd.DataFrame:
    """standardise_roster in a helper on the rows in rows_path (raw: their roster, without rows); the records
    to an Arrow file, the rejects returned."""
    import pyarrow as pa

    from matchers.standardise import standardise_roster
    from schemas.readers import TEXT

    with pa.memory_map(rows_path) as source:
        rows = pa.ipc.open_file(source).read_all()
    # the readers' text (TEXT) is the mapped Arrow data as it is, no copy; any other column as the roster had it
    frame = rows.to_pandas(types_mapper={pa.string(): TEXT, pa.large_string(): TEXT}.get).astype(raw.frame.dtypes.to_dict())
    standard = standardise_roster(replace(raw, frame=frame))
    _write_arrow(standard.table, records_path)
    return standard.rejects


def validate_roster(ingest: IngestResult, progress: Progress | None = None,
                    isolate: bool | None = None, child: ChildProcess | None = None) -> IngestResult:
    """Great Expectations on a standardised roster, once per cache entry (kept beside the records).

    ingest_roster(validate=True) ends with it; a flow calls it separately, to validate while it
    links. A cached roster's validation is reused. isolate: in a child process (default: 100,000
    rows or more): child, when given, else one spawned for this roster.
    """
    entry = Path(ingest.records_path).parent
    done = entry / "validation"
    marker = done / f"validation_{ingest.kind}.json"
    if not marker.exists():
        if isolate if isolate is not None else ingest.rows_used >= ISOLATE_ROWS:
            if child is not None:
                return child.run(validate_roster, ingest, progress=progress, isolate=False)
            return in_child_process(validate_roster, ingest, progress=progress, isolate=False)
        import pyarrow.parquet as pq

        from matchers.validation import suite_columns, validate_records

        if progress:
            progress(f"validating {ingest.kind} roster ({ingest.rows_used:,} rows)")
        # repeated text as Arrow dictionaries (categoricals): GX gets codes for repeated values without a
        # million Python strings being made and hashed first (validation._gx_column_of_categories)
        columns = suite_columns(ingest.kind, pq.read_schema(ingest.records_path).names)
        records = read_columns(ingest.records_path, columns,
                               categories=[c for c in columns if c not in PLAIN_TEXT_COLUMNS]).to_pandas()
        building = make_private_dir(entry / f".validation-building-{uuid.uuid4().hex[:8]}")
        try:
            validate_records(ingest.kind, records, building, build_docs=True)
            try:
                os.replace(building, done)  # complete results only: another run may have finished first
            except OSError:
                if not marker.exists():
                    raise
        finally:
            shutil.rmtree(building, ignore_errors=True)
    validation = json.loads(marker.read_text(encoding="utf-8"))
    docs = done / "data_docs"
    return replace(ingest, validation=validation, docs_path=str(docs) if docs.exists() else None)


def cache_person_keys(ingest: IngestResult, progress: Progress | None = None,
                      child: ChildProcess | None = None) -> str:
    """Person keys and fingerprints of every record, cached beside the records; returns their path.

    Recording a run reads them instead of hashing its matched records at the end of the run.
    child: where a big roster (ISOLATE_ROWS or more) is keyed.
    """
    if child is not None and ingest.rows_used >= ISOLATE_ROWS:
        return child.run(cache_person_keys, ingest, progress=progress, or_here=True)
    from matchers.store import cache_identities, identities_path

    if not identities_path(ingest.records_path).is_file() and progress:
        progress(f"keying {ingest.kind} records ({ingest.rows_used:,})")
    return str(cache_identities(ingest.records_path, ingest.kind))


def collect_rejects(ingests: list[IngestResult]) -> pd.DataFrame:
    """All rejected rows of a run, with the file they came from."""
    frames = []
    for ingest in ingests:
        rejects = pd.read_parquet(ingest.rejects_path)
        rejects.insert(0, "file", Path(ingest.source).name)
        frames.append(rejects)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["file", "file_kind", "row", "reason"])
    return out.sort_values(["file_kind", "row"], kind="stable").reset_index(drop=True)


def copy_validation(ingests: list[IngestResult], folder: Path) -> dict[str, Any]:
    """Validation summaries and Data Docs of the run's inputs, copied beside its outputs."""
    summaries = {}
    for ingest in ingests:
        summaries[ingest.kind] = ingest.validation
        if ingest.docs_path and Path(ingest.docs_path).exists():
            shutil.copytree(ingest.docs_path, folder / "data_docs", dirs_exist_ok=True)
    write_json(summaries, folder / "validation.json")
    return summaries


def input_accounting(ingest: IngestResult) -> dict[str, Any]:
    """The manifest's entry for one input; rows_read = rows_used + rows_rejected always."""
    return {
        "kind": ingest.kind,
        "path": ingest.source,
        "sha256": ingest.sha256,
        "format": ingest.file_format,
        "encoding": ingest.encoding,
        "header_row": ingest.header_row,
        "rows_read": ingest.rows_read,
        "rows_used": ingest.rows_used,
        "rows_rejected": ingest.rows_rejected,
        "trailing_blank_rows_ignored": ingest.trailing_blank_rows,
        "unmapped_headers": ingest.unmapped_headers,
        "validation_success": ingest.validation.get("success") if ingest.validation else None,
    }


LINKAGE_COLUMNS = {
    "id_number": "id_number", "id_status": "id_status", "id_prefix": "id_prefix", "birth_date": "birth_date",
    "id_county": "id_county", "name_norm": "name_norm", "name_pinyin": "name_pinyin", "name_nodot": "name_nodot",
    "surname": "surname", "given_name": "given_name", "county_code": "county_code", "addr_town": "town",
    "addr_village": "village", "addr_detail": "addr_detail", "addr_norm": "addr_norm", "phone_norm": "phone",
    # the health list's registered address (户籍地址); None on the lists that have none
    "registered_county_code": "reg_county_code", "reg_town": "reg_town", "reg_village": "reg_village",
    "reg_detail": "reg_detail", "reg_norm": "reg_norm",
}


def linkage_view(records: pd.DataFrame) -> pd.DataFrame:
    """The engine's input contract: record_key plus the standardised comparison columns.

    Every view has the same columns: one a roster lacks (a civil record has no registered
    address) is None throughout."""
    optional = ("registered_county_code", "reg_town", "reg_village", "reg_detail", "reg_norm")
    unknown = [c for c in LINKAGE_COLUMNS if c not in records.columns and c not in optional]
    if unknown:
        raise KeyError(f"standardised records lack linkage columns {unknown}")
    index = pd.RangeIndex(len(records))
    id_sex = records["sex_from_id"] if "sex_from_id" in records else pd.Series(None, index=index, dtype="object")
    sex = id_sex.astype("object").where(id_sex.notna(), None)
    unread = sex.isna().to_numpy()
    if "sex" in records and unread.any():  # the stated sex only where the ID does not say it
        stated = records["sex"][unread].astype(object).fillna("").astype(str).str.strip()
        sex[unread] = stated.where(stated.isin(["男", "女"]), None).to_numpy()
    columns = {"record_key": records["record_key"].array}
    for source, name in [*LINKAGE_COLUMNS.items(), ("sex", "sex"), ("household_id", "household_id")]:
        if source not in records and source != "sex":
            columns[name] = np.full(len(records), None, dtype=object)
            continue
        series = sex if source == "sex" else records[source]
        if isinstance(series.dtype, (pd.CategoricalDtype, pd.ArrowDtype)):
            values = series.array  # text read as a dictionary or kept in Arrow: the engine encodes it there
        elif series.dtype != object:
            values = series.astype("object").where(series.notna(), None).to_numpy()
        elif series.hasnans:  # NaN among text (a hand-made frame); Parquet gives None already
            values = series.where(series.notna(), None).to_numpy()
        else:
            values = series.to_numpy()
        columns[name] = values
    # built from the columns' arrays, not reindexed and renamed: each of those copied a million rows' columns
    return pd.DataFrame(columns, index=index, copy=False)


# Text with nearly as many distinct values as rows (keys, IDs and what is readable of them, phones,
# house numbers, households of a few members): read as plain text. As a dictionary such a column costs
# more (the 1M civil id_number: 1.1 s against 0.6 s): its values are hashed, and still made into as many
# Python strings.
# Every other text column is read as a dictionary (a categorical): each distinct value is made once.
PLAIN_TEXT_COLUMNS = frozenset({
    "record_key", "id_number", "id_prefix", "phone_norm", "addr_detail", "addr_norm", "reg_detail", "reg_norm",
    "household_id",
})


def _read_linkage_columns(records_path: str | Path) -> pd.DataFrame:
    """Only the columns linkage_view uses: the rosters' other columns are not converted to pandas."""
    wanted = ["record_key", *LINKAGE_COLUMNS, "sex", "sex_from_id", "household_id"]
    # repeated text as categoricals, the rest (IDs, phones, house numbers) as Arrow-backed columns: a million
    # Python strings per column are never made; the engine dictionary-encodes what it compares
    return to_pandas(read_columns(records_path, wanted, categories=[c for c in wanted if c not in PLAIN_TEXT_COLUMNS]),
                     arrow_text=None)


def link_rosters(left_records: str | Path, right_records: str | Path, left_row: str, right_row: str,
                 work_dir: Path, stem: str, model_path: str | Path | None = None,
                 progress: Progress | None = None, rejected: pd.DataFrame | None = None,
                 isolate: bool = False) -> dict[str, Any]:
    """Link two standardised rosters; writes the pairs, the trained model and the blocking report.

    rejected: the analysts' rejected pairs (review.rejected_pairs), if the caller has read them from the store.
    isolate: link in a child process, for callers running two links at once.
    """
    if isolate:
        return in_child_process(link_rosters, left_records, right_records, left_row, right_row, work_dir, stem,
                                model_path, progress=progress, rejected=rejected)
    from matchers.linkage import LinkageModel, link, load_settings

    settings = load_settings("chinese_rosters")
    left_linked, right_linked = _read_linkage_columns(left_records), _read_linkage_columns(right_records)
    left, right = linkage_view(left_linked), linkage_view(right_linked)
    del left_linked, right_linked
    model = LinkageModel.from_json(model_path) if model_path else None
    result = link(left, right, settings, model=model, progress=progress)
    del left, right
    pairs = result.pairs.rename(columns={"left_key": left_row, "right_key": right_row})
    from matchers.review import drop_rejected_pairs, rejected_pairs

    left_kind, right_kind = left_row.removesuffix("_row"), right_row.removesuffix("_row")
    if rejected is None:
        rejected = rejected_pairs(None, left_kind, right_kind)
    if rejected.empty or pairs.empty:  # nothing to drop: the whole rosters need not be read again
        rejected_dropped = 0
    else:
        pairs, rejected_dropped = drop_rejected_pairs(pairs, left_kind, right_kind, pd.read_parquet(left_records),
                                                      pd.read_parquet(right_records), rejected)
    pairs_path = work_dir / f"{stem}_pairs.parquet"
    pairs.to_parquet(pairs_path, index=False)
    trained_path = work_dir / f"{stem}_model.json"
    result.model.to_json(trained_path)
    blocking = result.blocking_report
    return {
        "pairs_path": str(pairs_path),
        "model_path": str(trained_path),
        "pairs": int(len(pairs)),
        "review_required": int(pairs["review_required"].sum()) if len(pairs) else 0,
        "rejected_pairs_dropped": int(rejected_dropped),
        "by_method": {str(k): int(v) for k, v in pairs["match_method"].value_counts().sort_index().items()},
        "blocking": blocking.to_dict(orient="records") if blocking is not None else [],
    }


RULE_COLUMNS = ("household_id", "relationship", "id_county", "registered_county_code",
                "report_county_code")  # besides the policy's category columns and the display fields
DISPLAY_TEXT = ("name", "id_number", "id_number_raw")  # shown to analysts, read by no rule


def read_for_rules(records_path: str | Path) -> pd.DataFrame:
    """The row numbers and the columns policy rules and the analysts' display read, nothing else.

    A standardised roster has about forty columns; converting the unused ones to pandas took
    seconds per million rows. The policy's category columns come as categoricals: a few distinct
    values each (households: one per two or three people), made into Python text once and
    cleaned once, however many rules read them.
    """
    from matchers.policy import CATEGORY_COLUMNS
    from schemas.policy import load_policy

    checks = [check["field"] for check in load_policy()["discrepancy"]["checks"]]
    shown = [column for fields in DISPLAY.values() for column in fields if column != "person_key"]
    wanted = {*RULE_COLUMNS, *CATEGORY_COLUMNS, *checks, *shown, *DISPLAY_TEXT}
    table = read_columns(records_path, lambda names: [c for c in names if c.endswith("_row") or c in wanted],
                         categories=CATEGORY_COLUMNS)
    # names and IDs stay Arrow text: the lists show a fraction of the rows (display_fields converts those)
    return to_pandas(table, arrow_text=DISPLAY_TEXT)


DISPLAY = {
    "civil": {"name": "民政姓名", "id_number": "民政身份证号", "person_key": "民政人员密钥", "assistance_type": "救助类别", "status": "保障状态"},
    "poverty": {"name": "扶贫姓名", "id_number": "扶贫证件号码", "person_key": "扶贫人员密钥", "household_type": "户类型"},
    "health": {"name": "感染者姓名", "id_number": "感染者身份证号", "person_key": "感染者人员密钥", "case_type": "病例类型", "outcome": "转归", "report_area": "报告地区"},
}
MATCH_COLUMNS = ["match_probability", "match_method", "review_required", "explanation"]


def display_fields(records: pd.DataFrame, kind: str, reveal_ids: bool) -> pd.DataFrame:
    """Columns analysts see for a person: name, ID (masked unless revealed) and categories."""
    row = roster_schema(kind).row_column
    wanted = DISPLAY[kind]
    arrow = [c for c in DISPLAY_TEXT if c in records and is_arrow_text(records[c])]  # read_for_rules keeps them in Arrow
    records = records.assign(**{c: python_text(records[c]) for c in arrow}) if arrow else records
    out = pd.DataFrame({row: records[row].astype("int64")})
    for column, header in wanted.items():
        if column == "id_number":
            ids = records["id_number"].where(records["id_number"].notna(), records["id_number_raw"])
            out[header] = ids.fillna("").astype(str) if reveal_ids else mask_id_numbers(ids)
        elif column == "person_key":
            secret = person_key_secret()
            if secret is not None:
                out[header] = person_keys(records["id_number"], secret)
        else:
            out[header] = _shown_text(records[column])
    return out


def _shown_text(values: pd.Series) -> pd.Series:
    """A category as shown to analysts: its text, blanks as ""; a categorical's categories are converted once."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        shown = np.append(values.cat.categories.astype(str).to_numpy(dtype=object), "")
        return pd.Series(shown[values.cat.codes.to_numpy()], index=values.index, dtype=object)
    return values.fillna("").astype(str)


def _referenced(records: pd.DataFrame, row: str, table: pd.DataFrame) -> pd.DataFrame:
    """The records a table refers to: display fields (masking, person keys) only for those."""
    if table.empty:
        return records
    return records[records[row].isin(pd.to_numeric(table[row], errors="coerce").dropna().unique())]


def match_table(pairs: pd.DataFrame, left: pd.DataFrame, right: pd.DataFrame, left_kind: str, right_kind: str,
                reveal_ids: bool) -> pd.DataFrame:
    left_row, right_row = roster_schema(left_kind).row_column, roster_schema(right_kind).row_column
    table = pairs[[left_row, right_row, *MATCH_COLUMNS]].copy()
    table["match_probability"] = table["match_probability"].round(6)
    table = table.merge(display_fields(_referenced(left, left_row, table), left_kind, reveal_ids), on=left_row, how="left")
    table = table.merge(display_fields(_referenced(right, right_row, table), right_kind, reveal_ids), on=right_row, how="left")
    if _in_row_order(table[left_row].to_numpy(), table[right_row].to_numpy()):
        return table.reset_index(drop=True)  # the linker's pairs come sorted, and left merges keep their order
    return table.sort_values([left_row, right_row]).reset_index(drop=True)


def _in_row_order(left: np.ndarray, right: np.ndarray) -> bool:
    """True when the (left, right) row pairs ascend, each pair after the one before it (then sorting moves none)."""
    before_left, after_left = left[:-1], left[1:]
    return bool(np.all((after_left > before_left) | ((after_left == before_left) & (right[1:] > right[:-1]))))


def with_display(frame: pd.DataFrame, records: dict[str, pd.DataFrame], reveal_ids: bool) -> pd.DataFrame:
    """Append the display fields of every roster a candidate row refers to."""
    out = frame
    for kind, recs in records.items():
        row = roster_schema(kind).row_column
        if row in out.columns:
            shown = display_fields(_referenced(recs, row, out), kind, reveal_ids)
            out = out.merge(shown, on=row, how="left") if out[row].dtype == "int64" else out.merge(
                shown.astype({row: "Int64"}), on=row, how="left")
    return out


def crosscheck_outputs(civil: IngestResult, poverty: IngestResult, civil_poverty: dict[str, Any], folder: Path,
                       health: IngestResult | None = None, health_poverty: dict[str, Any] | None = None,
                       reveal_ids: bool = False, csv_later: Collection[str] = ()) -> dict[str, Any]:
    """matches, inclusion_candidates and discrepancies of the monthly cross-check.

    csv_later: tables written as Parquet only, because the caller rewrites them (with the review
    history) right after; their CSV is written then.
    """
    from matchers import policy as rules
    from matchers.outputs import write_table as write_both
    from schemas.policy import load_policy

    def write_table(frame: pd.DataFrame, folder: Path, stem: str) -> dict[str, Any]:
        return write_both(frame, folder, stem, csv=stem not in csv_later)

    policy = load_policy()
    # the rosters are read, and each list written, beside the work on the next (Parquet and Arrow release the GIL)
    with ThreadPoolExecutor(2, thread_name_prefix="rules-io") as beside:
        reading = [beside.submit(read_for_rules, ingest.records_path) for ingest in (civil, poverty)]
        pairs = pd.read_parquet(civil_poverty["pairs_path"])
        health_recs = read_for_rules(health.records_path) if health else None
        hp_pairs = pd.read_parquet(health_poverty["pairs_path"]) if health_poverty else None
        civil_recs, poverty_recs = (read.result() for read in reading)
        writing = {"matches": beside.submit(write_table, match_table(pairs, civil_recs, poverty_recs, "civil", "poverty",
                                                                      reveal_ids), folder, "matches")}
        writing["inclusion_candidates"] = beside.submit(write_table, with_display(rules.inclusion_candidates(
            poverty_recs, civil_recs, pairs, policy, health_recs, hp_pairs), {"poverty": poverty_recs}, reveal_ids),
            folder, "inclusion_candidates")
        writing["discrepancies"] = beside.submit(write_table, with_display(rules.discrepancies(
            civil_recs, poverty_recs, pairs, policy), {"civil": civil_recs, "poverty": poverty_recs}, reveal_ids),
            folder, "discrepancies")
        return {name: done.result() for name, done in writing.items()}


def health_outputs(health: IngestResult, civil: IngestResult, poverty: IngestResult, health_civil: dict[str, Any],
                   health_poverty: dict[str, Any], folder: Path, reveal_ids: bool = False,
                   csv_later: Collection[str] = ()) -> dict[str, Any]:
    """matches, relief_candidates and household_members of the biweekly health matching (csv_later: as above)."""
    from matchers import policy as rules
    from matchers.outputs import write_table as write_both
    from schemas.policy import load_policy

    def write_table(frame: pd.DataFrame, folder: Path, stem: str) -> dict[str, Any]:
        return write_both(frame, folder, stem, csv=stem not in csv_later)

    policy = load_policy()
    health_recs = read_for_rules(health.records_path)
    civil_recs, poverty_recs = read_for_rules(civil.records_path), read_for_rules(poverty.records_path)
    hc = pd.read_parquet(health_civil["pairs_path"])
    hp = pd.read_parquet(health_poverty["pairs_path"])
    matches = pd.concat([
        match_table(hc, health_recs, civil_recs, "health", "civil", reveal_ids),
        match_table(hp, health_recs, poverty_recs, "health", "poverty", reveal_ids),
    ], ignore_index=True)
    for row in ("civil_row", "poverty_row"):
        matches[row] = matches[row].astype("Int64")
    lead = ["health_row", "civil_row", "poverty_row", *MATCH_COLUMNS]
    matches = matches[lead + [c for c in matches.columns if c not in lead]]
    matches = matches.sort_values(["health_row", "civil_row", "poverty_row"], na_position="last").reset_index(drop=True)
    relief = rules.relief_candidates(health_recs, civil_recs, poverty_recs, hc, hp, policy)
    members = rules.household_members(health_recs, civil_recs, poverty_recs, hc, hp, policy)
    everyone = {"health": health_recs, "civil": civil_recs, "poverty": poverty_recs}
    return {
        "matches": write_table(matches, folder, "matches"),
        "relief_candidates": write_table(with_display(relief, everyone, reveal_ids), folder, "relief_candidates"),
        "household_members": write_table(with_display(members, everyone, reveal_ids), folder, "household_members"),
    }
