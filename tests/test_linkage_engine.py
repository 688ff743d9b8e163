"""Blocking union and report, EM, model round trip, one-to-one, ties, vetoes, explanations."""
from __future__ import annotations

from concurrent.futures import Executor, ProcessPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pypinyin import lazy_pinyin

from matchers.ids import id_check_character
from matchers.linkage import LinkageModel, link, load_settings, settings_from_dict
from matchers.linkage.decision import _best_other, one_to_one

SURNAMES = list("王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华")
HOMOPHONE = {"伟": "玮", "芳": "方", "静": "婧", "丽": "莉", "军": "君", "明": "鸣", "华": "桦", "杰": "洁"}
COUNTIES = ["220102", "220103", "220104", "220182", "220183", "220202"]
VILLAGES = [f"{c}村" for c in "红光前进胜利新兴东风和平团结永丰"]


def pinyin(name: str | None) -> str | None:
    return " ".join(lazy_pinyin(name)) if name else None


def make_person(rng: np.random.Generator, i: int) -> dict:
    county = COUNTIES[rng.integers(len(COUNTIES))]
    birth = f"{rng.integers(1940, 2010)}{rng.integers(1, 13):02d}{rng.integers(1, 29):02d}"
    seq = f"{rng.integers(0, 1000):03d}"
    first17 = county + birth + seq
    name = SURNAMES[rng.integers(len(SURNAMES))] + "".join(GIVEN[k] for k in rng.integers(len(GIVEN), size=rng.integers(1, 3)))
    return {
        "person": i, "id_number": first17 + id_check_character(first17), "birth_date": birth,
        "sex": "男" if int(seq[-1]) % 2 else "女", "name_norm": name, "county_code": county,
        "town": f"{county}镇{rng.integers(3)}", "village": VILLAGES[rng.integers(len(VILLAGES))],
        "addr_detail": f"{rng.integers(1, 9)}组{rng.integers(1, 60)}号",
        "phone": f"139{rng.integers(10**7, 10**8)}" if rng.random() < 0.5 else None,
    }


def finish(rows: list[dict]) -> pd.DataFrame:
    out = pd.DataFrame(rows)
    out["record_key"] = np.arange(len(out), dtype=np.int64) + 1000
    out["id_status"] = np.where(out["id_number"].notna(), out.get("id_status", "valid"), "blank")
    if "id_status_override" in out:
        out["id_status"] = out["id_status_override"].fillna(out["id_status"])
    out["id_prefix"] = out["id_prefix_override"].fillna(out["id_number"]) if "id_prefix_override" in out else out["id_number"]
    out["id_county"] = out["id_prefix"].str[:6]
    out["name_pinyin"] = out["name_norm"].map(pinyin)
    out["name_nodot"] = out["name_norm"]
    out["surname"] = out["name_norm"].str[0]
    out["given_name"] = out["name_norm"].str[1:]
    out["addr_norm"] = out["county_code"] + out["village"] + out["addr_detail"]
    out["household_id"] = out["record_key"].astype(str)
    return out


def noisy_copy(rng: np.random.Generator, p: dict) -> dict:
    q = dict(p)
    r = rng.random()
    if r < 0.10:
        q["id_number"] = None
        q["birth_date"] = None if rng.random() < 0.5 else q["birth_date"]
    elif r < 0.15:
        i = 15
        q["id_number"] = p["id_number"][:i] + p["id_number"][i + 1] + p["id_number"][i] + p["id_number"][17]
        if q["id_number"] == p["id_number"]:
            q["id_number"] = p["id_number"][:10] + str((int(p["id_number"][10]) + 1) % 10) + p["id_number"][11:]
        q["id_status_override"] = "bad_check"
    elif r < 0.20:
        q["id_prefix_override"] = p["id_number"][:14]
        q["id_number"] = None
        q["id_status_override"] = "truncated"
    if rng.random() < 0.15:
        given = "".join(HOMOPHONE.get(c, c) for c in q["name_norm"][1:])
        q["name_norm"] = q["name_norm"][0] + given
    if rng.random() < 0.2:
        q["addr_detail"] = None
    return q


@pytest.fixture(scope="module")
def rosters() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(7)
    people = [make_person(rng, i) for i in range(900)]
    left = finish(people[:700])
    right_rows = [noisy_copy(rng, p) for p in people[:500]] + people[700:]
    right = finish([right_rows[k] for k in rng.permutation(len(right_rows))])
    truth = left[["person", "record_key"]].merge(right[["person", "record_key"]], on="person")
    truth = truth.rename(columns={"record_key_x": "left_key", "record_key_y": "right_key"})[["left_key", "right_key"]]
    return left, right, truth


