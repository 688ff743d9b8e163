"""Every branch of the plan's rules on small hand-built rosters, asserting the exact rows."""
import pandas as pd
import pytest

from matchers import policy as rules
from schemas.policy import load_policy

POLICY = load_policy()


def civil_roster():
    # household C1: 在保 农村低保 (rows 1, 2); C2: 停保 城市低保 (3); C3: 在保 特困供养 (4); C4: 在保 孤儿 (5)
    return pd.DataFrame({
        "civil_row": [1, 2, 3, 4, 5],
        "household_id": ["C1", "C1", "C2", "C3", "C4"],
        "relationship": ["户主", "配偶", "户主", "户主", "户主"],
        "assistance_type": ["农村低保", "农村低保", "城市低保", "特困供养", "孤儿"],
        "status": ["在保", "在保", "停保", "在保", "在保"],
    })


def poverty_roster():
    return pd.DataFrame({
        "poverty_row": [1, 2, 3, 4, 5, 6, 7, 8],
        "household_id": ["P1", "P1", "P2", "P3", "P4", "P4", "P5", "P6"],
        "relationship": ["户主", "子", "户主", "户主", "户主", "配偶", "户主", "户主"],
        "household_type": ["脱贫户", "脱贫户", "监测户", "监测户", "未脱贫户", "未脱贫户", "监测户", "脱贫户"],
        "monitoring_category": ["", "", "边缘易致贫户", "突发严重困难户", "", "", "脱贫不稳定户", ""],
        "main_risks": ["因疫", "因疫", "因病、因疫", "因灾", "", "", "因疫", "因残"],
        "receives_dibao": ["是", "是", "否", "否", "否", "否", "是", "否"],
        "receives_tekun": ["否", "否", "否", "否", "否", "否", "否", "是"],
    })


def health_roster():
    return pd.DataFrame({
        "health_row": [1, 2, 3, 4, 5, 6, 7],
        "case_type": ["确诊病例", "确诊病例", "确诊病例", "确诊病例", "无症状感染者", "确诊病例", "确诊病例"],
        "outcome": ["治疗中", "死亡", "治愈出院", "治疗中", "治疗中", "治疗中", "治疗中"],
        "report_county_code": ["220104", "220104", "220104", "220104", "220104", "220104", "220104"],
        "registered_county_code": ["220104", None, None, None, None, None, None],
        "id_county": ["220104", "220104", "110105", "220381", "220104", "220104", "220104"],
    })


def pairs(left, right, rows):
    return pd.DataFrame({left: [a for a, _ in rows], right: [b for _, b in rows], "match_probability": 0.99})


CIVIL_POVERTY = pairs("civil_row", "poverty_row", [(1, 1), (3, 3), (4, 8)])
HEALTH_CIVIL = pairs("health_row", "civil_row", [(1, 1), (2, 3), (6, 5)])
HEALTH_POVERTY = pairs("health_row", "poverty_row", [(3, 3), (4, 5), (7, 4)])


def test_inclusion_candidates_without_health():
    out = rules.inclusion_candidates(poverty_roster(), civil_roster(), CIVIL_POVERTY, POLICY)
    # row 1 is covered (matched to 在保 农村低保); row 2 (same household, unmatched) is not; row 3 matched only
    # to a 停保 record; row 7 因疫 监测户; rows 4-6, 8 have no 因疫 risk
    assert out["poverty_row"].tolist() == [2, 3, 7]
    assert out["candidate_type"].tolist() == ["因疫返贫", "因疫致贫", "因疫致贫"]
    assert out["policy_bucket"].tolist() == ["", "临贫预警", "脱贫保稳"]
    assert all(r.startswith("主要风险含因疫") for r in out["reason"])
    assert {"复核结论", "复核人", "备注"} <= set(out.columns)
    assert (out[["复核结论", "复核人", "备注"]] == "").all().all()


def test_inclusion_candidates_with_confirmed_cases_and_households():
    out = rules.inclusion_candidates(poverty_roster(), civil_roster(), CIVIL_POVERTY, POLICY,
                                     health_roster(), HEALTH_POVERTY)
    # health 4 (确诊) → poverty 5, household P4 → row 6 too; health 7 → poverty 4 (突发严重困难户)
    assert out["poverty_row"].tolist() == [2, 3, 4, 5, 6, 7]
    reasons = dict(zip(out["poverty_row"], out["reason"]))
    assert reasons[3].startswith("主要风险含因疫；本人确诊")
    assert reasons[4].startswith("本人确诊")
    assert reasons[6].startswith("同户成员确诊")
    buckets = dict(zip(out["poverty_row"], out["policy_bucket"]))
    assert buckets[4] == "骤贫处置"
    types = dict(zip(out["poverty_row"], out["candidate_type"]))
    assert types[5] == "因疫致贫"  # 未脱贫户


