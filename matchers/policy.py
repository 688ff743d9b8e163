"""The plan's rules applied to linked rosters: inclusion, discrepancy and relief candidates.

Everything is a join or a mask over whole frames; the categories come from schemas/policy.yaml.
Nothing here proposes removing anyone (plan item 12: exits suspended during the epidemic).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from matchers.addresses import county_name, current_county_code

YES, NO = "是", "否"


def _categories(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Category columns as plain text with blanks as "", so masks never meet a missing value."""
    out = frame.copy(deep=False)  # columns are replaced, never written into
    for column in columns:
        if column in out.columns:
            out[column] = _category_text(out[column])
    return out


def _category_text(series: pd.Series) -> pd.Series:
    """str(value).strip(), blanks as "": computed once per distinct value (categories repeat).

    Distinct values are found first and only they are type-checked and stripped; missing
    values take the last slot of the cleaned values (""). A categorical (rosters read for the
    rules) has them already: its categories are cleaned and its codes taken, nothing is hashed."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes, unique = series.cat.codes.to_numpy(), series.cat.categories.to_numpy(dtype=object)
    else:
        codes, unique = pd.factorize(series.to_numpy(dtype=object), use_na_sentinel=True)
    if pd.api.types.infer_dtype(unique, skipna=False) not in ("string", "empty"):  # mixed types: as str() sees them
        return series.astype("object").where(series.notna(), "").astype(str).str.strip()
    cleaned = np.empty(len(unique) + 1, dtype=object)
    cleaned[:-1] = [value.strip() for value in unique]
    cleaned[-1] = ""
    return pd.Series(cleaned[codes], index=series.index, dtype="object")


CATEGORY_COLUMNS = ["assistance_type", "status", "household_type", "monitoring_category", "main_risks",
                    "receives_dibao", "receives_tekun", "case_type", "outcome", "household_id", "relationship"]
CIVIL_STATUS_COLUMNS = ["assistance_type", "status"]  # what says whether a civil record is assisted


def _review_columns(frame: pd.DataFrame, policy: dict[str, Any]) -> pd.DataFrame:
    for column in policy["review_columns"]:
        frame[column] = ""
    return frame


def covered_civil_rows(civil: pd.DataFrame, policy: dict[str, Any]) -> pd.Series:
    """civil_row of people already assisted: an active 低保 or 特困 record."""
    assisted = policy["assisted"]
    mask = civil["assistance_type"].isin(assisted["civil_categories"]) & (civil["status"] == assisted["civil_active_status"])
    return civil.loc[mask, "civil_row"]


def inclusion_candidates(
    poverty: pd.DataFrame,
    civil: pd.DataFrame,
    civil_poverty_pairs: pd.DataFrame,
    policy: dict[str, Any],
    health: pd.DataFrame | None = None,
    health_poverty_pairs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Poverty-roster people affected by the epidemic and not yet covered by assistance (item 4)."""
    rule = policy["inclusion"]
    # only the category columns read here are made text: a million rows' households cost a third of a second
    poverty = _categories(poverty, ["household_type", "monitoring_category", "main_risks"]
                          + (["household_id"] if health is not None else []))
    civil = _categories(civil, CIVIL_STATUS_COLUMNS)
    health = _categories(health, ["case_type"]) if health is not None else None
    people = poverty[["poverty_row", "household_id", "household_type", "monitoring_category", "main_risks"]].copy()
    codes, risk_lists = pd.factorize(people["main_risks"].fillna(""))  # a few distinct risk lists
    listed = np.array([rule["epidemic_risk"] in text.split("、") for text in risk_lists], dtype=bool)
    risk = pd.Series(listed[codes] if len(codes) else np.zeros(0, dtype=bool), index=people.index)
    reasons = pd.DataFrame({"poverty_row": people["poverty_row"], "risk": risk.to_numpy()})
    reasons["self_case"] = False
    reasons["household_case"] = False
    if health is not None and health_poverty_pairs is not None:
        confirmed = health.loc[health["case_type"] == rule["confirmed_case_type"], "health_row"]
        hit_rows = health_poverty_pairs.loc[health_poverty_pairs["health_row"].isin(confirmed), "poverty_row"]
        reasons["self_case"] = reasons["poverty_row"].isin(hit_rows).to_numpy()
        hit_households = people.loc[people["poverty_row"].isin(hit_rows), "household_id"]
        hit_households = hit_households[hit_households.fillna("") != ""]
        reasons["household_case"] = (people["household_id"].isin(hit_households) & ~reasons["self_case"].to_numpy()).to_numpy()
    affected = (reasons["risk"] | reasons["self_case"] | reasons["household_case"]).to_numpy()

    covered = set(covered_civil_rows(civil, policy))
    covered_poverty = civil_poverty_pairs.loc[civil_poverty_pairs["civil_row"].isin(covered), "poverty_row"]
    not_covered = ~people["poverty_row"].isin(covered_poverty).to_numpy()

    chosen = people.loc[affected & not_covered].copy()
    why = reasons.loc[affected & not_covered]
    text = np.where(why["risk"], "主要风险含因疫", "")
    text = np.where(why["self_case"], np.char.add(text.astype(str), np.where(text != "", "；本人确诊", "本人确诊")), text)
    text = np.where(why["household_case"], np.char.add(text.astype(str), np.where(text != "", "；同户成员确诊", "同户成员确诊")), text)
    ctype = rule["candidate_type"]
    out = pd.DataFrame({
        "poverty_row": chosen["poverty_row"].to_numpy(),
        "candidate_type": np.where(chosen["household_type"] == ctype["lifted_out_household_type"], ctype["returned"], ctype["newly_poor"]),
        "policy_bucket": chosen["monitoring_category"].map(rule["policy_bucket"]).fillna("").to_numpy(),
        "reason": np.char.add(text.astype(str), "；未纳入民政低保或特困供养"),
    })
    return _review_columns(out.sort_values("poverty_row").reset_index(drop=True), policy)