@pytest.fixture(scope="module")
def settings():
    return load_settings("chinese_rosters")


@pytest.fixture(scope="module")
def result(rosters, settings):
    left, right, truth = rosters
    return link(left, right, settings, truth_pairs=truth)


def test_em_converges_and_links_accurately(result, rosters):
    _, _, truth = rosters
    assert result.model.training["em_converged"]
    found = result.pairs.merge(truth, on=["left_key", "right_key"])
    precision = len(found) / len(result.pairs)
    recall = len(found) / len(truth)
    assert precision >= 0.98 and recall >= 0.95, (precision, recall)
    assert 400 <= result.model.match_rate * 700 <= 600
    id_model = result.model.comparison("id_number")
    w = dict(zip(id_model.labels, id_model.weights()))
    assert w["exact"] > 8 and w["different_valid"] < -5 and w["missing"] == 0
    # m of different_valid is fixed (households would teach EM otherwise); u still estimated
    assert id_model.m[id_model.labels.index("different_valid_close")] == pytest.approx(0.001)
    assert id_model.m[id_model.labels.index("different_valid")] == pytest.approx(0.0001)
    assert 0.5 < id_model.u[id_model.labels.index("different_valid")] < 1
    assert result.model.training["em_anchor"] == "id_number"
    assert 0 < result.model.training["em_anchor_pairs"] < result.model.training["n_candidates"]


def test_household_members_without_ids_do_not_link(settings):
    """Blank IDs, one address and one phone per household: EM must learn "same person", not
    "same household", and a household member must not take the place of the person."""
    rng = np.random.default_rng(11)
    people = [make_person(rng, i) for i in range(600)]
    rows_left, rows_right = [], []
    for k, p in enumerate(people):
        p["phone"] = f"139{10**7 + k:08d}"
        rows_left.append(p)
        if k % 3 == 0:      # only the household head's spouse is on the right roster, with a blank ID
            spouse = dict(p, person=10_000 + k, name_norm=p["name_norm"][0] + "秀兰", id_number=None, birth_date=None)
            rows_right.append(spouse)
        else:
            rows_right.append(dict(p))
    left, right = finish(rows_left), finish(rows_right)
    result = link(left, right, settings)
    linked = result.pairs.merge(left[["record_key", "person"]], left_on="left_key", right_on="record_key")
    linked = linked.merge(right[["record_key", "person"]], left_on="right_key", right_on="record_key", suffixes=("_l", "_r"))
    assert (linked["person_l"] == linked["person_r"]).all()
    assert len(linked) == 400


def test_output_columns_methods_and_explanations(result):
    pairs = result.pairs
    for col in ["left_key", "right_key", "match_weight", "match_probability", "match_method",
                "review_required", "review_reason", "explanation", "gamma_id_number", "gamma_name"]:
        assert col in pairs.columns
    assert set(pairs["match_method"]) <= {"id_exact", "id_repaired", "fuzzy"}
    assert {"id_exact", "id_repaired", "fuzzy"} <= set(pairs["match_method"])
    assert pairs["explanation"].str.len().gt(0).all()
    assert pairs["explanation"].str.contains("身份证号相同").any()
    homophone = pairs[pairs["explanation"].str.contains("姓名同音")]
    assert homophone["explanation"].str.contains(r"姓名同音\(.+/.+\)").all()
    assert pairs["left_key"].is_unique and pairs["right_key"].is_unique
    assert (pairs["match_probability"] >= 0.5).all()
    assert (pairs.loc[pairs["match_probability"] < 0.99, "review_required"]).all()


def test_blocking_report(result):
    report = result.blocking_report
    assert list(report["rule"])[:2] == ["id_exact", "id_birth_county"]
    assert report["rule"].iloc[-1] == "(union)"
    rules = report.iloc[:-1]
    assert (rules["new_pairs"] <= rules["pairs_generated"]).all()
    assert rules["new_pairs"].sum() == report["new_pairs"].iloc[-1]
    assert report["pairs_completeness"].is_monotonic_increasing
    assert report["pairs_completeness"].iloc[-1] >= 0.98


def test_model_round_trip_same_predictions(result, rosters, settings, tmp_path):
    left, right, _ = rosters
    path = tmp_path / "model.json"
    result.model.to_json(path)
    loaded = LinkageModel.from_json(path)
    assert loaded.to_dict() == result.model.to_dict()
    again = link(left, right, settings, model=loaded)
    pd.testing.assert_frame_equal(again.pairs, result.pairs)
    assert again.model is loaded


