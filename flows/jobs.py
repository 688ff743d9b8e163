"""The two jobs as Prefect flows: plain functions wiring small tasks, passing paths only."""
from __future__ import annotations

import shutil
import time
from collections.abc import Collection
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import flows.settings as settings
from prefect import flow
from prefect.futures import PrefectFuture
from prefect.states import Completed, Failed, State

from flows import tasks
from matchers import pipeline
from matchers.outputs import make_private_dir, staged_output


def default_period() -> str:
    return date.today().strftime("%Y-%m")


def _ingest_all(paths: dict[str, str], cache_dir: str, timings: dict[str, float],
                sheets: dict[str, str] | None = None,
                keyed: Collection[str] | None = None) -> tuple[dict[str, dict], dict[str, PrefectFuture], str | None]:
    """All rosters at once (big ones standardise in child processes), each validated and keyed as soon as it is standardised.

    Returns the ingests, their validations and person keys (still running: they finish beside
    linking) and the first bad input, in argument order. keyed: the rosters whose person keys
    are cached for the whole roster now (default: all); the others' are derived at the end for
    the rows the lists refer to.
    """
    longest = pipeline.longest_roster(paths)
    futures = {kind: tasks.ingest_roster.submit(path, kind, cache_dir, (sheets or {}).get(kind), kind == longest)
               for kind, path in paths.items()}
    validations = {kind: tasks.validate_roster.submit(future) for kind, future in futures.items()}
    checks = {kind: tasks.cache_person_keys.submit(check) if keyed is None or kind in keyed else check
              for kind, check in validations.items()}
    ingests: dict[str, dict] = {}
    for kind, future in futures.items():
        result = future.result()
        if "error" in result:
            for other in [*futures.values(), *checks.values()]:
                other.wait()
            return ingests, checks, result["error"]
        timings[f"ingest_{kind}"] = result["seconds"]
        ingests[kind] = {k: v for k, v in result.items() if k != "seconds"}
    return ingests, checks, None


def _await_validation(ingests: dict[str, dict], checks: dict[str, PrefectFuture], timings: dict[str, float]) -> None:
    """The rosters' validations (and person keys), which ran beside linking and the rules; ingests gain them in place.

    Nothing before the manifest needs them, so a validation still running when the lists are
    written has cost no time."""
    began = time.perf_counter()
    tasks.key_queued_rosters_here()  # this process has nothing else to do: it takes keys still queued
    for kind, check in checks.items():
        ingests[kind] = check.result()
    tasks.release_validation_process()  # its exit (a second) overlaps the manifest and the history step
    timings["validation_after_outputs"] = time.perf_counter() - began


def _link_all(pairs: dict[str, tuple[dict, dict]], work: str, model: str | None,
              timings: dict[str, float]) -> dict[str, dict]:
    """The job's links at once (big ones in child processes); model: a saved model for the first link."""
    alongside = len(pairs) > 1
    futures = {name: tasks.link_rosters.submit(left, right, work, model if i == 0 else None, alongside)
               for i, (name, (left, right)) in enumerate(pairs.items())}
    links = {name: future.result() for name, future in futures.items()}
    for name, link in links.items():
        timings[f"link_{name}"] = link.pop("seconds")
    return links


def _save_models(links: dict[str, dict], folder: Path) -> None:
    for name, link in links.items():
        shutil.copyfile(link["model_path"], folder / f"model_{name}.json")


@flow(name="poverty-crosscheck", log_prints=False, validate_parameters=True)
def crosscheck_flow(civil: str, poverty: str, out: str, period: str | None = None, health: str | None = None,
                    model: str | None = None, reveal_ids: bool = False, sheets: dict[str, str] | None = None) -> State:
    """Monthly: civil-affairs roster × poverty-alleviation roster (optionally the infection list)."""
    started = time.perf_counter()
    period = period or default_period()
    cache = str(make_private_dir(settings.state_home() / "cache"))
    timings: dict[str, float] = {}
    paths = {"civil": civil, "poverty": poverty} | ({"health": health} if health else {})
    with tasks.validation_process():
        ingests, checks, error = _ingest_all(paths, cache, timings, sheets)
        if error:
            return Failed(message=error)
        with staged_output(Path(out)) as folder:
            pairs = {"civil_poverty": ("civil", "poverty")} | ({"health_poverty": ("health", "poverty")} if health else {})
            links = _link_all({name: (ingests[left], ingests[right]) for name, (left, right) in pairs.items()},
                              str(folder), model, timings)
            began = time.perf_counter()
            outputs = tasks.crosscheck_outputs(ingests["civil"], ingests["poverty"], links["civil_poverty"], str(folder),
                                               ingests.get("health"), links.get("health_poverty"), reveal_ids)
            timings["rules_and_outputs"] = time.perf_counter() - began
            _await_validation(ingests, checks, timings)
            manifest = _finish("crosscheck", period, folder, out, ingests, links, outputs, timings, started)
    return Completed(message="crosscheck finished", data=_summary(manifest, out))


