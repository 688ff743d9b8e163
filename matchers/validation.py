"""Data-quality checks of standardised rosters with Great Expectations, reported without personal data.

The suites live as JSON in expectations/<kind>.json. Row-level problems never stop the pipeline:
they are counted and located by `<kind>_row`; the unexpected values themselves (names, IDs,
phones) are neither requested from GX nor kept in the summary or in the Data Docs HTML.
"""
from __future__ import annotations

import datetime as dt
import importlib.util
import json
import logging
import os
import re
import shutil
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Collection

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

EXPECTATIONS_ENV = "RELIEFMATCH_EXPECTATIONS_DIR"
MAX_REPORTED_ROWS = 20
DOCS_SITE = "reliefmatch"

# SUMMARY with exclude_unexpected_values: counts plus the positions of the first failing rows,
# never their values. Positions are mapped to `<kind>_row` here; asking GX for index columns
# instead makes it list every failing row (not the first 20) in a Python loop.
_RESULT_FORMAT = {
    "result_format": "SUMMARY",
    "partial_unexpected_count": MAX_REPORTED_ROWS,
    "exclude_unexpected_values": True,
    "include_unexpected_rows": False,
    "return_unexpected_index_query": False,
}
# Anything else GX may put in a result (partial_unexpected_list, unexpected_list, value counts,
# index queries, details) is dropped before the result is stored, rendered or written.
_KEPT_RESULT_KEYS = (
    "element_count",
    "unexpected_count",
    "unexpected_percent",
    "missing_count",
    "missing_percent",
    "unexpected_percent_total",
    "unexpected_percent_nonmissing",
)
_CONDITION_KEYS = ("row_condition", "condition_parser")
# Share of distinct values in a sample above which a text column stays object, not categorical.
_CATEGORICAL_MAX_DISTINCT = 0.5
_SAMPLE = 20_000
# GX keeps a process-wide "current context"; one validation at a time keeps runs from mixing.
_GX_LOCK = threading.Lock()


@dataclass(frozen=True)
class ExpectationOutcome:
    type: str
    column: str | None
    success: bool
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    mostly: float | None = None
    condition: str | None = None
    failing_rows: tuple[int, ...] = ()
    error: str | None = None
    why: str | None = None


@dataclass(frozen=True)
class ValidationSummary:
    kind: str
    success: bool
    evaluated: int
    successful: int
    unsuccessful: int
    row_count: int
    expectations: tuple[ExpectationOutcome, ...] = ()
    skipped: tuple[str, ...] = field(default=())
    seconds: float = 0.0
    data_docs_index: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), ensure_ascii=False))

    def failed(self) -> list[ExpectationOutcome]:
        return [e for e in self.expectations if not e.success]


def expectations_dir() -> Path:
    """Suites folder: $RELIEFMATCH_EXPECTATIONS_DIR, else expectations/ beside the matchers package."""
    override = os.environ.get(EXPECTATIONS_ENV)
    if override:
        return Path(override)
    import matchers

    return Path(matchers.__file__).resolve().parent.parent / "expectations"


def load_suite(kind: str) -> dict[str, Any]:
    """The suite of one roster kind as the JSON dict stored in expectations/<kind>.json."""
    path = expectations_dir() / f"{kind}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no expectation suite for roster kind {kind!r} at {path}")
    return json.loads(path.read_text(encoding="utf-8"))


def _row_column(kind: str, suite: dict[str, Any]) -> str:
    return str(suite.get("meta", {}).get("row_column") or f"{kind}_row")