def test_model_must_fit_settings(result, rosters):
    left, right, _ = rosters
    other = load_settings("febrl")
    with pytest.raises(ValueError, match="comparisons"):
        link(left, right, other, model=result.model)


TINY = {
    "name": "tiny", "key": "record_key", "max_block_pairs": 4,
    "decision": {"upper": 0.9, "lower": 0.5, "tie_margin": 1.0},
    "blocking_rules": [
        {"name": "name", "equal": ["name"]},
        {"name": "city", "equal": ["city"]},
        {"name": "name_city", "equal": ["name", "city"]},
    ],
    "comparisons": [
        {"name": "name", "kind": "exact", "column": "name"},
        {"name": "city", "kind": "exact", "column": "city"},
    ],
}


def test_blocking_union_dedup_and_cap():
    settings = settings_from_dict(TINY)
    left = pd.DataFrame({"record_key": np.array([1, 2, 3], dtype=np.int64), "name": ["a", "b", "c"],
                         "city": ["x", "x", "y"]})
    right = pd.DataFrame({"record_key": np.array([10, 11, 12], dtype=np.int64), "name": ["a", "b", ""],
                          "city": ["x", "x", "x"]})
    truth = pd.DataFrame({"left_key": [1, 2], "right_key": [10, 11]})
    res = link(left, right, settings, truth_pairs=truth)
    rep = res.blocking_report.set_index("rule")
    assert rep.loc["name", "pairs_generated"] == 2  # empty string never blocks
    # the city block x has 2 × 3 = 6 pairs > cap 4: skipped and reported
    assert rep.loc["city", "blocks_capped"] == 1 and rep.loc["city", "pairs_capped"] == 6
    assert rep.loc["city", "pairs_generated"] == 0
    assert rep.loc["name_city", "pairs_generated"] == 2 and rep.loc["name_city", "new_pairs"] == 0
    assert rep.loc["(union)", "new_pairs"] == 2 and rep.loc["(union)", "pairs_completeness"] == 1.0


def test_one_to_one_keeps_best_and_drops_rest():
    left = np.array([0, 0, 1, 1, 2])
    right = np.array([0, 1, 0, 1, 1])
    weight = np.array([10.0, 9.0, 12.0, 3.0, 8.0])
    kept = one_to_one(left, right, weight)
    # (1,0) is best overall; then (0,1) at 9 beats (2,1) at 8; (0,0) and (1,1) lose their partners
    assert kept.tolist() == [False, True, True, False, False]