@flow(name="health-relief-matching", log_prints=False, validate_parameters=True)
def health_match_flow(health: str, civil: str, poverty: str, out: str, period: str | None = None,
                      reveal_ids: bool = False, sheets: dict[str, str] | None = None) -> State:
    """Biweekly: infection list × both assistance rosters, relief candidates and households."""
    started = time.perf_counter()
    period = period or default_period()
    cache = str(make_private_dir(settings.state_home() / "cache"))
    timings: dict[str, float] = {}
    with tasks.validation_process():
        # the lists refer to a tenth of the civil and poverty rows at most (1M civil: 73k in household_members):
        # their keys are derived for those rows when the run is recorded, instead of waiting for a million
        # rows' keys at the end of the run (the monthly cross-check caches those)
        ingests, checks, error = _ingest_all({"health": health, "civil": civil, "poverty": poverty}, cache, timings,
                                             sheets, keyed=("health",))
        if error:
            return Failed(message=error)
        with staged_output(Path(out)) as folder:
            links = _link_all({"health_civil": (ingests["health"], ingests["civil"]),
                               "health_poverty": (ingests["health"], ingests["poverty"])}, str(folder), None, timings)
            began = time.perf_counter()
            outputs = tasks.health_outputs(ingests["health"], ingests["civil"], ingests["poverty"],
                                           links["health_civil"], links["health_poverty"], str(folder), reveal_ids)
            timings["rules_and_outputs"] = time.perf_counter() - began
            _await_validation(ingests, checks, timings)
            manifest = _finish("health-match", period, folder, out, ingests, links, outputs, timings, started)
    return Completed(message="health matching finished", data=_summary(manifest, out))


def _finish(job: str, period: str, folder: Path, out: str, ingests: dict[str, dict], links: dict[str, dict],
            outputs: dict, timings: dict[str, float], started: float) -> dict:
    """What both jobs do once their lists are written and their inputs validated: models, manifest, review history."""
    _save_models(links, folder)
    _drop_work_files(links)
    manifest = tasks.write_manifest(job, period, str(folder), list(ingests.values()), links, outputs, timings, started)
    tasks.carry_review_history(str(folder), out, job, period)
    return manifest


def _drop_work_files(links: dict[str, dict]) -> None:
    """Intermediate pairs and models live in the staging folder only until the outputs are written."""
    for link in links.values():
        for key in ("pairs_path", "model_path"):
            Path(link[key]).unlink(missing_ok=True)


def _summary(manifest: dict, out: str) -> dict:
    return {
        "out": out,
        "inputs": {i["kind"]: {k: i[k] for k in ("rows_read", "rows_used", "rows_rejected")} for i in manifest["inputs"]},
        "outputs": {name: info["rows"] for name, info in manifest["outputs"].items()},
        "rejects": manifest["rejects"]["rows"],
        "seconds": manifest["run"]["total_seconds"],
    }


ROSTER_SUFFIXES = (".csv", ".xlsx", ".parquet")
SCHEDULE_ZONE = ZoneInfo("Asia/Shanghai")  # the zone of prefect.yaml's schedules


def run_date() -> date:
    """The day the run was scheduled for, in Asia/Shanghai.

    The schedules fire at 03:00 Beijing time, which is the previous evening on a UTC worker: the
    worker's own date would file the 1st's run under the last day of the previous month.
    """
    from prefect.runtime import flow_run

    scheduled = flow_run.scheduled_start_time
    when = scheduled if isinstance(scheduled, datetime) else datetime.now(SCHEDULE_ZONE)
    if when.tzinfo is None:
        when = when.replace(tzinfo=SCHEDULE_ZONE)
    return when.astimezone(SCHEDULE_ZONE).date()


def newest_file(folder: Path) -> Path | None:
    """The most recently modified roster export in an inbox folder (ties broken by name)."""
    if not folder.is_dir():
        return None
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in ROSTER_SUFFIXES and not p.name.startswith(".")]
    return max(files, key=lambda p: (p.stat().st_mtime_ns, p.name)) if files else None


def _inbox_files(inbox: str, kinds: tuple[str, ...]) -> tuple[dict[str, str], str | None]:
    found = {}
    for kind in kinds:
        path = newest_file(Path(inbox) / kind)
        if path is None:
            return found, f"{Path(inbox) / kind}: no roster file (.csv, .xlsx, .parquet) in the inbox. Put this period's export there"
        found[kind] = str(path)
    return found, None


@flow(name="monthly-crosscheck-from-inbox")
def inbox_crosscheck_flow(inbox: str = "data/inbox", out_root: str = "out/crosscheck") -> State:
    """Scheduled monthly run: the newest civil and poverty exports (and infection list, if any)."""
    files, error = _inbox_files(inbox, ("civil", "poverty"))
    if error:
        return Failed(message=error)
    health = newest_file(Path(inbox) / "health")
    today = run_date()
    return crosscheck_flow(civil=files["civil"], poverty=files["poverty"], health=str(health) if health else None,
                           out=str(Path(out_root) / today.isoformat()), period=today.strftime("%Y-%m"),
                           return_state=True)


@flow(name="biweekly-health-matching-from-inbox")
def inbox_health_match_flow(inbox: str = "data/inbox", out_root: str = "out/health-match") -> State:
    """Scheduled run on the 1st and 16th: the newest infection list against the newest rosters."""
    files, error = _inbox_files(inbox, ("health", "civil", "poverty"))
    if error:
        return Failed(message=error)
    today = run_date()
    return health_match_flow(health=files["health"], civil=files["civil"], poverty=files["poverty"],
                             out=str(Path(out_root) / today.isoformat()), period=today.strftime("%Y-%m"),
                             return_state=True)
