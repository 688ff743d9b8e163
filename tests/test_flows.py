"""Both flows end to end under Prefect's test harness, on small generated rosters."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.prefect

MATCH = ["match_probability", "match_method", "review_required", "explanation"]
REFERENCE_COLUMNS = {
    "crosscheck": {
        "matches": ["civil_row", "poverty_row", *MATCH],
        "inclusion_candidates": ["poverty_row", "candidate_type", "policy_bucket"],
        "discrepancies": ["civil_row", "poverty_row"],
    },
    "health-match": {
        "matches": ["health_row", "civil_row", "poverty_row", *MATCH],
        "relief_candidates": ["health_row", "civil_row", "poverty_row", "relief_type", "一事一议", "非户籍地"],
        "household_members": ["health_row", "civil_row", "poverty_row"],
    },
}
ID_HEADERS = ("民政身份证号", "扶贫证件号码", "感染者身份证号")
MASKED_ID = re.compile(r"^22\d{4}\*{8}\d{3}[\dX]$")
FULL_ID = re.compile(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])")


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


@pytest.mark.parametrize("job", ["crosscheck", "health-match"])
def test_outputs_have_the_reference_columns_and_a_bom(flow_runs, job):
    folder = flow_runs.out[f"{job}-first"]
    for stem, lead in REFERENCE_COLUMNS[job].items():
        raw = (folder / f"{stem}.csv").read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), stem
        header = raw[3:].split(b"\r\n", 1)[0].decode("utf-8").split(",")
        assert header[: len(lead)] == lead, stem
        parquet = pq.read_schema(folder / f"{stem}.parquet").names
        assert parquet == header, stem
    for name in ("rejects.csv", "rejects.parquet", "manifest.json", "validation.json"):
        assert (folder / name).is_file(), name
    assert len(read_csv(folder / "matches.csv")) > 0


@pytest.mark.parametrize("job", ["crosscheck", "health-match"])
def test_ids_stay_masked_text(flow_runs, job):
    folder = flow_runs.out[f"{job}-first"]
    seen = 0
    for stem in REFERENCE_COLUMNS[job]:
        text = (folder / f"{stem}.csv").read_text(encoding="utf-8-sig")
        assert not FULL_ID.search(text), f"{stem}.csv shows a full ID number"
        frame = read_csv(folder / f"{stem}.csv")
        parquet = pq.read_table(folder / f"{stem}.parquet")
        for header in (h for h in ID_HEADERS if h in frame.columns):
            assert str(parquet.schema.field(header).type) in ("string", "large_string"), header
            values = frame[header][frame[header] != ""]
            assert (values.str.contains(r"\*", regex=True)).all(), header
            seen += int(values.str.match(MASKED_ID).sum())
    assert seen > 0


@pytest.mark.parametrize("job", ["crosscheck", "health-match"])
def test_manifest_counts_reconcile(flow_runs, job):
    folder = flow_runs.out[f"{job}-first"]
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    rejects = read_csv(folder / "rejects.csv")
    for entry in manifest["inputs"]:
        assert entry["rows_read"] == entry["rows_used"] + entry["rows_rejected"], entry["kind"]
        assert (rejects["file_kind"] == entry["kind"]).sum() == entry["rows_rejected"], entry["kind"]
    assert len(rejects) == sum(e["rows_rejected"] for e in manifest["inputs"]) == manifest["rejects"]["rows"]
    assert len(rejects) > 0  # the rosters carry junk rows: the reconciliation is not vacuous
    for stem, info in manifest["outputs"].items():
        assert len(read_csv(folder / f"{stem}.csv")) == info["rows"] == pq.read_metadata(folder / f"{stem}.parquet").num_rows
    summary = flow_runs.summaries[f"{job}-first"]
    assert summary["outputs"] == {stem: info["rows"] for stem, info in manifest["outputs"].items()}
    assert summary["rejects"] == manifest["rejects"]["rows"]
    assert manifest["period"] == "2026-11"


@pytest.mark.parametrize("job", ["crosscheck", "health-match"])
def test_rerun_is_byte_identical(flow_runs, job):
    first, second = flow_runs.out[f"{job}-first"], flow_runs.out[f"{job}-second"]
    tables = sorted(p.name for p in first.iterdir() if p.suffix in (".csv", ".parquet"))
    assert tables == sorted(p.name for p in second.iterdir() if p.suffix in (".csv", ".parquet"))
    for name in tables:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    for name in sorted(p.name for p in first.glob("model_*.json")) + ["validation.json"]:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    manifests = [json.loads((f / "manifest.json").read_text(encoding="utf-8")) for f in (first, second)]
    assert manifests[1]["run"]["reused_standardised_rosters"]  # the rerun took the cached rosters
    for manifest in manifests:
        del manifest["run"]
    assert manifests[0] == manifests[1]


def test_bad_input_fails_the_flow_with_one_message(prefect_api, small_rosters, tmp_path):
    from flows.jobs import health_match_flow

    state = health_match_flow(health=str(tmp_path / "missing.csv"), civil=str(small_rosters["civil"]),
                              poverty=str(small_rosters["poverty"]), out=str(tmp_path / "out"), return_state=True)
    assert state.is_failed()
    assert state.message == f"{tmp_path / 'missing.csv'}: the file does not exist. Check the --health path"
    assert not (tmp_path / "out").exists()


def test_inbox_flow_reads_the_newest_files_and_writes_a_dated_folder(prefect_api, small_rosters, tmp_path):
    import os
    import shutil

    from flows.jobs import inbox_health_match_flow, run_date

    inbox = tmp_path / "inbox"
    for kind in ("civil", "poverty", "health"):
        (inbox / kind).mkdir(parents=True)
        old = inbox / kind / f"old{small_rosters[kind].suffix}"
        old.write_bytes(b"")  # older and empty: a run that took it would fail
        os.utime(old, (1_000_000_000, 1_000_000_000))
        shutil.copy(small_rosters[kind], inbox / kind)
    state = inbox_health_match_flow(inbox=str(inbox), out_root=str(tmp_path / "out"), return_state=True)
    assert state.is_completed(), state.message
    dated = tmp_path / "out" / run_date().isoformat()
    assert (dated / "relief_candidates.csv").is_file()
    assert json.loads((dated / "manifest.json").read_text(encoding="utf-8"))["period"] == run_date().strftime("%Y-%m")

    empty = tmp_path / "empty-inbox"
    state = inbox_health_match_flow(inbox=str(empty), out_root=str(tmp_path / "out2"), return_state=True)
    assert state.is_failed() and "no roster file" in state.message


def test_health_matching_keys_only_the_rows_its_lists_refer_to(prefect_api, small_rosters, tmp_path, monkeypatch):
    """Cold, it caches the infection list's person keys only; the rosters' keys are derived for the rows it records."""
    from flows.jobs import health_match_flow
    from matchers.store import connect, record_identities

    monkeypatch.setenv("RELIEFMATCH_HOME", str(tmp_path / "home"))
    state = health_match_flow(health=str(small_rosters["health"]), civil=str(small_rosters["civil"]),
                              poverty=str(small_rosters["poverty"]), out=str(tmp_path / "out"), period="2026-11",
                              return_state=True)
    assert state.is_completed(), state.message
    cache = tmp_path / "home" / "cache"
    assert sorted(p.parent.name.split("-")[0] for p in cache.glob("*/identities-*.parquet")) == ["health"]
    with connect() as con:
        stored = con.execute("SELECT civil_row, civil_person FROM items WHERE civil_row IS NOT NULL").df()
    records = pd.read_parquet(next(cache.glob("civil-*/records.parquet")))
    derived = record_identities(records, "civil").set_index("civil_row")["civil_person"]
    assert len(stored) and (stored["civil_person"].to_numpy() == derived.loc[stored["civil_row"]].to_numpy()).all()