def _best_other_by_groups(keys: np.ndarray, weight: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The definition: the best weight among the other pairs of the same key."""
    out = []
    for row in rows:
        others = weight[(keys == keys[row]) & (np.arange(len(keys)) != row)]
        out.append(others.max() if len(others) else -np.inf)
    return np.array(out, dtype=float)


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from([-3.0, 0.0, 1.5, 2.0, 7.25])), max_size=30), st.data())
def test_best_other_is_the_best_rival_of_the_same_key(pairs, data):
    keys = np.array([k for k, _ in pairs], dtype=np.int64)
    weight = np.array([w for _, w in pairs], dtype=float)
    rows = np.array(data.draw(st.lists(st.integers(0, max(len(pairs) - 1, 0)), max_size=len(pairs) and 10)), dtype=np.int64)
    assert _best_other(keys, weight, rows).tolist() == _best_other_by_groups(keys, weight, rows).tolist()
    keys = np.sort(keys)  # the left keys of candidate pairs come sorted: grouped without a sort
    assert _best_other(keys, weight, rows).tolist() == _best_other_by_groups(keys, weight, rows).tolist()


def test_near_tie_flagged_and_duplicate_dropped():
    settings = settings_from_dict({**TINY, "max_block_pairs": 100})
    left = pd.DataFrame({"record_key": np.array([1], dtype=np.int64), "name": ["a"], "city": ["x"]})
    right = pd.DataFrame({"record_key": np.array([10, 11, 12, 13], dtype=np.int64), "name": ["a", "a", "q", "r"],
                          "city": ["x", "x", "z", "w"]})
    res = link(left, right, settings, keep_scored=True)
    assert len(res.pairs) == 1  # one-to-one: the twin candidate is not output
    row = res.pairs.iloc[0]
    assert row["review_required"] and "near_tie" in row["review_reason"]
    assert len(res.scored) == 2


def test_sibling_guard_never_links(settings):
    """Twins: same birth date and address, names one given-name character apart, no IDs."""
    base = {"birth_date": "19900312", "sex": "男", "county_code": "220102", "town": "永春镇", "village": "红旗村",
            "addr_detail": "3组12号", "phone": None, "id_number": None}
    people = [
        {**base, "name_norm": "蒋经国"},
        {**base, "name_norm": "刘德华", "birth_date": "19700101", "addr_detail": "5组1号"},
    ]
    rng = np.random.default_rng(3)
    filler = [make_person(rng, i) for i in range(200)]
    left = finish([people[0], people[1], *filler])
    right = finish([{**base, "name_norm": "蒋纬国"}, dict(people[1]), *filler])
    res = link(left, right, settings, keep_scored=True)
    twin_l = left.loc[left["name_norm"] == "蒋经国", "record_key"].item()
    twin_r = right.loc[right["name_norm"] == "蒋纬国", "record_key"].item()
    assert not ((res.pairs["left_key"] == twin_l) & (res.pairs["right_key"] == twin_r)).any()
    scored = res.scored[(res.scored["left_key"] == twin_l) & (res.scored["right_key"] == twin_r)]
    assert len(scored) == 1 and scored["veto"].item()
    namesake_l = left.loc[left["name_norm"] == "刘德华", "record_key"].item()
    assert namesake_l in set(res.pairs["left_key"])


def test_bad_key_rejected(settings):
    frame = pd.DataFrame({"record_key": [1, 1]})
    with pytest.raises(ValueError, match="not unique"):
        link(frame, frame, settings)


def test_blocking_expressions_on_one_side_and_distinct_values():
    """A left/right rule keyed on an ID status reaches only pairs where that side's ID is unusable;
    an expression (substr) joins like the column it reads; candidates are sorted and unique."""
    from matchers.linkage.blocking import generate_candidates

    unusable = "CASE WHEN id_status NOT IN ('valid', 'upgraded15') THEN county_code END"
    settings = settings_from_dict({
        **TINY,
        "max_block_pairs": 100,
        "blocking_rules": [
            {"name": "unusable_left", "equal": [{"left": unusable, "right": "county_code"}, "name"]},
            {"name": "prefix", "equal": ["CASE WHEN length(code) = 4 THEN substr(code, 1, 2) END"]},
        ],
    })
    left = pd.DataFrame({"record_key": np.arange(3, dtype=np.int64), "name": ["a", "a", "b"],
                         "county_code": ["220102", "220102", "220102"],
                         "id_status": ["valid", "blank", "bad_check"], "code": ["1234", "9999", "12"]})
    right = pd.DataFrame({"record_key": np.arange(3, dtype=np.int64), "name": ["a", "b", "a"],
                          "county_code": ["220102", "220102", "220103"],
                          "id_status": ["valid", "valid", "blank"], "code": ["1299", None, "12xx"]})
    cand = generate_candidates(left, right, settings)
    pairs = list(zip(cand.left_pos.tolist(), cand.right_pos.tolist()))
    # (1,0) and (2,1): left ID unusable, same county and name; (0,0),(0,2): 12.. prefix
    assert pairs == [(0, 0), (0, 2), (1, 0), (2, 1)]
    rep = cand.report.set_index("rule")
    assert rep.loc["unusable_left", "pairs_generated"] == 2
    assert rep.loc["prefix", "pairs_generated"] == 2 and rep.loc["(union)", "new_pairs"] == 4


BLOCK_VALUES = st.sampled_from(["x", "y", "z", "", None])
BLOCK_RULES = [{"name": "a", "equal": ["a"]}, {"name": "a_b", "equal": ["a", "b"]},
               {"name": "b_a_swapped", "equal": [{"left": "b", "right": "a"}]}]


def _rule_pairs_by_definition(left: pd.DataFrame, right: pd.DataFrame, on: list[tuple[str, str]], cap: int):
    """Pairs whose every part is equal and not blank, except blocks over the cap: a loop over all pairs."""
    def key(row, columns):
        values = tuple(row[c] for c in columns)
        return None if any(v is None or v == "" for v in values) else values

    lkeys = [key(r, [l for l, _ in on]) for _, r in left.iterrows()]
    rkeys = [key(r, [r_ for _, r_ in on]) for _, r in right.iterrows()]
    size = {k: lkeys.count(k) * rkeys.count(k) for k in set(lkeys) if k is not None}
    pairs = {(i, j) for i, kl in enumerate(lkeys) for j, kr in enumerate(rkeys)
             if kl is not None and kl == kr and size[kl] <= cap}
    capped = [k for k, n in size.items() if n > cap]
    return pairs, len(capped), sum(size[k] for k in capped)


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(BLOCK_VALUES, BLOCK_VALUES), max_size=12),
       st.lists(st.tuples(BLOCK_VALUES, BLOCK_VALUES), max_size=12), st.integers(1, 6))
def test_blocking_rules_join_like_their_definition(left_rows, right_rows, cap):
    """Each rule's pairs, capped blocks and the union equal a loop over all pairs (rows without a
    partner on the other side are set aside before the join; that must lose nothing)."""
    from matchers.linkage.blocking import generate_candidates

    settings = settings_from_dict({**TINY, "max_block_pairs": cap, "blocking_rules": BLOCK_RULES})
    left = pd.DataFrame(left_rows or [], columns=["a", "b"], dtype=object)
    right = pd.DataFrame(right_rows or [], columns=["a", "b"], dtype=object)
    for frame in (left, right):
        frame.insert(0, "record_key", np.arange(len(frame), dtype=np.int64))
    if left.empty or right.empty:
        return
    cand = generate_candidates(left, right, settings)
    report = cand.report.set_index("rule")
    union = set()
    for rule in BLOCK_RULES:
        on = [(p["left"], p["right"]) if isinstance(p, dict) else (p, p) for p in rule["equal"]]
        pairs, blocks, capped = _rule_pairs_by_definition(left, right, on, cap)
        assert report.loc[rule["name"], "pairs_generated"] == len(pairs)
        assert (report.loc[rule["name"], "blocks_capped"], report.loc[rule["name"], "pairs_capped"]) == (blocks, capped)
        union |= pairs
    assert list(zip(cand.left_pos.tolist(), cand.right_pos.tolist())) == sorted(union)


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-1, 4), max_size=15), st.lists(st.integers(-1, 4), max_size=15), st.integers(1, 6))
def test_join_pairs_equal_codes_by_left_then_right_row(left, right, cap):
    from matchers.linkage.blocking import _join

    kl, kr = np.array(left, dtype=np.int64), np.array(right, dtype=np.int64)
    size = {k: left.count(k) * right.count(k) for k in set(left) if k >= 0}
    expected = [(i, j) for i, a in enumerate(left) for j, b in enumerate(right) if a >= 0 and a == b and size[a] <= cap]
    li, ri, blocks, capped = _join(kl, kr, cap)
    assert list(zip(li.tolist(), ri.tolist())) == expected
    assert (blocks, capped) == (sum(n > cap for n in size.values()), sum(n for n in size.values() if n > cap))


FIXED_TEXT = st.one_of(st.none(), st.text(alphabet="019X张", min_size=0, max_size=17))


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.lists(FIXED_TEXT, max_size=30), st.integers(1, 17), st.booleans(), st.integers(0, 3))
def test_key_codes_of_fixed_width_text_equal_arrow_dictionary_codes(values, width, large, cut):
    """Text of one byte length read as integers gives Arrow's dictionary codes (first appearance, NULL -1),
    on sliced arrays too; other text takes Arrow's path."""
    from matchers.linkage.blocking import _dictionary_codes

    fixed = [v if v is None else (v * width).encode("utf-8")[:width].decode("utf-8", "ignore") for v in values]
    for case in (fixed, values):
        array = pa.array([None] * cut + case, type=pa.large_string() if large else pa.string())[cut:]
        expected = pc.fill_null(pc.dictionary_encode(array).indices, -1).to_numpy(zero_copy_only=False)
        assert _dictionary_codes(array).tolist() == expected.tolist()


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(-1, 3), st.integers(-1, 40)), min_size=1, max_size=40), st.booleans())
def test_combined_codes_are_one_per_tuple_with_its_first_row(rows, spread):
    """_combine: equal tuples share a dense code, different tuples differ, a -1 part gives -1, and the
    first row of each code is the tuple's first occurrence (few possible tuples, or spread: many)."""
    from matchers.linkage.blocking import _combine

    rows = [(a, b * 100_003 if spread and b >= 0 else b) for a, b in rows]
    codes = [np.array([r[i] for r in rows], dtype=np.int64) for i in (0, 1)]
    combined, first = _combine(codes)
    tuples = [r if -1 not in r else None for r in rows]
    for i, a in enumerate(tuples):
        assert (combined[i] == -1) == (a is None)
        for j, b in enumerate(tuples):
            if a is not None and b is not None:
                assert (combined[i] == combined[j]) == (a == b)
    distinct = {t for t in tuples if t is not None}
    assert sorted(set(combined[combined >= 0].tolist())) == list(range(len(distinct)))
    assert [tuples.index(tuples[first[c]]) for c in range(len(distinct))] == first.tolist()


