"""--reveal-ids writes full IDs only when asked, and every use is in the audit log."""
from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.settings import state_home

FULL_ID = re.compile(r"^\d{17}[\dX]$")
MASKED_ID = re.compile(r"^\d{6}\*{8}[\dX*]{4}$")


@pytest.mark.prefect
def test_reveal_ids_is_audited_and_masking_is_the_default(prefect_api, small_rosters, tmp_path):
    runner = CliRunner()
    audit = state_home() / "audit.log"
    before = audit.read_text(encoding="utf-8").splitlines() if audit.exists() else []
    common = ["crosscheck", "--civil", str(small_rosters["civil"]), "--poverty", str(small_rosters["poverty"]),
              "--period", "2026-11"]

    masked = runner.invoke(app, [*common, "--out", str(tmp_path / "masked")])
    assert masked.exit_code == 0, masked.output
    ids = pd.read_csv(tmp_path / "masked" / "matches.csv", dtype=str, encoding="utf-8-sig")["民政身份证号"].dropna()
    assert len(ids) and ids.str.match(MASKED_ID).mean() > 0.9   # the rest: raw forms (E+17 ...) masked alike
    assert ids.str.contains("*", regex=False).all() and not ids.str.match(FULL_ID).any()
    assert (audit.read_text(encoding="utf-8").splitlines() if audit.exists() else []) == before

    revealed = runner.invoke(app, [*common, "--out", str(tmp_path / "revealed"), "--reveal-ids"])
    assert revealed.exit_code == 0, revealed.output
    ids = pd.read_csv(tmp_path / "revealed" / "matches.csv", dtype=str, encoding="utf-8-sig")["民政身份证号"].dropna()
    assert ids.str.match(FULL_ID).mean() > 0.9
    entries = audit.read_text(encoding="utf-8").splitlines()[len(before):]
    assert len(entries) == 1
    entry = json.loads(entries[0])
    assert entry["action"] == "reveal-ids" and entry["out"] == str(tmp_path / "revealed")
    assert entry["who"] and entry["when"] and entry["flow_run_id"]
    assert "matches.csv" in entry["files"] and "inclusion_candidates.csv" in entry["files"]
    assert audit.stat().st_mode & 0o777 == 0o600
