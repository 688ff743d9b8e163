"""The monthly report: counts per 市州 and county from the store, deadline, and no personal data."""
from __future__ import annotations

import pandas as pd
import pytest

from matchers.report import period_summary, report_markdown, svg_bars, write_report
from matchers.review import annotate_with_history, import_review
from matchers.store import StoreError
from tests.conftest import LEAK_ID, LEAK_NAME, make_id
from tests.test_store import inclusion, make_run, records

IDS = [make_id(f"2202021980010100{i}") for i in range(6)]


def relief(rows: list[int], types: list[str], counties: list[str], deaths: list[str], migrants: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"health_row": rows, "civil_row": pd.array([None] * len(rows), dtype="Int64"),
                         "poverty_row": pd.array([None] * len(rows), dtype="Int64"), "relief_type": types,
                         "一事一议": deaths, "非户籍地": migrants, "救助责任县代码": counties, "救助责任县": "",
                         "reason": "", "复核结论": "", "复核人": "", "备注": "", "感染者姓名": LEAK_NAME})


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.delenv("RELIEFMATCH_PERSON_KEY", raising=False)
    store = tmp_path / "h.duckdb"
    poverty = records("poverty", [(IDS[0], "甲", "220381"), (IDS[1], "乙", "220202"), (IDS[2], "丙", "220202"), (LEAK_ID, LEAK_NAME, None)])
    civil = records("civil", [(IDS[1], "乙", "222401")])
    table = inclusion([1, 2, 3, 4], ["因疫返贫", "因疫致贫", "因疫返贫", "因疫返贫"]).assign(policy_bucket=["临贫预警", "", "骤贫处置", ""])
    table["扶贫姓名"] = ["甲", "乙", "丙", LEAK_NAME]
    disc = pd.DataFrame({"civil_row": [1], "poverty_row": [2], "field": ["是否享受低保"], "poverty_says": ["否"], "civil_says": ["在保城市低保"],
                         "discrepancy_type": ["x"], "复核结论": "", "复核人": "", "备注": ""})
    cross = make_run(tmp_path / "cross", "crosscheck", "2026-11", {"civil": civil, "poverty": poverty},
                     {"inclusion_candidates": table, "discrepancies": disc})
    health = records("health", [(IDS[3], "丁", "220102"), (IDS[4], "戊", "220102")])
    first = make_run(tmp_path / "h1", "health-match", "2026-11", {"health": health},
                     {"relief_candidates": relief([1, 2], ["直接临时救助", "核实后救助"], ["220102", "220102"], ["否", "是"], ["否", "否"])})
    health2 = records("health", [(IDS[4], "戊", "220102"), (IDS[5], "己", "222401")])
    second = make_run(tmp_path / "h2", "health-match", "2026-11", {"health": health2},
                      {"relief_candidates": relief([1, 2], ["直接临时救助", "先行临时救助"], ["220102", "222401"], ["是", "否"], ["否", "是"])})
    for folder in (cross, first, second):
        annotate_with_history(folder, store)
    reviewed = pd.read_csv(cross / "inclusion_candidates.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    reviewed.loc[0, ["复核结论", "复核人"]] = ["确认", "张三"]
    reviewed.loc[1, ["复核结论", "复核人"]] = ["待定", "张三"]
    reviewed.to_csv(tmp_path / "r.csv", index=False, encoding="utf-8-sig")
    import_review(tmp_path / "r.csv", store)
    return store


def test_counts_per_prefecture_and_county(store):
    summary = period_summary("2026-11", store)
    pref = summary.prefectures.set_index("市州")
    assert pref.loc["长春市", "纳入救助候选"] == 1 and pref.loc["长春市", "临贫预警"] == 1   # 220381 is 公主岭 → 长春
    assert pref.loc["吉林市", "纳入救助候选"] == 2 and pref.loc["吉林市", "骤贫处置"] == 1
    assert pref.loc["未知", "纳入救助候选"] == 1
    assert pref.loc["延边朝鲜族自治州", "两部门记录不一致"] == 1                            # the civil record's county
    # relief: both health runs of the month, one row per person (the later one wins)
    assert pref.loc["长春市", "临时救助候选"] == 2 and pref.loc["延边朝鲜族自治州", "临时救助候选"] == 1
    assert pref.loc["长春市", "一事一议（死亡）"] == 1 and pref.loc["延边朝鲜族自治州", "非户籍地"] == 1
    assert pref.loc["长春市", "直接临时救助"] == 2 and pref.loc["长春市", "核实后救助"] == 0
    total = pref.loc["合计"]
    assert total["候选合计"] == 4 + 1 + 3 and total["已复核"] == 1 and total["待定"] == 1 and total["未复核"] == 6
    assert total["复核进度"] == pytest.approx(1 / 8, abs=1e-4)
    counties = summary.counties.set_index("县区")
    assert counties.loc["公主岭市", "市州"] == "长春市" and counties.loc["公主岭市", "纳入救助候选"] == 1
    assert summary.counties.loc[summary.counties["市州"] == "合计", "候选合计"].item() == 8
    assert (summary.prefectures["办理时限"] == "2026-12-10").all()


def test_files_and_markdown_carry_counts_only(store, tmp_path):
    written = write_report("2026-11", tmp_path / "report", store)
    assert written["xlsx"].name == "reliefmatch-report-2026-11.xlsx"
    page = written["html"].read_text(encoding="utf-8")
    markdown = report_markdown("2026-11", store)
    from openpyxl import load_workbook

    book = load_workbook(written["xlsx"], read_only=True)
    cells = " ".join(str(v) for sheet in book for row in sheet.values for v in row)
    for text in (page, markdown, cells):
        assert LEAK_NAME not in text and LEAK_ID not in text
    assert "<script" not in page and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert page.count("<svg") == 4 and "办理时限" in page
    assert markdown.startswith("# 救助比对月报 2026-11") and "| **合计** | 4 | 3 |" in markdown
    assert book.sheetnames == ["市州", "县区", "说明"]


def test_svg_bars_escape_and_scale():
    svg = svg_bars(["<a>", "b"], [10, 5], "t&t")
    assert "&lt;a&gt;" in svg and "t&amp;t" in svg and 'width="360.0"' in svg and 'width="180.0"' in svg


def test_period_without_runs_is_a_clear_error(store):
    with pytest.raises(StoreError, match="no recorded runs for 2026-12"):
        period_summary("2026-12", store)


def test_one_person_listed_twice_is_counted_where_its_first_row_is(tmp_path, monkeypatch):
    """Two rows of one list for the same person (an ID entered twice in a roster): the report keeps the one
    with the lower row numbers, whatever order DuckDB meets them in, so the same store gives the same counts."""
    monkeypatch.delenv("RELIEFMATCH_PERSON_KEY", raising=False)
    store = tmp_path / "h.duckdb"
    poverty = records("poverty", [(IDS[0], "甲", "220381"), (IDS[0], "甲", "220202")])
    table = inclusion([2, 1], ["因疫返贫", "因疫返贫"])  # the second row first: items are stored in list order
    annotate_with_history(make_run(tmp_path / "cross", "crosscheck", "2026-11", {"poverty": poverty},
                                   {"inclusion_candidates": table}), store)
    pref = period_summary("2026-11", store).prefectures.set_index("市州")
    assert pref.loc["合计", "纳入救助候选"] == 1
    assert pref.loc["长春市", "纳入救助候选"] == 1  # poverty row 1: 220381 (公主岭, 长春), not row 2's 吉林市