def test_blocking_is_deterministic_and_order_free():
    """Row order does not change which records pair (keys, not positions), and reruns are identical."""
    settings = load_settings("chinese_rosters")
    rows = pd.DataFrame({
        "record_key": np.arange(4, dtype=np.int64),
        "id_number": ["220102198001010011", None, "220102198001010038", "220102198001010011"],
        "id_status": ["valid", "blank", "valid", "valid"],
        "id_prefix": ["220102198001010011", None, "220102198001010038", "220102198001010011"],
        "birth_date": ["19800101", None, "19800101", "19800101"],
        "name_pinyin": ["wang wei", "li ming", "li ming", "zhang san"],
        "county_code": ["220102"] * 4, "town": ["t"] * 4, "village": ["x"] * 4, "phone": [None] * 4,
    })
    from matchers.linkage.blocking import generate_candidates

    a = generate_candidates(rows, rows, settings)
    b = generate_candidates(rows, rows, settings)
    assert np.array_equal(a.left_pos, b.left_pos) and np.array_equal(a.right_pos, b.right_pos)
    pairs = set(zip(a.left_pos.tolist(), a.right_pos.tolist()))
    assert (1, 2) in pairs and (2, 1) in pairs       # blank ID: namesake in the county
    assert (0, 3) in pairs                           # same ID
    assert (0, 2) in pairs                           # ID fragment (county + birth date) agrees
    shuffled = rows.iloc[[3, 2, 1, 0]].reset_index(drop=True)
    c = generate_candidates(shuffled, rows, settings)
    keys = {(int(shuffled["record_key"][i]), int(rows["record_key"][j])) for i, j in zip(c.left_pos, c.right_pos)}
    assert keys == {(int(rows["record_key"][i]), int(rows["record_key"][j])) for i, j in pairs}


