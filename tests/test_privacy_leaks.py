"""No name, ID number or phone of the inputs reaches Prefect or the run's metadata files.

Scanned: every table of the Prefect database (flow and task runs, states, logs, events,
artifacts), the Prefect and reliefmatch homes except the roster cache (personal data by design,
kept private), everything the runs printed or logged, and each output folder's manifest.json,
validation.json, data_docs/ and model_*.json. The analyst-facing tables are the only files
meant to carry names: they serve as the positive control of the scanner.
"""
from __future__ import annotations

import html
import json
import os
import re
import sqlite3
import unicodedata
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.prefect

ID_COLUMNS = ("身份证号码", "证件号码", "身份证号")
NAME_COLUMNS = ("姓名", "户主姓名")
PHONE_COLUMNS = ("联系电话",)
CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u00b7]{2,}")
DIGIT_RUN = re.compile(r"[0-9Xx]{7,}")
UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
SKIP_SUFFIXES = {".otf", ".ttf", ".woff", ".woff2", ".png", ".jpg", ".gif", ".ico"}


def squeeze(text: str) -> str:
    """NFKC, upper case, no spaces, hyphens or apostrophes: the form IDs and phones are compared in."""
    return re.sub(r"[\s\-'‘’]", "", unicodedata.normalize("NFKC", text)).upper()


def readable(text: str) -> str:
    """JSON and HTML escape Chinese (\\u5218, &#x5218;): undo both before looking."""
    return html.unescape(UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text))


class Needles:
    """The personal values of the inputs, and a scanner that finds any of them in a text."""

    def __init__(self, rosters: dict[str, Path]) -> None:
        frames = [pd.read_csv(rosters["civil"], dtype=str, encoding="gb18030", keep_default_na=False),
                  pd.read_excel(rosters["poverty"], dtype=str).fillna(""),
                  pd.read_csv(rosters["health"], dtype=str, encoding="utf-8-sig", keep_default_na=False)]
        people = pd.read_parquet(rosters["people"])
        ids = {v for f in frames for c in ID_COLUMNS if c in f for v in f[c]} | set(people["id_number"])
        phones = {v for f in frames for c in PHONE_COLUMNS if c in f for v in f[c]}
        self.numbers = {squeeze(v) for v in ids | phones} - {""}
        self.numbers = {v for v in self.numbers if DIGIT_RUN.fullmatch(v)}
        self.literals = {v.strip() for v in ids if v.strip() and not DIGIT_RUN.fullmatch(squeeze(v))}
        names = {v.strip() for f in frames for c in NAME_COLUMNS if c in f for v in f[c]} | set(people["name"])
        self.names = {n for n in names if len(n) >= 2}
        self.single_char_names = {n for n in names if len(n) == 1}
        self.number_lengths = sorted({len(v) for v in self.numbers})
        self.name_lengths = sorted({len(v) for v in self.names})

    def find(self, text: str) -> set[str]:
        text = readable(text)
        hits = {v for v in self.literals if v in text}
        for run in set(DIGIT_RUN.findall(squeeze(text))):
            for size in (n for n in self.number_lengths if n <= len(run)):
                hits |= {run[i:i + size] for i in range(len(run) - size + 1)} & self.numbers
        for run in set(CJK_RUN.findall(text)):
            for size in (n for n in self.name_lengths if n <= len(run)):
                hits |= {run[i:i + size] for i in range(len(run) - size + 1)} & self.names
        return hits


def database_text(url: str) -> dict[str, str]:
    """Every row of every table of Prefect's SQLite database, as text."""
    path = url.split("///", 1)[1]
    tables = {}
    with sqlite3.connect(path, timeout=30) as db:
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            rows = db.execute(f'SELECT * FROM "{table}"').fetchall()
            tables[table] = "\n".join(
                " | ".join(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row) for row in rows)
    return tables


def files_text(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    found = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if path.suffix.lower() in SKIP_SUFFIXES or any(relative.startswith(s) for s in skip):
            continue
        found[relative] = path.read_bytes().decode("utf-8", "replace")
    return found


def flush_prefect() -> None:
    """Logs and events are sent in the background: deliver them before reading the database."""
    import inspect

    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.utilities.asyncutils import run_coro_as_sync

    async def drain() -> None:  # as prefect_test_harness does before it stops
        for pending in (APILogWorker.instance().drain(), EventsWorker.drain_all()):
            if inspect.isawaitable(pending):
                await pending

    run_coro_as_sync(drain())


@pytest.fixture(scope="module")
def needles(small_rosters) -> Needles:
    return Needles(small_rosters)


def test_the_scanner_finds_what_the_analyst_tables_show(needles, flow_runs):
    shown = (flow_runs.out["health-match-first"] / "relief_candidates.csv").read_text(encoding="utf-8-sig")
    assert len(needles.find(shown)) > 10
    assert needles.find(json.dumps({"x": sorted(needles.names)[0]}))  # \u-escaped JSON too
    assert needles.find("tel " + sorted(needles.numbers)[0][:3] + " " + sorted(needles.numbers)[0][3:])


def test_no_personal_data_in_prefect_or_run_metadata(needles, flow_runs, prefect_api):
    from prefect.settings import PREFECT_HOME, PREFECT_SERVER_DATABASE_CONNECTION_URL

    flush_prefect()
    tables = database_text(PREFECT_SERVER_DATABASE_CONNECTION_URL.value())
    for table in ("flow_run", "task_run", "log", "artifact", "events"):
        assert tables.get(table), f"the {table} table is empty: the scan would prove nothing"
    places = {f"db:{t}": text for t, text in tables.items()}
    places |= {f"prefect_home:{k}": v for k, v in files_text(Path(PREFECT_HOME.value())).items()}
    home = Path(os.environ["RELIEFMATCH_HOME"])
    places |= {f"reliefmatch_home:{k}": v for k, v in files_text(home, skip=("cache/", "prefect/")).items()}
    for run, folder in flow_runs.out.items():
        for name, text in files_text(folder).items():
            if name.endswith(".json") or name.startswith("data_docs/"):
                places[f"{run}:{name}"] = text
    for index, text in enumerate(flow_runs.output_text):
        places[f"captured output {index}"] = text
    assert any(k.startswith("db:log") for k in places) and any("data_docs/" in k for k in places)

    leaks = {place: sorted(hits)[:5] for place, text in places.items() if (hits := needles.find(text))}
    assert not leaks, f"personal data found in: {leaks}"
    single = {place for place, text in places.items() for n in needles.single_char_names if f'"{n}"' in readable(text)}
    assert not single, f"a one-character name appears quoted in: {single}"