def test_asymptomatic_case_does_not_make_an_inclusion_candidate():
    health = health_roster()
    hp = pairs("health_row", "poverty_row", [(5, 4)])  # 无症状感染者 → poverty 4 (no 因疫 risk)
    out = rules.inclusion_candidates(poverty_roster(), civil_roster(), CIVIL_POVERTY, POLICY, health, hp)
    assert 4 not in out["poverty_row"].tolist()


def test_discrepancies_both_ways():
    out = rules.discrepancies(civil_roster(), poverty_roster(), CIVIL_POVERTY, POLICY)
    rows = list(zip(out["civil_row"], out["poverty_row"], out["field"], out["poverty_says"]))
    assert rows == []  # the hand-built rosters agree: (1,1) 在保低保/是, (3,3) 停保/否, (4,8) 在保特困/是
    poverty = poverty_roster()
    poverty.loc[poverty["poverty_row"] == 3, "receives_dibao"] = "是"   # poverty says yes, civil 停保
    poverty.loc[poverty["poverty_row"] == 1, "receives_dibao"] = "否"   # civil 在保 农村低保, poverty says no
    out = rules.discrepancies(civil_roster(), poverty, CIVIL_POVERTY, POLICY)
    assert list(zip(out["civil_row"], out["poverty_row"], out["poverty_says"])) == [(1, 1, "否"), (3, 3, "是")]
    assert out["discrepancy_type"].tolist() == ["民政在保，扶贫名册称未享受低保", "扶贫名册称享受低保，民政未在保"]
    assert out["civil_says"].tolist() == ["在保农村低保", "停保城市低保"]


def test_relief_candidates_every_route_and_flag():
    out = rules.relief_candidates(health_roster(), civil_roster(), poverty_roster(), HEALTH_CIVIL, HEALTH_POVERTY, POLICY)
    # asymptomatic health 5 excluded by default
    assert out["health_row"].tolist() == [1, 2, 3, 4, 6, 7]
    route = dict(zip(out["health_row"], out["relief_type"]))
    assert route == {
        1: "直接临时救助",   # civil 在保 农村低保
        2: "核实后救助",     # only a 停保 civil row
        3: "先行临时救助",   # poverty 监测户 only
        4: "直接临时救助",   # poverty 未脱贫户
        6: "核实后救助",     # only a civil 孤儿 row
        7: "先行临时救助",   # 监测户
    }
    death = dict(zip(out["health_row"], out["一事一议"]))
    assert [h for h, v in death.items() if v == "是"] == [2]
    migrant = dict(zip(out["health_row"], out["非户籍地"]))
    # health 3: ID from Beijing 110105; health 4: old code 220381 (公主岭, now 220184) ≠ 220104
    assert [h for h, v in migrant.items() if v == "是"] == [3, 4]
    assert set(out["救助责任县代码"]) == {"220104"}


def test_relief_candidates_unmatched_case_needs_a_check():
    empty = pd.DataFrame({"health_row": pd.Series([], dtype="int64"), "civil_row": pd.Series([], dtype="int64"),
                          "match_probability": pd.Series([], dtype="float64")})
    empty_p = empty.rename(columns={"civil_row": "poverty_row"})
    out = rules.relief_candidates(health_roster(), civil_roster(), poverty_roster(), empty, empty_p, POLICY)
    assert set(out["relief_type"]) == {"核实后救助"}
    assert out["civil_row"].isna().all() and out["poverty_row"].isna().all()


def test_asymptomatic_cases_when_configured():
    policy = dict(POLICY, relief=dict(POLICY["relief"], case_types=["确诊病例", "无症状感染者"]))
    out = rules.relief_candidates(health_roster(), civil_roster(), poverty_roster(), HEALTH_CIVIL, HEALTH_POVERTY, policy)
    assert 5 in out["health_row"].tolist()


def test_household_members_expand_the_matched_households():
    out = rules.household_members(health_roster(), civil_roster(), poverty_roster(), HEALTH_CIVIL, HEALTH_POVERTY, POLICY)
    got = [(h, None if pd.isna(c) else int(c), None if pd.isna(p) else int(p)) for h, c, p in
           zip(out["health_row"], out["civil_row"], out["poverty_row"])]
    assert got == [
        (1, 1, None), (1, 2, None),       # civil household C1
        (2, 3, None),                     # civil household C2
        (3, None, 3),                     # poverty household P2
        (4, None, 5), (4, None, 6),       # poverty household P4
        (6, 5, None),                     # civil household C4
        (7, None, 4),                     # poverty household P3
    ]
    assert out.loc[(out["health_row"] == 4) & (out["poverty_row"] == 6), "relationship"].item() == "配偶"
