"""The command line: exit codes, one-line messages without tracebacks, and the summary."""
from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import LEAK_NAME, SAMPLE_ROSTERS, csv_text

ROOT = Path(__file__).resolve().parent.parent


def cli_subprocess(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The CLI as users run it: Prefect's logging level is the CLI's own default, not the test session's."""
    environment = {k: v for k, v in os.environ.items() if k != "PREFECT_LOGGING_LEVEL"} | (env or {})
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env=environment, timeout=120)


def test_bad_period_is_rejected_before_prefect_starts(tmp_path):
    done = cli_subprocess(["crosscheck", "--civil", "a.csv", "--poverty", "b.csv", "--out", str(tmp_path / "o"),
                           "--period", "2026-13"])
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "reliefmatch: --period '2026-13' is not a month: write it as YYYY-MM, e.g. 2026-11"]
    assert done.stdout == ""


@pytest.mark.prefect
def test_missing_column_is_one_line_without_traceback(prefect_api, small_rosters, tmp_path):
    """A real process (its stderr is all the user sees), talking to the harness's API."""
    headers, rows = SAMPLE_ROSTERS["civil"]
    keep = [i for i, h in enumerate(headers) if h != "身份证号码"]
    bad = tmp_path / "civil.csv"
    bad.write_text(csv_text([headers[i] for i in keep], [[r[i] for i in keep] for r in rows]), encoding="utf-8")
    done = cli_subprocess(["crosscheck", "--civil", str(bad), "--poverty", str(small_rosters["poverty"]),
                           "--out", str(tmp_path / "out")], env={"PREFECT_API_URL": prefect_api})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reliefmatch: civil.csv: missing required column 'id_number'")
    assert "Traceback" not in done.stderr + done.stdout
    assert LEAK_NAME not in done.stderr + done.stdout
    assert not (tmp_path / "out").exists()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def log_records():
    handler = Records()
    logging.getLogger().addHandler(handler)
    yield handler.records
    logging.getLogger().removeHandler(handler)


@pytest.mark.prefect
@pytest.mark.parametrize("case", ["empty", "headers-only", "missing"])
def test_bad_input_exits_2_with_one_line(prefect_api, small_rosters, tmp_path, runner, log_records, case):
    health = tmp_path / "health.csv"
    if case == "empty":
        health.write_bytes(b"")
    elif case == "headers-only":
        health.write_text(",".join(SAMPLE_ROSTERS["health"][0]) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["health-match", "--health", str(health), "--civil", str(small_rosters["civil"]),
                                 "--poverty", str(small_rosters["poverty"]), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reliefmatch: ") and "health.csv" in lines[0], lines
    assert "Traceback" not in result.output
    assert not [r for r in log_records if r.exc_info], "bad input must not log a traceback"
    assert not (tmp_path / "out").exists()


@pytest.mark.prefect
def test_unexpected_error_exits_1_and_withholds_its_message(prefect_api, small_rosters, tmp_path, runner,
                                                             log_records, monkeypatch):
    import flows.tasks

    def broken(*args, **kwargs):
        raise ValueError(f"could not convert {LEAK_NAME!r}")  # what pandas errors look like: they quote data

    monkeypatch.setattr(flows.tasks.pipeline, "link_rosters", broken)
    result = runner.invoke(app, ["crosscheck", "--civil", str(small_rosters["civil"]), "--poverty",
                                 str(small_rosters["poverty"]), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert "unexpected internal error" in result.stderr and "ValueError in link_rosters" in result.stderr
    logged = "\n".join(logging.Formatter().format(r) for r in log_records)
    assert "ValueError in link_rosters" in logged  # Prefect logged where it happened ...
    assert LEAK_NAME not in logged + result.output  # ... but not what the error said
    assert not (tmp_path / "out").exists()


def summary_numbers(stderr: str) -> dict[str, int]:
    found = {}
    for line in stderr.splitlines():
        if match := re.match(r"\s+input (\w+)\s+read\s+([\d,]+)\s+used\s+([\d,]+)\s+rejected\s+([\d,]+)$", line):
            kind, *numbers = match.groups()
            for label, value in zip(("read", "used", "rejected"), numbers):
                found[f"{kind}.{label}"] = int(value.replace(",", ""))
        elif match := re.match(r"\s+(\S+\.csv)\s+([\d,]+) rows$", line):
            found[match.group(1)] = int(match.group(2).replace(",", ""))
    return found


@pytest.mark.prefect
def test_crosscheck_prints_a_summary_that_matches_the_manifest(prefect_api, small_rosters, tmp_path, runner):
    out = tmp_path / "out"
    result = runner.invoke(app, ["crosscheck", "--civil", str(small_rosters["civil"]), "--poverty",
                                 str(small_rosters["poverty"]), "--health", str(small_rosters["health"]),
                                 "--out", str(out), "--period", "2026-11"])
    assert result.exit_code == 0, result.output
    assert re.match(rf"crosscheck finished → {re.escape(str(out))}  \(\d+\.\d s\)$", result.stderr.splitlines()[0])
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    expected = {f"{i['kind']}.{k}": i[f"rows_{k}"] for i in manifest["inputs"] for k in ("read", "used", "rejected")}
    expected |= {f"{stem}.csv": info["rows"] for stem, info in manifest["outputs"].items()}
    expected["rejects.csv"] = manifest["rejects"]["rows"]
    assert summary_numbers(result.stderr) == expected
    assert len(result.stderr.strip().splitlines()) == 1 + 3 + 3 + 1
    assert result.stdout == ""


@pytest.mark.prefect
def test_named_sheet_is_read_and_a_wrong_one_is_one_line(prefect_api, small_rosters, tmp_path, runner):
    import openpyxl

    civil = pd.read_csv(small_rosters["civil"], dtype=str, keep_default_na=False, encoding="gb18030")
    book = openpyxl.Workbook()
    book.active.title = "说明"
    book.active.append(["本表为民政救助对象名册"])
    sheet = book.create_sheet("名册")
    sheet.append(list(civil.columns))
    for row in civil.itertuples(index=False):
        sheet.append(list(row))
    path = tmp_path / "civil.xlsx"
    book.save(path)
    common = ["crosscheck", "--civil", str(path), "--poverty", str(small_rosters["poverty"]), "--period", "2026-11"]
    good = runner.invoke(app, [*common, "--out", str(tmp_path / "good"), "--civil-sheet", "名册"])
    assert good.exit_code == 0, good.output
    manifest = json.loads((tmp_path / "good" / "manifest.json").read_text(encoding="utf-8"))
    assert next(i for i in manifest["inputs"] if i["kind"] == "civil")["rows_read"] == len(civil)
    bad = runner.invoke(app, [*common, "--out", str(tmp_path / "bad"), "--civil-sheet", "没有这个表"])
    assert bad.exit_code == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "civil.xlsx" in lines[0] and "没有这个表" in lines[0], lines
