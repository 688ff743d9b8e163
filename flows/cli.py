"""The reliefmatch command line: runs the flows, shows progress, ends with a short summary."""
from __future__ import annotations

import atexit
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.text import Text

import flows.settings as settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Link social-assistance rosters and list candidates for review.")
console = Console(stderr=True, soft_wrap=True)  # one message, one line: no wrapping at 80 columns
PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = PROJECT_ROOT / "data" / "sample"


def _fail(message: str, code: int = 2) -> None:
    console.print(Text.assemble(("reliefmatch:", "bold red"), " ", message), highlight=False)
    raise typer.Exit(code)


def _check_period(period: Optional[str]) -> Optional[str]:
    if period is not None and not PERIOD.match(period):
        _fail(f"--period '{period}' is not a month: write it as YYYY-MM, e.g. 2026-11")
    return period


def _load_jobs(rosters: dict[str, Path | None] | None = None, sheets: dict[str, str] | None = None):
    """flows.jobs, imported while Prefect's local API boots in its own process.

    rosters: the run's input files; the big ones not cached yet start standardising while the API
    boots (the flow's ingest then waits for that work instead of starting it).
    """
    from flows.local_api import start_local_api

    api = start_local_api()
    if rosters:  # before Prefect is imported (1.3-1.5 s here): the rosters are the long part
        _standardise_ahead({kind: str(path) for kind, path in rosters.items() if path is not None}, sheets)
    import flows.jobs as jobs

    if api is not None:
        api.wait()
    return jobs


def _standardise_ahead(rosters: dict[str, str], sheets: dict[str, str] | None = None) -> list[str]:
    """Start standardising the big uncached rosters before a flow; its ingest-roster then waits for that work."""
    from matchers import pipeline
    from matchers.outputs import make_private_dir

    return pipeline.standardise_ahead(rosters, make_private_dir(settings.state_home() / "cache"), sheets)


