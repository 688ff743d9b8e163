"""Small Prefect tasks around the core steps. Parameters and results are paths and counts only."""
from __future__ import annotations

import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import flows.settings  # noqa: F401  (Prefect's environment before prefect is imported)
from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NONE

from flows.progress import report
from matchers import pipeline
from matchers.outputs import write_json, write_table
from schemas.errors import InputError

QUIET = {"cache_policy": NONE, "persist_result": False}


@task(name="ingest-roster", retries=2, retry_delay_seconds=1, **QUIET)
def ingest_roster(path: str, kind: str, cache_dir: str, sheet: str | None = None) -> dict[str, Any]:
    """Read, standardise and validate one roster. Bad input comes back as {'error': message}."""
    try:
        return pipeline.ingest_roster(path, kind, Path(cache_dir), sheet=sheet, progress=report).to_dict()
    except InputError as error:
        return {"error": str(error)}


@task(name="link-rosters", **QUIET)
def link_rosters(left: dict[str, Any], right: dict[str, Any], work_dir: str, model: str | None = None) -> dict[str, Any]:
    report(f"linking {left['kind']} × {right['kind']} ({left['rows_used']:,} × {right['rows_used']:,} rows)")
    left_row, right_row = f"{left['kind']}_row", f"{right['kind']}_row"
    return pipeline.link_rosters(left["records_path"], right["records_path"], left_row, right_row, Path(work_dir),
                                 f"{left['kind']}_{right['kind']}", model_path=model, progress=report)


@task(name="crosscheck-outputs", **QUIET)
def crosscheck_outputs(civil: dict, poverty: dict, civil_poverty: dict, folder: str, health: dict | None,
                       health_poverty: dict | None, reveal_ids: bool) -> dict[str, Any]:
    report("applying policy rules and writing candidate lists")
    return pipeline.crosscheck_outputs(
        pipeline.IngestResult(**civil), pipeline.IngestResult(**poverty), civil_poverty, Path(folder),
        pipeline.IngestResult(**health) if health else None, health_poverty, reveal_ids)


@task(name="health-outputs", **QUIET)
def health_outputs(health: dict, civil: dict, poverty: dict, health_civil: dict, health_poverty: dict, folder: str,
                   reveal_ids: bool) -> dict[str, Any]:
    report("applying relief rules and writing candidate lists")
    return pipeline.health_outputs(
        pipeline.IngestResult(**health), pipeline.IngestResult(**civil), pipeline.IngestResult(**poverty),
        health_civil, health_poverty, Path(folder), reveal_ids)


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