def test_blank_id_finds_a_surname_slip_in_the_same_town_without_a_village():
    """余莹珍 (blank ID, street address without a community) and 佘莹珍 (valid ID, community
    given): no shared village, full pinyin or surname; the town and the given name pair them.
    Another town, or a usable ID on both sides, does not."""
    settings = load_settings("chinese_rosters")
    from matchers.linkage.blocking import generate_candidates

    left = pd.DataFrame({
        "record_key": np.arange(2, dtype=np.int64),
        "id_number": [None, "220503193604088201"], "id_status": ["blank", "valid"],
        "id_prefix": [None, "220503193604088201"], "birth_date": [None, "19360408"],
        "name_pinyin": ["yu ying zhen", "yu ying zhen"],
        "county_code": ["220503", "220503"], "town": ["新兴街道", "新兴街道"], "village": [None, None], "phone": [None, None],
    })
    right = pd.DataFrame({
        "record_key": np.arange(3, dtype=np.int64),
        "id_number": ["220503193604088201", "220503195001011234", "220503196002021234"],
        "id_status": ["valid", "valid", "valid"],
        "id_prefix": ["220503193604088201", "220503195001011234", "220503196002021234"],
        "birth_date": ["19360408", "19500101", "19600202"],
        "name_pinyin": ["she ying zhen", "she ying zhen", "xu ying zhen"],
        "county_code": ["220503", "220503", "220503"], "town": ["新兴街道", "东昌街道", "新兴街道"],
        "village": ["南湖社区", "南湖社区", "新华社区"], "phone": [None, None, None],
    })
    cand = generate_candidates(left, right, settings)
    pairs = set(zip(cand.left_pos.tolist(), cand.right_pos.tolist()))
    assert (0, 0) in pairs and (0, 2) in pairs      # blank ID: given name ying zhen in the town
    assert (0, 1) not in pairs                      # another town
    assert (1, 2) not in pairs                      # both IDs usable and different
    rep = cand.report.set_index("rule")
    assert rep.loc["town_given_unusable_left", "pairs_generated"] == 2