def discrepancies(civil: pd.DataFrame, poverty: pd.DataFrame, civil_poverty_pairs: pd.DataFrame, policy: dict[str, Any]) -> pd.DataFrame:
    """Matched pairs where the poverty roster's 低保/特困 flags disagree with civil 在保 status."""
    rule = policy["discrepancy"]
    fields = [check["field"] for check in rule["checks"]]
    civil, poverty = _categories(civil, CIVIL_STATUS_COLUMNS), _categories(poverty, fields)
    active = policy["assisted"]["civil_active_status"]
    pairs = civil_poverty_pairs[["civil_row", "poverty_row"]].merge(
        civil[["civil_row", *CIVIL_STATUS_COLUMNS]], on="civil_row"
    ).merge(poverty[["poverty_row", *fields]], on="poverty_row")
    frames = []
    for check in rule["checks"]:
        civil_yes = pairs["assistance_type"].isin(check["civil_categories"]) & (pairs["status"] == active)
        poverty_says = pairs[check["field"]].fillna("").str.strip()
        poverty_yes = poverty_says == YES
        differs = (civil_yes != poverty_yes) & poverty_says.isin([YES, NO])
        part = pairs.loc[differs].copy()
        civil_text = part["status"].fillna("") + part["assistance_type"].fillna("")
        frames.append(pd.DataFrame({
            "civil_row": part["civil_row"].to_numpy(),
            "poverty_row": part["poverty_row"].to_numpy(),
            "field": check["label"],
            "poverty_says": poverty_says[differs].to_numpy(),
            "civil_says": civil_text.to_numpy(),
            "discrepancy_type": np.where(poverty_yes[differs], f"扶贫名册称{check['label'][2:]}，民政未在保", f"民政在保，扶贫名册称未{check['label'][2:]}"),
        }))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    out = out.sort_values(["civil_row", "poverty_row", "field"]).reset_index(drop=True)
    return _review_columns(out, policy)


def _best_link(pairs: pd.DataFrame, key: str) -> pd.DataFrame:
    return pairs.sort_values(["health_row", "match_probability", key], ascending=[True, False, True]).drop_duplicates("health_row")