def _run(flow_fn, **params) -> dict:
    """Run a flow in-process with a live stage display; bad input ends in one line and exit 2."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from flows.local_api import api_ends_with_process
    from flows.progress import StageDisplay, set_reporter

    # heartbeats tell a lasting server that a run is alive; an API that ends with this process has no use for
    # them, and stopping them waits for the heartbeat thread's one-second sleep (0.5 s per run on average)
    quiet = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None} if api_ends_with_process() else {}
    with StageDisplay(console) as stages, temporary_settings(updates=quiet):
        stages.opening("starting the flow")
        set_reporter(stages)
        try:
            state = flow_fn(**params, return_state=True)
        except KeyboardInterrupt:
            _fail("interrupted; the previous outputs are unchanged", 130)
        except Exception as error:  # an unexpected failure: record where, not what (no data in messages)
            log = settings.state_home() / "logs" / "last-error.txt"
            log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            frames = traceback.format_tb(error.__traceback__)
            log.write_text(type(error).__name__ + "\n" + "".join(frames), encoding="utf-8")
            _fail(f"unexpected internal error ({type(error).__name__}); where it happened is in {log}. "
                  "The previous outputs are unchanged. Please report it.", 1)
        finally:
            set_reporter(None)
        if not state.is_completed():
            stages.discard()
    if not state.is_completed():
        outcome = state.result(raise_on_failure=False)
        if isinstance(outcome, BaseException):  # a step raised: Prefect has logged where; its message is withheld
            _fail(f"unexpected internal error ({state.message or type(outcome).__name__}). "
                  "The previous outputs are unchanged. Please report it.", 1)
        _fail(state.message or "the run failed")
    summary = state.result()
    if params.get("reveal_ids"):
        _audit_reveal(flow_fn.name, str(state.state_details.flow_run_id), summary)
    return summary


def _audit_reveal(job: str, run_id: str, summary: dict) -> None:
    """Full ID numbers were written: record who, when, which run and which files (append-only)."""
    import getpass
    import json
    from datetime import datetime, timezone

    log = settings.state_home() / "audit.log"
    log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    entry = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "who": getpass.getuser(),
        "job": job,
        "flow_run_id": run_id,
        "out": summary["out"],
        "files": sorted(f"{name}.csv" for name in summary["outputs"]),
        "action": "reveal-ids",
    }
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
    log.chmod(0o600)
    console.print(f"  full ID numbers written; recorded in {log}", highlight=False)


def _sheets(**by_kind: Optional[str]) -> Optional[dict[str, str]]:
    chosen = {kind: name for kind, name in by_kind.items() if name}
    return chosen or None


def _print_summary(title: str, summary: dict) -> None:
    console.print(f"[bold green]{title}[/] → {summary['out']}  ({summary['seconds']:.1f} s)", highlight=False)
    for kind, counts in summary["inputs"].items():
        console.print(f"  input {kind:<8} read {counts['rows_read']:>9,}  used {counts['rows_used']:>9,}  "
                      f"rejected {counts['rows_rejected']:>7,}", highlight=False)
    for name, rows in summary["outputs"].items():
        console.print(f"  {name + '.csv':<28} {rows:>9,} rows", highlight=False)
    console.print(f"  {'rejects.csv':<28} {summary['rejects']:>9,} rows", highlight=False)


OUT_OPTION = typer.Option(..., help="output folder (replaced only when the run succeeds)")
PERIOD_OPTION = typer.Option(None, help="month the run is for, YYYY-MM (default: this month)")
REVEAL_OPTION = typer.Option(False, "--reveal-ids", help="write full ID numbers (authorised use; audited)")
CIVIL_SHEET = typer.Option(None, help="sheet of an .xlsx civil roster (default: the first)")
POVERTY_SHEET = typer.Option(None, help="sheet of an .xlsx poverty roster (default: the first)")
HEALTH_SHEET = typer.Option(None, help="sheet of an .xlsx infection list (default: the first)")


@app.command()
def crosscheck(
    civil: Path = typer.Option(..., help="civil-affairs assistance roster (CSV, XLSX or Parquet)"),
    poverty: Path = typer.Option(..., help="poverty-alleviation roster"),
    out: Path = OUT_OPTION,
    health: Optional[Path] = typer.Option(None, help="infection list: marks households with confirmed cases"),
    period: Optional[str] = PERIOD_OPTION,
    model: Optional[Path] = typer.Option(None, help="reuse a saved linkage model (model_civil_poverty.json)"),
    reveal_ids: bool = REVEAL_OPTION,
    civil_sheet: Optional[str] = CIVIL_SHEET,
    poverty_sheet: Optional[str] = POVERTY_SHEET,
    health_sheet: Optional[str] = HEALTH_SHEET,
) -> None:
    """Monthly cross-check of the civil-affairs and poverty-alleviation rosters."""
    period = _check_period(period)
    sheets = _sheets(civil=civil_sheet, poverty=poverty_sheet, health=health_sheet)
    jobs = _load_jobs({"civil": civil, "poverty": poverty, "health": health}, sheets)
    summary = _run(jobs.crosscheck_flow, civil=str(civil), poverty=str(poverty), out=str(out), period=period,
                   health=str(health) if health else None, model=str(model) if model else None, reveal_ids=reveal_ids,
                   sheets=sheets)
    _print_summary("crosscheck finished", summary)


@app.command("health-match")
def health_match(
    health: Path = typer.Option(..., help="infection list from the health commission"),
    civil: Path = typer.Option(..., help="civil-affairs assistance roster"),
    poverty: Path = typer.Option(..., help="poverty-alleviation roster"),
    out: Path = OUT_OPTION,
    period: Optional[str] = PERIOD_OPTION,
    reveal_ids: bool = REVEAL_OPTION,
    civil_sheet: Optional[str] = CIVIL_SHEET,
    poverty_sheet: Optional[str] = POVERTY_SHEET,
    health_sheet: Optional[str] = HEALTH_SHEET,
) -> None:
    """Biweekly matching of the infection list against both assistance rosters."""
    period = _check_period(period)
    sheets = _sheets(civil=civil_sheet, poverty=poverty_sheet, health=health_sheet)
    jobs = _load_jobs({"health": health, "civil": civil, "poverty": poverty}, sheets)
    summary = _run(jobs.health_match_flow, health=str(health), civil=str(civil), poverty=str(poverty), out=str(out),
                   period=period, reveal_ids=reveal_ids, sheets=sheets)
    _print_summary("health matching finished", summary)


@app.command()
def demo(out: Path = typer.Option(Path("out/demo"), help="where the demo writes its two output folders")) -> None:
    """Both flows on the bundled synthetic sample data (data/sample/)."""
    jobs = _load_jobs()
    civil, poverty, health = SAMPLE_DIR / "civil.csv", SAMPLE_DIR / "poverty.xlsx", SAMPLE_DIR / "health.csv"
    summary = _run(jobs.crosscheck_flow, civil=str(civil), poverty=str(poverty), health=str(health),
                   out=str(out / "crosscheck"), period=None, model=None, reveal_ids=False)
    _print_summary("crosscheck finished", summary)
    summary = _run(jobs.health_match_flow, health=str(health), civil=str(civil), poverty=str(poverty),
                   out=str(out / "health-match"), period=None, reveal_ids=False)
    _print_summary("health matching finished", summary)


from flows.analyst_cli import analyst_app  # noqa: E402

app.add_typer(analyst_app)


def main() -> None:
    """The console script. Once the command is done and every exit handler has run (the API stopped,
    child processes joined, logs flushed), the process ends without tearing the interpreter down:
    after a million-row run that took 0.3 s, freeing objects and modules no one will use again."""
    try:
        app()
        code: object = 0
    except SystemExit as done:
        code = done.code
    if isinstance(code, str):
        print(code, file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    atexit._run_exitfuncs()  # what the interpreter would run at exit, in the same (reverse) order
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


if __name__ == "__main__":
    main()