def test_em_level_no_pair_reaches_takes_no_m_from_the_others():
    """A roster without a detail address never reaches the best address level: its prior m
    (0.9) must not leave "same village" only the remaining tenth of the matches' mass."""
    from matchers.linkage.scoring import Patterns, run_em

    settings = settings_from_dict({
        **TINY,
        "comparisons": [
            {"name": "name", "kind": "exact", "column": "name"},
            {"name": "address", "levels": [
                {"label": "missing", "is_null": True, "when": {"missing": "village"}},
                {"label": "exact", "when": {"exact": "detail"}},
                {"label": "same_village", "when": {"exact": "village"}},
                {"label": "different", "when": "else"},
            ]},
        ],
    })
    # name levels: missing, exact, different; 900 matches (exact name, same village), 9000 strangers
    levels = np.array([[1, 2], [2, 3], [2, 2], [1, 3]], dtype=np.int64)
    counts = np.array([900.0, 9000.0, 30.0, 30.0])
    u = {"name": np.array([np.nan, 0.001, 0.999]), "address": np.array([np.nan, 1e-6, 0.001, 0.998999])}
    model = run_em(Patterns(levels, counts, np.zeros(0, np.int64)), settings, u, 1000, 1000)
    m = model.comparison("address").m
    assert m[1] == pytest.approx(0.9)  # unseen: keeps its prior
    assert m[2] > 0.9  # the level matches do reach gets (nearly) all of their mass


def test_blank_id_meets_a_namesake_at_its_registered_address():
    """Health cases living in 通榆 whose registered address (户籍地址) is in 二道区, where the
    civil list knows them. Either ID may be the unusable one; two usable IDs, or no registered
    address, are left to the other rules as before."""
    settings = load_settings("chinese_rosters")
    from matchers.linkage.blocking import generate_candidates

    n = 4
    health = pd.DataFrame({
        "record_key": np.arange(n, dtype=np.int64),
        "id_number": [None, "220105195203040011", "220105195203040011", None],
        "id_status": ["blank", "valid", "valid", "blank"],
        "id_prefix": [None, "220105195203040011", "220105195203040011", None],
        "birth_date": [None, "19520304", "19520304", None],
        "name_pinyin": ["wang shu fen", "li guo qiang", "zhao min", "sun li"],
        "county_code": ["220822"] * n, "town": ["开通镇"] * n, "village": ["新华村"] * n,
        "phone": [None] * n,
        "reg_county_code": ["220105", "220105", "220105", None],
        "reg_town": ["湖西街道"] * 3 + [None], "reg_village": ["春城社区"] * 3 + [None],
        "reg_detail": [None] * n, "reg_norm": [None] * n,
    })
    civil = pd.DataFrame({
        "record_key": np.arange(n, dtype=np.int64),
        "id_number": ["220105195001010011", None, "220105196107080025", None],
        "id_status": ["valid", "blank", "valid", "blank"],
        "id_prefix": ["220105195001010011", None, "220105196107080025", None],
        "birth_date": ["19500101", None, "19610708", None],
        "name_pinyin": ["wang shu fen", "li guo qiang", "zhao min", "sun li"],
        "county_code": ["220105"] * n, "town": ["湖西街道"] * n, "village": ["春城社区"] * n,
        "phone": [None] * n,
    })  # no registered-address columns at all: they count as missing
    cand = generate_candidates(health, civil, settings)
    pairs = set(zip(cand.left_pos.tolist(), cand.right_pos.tolist()))
    assert (0, 0) in pairs          # blank ID on the health list, namesake at its registered address
    assert (1, 1) in pairs          # blank ID on the civil list
    assert (2, 2) not in pairs      # two usable IDs that differ: two people
    assert (3, 3) not in pairs      # no registered address: lives elsewhere, nothing to meet at
    rep = cand.report.set_index("rule")
    assert rep.loc["pinyin_county_reg_left_unusable_left", "pairs_generated"] == 1
    assert rep.loc["pinyin_county_reg_left_unusable_right", "pairs_generated"] == 1
    # the same lists the other way round
    cand = generate_candidates(civil, health, settings)
    assert {(0, 0), (1, 1)} <= set(zip(cand.left_pos.tolist(), cand.right_pos.tolist()))