def relief_candidates(
    health: pd.DataFrame,
    civil: pd.DataFrame,
    poverty: pd.DataFrame,
    health_civil_pairs: pd.DataFrame,
    health_poverty_pairs: pd.DataFrame,
    policy: dict[str, Any],
) -> pd.DataFrame:
    """One row per infected case in scope, with the relief route and the flags (item 5)."""
    rule = policy["relief"]
    assisted = policy["assisted"]
    health, civil = _categories(health, ["case_type", "outcome"]), _categories(civil, CIVIL_STATUS_COLUMNS)
    poverty = _categories(poverty, ["household_type"])
    cases = health.loc[health["case_type"].isin(rule["case_types"])].copy()
    civil_link = _best_link(health_civil_pairs, "civil_row")[["health_row", "civil_row"]].merge(
        civil[["civil_row", *CIVIL_STATUS_COLUMNS]], on="civil_row", how="left")
    poverty_link = _best_link(health_poverty_pairs, "poverty_row")[["health_row", "poverty_row"]].merge(
        poverty[["poverty_row", "household_type"]], on="poverty_row", how="left")
    cases = cases.merge(civil_link, on="health_row", how="left").merge(poverty_link, on="health_row", how="left")
    cases = _categories(cases, [*CIVIL_STATUS_COLUMNS, "household_type"])

    civil_assisted = cases["assistance_type"].isin(assisted["civil_categories"]) & (cases["status"] == assisted["civil_active_status"])
    poverty_assisted = cases["household_type"].isin(assisted["poverty_household_types"])
    monitoring = cases["household_type"] == assisted["monitoring_household_type"]
    direct = civil_assisted | poverty_assisted
    relief_type = np.where(direct, rule["direct"], np.where(monitoring, rule["provisional"], rule["after_check"]))
    reason = np.where(civil_assisted, "民政在保" + cases["assistance_type"].fillna(""),
             np.where(poverty_assisted, "扶贫名册" + cases["household_type"].fillna(""),
             np.where(monitoring, "扶贫名册监测户",
             np.where(cases["civil_row"].notna(), "民政" + cases["status"].fillna("") + cases["assistance_type"].fillna("") + "，需核实困难情况",
                      "未匹配到救助名册，需核实困难情况"))))

    registered = cases["registered_county_code"].where(cases["registered_county_code"].notna(), current_county_code(cases["id_county"]))
    report = cases["report_county_code"]
    migrant = registered.notna() & report.notna() & (registered != report)
    acting = report.where(report.notna(), registered)
    out = pd.DataFrame({
        "health_row": cases["health_row"].astype("int64").to_numpy(),
        "civil_row": pd.array(cases["civil_row"], dtype="Int64"),
        "poverty_row": pd.array(cases["poverty_row"], dtype="Int64"),
        "relief_type": relief_type,
        rule["death"]["flag"]: np.where(cases["outcome"] == rule["death"]["outcome"], YES, NO),
        rule["migrant"]["flag"]: np.where(migrant, YES, NO),
        "救助责任县代码": acting.fillna("").to_numpy(),
        "救助责任县": acting.map(lambda c: county_name(c) or "" if isinstance(c, str) else "").to_numpy(),
        "reason": reason,
    })
    return _review_columns(out.sort_values("health_row").reset_index(drop=True), policy)


def household_members(
    health: pd.DataFrame,
    civil: pd.DataFrame,
    poverty: pd.DataFrame,
    health_civil_pairs: pd.DataFrame,
    health_poverty_pairs: pd.DataFrame,
    policy: dict[str, Any],
) -> pd.DataFrame:
    """Every member of each matched infected case's household, the case included."""
    health = _categories(health, ["case_type"])
    civil, poverty = (_categories(f, ["household_id", "relationship"]) for f in (civil, poverty))
    cases = health.loc[health["case_type"].isin(policy["relief"]["case_types"]), ["health_row"]]
    frames = []
    for pairs, roster, row in ((health_civil_pairs, civil, "civil_row"), (health_poverty_pairs, poverty, "poverty_row")):
        link = _best_link(pairs[pairs["health_row"].isin(cases["health_row"])], row)[["health_row", row]]
        link = link.merge(roster[[row, "household_id"]], on=row)
        link = link[link["household_id"].fillna("") != ""]
        members = link[["health_row", "household_id"]].merge(roster[[row, "household_id", "relationship"]], on="household_id")
        members["source"] = "民政" if row == "civil_row" else "扶贫"
        frames.append(members.drop(columns=["household_id"]))
    out = pd.concat(frames, ignore_index=True)
    for row in ("civil_row", "poverty_row"):
        out[row] = out[row].astype("Int64") if row in out else pd.array([pd.NA] * len(out), dtype="Int64")
    out = out[["health_row", "civil_row", "poverty_row", "source", "relationship"]]
    return out.sort_values(["health_row", "source", "civil_row", "poverty_row"], na_position="last").reset_index(drop=True)
