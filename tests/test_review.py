"""Review import (all or nothing), decisions carried forward, rejected pairs, labels, and two months end to end."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matchers.review import (CHANGED_SINCE, ReviewImportError, _smallest_threshold, annotate_with_history, drop_rejected_pairs,
                             format_stats, import_review, rejected_pairs, review_stats)
from matchers.store import connect
from tests.conftest import LEAK_ID, LEAK_NAME, make_id
from tests.test_store import inclusion, make_run, records

IDS = [make_id(f"2201021965031500{i}") for i in range(6)]


def read_list(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def count_decisions(store: Path) -> int:
    with connect(store) as con:
        return con.execute("SELECT count(*) FROM decisions").fetchone()[0]


@pytest.fixture
def october(tmp_path, monkeypatch):
    """A cross-check run with four inclusion candidates and two pairs, recorded and annotated."""
    monkeypatch.delenv("RELIEFMATCH_PERSON_KEY", raising=False)
    people = [(IDS[i], f"人{i}", "220102") for i in range(5)] + [(LEAK_ID, LEAK_NAME, "220102")]
    recs = {"civil": records("civil", people[:2]), "poverty": records("poverty", people)}
    table = inclusion([3, 4, 5, 6], ["因疫返贫", "因疫致贫", "因疫致贫", "因疫返贫"])
    table["扶贫姓名"] = ["人2", "人3", "人4", LEAK_NAME]
    matches = pd.DataFrame({"civil_row": [1, 2], "poverty_row": [1, 2], "match_probability": [0.97, 0.6],
                            "match_method": ["fuzzy", "fuzzy"], "review_required": [True, True], "explanation": ["姓名相同", "同村"]})
    folder = make_run(tmp_path / "oct", "crosscheck", "2026-10", recs, {"inclusion_candidates": table, "matches": matches})
    store = tmp_path / "h.duckdb"
    annotate_with_history(folder, store)
    return {"folder": folder, "store": store, "people": people, "recs": recs, "tmp": tmp_path}


def reviewed(folder: Path, table: str, conclusions: dict[int, tuple[str, str]]) -> pd.DataFrame:
    frame = read_list(folder / f"{table}.csv")
    for index, (conclusion, reviewer) in conclusions.items():
        frame.loc[index, ["复核结论", "复核人"]] = [conclusion, reviewer]
    return frame


def test_import_stores_decisions_once(october):
    frame = reviewed(october["folder"], "inclusion_candidates", {0: ("确认", "张三"), 1: ("否决", "张三"), 2: ("待定", "李四")})
    path = october["tmp"] / "reviewed.csv"
    frame.to_csv(path, index=False, encoding="gb18030")  # as Excel on a Chinese Windows saves CSV
    summary = import_review(path, october["store"])
    assert summary.decided == {"确认": 1, "否决": 1, "待定": 1} and summary.period == "2026-10"
    assert import_review(path, october["store"]).already_imported
    assert count_decisions(october["store"]) == 3


def test_import_xlsx_without_run_column_finds_its_run(october):
    frame = reviewed(october["folder"], "matches", {0: ("确认", "张三"), 1: ("否决", "张三")}).drop(columns=["批次"])
    path = october["tmp"] / "pairs.xlsx"
    frame.to_excel(path, index=False)
    summary = import_review(path, october["store"])
    assert summary.table == "matches" and summary.decided["否决"] == 1


def test_bad_file_is_refused_whole_with_rows_named(october):
    frame = reviewed(october["folder"], "inclusion_candidates", {0: ("确认", "张三"), 1: ("同意", "张三"), 2: ("否决", "")})
    frame.loc[3, "candidate_type"] = "因疫致贫"        # edited key column
    frame.loc[3, ["复核结论", "复核人", "备注"]] = ["确认", "张三", LEAK_ID]
    extra = frame.iloc[[0]].assign(poverty_row="99")   # a row that was never in the list
    dup = frame.iloc[[0]]
    path = october["tmp"] / "bad.csv"
    pd.concat([frame, extra, dup]).to_csv(path, index=False, encoding="utf-8-sig")
    with pytest.raises(ReviewImportError) as caught:
        import_review(path, october["store"])
    message = str(caught.value)
    assert message.startswith("bad.csv: not imported, nothing was stored")
    assert "row 3: 复核结论 must be one of 确认 / 否决 / 待定" in message
    assert "row 4: 复核结论 is given but 复核人 is blank" in message
    assert "row 5: column candidate_type was edited" in message
    assert "row 6: not in this run's list" in message
    assert "row 7: the same candidate appears twice" in message
    assert LEAK_NAME not in message and LEAK_ID not in message
    assert count_decisions(october["store"]) == 0


def test_missing_columns_and_foreign_files(october):
    frame = read_list(october["folder"] / "inclusion_candidates.csv").drop(columns=["复核结论"])
    frame.to_csv(october["tmp"] / "nocol.csv", index=False)
    with pytest.raises(ReviewImportError, match="column 复核结论 is missing"):
        import_review(october["tmp"] / "nocol.csv", october["store"])
    pd.DataFrame({"姓名": ["x"]}).to_csv(october["tmp"] / "other.csv", index=False)
    with pytest.raises(ReviewImportError, match="not a reliefmatch list"):
        import_review(october["tmp"] / "other.csv", october["store"])
    (october["tmp"] / "list.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ReviewImportError, match=r"save the list as \.csv or \.xlsx"):
        import_review(october["tmp"] / "list.txt", october["store"])


def test_decisions_carry_forward_and_changes_are_marked(october):
    frame = reviewed(october["folder"], "inclusion_candidates", {0: ("确认", "张三"), 1: ("否决", "李四")})
    frame.to_csv(october["tmp"] / "r.csv", index=False, encoding="utf-8-sig")
    import_review(october["tmp"] / "r.csv", october["store"])
    people = october["people"]
    # November: rows re-exported in another order; 人4 (row 5 in October) resolved; 人1 new
    order = [people[5], people[3], people[2], people[1], people[0]]
    recs = {"civil": october["recs"]["civil"], "poverty": records("poverty", order)}
    table = inclusion([1, 2, 3, 4], ["因疫返贫", "因疫致贫", "因疫返贫", "因疫致贫"])
    folder = make_run(october["tmp"] / "nov", "crosscheck", "2026-11", recs, {"inclusion_candidates": table})
    resolved = annotate_with_history(folder, october["store"])
    out = read_list(folder / "inclusion_candidates.csv").set_index("poverty_row")
    assert out.loc["3", "历史复核"] == "已确认" and out.loc["3", "历史复核人"] == "张三" and out.loc["3", "复核时间"] != ""
    assert out.loc["2", "历史复核"] == "已否决"
    assert out.loc["1", "历史复核"] == ""
    assert out["变化"].to_dict() == {"1": "延续", "2": "延续", "3": "延续", "4": "新增"}
    assert len(resolved) == 1 and resolved["poverty_row"].tolist() == [5] and resolved["变化"].tolist() == ["已解决"]
    assert resolved["扶贫姓名"].tolist() == ["人4"]  # display columns come from October's folder, not the store
    assert (folder / "resolved_candidates.csv").is_file()
    with connect(october["store"]) as con:
        assert LEAK_NAME not in " ".join(map(str, con.execute("SELECT * FROM items").fetchall()))
    # marked with the rows just stored, or again with the rows read back from the store: the same bytes
    written = {path.name: path.read_bytes() for path in folder.iterdir() if path.suffix in (".csv", ".parquet")}
    annotate_with_history(folder, october["store"])
    assert {path.name: path.read_bytes() for path in folder.iterdir() if path.suffix in (".csv", ".parquet")} == written


def test_rejected_pairs_dropped_until_a_record_changes(october):
    frame = reviewed(october["folder"], "matches", {0: ("否决", "张三"), 1: ("确认", "张三")})
    frame.to_csv(october["tmp"] / "m.csv", index=False, encoding="utf-8-sig")
    import_review(october["tmp"] / "m.csv", october["store"])
    rejected = rejected_pairs(october["store"], "civil", "poverty")
    assert rejected.columns.tolist() == ["left_person_key", "right_person_key", "left_fingerprint", "right_fingerprint"]
    assert len(rejected) == 1
    pairs = pd.DataFrame({"civil_row": [1, 2], "poverty_row": [1, 2], "match_probability": [0.97, 0.6]})
    civil, poverty = october["recs"]["civil"], october["recs"]["poverty"]
    kept, dropped = drop_rejected_pairs(pairs, "civil", "poverty", civil, poverty, rejected)
    assert dropped == 1 and kept["civil_row"].tolist() == [2]
    changed = poverty.assign(phone_norm=["13900000000"] + [None] * (len(poverty) - 1))
    kept, dropped = drop_rejected_pairs(pairs, "civil", "poverty", civil, changed, rejected)
    assert dropped == 0 and len(kept) == 2
    assert rejected_pairs(october["tmp"] / "absent.duckdb", "civil", "poverty").empty


def test_stats_measure_precision_and_suggest_a_threshold(tmp_path):
    prob = np.r_[np.linspace(0.99, 1.0, 40), np.linspace(0.5, 0.8, 10)]
    good = np.r_[np.ones(40, bool), np.array([True, False] * 5)]
    assert _smallest_threshold(prob, good, 0.98, 20) == pytest.approx(0.99)
    assert _smallest_threshold(prob, good, 0.5, 20) == pytest.approx(0.5)
    assert _smallest_threshold(prob, ~good, 0.98, 20) is None


def test_stats_on_imported_labels(october):
    frame = reviewed(october["folder"], "matches", {0: ("确认", "张三"), 1: ("否决", "张三")})
    frame.to_csv(october["tmp"] / "m.csv", index=False, encoding="utf-8-sig")
    import_review(october["tmp"] / "m.csv", october["store"])
    stats = review_stats(october["store"])
    assert (stats.labelled, stats.confirmed, stats.rejected) == (2, 1, 1)
    assert stats.bands.iloc[0]["precision"] == pytest.approx(0.5)
    text = format_stats(stats)
    assert "labelled pairs: 2" in text and "at least 20" in text and LEAK_NAME not in text


def test_cli_import_reports_problems_with_exit_2(october):
    from typer.testing import CliRunner

    from flows.analyst_cli import analyst_app

    frame = reviewed(october["folder"], "inclusion_candidates", {0: ("好", "张三")})
    path = october["tmp"] / "cli.csv"
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    runner = CliRunner()
    result = runner.invoke(analyst_app, ["review", "import", str(path), "--store", str(october["store"])])
    assert result.exit_code == 2 and "cli.csv" in result.output and "row 2" in result.output
    frame.loc[0, "复核结论"] = "确认"
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    result = runner.invoke(analyst_app, ["review", "import", str(path), "--store", str(october["store"])])
    assert result.exit_code == 0, result.output
    result = runner.invoke(analyst_app, ["review", "stats", "--store", str(october["store"])])
    assert result.exit_code == 0 and "labelled pairs: 0" in result.output


# Two months on generated rosters, through the pipeline's core steps (no Prefect)

def _manifest(job: str, period: str, ingests: list, outputs: dict, folder: Path, with_paths: bool) -> None:
    from matchers import pipeline

    inputs = [pipeline.input_accounting(i) | ({"records_path": i.records_path} if with_paths else {}) for i in ingests]
    (folder / "manifest.json").write_text(json.dumps({"job": job, "period": period, "inputs": inputs, "outputs": outputs},
                                                     ensure_ascii=False), encoding="utf-8")


def run_month(paths: dict[str, Path], out: Path, period: str, store: Path, home: Path, with_paths: bool) -> dict:
    """Cross-check and health matching as the flows do, with rejected pairs dropped before the outputs."""
    from matchers import pipeline

    ing = {k: pipeline.ingest_roster(paths[k], k, home / "cache", validate=False) for k in ("civil", "poverty", "health")}
    recs = {k: pd.read_parquet(v.records_path) for k, v in ing.items()}

    def link(left: str, right: str, folder: Path) -> dict:
        result = pipeline.link_rosters(ing[left].records_path, ing[right].records_path, f"{left}_row", f"{right}_row", folder, f"{left}_{right}")
        pairs = pd.read_parquet(result["pairs_path"])
        pairs, _ = drop_rejected_pairs(pairs, left, right, recs[left], recs[right], rejected_pairs(store, left, right))
        pairs.to_parquet(result["pairs_path"], index=False)
        return result

    cross, health = out / "crosscheck", out / "health-match"
    cross.mkdir(parents=True)
    health.mkdir(parents=True)
    cp, hp = link("civil", "poverty", cross), link("health", "poverty", cross)
    outputs = pipeline.crosscheck_outputs(ing["civil"], ing["poverty"], cp, cross, ing["health"], hp)
    _manifest("crosscheck", period, [ing["civil"], ing["poverty"], ing["health"]], outputs, cross, with_paths)
    hc, hp2 = link("health", "civil", health), link("health", "poverty", health)
    outputs = pipeline.health_outputs(ing["health"], ing["civil"], ing["poverty"], hc, hp2, health)
    _manifest("health-match", period, [ing["health"], ing["civil"], ing["poverty"]], outputs, health, with_paths)
    resolved = {job: annotate_with_history(out / job, store) for job in ("crosscheck", "health-match")}
    return {"ingest": ing, "records": recs, "resolved": resolved, "cross": cross, "health": health}


@pytest.fixture(scope="module")
def two_months(tmp_path_factory):
    from data.generate import generate_rosters, write_rosters

    base = tmp_path_factory.mktemp("months")
    home, store = base / "home", base / "home" / "reliefmatch.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RELIEFMATCH_HOME", str(home))
        patch.setenv("RELIEFMATCH_PERSON_KEY", "two-months-test-key")
        rosters = generate_rosters(seed=11, n_civil=300)
        oct_paths = write_rosters(rosters, base / "in-oct", format="fast")
        october = run_month(oct_paths, base / "out-oct", "2026-10", store, home, with_paths=False)

        poverty = rosters.poverty.copy()
        ident = poverty["证件号码"] + "/" + poverty["姓名"]
        inc = read_list(october["cross"] / "inclusion_candidates.csv")
        matches = read_list(october["cross"] / "matches.csv")
        clean = matches[(matches["match_method"] == "id_exact")].reset_index(drop=True)
        # October's review: candidates and pairs
        inc.loc[0:2, ["复核结论", "复核人"]] = ["确认", "王审核"]
        inc.loc[3, ["复核结论", "复核人", "备注"]] = ["否决", "王审核", "已外出务工"]
        inc.loc[4, ["复核结论", "复核人"]] = ["待定", "李复核"]
        inc.to_excel(base / "inclusion_reviewed.xlsx", index=False)
        decided = matches.set_index(["civil_row", "poverty_row"])
        rejected = [tuple(clean.loc[i, ["civil_row", "poverty_row"]]) for i in (0, 1, 2)]
        confirmed = [tuple(clean.loc[i, ["civil_row", "poverty_row"]]) for i in (3, 4)]
        for key in rejected:
            decided.loc[key, ["复核结论", "复核人"]] = ["否决", "王审核"]
        for key in confirmed:
            decided.loc[key, ["复核结论", "复核人"]] = ["确认", "王审核"]
        decided.reset_index().to_csv(base / "matches_reviewed.csv", index=False, encoding="utf-8-sig")
        import_review(base / "inclusion_reviewed.xlsx", store)
        import_review(base / "matches_reviewed.csv", store)

        # November's export: every roster in another order; two candidates no longer epidemic-affected;
        # two unlinked people newly affected; one rejected pair's poverty record has a new phone number
        candidate_rows = inc["poverty_row"].astype(int).tolist()
        risk_only = inc.index[inc["reason"].str.startswith("主要风险含因疫；未纳入")]
        resolved_rows = [candidate_rows[i] for i in risk_only if i > 4][-2:]
        assert len(resolved_rows) == 2
        linked = set(matches["poverty_row"].astype(int))
        fresh = [r for r in range(1, len(poverty) + 1) if r not in linked and r not in candidate_rows
                 and poverty.loc[r - 1, "姓名"] != "" and len(poverty.loc[r - 1, "证件号码"]) == 18
                 and (ident == ident[r - 1]).sum() == 1][:2]
        for r in resolved_rows:
            poverty.loc[r - 1, "主要风险"] = "因病"
        for r in fresh:
            poverty.loc[r - 1, "主要风险"] = "因疫"
        relinked = int(rejected[2][1])
        poverty.loc[relinked - 1, "联系电话"] = "13800000001"
        nov_rosters = type(rosters)(civil=rosters.civil.iloc[::-1].reset_index(drop=True),
                                    poverty=poverty.iloc[::-1].reset_index(drop=True),
                                    health=rosters.health.iloc[::-1].reset_index(drop=True),
                                    truth=rosters.truth, people=rosters.people)
        nov_paths = write_rosters(nov_rosters, base / "in-nov", format="fast")
        november = run_month(nov_paths, base / "out-nov", "2026-11", store, home, with_paths=True)
        from matchers.report import report_markdown, write_report

        written = write_report("2026-11", base / "report", store)
        markdown = report_markdown("2026-11", store)
    n_pov, n_civ = len(poverty), len(rosters.civil)
    return {
        "october": october, "november": november, "store": store, "written": written, "markdown": markdown,
        "oct_inc": inc, "rejected": rejected, "confirmed": confirmed, "relinked": relinked,
        "resolved_rows": resolved_rows, "fresh": fresh, "ident_oct": ident,
        "pov_nov": lambda r: n_pov + 1 - r, "civ_nov": lambda r: n_civ + 1 - r,
    }


def test_second_month_shows_first_months_decisions(two_months):
    oct_inc, nov = two_months["oct_inc"], two_months["november"]
    inc = read_list(nov["cross"] / "inclusion_candidates.csv").set_index("poverty_row")
    for i, expected in ((0, "已确认"), (1, "已确认"), (2, "已确认"), (3, "已否决"), (4, "待定")):
        row = str(two_months["pov_nov"](int(oct_inc.loc[i, "poverty_row"])))
        if row in inc.index:  # still a candidate in November
            assert inc.loc[row, "历史复核"] == expected
            assert inc.loc[row, "历史复核人"] == ("李复核" if i == 4 else "王审核")
    assert (inc["历史复核"] == "已确认").sum() == 3 and (inc["历史复核"] == "已否决").sum() == 1
    assert inc.loc[str(two_months["pov_nov"](int(oct_inc.loc[3, "poverty_row"]))), "历史备注"] == "已外出务工"
    matches = read_list(nov["cross"] / "matches.csv").set_index(["civil_row", "poverty_row"])
    for civil_row, poverty_row in two_months["confirmed"]:
        key = (str(two_months["civ_nov"](int(civil_row))), str(two_months["pov_nov"](int(poverty_row))))
        assert matches.loc[key, "历史复核"] == "已确认"


def test_new_continuing_and_resolved_are_marked(two_months):
    ident = two_months["ident_oct"]
    oct_rows = set(read_list(two_months["october"]["cross"] / "inclusion_candidates.csv")["poverty_row"].astype(int))
    nov = read_list(two_months["november"]["cross"] / "inclusion_candidates.csv")
    back = {two_months["pov_nov"](r): r for r in range(1, len(ident) + 1)}
    oct_people = {ident[r - 1] for r in oct_rows}
    nov["person"] = [ident[back[int(r)] - 1] for r in nov["poverty_row"]]
    expected = np.where(nov["person"].isin(oct_people), "延续", "新增")
    assert (nov["变化"].to_numpy() == expected).all()
    assert {ident[r - 1] for r in two_months["fresh"]} <= set(nov.loc[nov["变化"] == "新增", "person"])
    resolved = two_months["november"]["resolved"]["crosscheck"]
    gone = resolved[resolved["列表"] == "纳入救助候选"]
    expected_gone = oct_people - set(nov["person"])
    assert {ident[r - 1] for r in two_months["resolved_rows"]} <= expected_gone
    assert {ident[int(r) - 1] for r in gone["poverty_row"]} == expected_gone
    assert (gone["变化"] == "已解决").all()
    on_disk = read_list(two_months["november"]["cross"] / "resolved_candidates.csv")
    assert len(on_disk) == len(resolved)


def test_rejected_pairs_are_never_linked_again_unless_changed(two_months):
    matches = read_list(two_months["november"]["cross"] / "matches.csv")
    pairs = set(zip(matches["civil_row"].astype(int), matches["poverty_row"].astype(int)))
    unchanged = [p for p in two_months["rejected"] if int(p[1]) != two_months["relinked"]]
    for civil_row, poverty_row in unchanged:
        assert (two_months["civ_nov"](int(civil_row)), two_months["pov_nov"](int(poverty_row))) not in pairs
    changed = [p for p in two_months["rejected"] if int(p[1]) == two_months["relinked"]][0]
    key = (two_months["civ_nov"](int(changed[0])), two_months["pov_nov"](int(changed[1])))
    assert key in pairs
    row = matches[(matches["civil_row"].astype(int) == key[0]) & (matches["poverty_row"].astype(int) == key[1])]
    assert row["历史复核"].tolist() == [CHANGED_SINCE]


def test_report_counts_equal_the_output_files(two_months):
    from openpyxl import load_workbook

    from matchers.addresses import current_county_code

    nov = two_months["november"]
    inc = read_list(nov["cross"] / "inclusion_candidates.csv")
    disc = read_list(nov["cross"] / "discrepancies.csv")
    relief = read_list(nov["health"] / "relief_candidates.csv")
    book = load_workbook(two_months["written"]["xlsx"], read_only=True)
    assert book.sheetnames == ["市州", "县区", "说明"]
    rows = list(book["市州"].values)
    sheet = pd.DataFrame(rows[1:], columns=rows[0]).set_index("市州")
    total = sheet.loc["合计"]
    assert total["纳入救助候选"] == len(inc) and total["两部门记录不一致"] == len(disc) and total["临时救助候选"] == len(relief)
    for kind, count in inc["candidate_type"].value_counts().items():
        assert total[kind] == count
    for kind, count in relief["relief_type"].value_counts().items():
        assert total[kind] == count
    for bucket in ("临贫预警", "骤贫处置", "脱贫保稳"):
        assert total[bucket] == (inc["policy_bucket"] == bucket).sum()
    assert total["一事一议（死亡）"] == (relief["一事一议"] == "是").sum()
    assert total["非户籍地"] == (relief["非户籍地"] == "是").sum()
    history = pd.concat([inc["历史复核"], disc["历史复核"], relief["历史复核"]])
    assert total["已复核"] == history.isin(["已确认", "已否决"]).sum() == 4
    assert total["待定"] == (history == "待定").sum()
    assert total["办理时限"] == "2026-12-10"

    # per 市州, counted independently: poverty row -> the cached record's county -> first four digits
    poverty = nov["records"]["poverty"].set_index("poverty_row")["county_code"]
    civil = nov["records"]["civil"].set_index("civil_row")["county_code"]
    prefecture = lambda codes: current_county_code(pd.Series(list(codes), dtype="object")).str[:4] + "00"
    by_pref = pd.DataFrame({
        "纳入救助候选": prefecture(poverty.loc[inc["poverty_row"].astype(int)]).value_counts(),
        "两部门记录不一致": prefecture(civil.loc[disc["civil_row"].astype(int)]).value_counts(),
        "临时救助候选": prefecture(relief["救助责任县代码"]).value_counts(),
    }).fillna(0).astype(int)
    coded = sheet[sheet["市州代码"] != ""].set_index("市州代码")
    for code, row in by_pref.iterrows():
        for column in by_pref.columns:
            assert coded.loc[code, column] == row[column], (code, column)
    counties = list(book["县区"].values)
    county_sheet = pd.DataFrame(counties[1:], columns=counties[0])
    assert county_sheet.loc[county_sheet["市州"] == "合计", "候选合计"].item() == len(inc) + len(disc) + len(relief)

    page = two_months["written"]["html"].read_text(encoding="utf-8")
    assert "<svg" in page and "<script" not in page and "2026-12-10" in page
    names = set(inc.get("扶贫姓名", pd.Series(dtype=str))) | set(relief.get("感染者姓名", pd.Series(dtype=str)))
    for text in (page, two_months["markdown"]):
        assert not any(name and name in text for name in names)
    assert f"| **合计** | {len(inc):,} | {len(relief):,} |" in two_months["markdown"]


def _history_of_every_item(items: pd.DataFrame, decisions: pd.DataFrame, table: str, previous: set[str] | None) -> pd.DataFrame:
    """_history as it was: every item merged with the decisions."""
    from matchers.review import CONTINUING, HISTORY_LABEL, KINDS, NEW

    merged = items[["row_key", "identity", *[f"{k}_fp" for k in KINDS]]].merge(
        decisions[["identity", "conclusion", "reviewer", "note", "decided_at", *[f"{k}_fp" for k in KINDS]]],
        on="identity", how="left", suffixes=("", "_decided"))
    label = merged["conclusion"].map(HISTORY_LABEL)
    if table == "matches":
        changed = np.zeros(len(merged), dtype=bool)
        for kind in KINDS:
            changed |= (merged[f"{kind}_fp"].fillna("") != merged[f"{kind}_fp_decided"].fillna("")).to_numpy()
        label = label.where(~(changed & merged["conclusion"].notna().to_numpy()), CHANGED_SINCE)
    out = pd.DataFrame({
        "row_key": merged["row_key"], "identity": merged["identity"], "历史复核": label.fillna(""),
        "历史复核人": merged["reviewer"].fillna(""),
        "复核时间": pd.to_datetime(merged["decided_at"]).dt.strftime("%Y-%m-%d %H:%M").fillna(""),
        "历史备注": merged["note"].fillna(""),
    })
    out["变化"] = NEW if previous is None else np.where(out["identity"].isin(previous), CONTINUING, NEW)
    return out


@pytest.mark.parametrize("table", ["matches", "inclusion_candidates"])
@pytest.mark.parametrize("seed", range(4))
def test_history_merges_decided_rows_only_as_when_it_merged_every_row(table: str, seed: int) -> None:
    from matchers.review import _history

    rng = np.random.default_rng(seed)
    n = 40
    fp = lambda size: rng.choice(["a", "b", None], size)  # noqa: E731
    items = pd.DataFrame({"row_key": [f"r{i}" for i in range(n)], "identity": [f"p{i}" for i in rng.integers(0, 25, n)],
                          "civil_fp": fp(n), "poverty_fp": fp(n), "health_fp": fp(n)}, index=rng.permutation(n) + 100)
    decided = sorted(set(rng.choice([f"p{i}" for i in range(30)], int(seed * 4), replace=False)))
    decisions = pd.DataFrame({
        "identity": decided, "conclusion": rng.choice(["确认", "否决", "待定"], len(decided)),
        "reviewer": rng.choice(["王审核", None], len(decided)), "note": rng.choice(["已外出务工", None], len(decided)),
        "decided_at": pd.Timestamp("2026-10-05 09:30") + pd.to_timedelta(rng.integers(0, 10**6, len(decided)), unit="s"),
        "civil_fp": fp(len(decided)), "poverty_fp": fp(len(decided)), "health_fp": fp(len(decided))})
    previous = {f"p{i}" for i in range(0, 30, 3)} if seed % 2 else None
    pd.testing.assert_frame_equal(_history(items, decisions, table, previous),
                                  _history_of_every_item(items, decisions, table, previous))


def _place_history_by_copies(frame: pd.DataFrame, history: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """_place_history as it was: drop, insert, concatenate, reorder."""
    from matchers.columnar import by_position
    from matchers.review import HISTORY_COLUMNS, REVIEW_COLUMNS, RUN_COLUMN

    frame = frame.drop(columns=[c for c in HISTORY_COLUMNS if c in frame.columns])
    after = list(frame.columns).index("explanation") + 1 if "explanation" in frame.columns else len(frame.columns)
    for offset, column in enumerate(c for c in REVIEW_COLUMNS if c not in frame.columns):
        frame.insert(min(after + offset, len(frame.columns)), column, "")
    history = history.copy()
    history[RUN_COLUMN] = run_id
    anchor = max(list(frame.columns).index(c) for c in REVIEW_COLUMNS) + 1
    columns = list(frame.columns)
    ordered = [c for c in columns[:anchor] if c not in REVIEW_COLUMNS] + list(REVIEW_COLUMNS) + list(HISTORY_COLUMNS) + [
        c for c in columns[anchor:] if c not in REVIEW_COLUMNS]
    return pd.concat([by_position(frame), by_position(history[list(HISTORY_COLUMNS)])], axis=1)[ordered]


@pytest.mark.parametrize("columns", [
    ["civil_row", "poverty_row", "match_probability", "explanation", "姓名"],  # a first run: no review columns
    ["civil_row", "复核人", "explanation", "复核结论", "姓名"],  # some review columns, in an analyst's order
    ["poverty_row", "candidate_type", "历史复核", "变化", "批次", "复核结论", "复核人", "备注", "policy_bucket"],  # marked before
    ["health_row", "relief_type"],  # no explanation column
])
def test_history_placed_from_the_columns_as_by_copies(columns: list[str]) -> None:
    from matchers.review import _place_history

    frame = pd.DataFrame({c: [f"{c}{i}" for i in range(3)] for c in columns}, index=[7, 3, 5])
    history = pd.DataFrame({"row_key": ["a", "b", "c"], "identity": ["p", "q", "r"], "历史复核": ["已确认", "", ""],
                            "历史复核人": ["王审核", "", ""], "复核时间": ["2026-10-05 09:30", "", ""], "历史备注": ["", "", ""],
                            "变化": ["新增", "延续", "新增"]})
    pd.testing.assert_frame_equal(_place_history(frame, history, "run-2"), _place_history_by_copies(frame, history, "run-2"))
