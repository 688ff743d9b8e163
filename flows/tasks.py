"""Small Prefect tasks around the core steps. Parameters and results are paths and counts only."""
from __future__ import annotations

import functools
import platform
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import flows.settings as settings  # Prefect's environment before prefect is imported
from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NONE

from flows.progress import detail_reporter, report, stage_done, stage_reporter
from matchers import pipeline
from matchers.outputs import write_json, write_table
from matchers.store import JOB_TABLES  # the lists carry-review-history rewrites: their CSV is written then, once
from schemas.errors import InputError

QUIET = {"cache_policy": NONE, "persist_result": False}
Step = TypeVar("Step", bound=Callable[..., Any])


class StepError(RuntimeError):
    """An unexpected failure inside a step. Its message names the step and the error type only."""


def withhold_details(step: Step) -> Step:
    """Re-raise unexpected errors without their message: pandas, DuckDB and pyarrow quote cell values.

    Prefect stores a failed task's message in its database and logs it; the frames (code only)
    are kept, so the traceback still shows where it happened.
    """
    @functools.wraps(step)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return step(*args, **kwargs)
        except InputError:
            raise
        except Exception as error:
            raise StepError(f"{type(error).__name__} in {step.__name__} (message withheld: it may quote roster "
                            "data)").with_traceback(error.__traceback__) from None
        finally:
            stage_done()

    return guarded  # type: ignore[return-value]


@task(name="ingest-roster", retries=2, retry_delay_seconds=1, **QUIET)
@withhold_details
def ingest_roster(path: str, kind: str, cache_dir: str, sheet: str | None = None, halves: bool = False) -> dict[str, Any]:
    """Read and standardise one roster (validate-roster runs later, beside linking).

    Bad input comes back as {'error': message}. Big exports are standardised in a child process,
    so the flow's concurrent ingests use both cores; halves: the longest one in two halves at once.
    """
    began = time.perf_counter()
    try:
        with _cache_lock(Path(cache_dir), f".ingest-{kind}.lock"):
            result = pipeline.ingest_roster(path, kind, Path(cache_dir), sheet=sheet, validate=False,
                                            progress=stage_reporter(), halves=halves).to_dict()
    except InputError as error:
        return {"error": str(error)}
    return result | {"seconds": time.perf_counter() - began}


@contextmanager
def _cache_lock(cache_dir: Path, name: str = ".ingest.lock") -> Iterator[None]:
    """One writer at a time per lock file: on the 1st both schedules fire at 03:00.

    On the cache (one lock per roster kind) it saves standardising the same export twice; on the
    state folder it guards the DuckDB history store, which admits one writing process.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(cache_dir / name, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_validator: pipeline.ChildProcess | None = None  # the flow's validation process, while one runs


VALIDATION_NICENESS = 10  # validation is awaited only after linking: standardising and linking go first


@contextmanager
def validation_process() -> Iterator[pipeline.ChildProcess]:
    """One child process validates all of a flow's big rosters, one after another: GX is imported once."""
    global _validator
    _validator = pipeline.ChildProcess("validation", niceness=VALIDATION_NICENESS)
    try:
        yield _validator
    finally:
        child, _validator = _validator, None
        child.shutdown(wait=False)  # it exits while the run ends; interpreter exit waits for it


def key_queued_rosters_here() -> None:
    """The flow now only waits for the validation process: rosters waiting to be keyed are keyed in this one."""
    if _validator is not None:
        _validator.run_queued_here()


def release_validation_process() -> None:
    """The flow has every validation and key it asked for: the child exits while the run's last steps go on."""
    if _validator is not None:
        _validator.shutdown(wait=False)


@task(name="validate-roster", **QUIET)
@withhold_details
def validate_roster(ingest: dict[str, Any]) -> dict[str, Any]:
    """Great Expectations on a standardised roster (reused when the roster is cached); counts only.

    An ingest that failed on bad input ({'error': ...}) is passed through: the flow reports it.
    """
    if "error" in ingest:
        return ingest
    with _cache_lock(Path(ingest["records_path"]).parent.parent, f".validate-{ingest['kind']}.lock"):
        checked = pipeline.IngestResult(**{k: v for k, v in ingest.items() if k != "seconds"})
        return pipeline.validate_roster(checked, progress=stage_reporter(), child=_validator).to_dict()


@task(name="cache-person-keys", **QUIET)
@withhold_details
def cache_person_keys(ingest: dict[str, Any]) -> dict[str, Any]:
    """Person keys of a standardised roster, once per roster and key, for recording the run at its end.

    Returns the ingest as it came (an error included), so a flow waits on one future per roster.
    """
    if "error" not in ingest:
        pipeline.cache_person_keys(pipeline.IngestResult(**ingest), progress=stage_reporter(), child=_validator)
    return ingest