def _gx_column(series: pd.Series) -> pd.Series:
    """Text with empty/whitespace cells made missing, in the cheapest dtype for GX to check.

    GX's pandas checks call isna, filter rows and cast to str several times per expectation.
    Low-cardinality columns become categorical (integer codes). The rest (IDs, phones, names)
    stay object: GX's uniqueness and regex checks convert Arrow strings back to Python objects.
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        from_codes = _gx_column_of_categories(series)
        if from_codes is not None:
            return from_codes
    values = series.to_numpy()
    if values.dtype != object or series.dtype != object:
        values = series.to_numpy(dtype=object, na_value=None)
    head = values[:_SAMPLE]
    if len(head) and len(pd.unique(head)) <= _CATEGORICAL_MAX_DISTINCT * len(head):
        codes, distinct = pd.factorize(values, use_na_sentinel=True)
        blank = np.fromiter((isinstance(v, str) and not v.strip() for v in distinct), dtype=bool, count=len(distinct))
        if blank.any():
            codes = np.where((codes >= 0) & blank[np.maximum(codes, 0)], -1, codes)
        return pd.Series(pd.Categorical.from_codes(codes, categories=pd.Index(distinct, dtype=object)))
    try:
        text = pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        text = pa.array(series.astype("string").to_numpy(dtype=object, na_value=None), type=pa.string())
    blank = pc.match_substring_regex(text, r"^[\s\p{Z}]*$").fill_null(False).to_numpy(zero_copy_only=False)
    if blank.any():
        values = values.copy()
        values[blank] = None
    return pd.Series(values, dtype=object)


def _gx_column_of_categories(series: pd.Series) -> pd.Series | None:
    """_gx_column of a categorical of text (a roster read as Arrow dictionaries), from its codes.

    The same result, with each distinct value looked at once instead of a million cells
    converted and hashed; None for categories that are not all text.
    """
    categories = series.cat.categories.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(categories, skipna=False) not in ("string", "empty"):
        return None
    codes = series.cat.codes.to_numpy()
    head = codes[:_SAMPLE]
    if len(head) and len(np.unique(head)) <= _CATEGORICAL_MAX_DISTINCT * len(head):
        present, first = np.unique(codes, return_index=True)
        used = present >= 0
        order = present[used][np.argsort(first[used], kind="stable")]  # as pd.factorize: by first appearance
        position = np.full(len(categories) + 1, -1, dtype=np.int64)
        position[order] = np.arange(len(order))
        distinct = categories[order]
        blank = np.fromiter((not v.strip() for v in distinct), dtype=bool, count=len(distinct))
        recoded = position[codes]
        if blank.any():
            recoded[blank[np.maximum(recoded, 0)]] = -1
        return pd.Series(pd.Categorical.from_codes(recoded, categories=pd.Index(distinct, dtype=object)))
    blank = pc.match_substring_regex(pa.array(categories, type=pa.string()), r"^[\s\p{Z}]*$").to_numpy(zero_copy_only=False)
    shown = np.append(np.where(blank, None, categories), None)
    return pd.Series(shown[codes], dtype=object)


def _frame_for_gx(records: pd.DataFrame, row_col: str, columns: list[str]) -> pd.DataFrame:
    """Only the columns the suite reads, blanks made missing, on a 0..n-1 index."""
    unique = records.loc[:, ~records.columns.duplicated()]
    view = {}
    for col in columns:
        series = unique[col]
        textual = (
            pd.api.types.is_object_dtype(series)
            or pd.api.types.is_string_dtype(series)
            or isinstance(series.dtype, pd.CategoricalDtype)
        )
        if col == row_col or not textual:
            view[col] = series.reset_index(drop=True)
        else:
            view[col] = _gx_column(series)
    return pd.DataFrame(view)


def _condition_columns(kwargs: dict[str, Any], present: set[str]) -> set[str]:
    """Columns a row_condition reads: GX 1.x condition dicts, or a legacy pandas query string."""
    condition = kwargs.get("row_condition")
    if not condition:
        return set()
    if isinstance(condition, str):
        return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", condition)) & present
    found: set[str] = set()
    stack: list[Any] = [condition]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            column = node.get("column")
            if isinstance(column, dict) and isinstance(column.get("name"), str):
                found.add(column["name"])
            if isinstance(node.get("pass_through_filter"), str):
                found |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", node["pass_through_filter"])) & present
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found & present


def _condition_text(condition: Any) -> str | None:
    if not condition:
        return None
    if isinstance(condition, str):
        return condition
    if hasattr(condition, "dict"):
        condition = condition.dict()
    return json.dumps(condition, ensure_ascii=False, sort_keys=True, default=str)


def _split_expectations(
    suite: dict[str, Any], present: set[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """(runnable, missing-column, skipped-optional) expectations for the columns present."""
    runnable, missing, skipped = [], [], []
    for exp in suite.get("expectations", []):
        column = exp.get("kwargs", {}).get("column")
        if column is None or column in present:
            runnable.append(exp)
        elif exp.get("meta", {}).get("optional_column"):
            skipped.append(f"{exp['type']}:{column}")
        else:
            missing.append(exp)
    return runnable, missing, skipped


def _column_groups(runnable: list[dict[str, Any]], row_col: str, present: set[str]) -> dict[tuple[str, ...], list[int]]:
    """Expectations grouped by the columns they read.

    GX filters its whole batch frame several times per expectation, so one batch per column
    group instead of one wide batch cuts the run about threefold on a million rows.
    """
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, exp in enumerate(runnable):
        kwargs = exp.get("kwargs", {})
        column = kwargs.get("column", row_col)
        extra = sorted(_condition_columns(kwargs, present) - {column})
        groups.setdefault((column, *extra), []).append(i)
    return groups


def _no_fingerprint(df: pd.DataFrame) -> str:
    return "not computed"


def _skip_batch_fingerprint() -> None:
    """Stop GX hashing every in-memory batch it loads.

    GX 1.x computes an MD5 of the whole DataFrame (about 1 s per million rows, more for Arrow
    strings) only to print it in Data Docs, and has no switch for it; a digest of personal
    records is also nothing to publish. Idempotent; GX looks the function up at call time.
    """
    from great_expectations.execution_engine import pandas_execution_engine as engine

    if getattr(engine, "hash_pandas_dataframe", None) is not _no_fingerprint:
        engine.hash_pandas_dataframe = _no_fingerprint


def _match_regex_once_per_category() -> None:
    """GX's pandas match_regex searches each row's str(); a categorical's categories are searched once each instead.

    A roster's county codes, amounts and risk lists are a few thousand distinct values in a million
    rows, read as categoricals (_gx_column). The result is the same Series of booleans, with the same
    re semantics; any other column is searched as GX does. Idempotent: GX looks the provider up in
    its registry at call time.
    """
    from great_expectations.execution_engine import PandasExecutionEngine
    from great_expectations.expectations.metrics.map_metric_provider import column_condition_partial
    from great_expectations.expectations.registry import _registered_metrics

    providers = _registered_metrics["column_values.match_regex.condition"]["providers"]
    metric_class, current = providers[PandasExecutionEngine.__name__]
    if getattr(current, "__name__", None) == _match_regex.__name__:
        return
    providers[PandasExecutionEngine.__name__] = (metric_class, column_condition_partial(engine=PandasExecutionEngine)(_match_regex))


def _match_regex(cls: Any, column: pd.Series, regex: str, **kwargs: Any) -> pd.Series:
    if isinstance(column.dtype, pd.CategoricalDtype) and len(column.cat.categories) < len(column):
        found = pd.Series(column.cat.categories).astype(str).str.contains(regex).to_numpy(dtype=bool)
        codes = column.cat.codes.to_numpy()  # GX passes the non-null rows only
        return pd.Series(found[codes], index=column.index)
    return column.astype(str).str.contains(regex)


def _rows_from_positions(index_list: Any, row_numbers: np.ndarray) -> list[int]:
    """`<kind>_row` values of the first failing positions GX reported."""
    positions = [int(p) for p in (index_list or [])[:MAX_REPORTED_ROWS] if not isinstance(p, dict)]
    return [int(row_numbers[p]) for p in positions]


def _error_label(exception_info: Any) -> str | None:
    """Exception class of a failed metric, never its message (which may quote a value)."""
    if not isinstance(exception_info, dict):
        return None
    infos = [exception_info] if "raised_exception" in exception_info else list(exception_info.values())
    for info in infos:
        if isinstance(info, dict) and info.get("raised_exception"):
            trace = (info.get("exception_traceback") or "").strip().splitlines()
            name = trace[-1].split(":", 1)[0].strip() if trace else ""
            return name if re.fullmatch(r"[A-Za-z_][\w.]*", name) else "MetricError"
    return None


def _scrub(result: Any, row_col: str, row_numbers: np.ndarray) -> ExpectationOutcome:
    """Cut a GX expectation result down to counts and row numbers, in place, and describe it."""
    cfg = result.expectation_config
    raw = dict(result.result or {})
    rows = _rows_from_positions(raw.get("partial_unexpected_index_list"), row_numbers)
    kept = {k: raw[k] for k in _KEPT_RESULT_KEYS if k in raw}
    observed = raw.get("observed_value")
    if isinstance(observed, (bool, int, float)):
        kept["observed_value"] = observed
    if rows:
        kept["unexpected_index_column_names"] = [row_col]
        kept["partial_unexpected_index_list"] = [{row_col: rows}]
    error = _error_label(result.exception_info)
    result.result = kept
    result.exception_info = {"raised_exception": bool(error), "exception_message": error, "exception_traceback": None}
    count = kept.get("unexpected_count")
    percent = kept.get("unexpected_percent")
    return ExpectationOutcome(
        type=cfg.type,
        column=cfg.kwargs.get("column"),
        success=bool(result.success),
        unexpected_count=None if count is None else int(count),
        unexpected_percent=None if percent is None else round(float(percent), 4),
        mostly=cfg.kwargs.get("mostly"),
        condition=_condition_text(cfg.kwargs.get("row_condition")),
        failing_rows=tuple(rows),
        error=error,
        why=(cfg.meta or {}).get("why"),
    )


def _quiet_gx() -> None:
    """GX must run offline and silent inside the pipeline's own logs."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.getLogger("great_expectations").setLevel(logging.ERROR)


