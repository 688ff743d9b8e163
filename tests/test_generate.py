"""The synthetic roster generator: determinism, valid clean IDs, truth consistency, corruption rates."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd
import pytest

# data/ is not an installed package; the generator is imported with the project root on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data.generate import (  # noqa: E402
    CIVIL_COLUMNS,
    HEALTH_COLUMNS,
    ID_COLUMN,
    ID_CORRUPTIONS,
    NAME_CORRUPTIONS,
    POVERTY_COLUMNS,
    TRUTH_COLUMNS,
    generate_rosters,
    true_pairs,
    write_rosters,
)

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
HEADERS = {"civil": CIVIL_COLUMNS, "poverty": POVERTY_COLUMNS, "health": HEALTH_COLUMNS}


def check_char(first17: str) -> str:
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, WEIGHTS)) % 11]


def is_valid_id(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9]{17}[0-9X]", value)) and check_char(value[:17]) == value[17]


@pytest.fixture(scope="module")
def rosters():
    return generate_rosters(20260401, 20_000)


def with_truth(rosters, file: str) -> pd.DataFrame:
    """Roster rows joined to their truth and to the clean person record."""
    frame = rosters.frame(file).reset_index(drop=True)
    truth = rosters.truth_for(file)
    joined = pd.concat([frame, truth], axis=1)
    return joined.merge(rosters.people, on="person_id", how="left")


def test_reference_check_character():
    assert check_char("11010519491231002") == "X"
    assert check_char("44052418800101001") == "4"


def test_headers_exact(rosters):
    for file, header in HEADERS.items():
        frame = rosters.frame(file)
        assert tuple(frame.columns) == header
        assert all(frame[c].map(type).eq(str).all() for c in frame.columns)
    assert tuple(rosters.truth.columns) == TRUTH_COLUMNS


def test_row_counts_and_truth_alignment(rosters):
    assert len(rosters.civil) == 20_000
    assert len(rosters.poverty) == 14_000
    assert len(rosters.health) == 1_000
    for file in HEADERS:
        frame, truth = rosters.frame(file), rosters.truth_for(file)
        assert len(truth) == len(frame)
        assert truth["row"].tolist() == list(range(1, len(frame) + 1))
        assert frame["序号"].tolist() == [str(i) for i in range(1, len(frame) + 1)]
        assert set(truth["id_corruption"]) <= set(ID_CORRUPTIONS)
        assert set(truth["name_corruption"]) <= set(NAME_CORRUPTIONS)


def test_deterministic():
    a, b = generate_rosters(7, 1500), generate_rosters(7, 1500)
    for file in HEADERS:
        pd.testing.assert_frame_equal(a.frame(file), b.frame(file))
    pd.testing.assert_frame_equal(a.truth, b.truth)
    c = generate_rosters(8, 1500)
    assert not a.civil.equals(c.civil)


def test_clean_ids_valid_and_unique(rosters):
    assert rosters.people["id_number"].is_unique
    assert rosters.people["id_number"].map(is_valid_id).all()
    for file in HEADERS:
        rows = with_truth(rosters, file)
        clean = rows[(rows["id_corruption"] == "clean") & (rows["junk"] == 0)]
        assert (clean[ID_COLUMN[file]] == clean["id_number"]).all()
        assert rows.loc[rows["junk"] == 0, "county_code"].str.startswith("22").all()


def test_id_corruption_forms(rosters):
    rows = with_truth(rosters, "civil")
    ids, true = rows["身份证号码"], rows["id_number"]
    kind = rows["id_corruption"]

    def part(label: str) -> tuple[pd.Series, pd.Series]:
        mask = kind == label
        assert mask.any(), label
        return ids[mask], true[mask]

    got, want = part("legacy15")
    assert (got.str.len() == 15).all()
    upgraded = got.str[:6] + "19" + got.str[6:]
    assert (upgraded.map(lambda s: s + check_char(s)) == want).all()
    got, want = part("scientific")
    assert got.str.fullmatch(r"2\.\d{1,14}E\+17").all()
    assert (got.astype(float) == ((want.astype("int64") + 500) // 1000 * 1000).astype(float)).all()
    got, want = part("zeros")
    assert ((got.str[:15] == want.str[:15]) & got.str.endswith("000")).all()
    got, want = part("lowercase")
    assert (got == want.str.replace("X", "x")).all()
    got, want = part("space")
    assert (got.str.replace(" ", "") == want).all()
    got, want = part("apostrophe")
    assert (got == "'" + want).all()
    got, want = part("fullwidth")
    assert (got.str.normalize("NFKC") == want).all()
    got, want = part("typo")
    assert [sum(a != b for a, b in zip(g, w)) for g, w in zip(got, want)] == [1] * len(got)
    got, want = part("transposition")
    assert (got.map(sorted) == want.map(sorted)).all() and (got != want).all()
    got, _ = part("blank")
    assert (got == "").all()


def test_name_corruption_forms(rosters):
    rows = with_truth(rosters, "civil")
    kind = rows["name_corruption"]
    clean = rows[(kind == "clean") & (rows["junk"] == 0)]
    assert (clean["姓名"] == clean["name"]).all()
    spaced = rows[kind == "space"]
    assert (spaced["姓名"].str.replace(r"[ \u3000]", "", regex=True) == spaced["name"]).all()
    for label in ("homophone", "lookalike"):
        changed = rows[kind == label]
        assert len(changed) > 0
        diffs = [sum(a != b for a, b in zip(g, w)) for g, w in zip(changed["姓名"], changed["name"])]
        assert diffs == [1] * len(changed)
        assert (changed["姓名"].str.len() == changed["name"].str.len()).all()
    trad = rows[kind == "traditional"]
    assert len(trad) > 0 and (trad["姓名"] != trad["name"]).all()
    dots = rows[rows["name"].str.contains("\u00b7", na=False)]
    assert len(dots) > 0
    dotted = dots[dots["name_corruption"] == "dot"]
    assert (dotted["姓名"] != dotted["name"]).all()


@pytest.mark.parametrize(
    "file,label,rate,tolerance",
    [
        ("civil", "blank", 0.03, 0.008),
        ("health", "blank", 0.05, 0.03),
        ("poverty", "typo", 0.015, 0.005),
        ("civil", "scientific", 0.01, 0.004),
        ("civil", "transposition", 0.007, 0.003),
    ],
)
def test_id_corruption_rates(rosters, file, label, rate, tolerance):
    truth = rosters.truth_for(file)
    share = (truth.loc[truth["junk"] == 0, "id_corruption"] == label).mean()
    assert abs(share - rate) < tolerance


def test_name_corruption_rates(rosters):
    truth = rosters.truth_for("civil")
    shares = truth["name_corruption"].value_counts(normalize=True)
    assert abs(shares["homophone"] - 0.02) < 0.006
    assert abs(shares["space"] - 0.02) < 0.006
    assert abs(shares["traditional"] - 0.01) < 0.004


def test_legacy15_rate_among_pre_2000(rosters):
    rows = with_truth(rosters, "civil")
    eligible = rows[(rows["junk"] == 0) & (rows["birth_date"] < "2000")]
    assert 0.01 < (eligible["id_corruption"] == "legacy15").mean() < 0.03


def test_zero_corruption_is_clean():
    clean = generate_rosters(3, 3000, corruption=0.0)
    assert (clean.truth["id_corruption"] == "clean").all()
    assert (clean.truth["name_corruption"] == "clean").all()
    assert clean.truth["junk"].sum() == 0
    assert clean.civil["身份证号码"].map(is_valid_id).all()
    assert clean.civil["纳入日期"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()


def test_junk_rows_have_no_name_or_id(rosters):
    for file in HEADERS:
        frame, truth = rosters.frame(file), rosters.truth_for(file)
        junk = frame[(truth["junk"] == 1).to_numpy()]
        assert len(junk) >= 1
        assert (junk["姓名"] == "").all() and (junk[ID_COLUMN[file]] == "").all()
        assert (truth.loc[truth["junk"] == 1, "person_id"] == "").all()


def test_overlap_by_household(rosters):
    pairs = true_pairs(rosters.truth, "civil", "poverty")
    poverty_people = (rosters.truth_for("poverty")["junk"] == 0).sum()
    assert 0.45 < len(pairs) / poverty_people < 0.55
    civil_hh = rosters.civil.set_index(rosters.civil["序号"].astype(int))["家庭编号"]
    poverty_hh = rosters.poverty.set_index(rosters.poverty["序号"].astype(int))["户编号"]
    linked = pd.DataFrame({"c": civil_hh.loc[pairs["left_row"]].to_numpy(),
                           "p": poverty_hh.loc[pairs["right_row"]].to_numpy()})
    civil_sizes = rosters.civil.groupby("家庭编号").size()
    linked_sizes = linked.groupby("c").size()
    assert (linked_sizes == civil_sizes.loc[linked_sizes.index]).all()
    assert linked.groupby("c")["p"].nunique().eq(1).all()
    health_people = (rosters.truth_for("health")["junk"] == 0).sum()
    from_civil = true_pairs(rosters.truth, "civil", "health")["right_row"].nunique()
    linked_health = [true_pairs(rosters.truth, f, "health")["right_row"] for f in ("civil", "poverty")]
    from_either = pd.concat(linked_health).nunique()
    # 40% drawn from civil plus the civil half of the 30% drawn from poverty
    assert 0.45 < from_civil / health_people < 0.65
    assert 0.6 < from_either / health_people < 0.8


def test_households_and_codes(rosters):
    civil = rosters.civil[rosters.truth_for("civil")["junk"].eq(0).to_numpy()]
    assert civil["行政区划代码"].str.fullmatch(r"22\d{10}").all()
    assert civil.groupby("家庭编号")["户主姓名"].nunique().eq(1).all()
    first = civil.groupby("家庭编号", sort=False).head(1)
    assert (first["与户主关系"] == "户主").all()
    assert set(civil["救助类别"]) <= {"城市低保", "农村低保", "特困供养", "孤儿", "临时救助"}
    assert 0.88 < (civil["状态"] == "在保").mean() < 0.96
    yanbian = civil[civil["行政区划代码"].str.startswith("2224")]
    assert yanbian["姓名"].str[0].isin(list("金李朴崔郑")).mean() > 0.3
    assert civil["姓名"].duplicated(keep=False).mean() > 0.2


def test_write_sample_formats(tmp_path):
    small = generate_rosters(20260401, 400)
    paths = write_rosters(small, tmp_path, "sample")
    civil = pd.read_csv(paths["civil"], dtype=str, keep_default_na=False, encoding="gb18030")
    pd.testing.assert_frame_equal(civil, small.civil, check_dtype=False)
    assert paths["health"].read_bytes().startswith(b"\xef\xbb\xbf")
    from openpyxl import load_workbook

    sheet = load_workbook(paths["poverty"], read_only=True).active
    id_col = POVERTY_COLUMNS.index("证件号码")
    cells = [row[id_col] for row in sheet.iter_rows(min_row=2, values_only=True)]
    kinds = small.truth_for("poverty")["id_corruption"].tolist()
    assert len(cells) == len(kinds)
    for cell, kind in zip(cells, kinds):
        if kind in ("zeros", "scientific"):
            assert isinstance(cell, (int, float))
        elif kind != "blank":
            assert isinstance(cell, str)
    truth = pd.read_csv(paths["truth"], dtype=str, keep_default_na=False)
    assert len(true_pairs(truth, "civil", "poverty")) == len(true_pairs(small.truth, "civil", "poverty"))


def test_write_fast_format(tmp_path):
    small = generate_rosters(1, 200)
    paths = write_rosters(small, tmp_path, "fast")
    assert {p.name for p in paths.values()} == {"civil.csv", "poverty.csv", "health.csv", "truth.csv"}
    health = pd.read_csv(paths["health"], dtype=str, keep_default_na=False)
    assert tuple(health.columns) == HEALTH_COLUMNS and len(health) == len(small.health)
