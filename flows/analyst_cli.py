"""Analyst commands: record a run in the history, import review decisions, review stats, monthly report.

No Prefect here: these read and write the history store (a DuckDB file in the state folder).
Registered in flows/cli.py with `app.add_typer(analyst_app)`.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.text import Text

analyst_app = typer.Typer(add_completion=False, no_args_is_help=True)
review_app = typer.Typer(add_completion=False, no_args_is_help=True,
                         help="Import analysts' review decisions and measure the linkage against them.")
analyst_app.add_typer(review_app, name="review")
console = Console(stderr=True, soft_wrap=True)
PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
STORE_HELP = "history store (default: $RELIEFMATCH_HOME/reliefmatch.duckdb)"


def _fail(message: str, code: int = 2) -> None:
    console.print(Text.assemble(("reliefmatch:", "bold red"), " ", message), highlight=False)
    raise typer.Exit(code)


def _done(label: str, message: str) -> None:
    """A success line; file names are printed as they are (no rich markup)."""
    console.print(Text.assemble((label, "bold green"), " ", message), highlight=False)


def _expected_errors() -> tuple[type[Exception], ...]:
    from matchers.deadlines import HolidayCalendarMissing
    from matchers.review import ReviewImportError
    from matchers.store import StoreError

    return ReviewImportError, StoreError, HolidayCalendarMissing


@analyst_app.command("record")
def record(
    out: Path = typer.Argument(..., help="a finished run's output folder (with manifest.json)"),
    store: Optional[Path] = typer.Option(None, help=STORE_HELP),
) -> None:
    """Store a finished run in the history and mark its lists with earlier decisions (新增/延续/已解决)."""
    from matchers.review import annotate_with_history

    try:
        resolved = annotate_with_history(out, store)
    except _expected_errors() as error:
        _fail(str(error))
    _done("recorded", f"{out}: lists marked with earlier decisions; "
                      f"{len(resolved):,} candidates resolved since the last run (resolved_candidates.csv)")


@review_app.command("import")
def review_import(
    file: Path = typer.Argument(..., help="a reviewed list (.csv or .xlsx) with 复核结论 / 复核人 / 备注 filled in"),
    run: Optional[str] = typer.Option(None, help="the run id (批次) the list came from, if the 批次 column was removed"),
    period: Optional[str] = typer.Option(None, help="month of the run, YYYY-MM, to narrow the search for its run"),
    store: Optional[Path] = typer.Option(None, help=STORE_HELP),
) -> None:
    """Validate a reviewed list and store its decisions (all rows or none)."""
    from matchers.review import import_review

    if period is not None and not PERIOD.match(period):
        _fail(f"--period '{period}' is not a month: write it as YYYY-MM, e.g. 2026-11")
    try:
        summary = import_review(file, store, run_id=run, period=period)
    except _expected_errors() as error:
        _fail(str(error))
    if summary.already_imported:
        _done("unchanged", f"{file.name}: already imported for run {summary.run_id}")
        return
    counts = "  ".join(f"{k} {v:,}" for k, v in summary.decided.items()) if any(summary.decided.values()) else "no decisions filled in"
    _done("imported", f"{file.name} ({summary.table}, run {summary.run_id}, {summary.period}): {counts}")


@review_app.command("stats")
def review_stats(
    target: float = typer.Option(0.98, help="precision the suggested link threshold must reach"),
    store: Optional[Path] = typer.Option(None, help=STORE_HELP),
) -> None:
    """Precision measured on confirmed and rejected pairs at the current thresholds, and a suggestion."""
    from matchers.review import format_stats, review_stats as compute

    if not 0 < target <= 1:
        _fail("--target is a precision between 0 and 1, e.g. 0.98")
    try:
        stats = compute(store, target=target)
    except _expected_errors() as error:
        _fail(str(error))
    typer.echo(format_stats(stats))


@analyst_app.command("report")
def report(
    period: str = typer.Option(..., help="month to report, YYYY-MM"),
    out: Path = typer.Option(..., help="folder for the .xlsx and .html"),
    store: Optional[Path] = typer.Option(None, help=STORE_HELP),
) -> None:
    """Monthly report per 市州 and county (.xlsx and offline .html) with the review deadline."""
    from matchers.report import write_report

    if not PERIOD.match(period):
        _fail(f"--period '{period}' is not a month: write it as YYYY-MM, e.g. 2026-11")
    try:
        written = write_report(period, out, store)
    except _expected_errors() as error:
        _fail(str(error))
    for path in written.values():
        _done("written", str(path))