def _defer_scipy_stats() -> None:
    """Have scipy.stats loaded when something first uses it, not when GX is imported.

    Importing GX imports every core expectation; the KL-divergence one (which no suite here uses)
    imports scipy.stats, about 480 modules: a third of GX's import time (2.2 -> 1.4 CPU-s here),
    paid by every process that validates. The standard library's LazyLoader puts the module in
    place unexecuted; its first attribute access runs it, so GX's KL-divergence check still works.
    Only before GX or scipy.stats is imported; a no-op without scipy.
    """
    if "scipy.stats" in sys.modules or "great_expectations" in sys.modules:
        return
    try:
        import scipy
    except ImportError:
        return
    spec = importlib.util.find_spec("scipy.stats")
    if spec is None or spec.loader is None:
        return
    spec.loader = importlib.util.LazyLoader(spec.loader)
    stats = importlib.util.module_from_spec(spec)
    sys.modules["scipy.stats"] = stats
    spec.loader.exec_module(stats)
    scipy.stats = stats  # `from scipy import stats` then finds it without the import system touching (loading) it


def _context(docs_dir: Path | None) -> Any:
    """A fresh in-memory GX context: no analytics, no progress bars, our docs site or none."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    if docs_dir is not None:
        context.add_data_docs_site(
            site_name=DOCS_SITE,
            site_config={
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    return context


def _same_expectation(exp: dict[str, Any], result: Any) -> bool:
    """Whether a GX result belongs to a suite entry.

    GX adds default kwargs, turns ints into floats, rewrites row conditions into its own
    objects and lists errored expectations first, so entries are matched on type and their
    own plain kwargs.
    """
    cfg = result.expectation_config
    kwargs = exp.get("kwargs", {})
    if cfg.type != exp["type"] or bool(cfg.kwargs.get("row_condition")) != bool(kwargs.get("row_condition")):
        return False
    plain = lambda v: json.loads(json.dumps(v, default=str))  # noqa: E731  (1 == 1.0, tuple == list)
    return all(plain(cfg.kwargs.get(k)) == plain(v) for k, v in kwargs.items() if k not in _CONDITION_KEYS)


def _match_results(exps: list[dict[str, Any]], results: list[Any]) -> list[Any]:
    """GX results in the order of the suite entries they belong to."""
    unused = list(results)
    ordered = []
    for exp in exps:
        hit = next((r for r in unused if _same_expectation(exp, r)), None)
        if hit is None:
            raise RuntimeError(f"GX returned no result for a suite entry of type {exp['type']}")
        unused.remove(hit)
        ordered.append(hit)
    return ordered


def _run_gx(
    kind: str, suite: dict[str, Any], runnable: list[dict[str, Any]], frame: pd.DataFrame, row_col: str,
    docs_dir: Path | None,
) -> tuple[list[ExpectationOutcome], Path | None]:
    """Validate each column group as its own batch, then merge the results into one suite result."""
    from great_expectations.core import ExpectationSuite, ExpectationSuiteValidationResult, ValidationDefinition
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )
    from great_expectations.validator.validation_statistics import calc_validation_statistics

    context = _context(docs_dir)
    batch = (
        context.data_sources.add_pandas(f"{kind}_records")
        .add_dataframe_asset(kind)
        .add_batch_definition_whole_dataframe("all_rows")
    )
    name = suite["name"]
    context.suites.add(ExpectationSuite(name=name, expectations=runnable, meta=dict(suite.get("meta", {}))))
    run_id = RunIdentifier(run_time=dt.datetime.now(dt.timezone.utc))
    row_numbers = frame[row_col].to_numpy()
    merged: list[Any] = [None] * len(runnable)
    first = None
    for part, (columns, members) in enumerate(_column_groups(runnable, row_col, set(frame.columns)).items()):
        part_suite = context.suites.add(
            ExpectationSuite(name=f"{name}__part{part}", expectations=[runnable[i] for i in members])
        )
        definition = context.validation_definitions.add(
            ValidationDefinition(name=f"{name}__part{part}", data=batch, suite=part_suite)
        )
        result = definition.run(
            batch_parameters={"dataframe": frame[list(columns)]}, result_format=dict(_RESULT_FORMAT), run_id=run_id
        )
        if first is None:
            first = result
        for i, matched in zip(members, _match_results([runnable[i] for i in members], result.results)):
            merged[i] = matched
        context.validation_definitions.delete(definition.name)
        context.suites.delete(part_suite.name)
    outcomes = [_scrub(r, row_col, row_numbers) for r in merged]
    if docs_dir is None or first is None:
        return outcomes, None

    stats = calc_validation_statistics(merged)
    meta = dict(first.meta)
    meta.get("batch_markers", {}).pop("pandas_data_fingerprint", None)
    combined = ExpectationSuiteValidationResult(
        success=stats.success,
        results=merged,
        suite_name=name,
        statistics={
            "evaluated_expectations": stats.evaluated_expectations,
            "successful_expectations": stats.successful_expectations,
            "unsuccessful_expectations": stats.unsuccessful_expectations,
            "success_percent": stats.success_percent,
        },
        meta=meta,
        batch_id=first.batch_id,
    )
    store = context.validation_results_store
    for key in store.list_keys():
        store.remove_key(key)
    key = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=name), run_id=run_id, batch_identifier=first.batch_id
    )
    store.set(key, combined)
    if docs_dir.exists():
        shutil.rmtree(docs_dir)
    context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=[key, ExpectationSuiteIdentifier(name=name)])
    index = docs_dir / "index.html"
    return outcomes, index if index.is_file() else None


def _columns_read(runnable: list[dict[str, Any]], row_col: str, present: set[str]) -> list[str]:
    read = {row_col}
    for exp in runnable:
        kwargs = exp.get("kwargs", {})
        read |= {kwargs["column"]} if "column" in kwargs else set()
        read |= _condition_columns(kwargs, present)
    return [row_col, *sorted(read - {row_col})]


def suite_columns(kind: str, present: Collection[str]) -> list[str]:
    """The columns validate_records reads of records with these columns: read only those from disk."""
    suite = load_suite(kind)
    runnable, _, _ = _split_expectations(suite, set(present))
    return _columns_read(runnable, _row_column(kind, suite), set(present))


def validate_records(
    kind: str, records: pd.DataFrame, out_dir: Path | None, build_docs: bool = True
) -> ValidationSummary:
    """Run expectations/<kind>.json over standardised records; write the summary and Data Docs to out_dir.

    Expectations on optional derived columns that are absent are skipped; on any other absent
    column they fail with error "column_missing". Writes out_dir/validation_<kind>.json and, with
    build_docs, a Data Docs site under out_dir/data_docs/<kind>/ (one site per roster kind, so
    each index shows exactly this run).
    """
    started = time.perf_counter()
    suite = load_suite(kind)
    row_col = _row_column(kind, suite)
    if row_col not in records.columns:
        raise KeyError(f"records of roster kind {kind!r} have no {row_col} column")
    present = set(records.columns)
    runnable, missing, skipped = _split_expectations(suite, present)
    frame = _frame_for_gx(records, row_col, _columns_read(runnable, row_col, present))
    docs_dir = Path(out_dir) / "data_docs" / kind if (out_dir is not None and build_docs) else None

    _quiet_gx()
    with _GX_LOCK:
        _defer_scipy_stats()
        _skip_batch_fingerprint()
        _match_regex_once_per_category()
        outcomes, index = _run_gx(kind, suite, runnable, frame, row_col, docs_dir)
    outcomes += [
        ExpectationOutcome(
            type=e["type"],
            column=e["kwargs"]["column"],
            success=False,
            mostly=e["kwargs"].get("mostly"),
            condition=_condition_text(e["kwargs"].get("row_condition")),
            error="column_missing",
            why=e.get("meta", {}).get("why"),
        )
        for e in missing
    ]
    successful = sum(o.success for o in outcomes)
    summary = ValidationSummary(
        kind=kind,
        success=successful == len(outcomes),
        evaluated=len(outcomes),
        successful=successful,
        unsuccessful=len(outcomes) - successful,
        row_count=len(frame),
        expectations=tuple(outcomes),
        skipped=tuple(skipped),
        seconds=round(time.perf_counter() - started, 3),
        data_docs_index=str(index.relative_to(out_dir)) if (index is not None and out_dir is not None) else None,
    )
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"validation_{kind}.json").write_text(
            json.dumps(summary.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
    return summary