@task(name="carry-review-history", retries=2, retry_delay_seconds=2, **QUIET)
@withhold_details
def carry_review_history(folder: str, out: str, job: str, period: str) -> dict[str, Any]:
    """Record the run in the store, mark earlier decisions and 新增/延续, list what was resolved."""
    from prefect.artifacts import create_markdown_artifact

    from matchers.report import report_markdown
    from matchers.review import annotate_with_history

    report("carrying review decisions forward")
    monthly: list[str] = []
    with _cache_lock(settings.state_home()):
        # the month's report counts this run: made from the store once the run is in it, while the lists are marked
        resolved = annotate_with_history(Path(folder), final_dir=Path(out), once_stored=(
            (lambda: monthly.append(report_markdown(period))) if job == "crosscheck" else None))
    if monthly:
        create_markdown_artifact(markdown=monthly[0], key=f"monthly-report-{period}",
                                 description=f"{period}: counts only, no personal data")
    return {"resolved_candidates": int(len(resolved))}


@task(name="link-rosters", **QUIET)
@withhold_details
def link_rosters(left: dict[str, Any], right: dict[str, Any], work_dir: str, model: str | None = None,
                 alongside: bool = False) -> dict[str, Any]:
    """alongside: another link runs at the same time; a big one then links in a child process (a core of its own)."""
    began = time.perf_counter()
    report(f"linking {left['kind']} × {right['kind']} ({left['rows_used']:,} × {right['rows_used']:,} rows)")
    left_row, right_row = f"{left['kind']}_row", f"{right['kind']}_row"
    from matchers.review import rejected_pairs

    with _cache_lock(settings.state_home()):  # another run's carry-review-history may be writing the store
        rejected = rejected_pairs(None, left["kind"], right["kind"])
    linked = pipeline.link_rosters(left["records_path"], right["records_path"], left_row, right_row, Path(work_dir),
                                   f"{left['kind']}_{right['kind']}", model_path=model, progress=detail_reporter(),
                                   rejected=rejected,
                                   isolate=alongside and max(left["rows_used"], right["rows_used"]) >= pipeline.ISOLATE_ROWS)
    return linked | {"seconds": time.perf_counter() - began}


@task(name="crosscheck-outputs", **QUIET)
@withhold_details
def crosscheck_outputs(civil: dict, poverty: dict, civil_poverty: dict, folder: str, health: dict | None,
                       health_poverty: dict | None, reveal_ids: bool) -> dict[str, Any]:
    report("applying policy rules and writing candidate lists")
    return pipeline.crosscheck_outputs(
        pipeline.IngestResult(**civil), pipeline.IngestResult(**poverty), civil_poverty, Path(folder),
        pipeline.IngestResult(**health) if health else None, health_poverty, reveal_ids,
        csv_later=JOB_TABLES["crosscheck"])


@task(name="health-outputs", **QUIET)
@withhold_details
def health_outputs(health: dict, civil: dict, poverty: dict, health_civil: dict, health_poverty: dict, folder: str,
                   reveal_ids: bool) -> dict[str, Any]:
    report("applying relief rules and writing candidate lists")
    return pipeline.health_outputs(
        pipeline.IngestResult(**health), pipeline.IngestResult(**civil), pipeline.IngestResult(**poverty),
        health_civil, health_poverty, Path(folder), reveal_ids, csv_later=JOB_TABLES["health-match"])


def _versions() -> dict[str, str]:
    packages = ("reliefmatch", "pandas", "pyarrow", "duckdb", "prefect", "great-expectations", "pypinyin", "opencc")
    found = {}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    found["python"] = platform.python_version()
    return found


@task(name="write-manifest", **QUIET)
@withhold_details
def write_manifest(job: str, period: str, folder: str, ingests: list[dict], links: dict[str, dict],
                   outputs: dict[str, dict], timings: dict[str, float], started: float) -> dict[str, Any]:
    """manifest.json, rejects.csv and validation.json; the counts of every input reconcile."""
    results = [pipeline.IngestResult(**i) for i in ingests]
    rejects = pipeline.collect_rejects(results)
    rejects_written = write_table(rejects, Path(folder), "rejects")
    pipeline.copy_validation(results, Path(folder))
    inputs = [pipeline.input_accounting(r) for r in results]
    for entry in inputs:
        assert entry["rows_read"] == entry["rows_used"] + entry["rows_rejected"], "row accounting does not reconcile"
    manifest = {
        "job": job,
        "period": period,
        "inputs": inputs,
        "rejects": {"file": rejects_written["csv"], "rows": rejects_written["rows"]},
        "linkage": {name: {k: v for k, v in link.items() if not k.endswith("_path")} for name, link in links.items()},
        "outputs": outputs,
        "versions": _versions(),
        "run": {
            "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
            "total_seconds": round(time.perf_counter() - started, 3),
            "reused_standardised_rosters": [r.kind for r in results if r.from_cache],
        },
    }
    write_json(manifest, Path(folder) / "manifest.json")
    table = [{"file": name, "rows": info["rows"]} for name, info in outputs.items()]
    table += [{"file": f"input:{i['kind']}", "rows": i["rows_read"]} for i in inputs]
    table.append({"file": "rejects", "rows": rejects_written["rows"]})
    create_table_artifact(table=table, key=f"{job}-counts", description=f"{job} {period}: row counts (no personal data)")
    return manifest