def test_registered_address_is_standardised_and_passed_to_the_view():
    """The health roster keeps its registered address parsed (reg_town … reg_norm); every
    linkage view has these columns, None on the lists without a registered address."""
    from pathlib import Path

    from matchers.pipeline import linkage_view
    from matchers.standardise import standardise_roster
    from schemas.readers import READ_PROBLEM, RawRoster

    frame = pd.DataFrame({
        "seq": ["1", "2"], "name": ["王淑芬", "李国强"], "sex": ["女", "男"], "id_number": ["", ""],
        "phone": ["", ""], "current_address": ["吉林省通榆县开通镇新华村3组12号", "吉林省二道区湖西街道春城社区5栋"],
        "registered_address": ["吉林省长春市二道区湖西街道春城社区普阳大路157#28-6-803", ""],
        "report_area": ["通榆县", "二道区"], "case_type": ["确诊病例", "确诊病例"], "diagnosis_date": ["2022-03-04", ""],
        "outcome": ["治疗中", "治疗中"], "health_row": [1, 2], READ_PROBLEM: [None, None],
    })
    raw = RawRoster(kind="health", path=Path("health.csv"), frame=frame, file_format="csv", encoding="utf-8",
                    header_row=1, header_map={})
    records = standardise_roster(raw).records
    assert records.loc[0, "registered_county_code"] == "220105"
    assert records.loc[0, "reg_town"] == "湖西街道" and records.loc[0, "reg_village"] == "春城社区"
    assert records.loc[0, "reg_detail"].startswith("普阳大路157") and "220105" not in records.loc[0, "reg_detail"]
    assert records.loc[0, "reg_norm"]
    assert records.loc[1, ["registered_county_code", "reg_town", "reg_village", "reg_detail", "reg_norm"]].isna().all()
    view = linkage_view(records)
    assert view.loc[0, "reg_village"] == "春城社区" and view.loc[1, "reg_village"] is None
    civil_like = records.drop(columns=["registered_county_code", "reg_town", "reg_village", "reg_detail", "reg_norm"])
    civil_view = linkage_view(civil_like)
    assert list(civil_view.columns) == list(view.columns)
    assert civil_view[["reg_county_code", "reg_town", "reg_village", "reg_detail", "reg_norm"]].isna().all().all()
    with pytest.raises(KeyError, match="name_pinyin"):
        linkage_view(records.drop(columns=["name_pinyin"]))


class RecordingExecutor(Executor):
    """Another process pool that keeps what each task was given."""

    def __init__(self, pool: Executor) -> None:
        self.pool, self.tasks = pool, []

    def submit(self, fn, /, *args, **kwargs):
        self.tasks.append(args)
        return self.pool.submit(fn, *args, **kwargs)


def test_pairs_compared_region_by_region_in_other_processes_change_nothing(rosters, settings, monkeypatch):
    """Ready for a cluster: the fuzzy work split by prefecture, run elsewhere, gives the same links."""
    import multiprocessing

    from matchers.linkage import partition

    left, right, _ = rosters
    left = left.copy()
    left.loc[left.index[::25], "county_code"] = None  # records of no known region: a task of their own
    here = link(left, right, settings, keep_scored=True)
    monkeypatch.setattr(partition, "PARTITION_PAIRS", 100)  # big regions split too
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        recording = RecordingExecutor(pool)
        elsewhere = link(left, right, settings, keep_scored=True, executor=recording)
    pd.testing.assert_frame_equal(elsewhere.pairs, here.pairs)
    pd.testing.assert_frame_equal(elsewhere.scored, here.scored)
    prefectures = [set(task[0]["county_code"].dropna().str[:4]) for task in recording.tasks]
    assert len(recording.tasks) > len({frozenset(p) for p in prefectures}) > 2  # several regions, some split
    assert all(len(p) <= 1 for p in prefectures)  # a task holds one region's records only
    assert all(len(task[0]) < len(left) for task in recording.tasks)


def test_frequency_u_is_the_exactly_rounded_sum_whatever_the_cores():
    """u of an exact level from value frequencies: the correctly rounded Σ p_left·p_right.

    A BLAS dot product splits long vectors among the machine's cores, so its last bits (and the
    weights written from them) changed with the core count."""
    import math

    from matchers.linkage.comparisons import ColumnStore
    from matchers.linkage.scoring import _exact_u_from_frequencies

    rng = np.random.default_rng(7)
    values = [f"v{i}" for i in range(200_000)]
    left = pd.DataFrame({"c": rng.choice(values, 600_000)})
    right = pd.DataFrame({"c": rng.choice(values, 400_000)})
    right.loc[rng.choice(len(right), 1000, replace=False), "c"] = None  # missing values are not counted
    store = ColumnStore(left, right)
    enc = store.get("c")
    p_left = np.bincount(enc.left[enc.left >= 0], minlength=enc.size) / (enc.left >= 0).sum()
    p_right = np.bincount(enc.right[enc.right >= 0], minlength=enc.size) / (enc.right >= 0).sum()
    assert _exact_u_from_frequencies(store, "c") == math.fsum((p_left * p_right).tolist())
