"""Every comparison level of the Chinese roster settings on small hand-written pairs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from matchers.ids import id_check_character
from matchers.linkage import comparison_vectors, load_settings, settings_from_dict
from matchers.linkage.comparisons import ColumnStore, EncodedColumn, _ascii_matrix, _joint_codes

COLUMNS = [
    "record_key", "id_number", "id_status", "id_prefix", "birth_date", "sex", "id_county",
    "name_norm", "name_pinyin", "name_nodot", "surname", "given_name",
    "county_code", "town", "village", "addr_detail", "addr_norm", "phone", "household_id",
]


def valid_id(first17: str) -> str:
    return first17 + id_check_character(first17)


ID_A = valid_id("22010219900312001")
ID_B = valid_id("22010219900312003")  # same county and birth date, another person


def bad_check(id18: str, pos: int) -> str:
    """Change one digit so that the check character no longer fits."""
    digit = str((int(id18[pos]) + 1) % 10)
    return id18[:pos] + digit + id18[pos + 1:]


def record(**kw: object) -> dict:
    row = {c: None for c in COLUMNS}
    row.update(kw)
    if row["id_number"] and row["id_prefix"] is None:
        row["id_prefix"] = row["id_number"]
    if row["id_prefix"] and row["birth_date"] is None and len(str(row["id_prefix"])) >= 14:
        row["birth_date"] = str(row["id_prefix"])[6:14]
    if row["id_status"] is None:
        row["id_status"] = "valid" if row["id_number"] else "blank"
    if row["name_norm"] and row["name_nodot"] is None:
        row["name_nodot"] = str(row["name_norm"]).replace("·", "")
    return row


def frame(rows: list[dict]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=COLUMNS)
    out["record_key"] = np.arange(len(out), dtype=np.int64)
    return out


@pytest.fixture(scope="module")
def settings():
    return load_settings("chinese_rosters")


def levels(settings, pairs: list[tuple[dict, dict]], comparison: str) -> list[str]:
    left = frame([record(**a) for a, _ in pairs])
    right = frame([record(**b) for _, b in pairs])
    idx = np.arange(len(pairs), dtype=np.int64)
    gammas = comparison_vectors(ColumnStore(left, right), idx, idx, settings)
    labels = [lv.label for lv in settings.comparison(comparison).levels]
    return [labels[g] for g in gammas[comparison]]


def test_id_levels(settings):
    transposed = ID_A[:15] + ID_A[16] + ID_A[15] + ID_A[17]
    assert transposed != ID_A
    cases = [
        ({"id_number": ID_A}, {"id_number": ID_A}, "exact"),
        ({"id_number": ID_A, "id_status": "upgraded15"}, {"id_number": ID_A}, "upgraded15"),
        ({"id_number": ID_A}, {"id_number": bad_check(ID_A, 12), "id_status": "bad_check"}, "one_digit_bad_check"),
        ({"id_number": ID_A}, {"id_number": transposed, "id_status": "bad_check"}, "transposition_bad_check"),
        ({"id_number": ID_A}, {"id_prefix": ID_A[:14], "id_status": "truncated"}, "truncated_prefix"),
        ({"id_prefix": ID_A[:15], "id_status": "truncated"}, {"id_prefix": ID_A[:14], "id_status": "truncated"}, "truncated_prefix"),
        ({"id_number": ID_B}, {"id_prefix": "22010219900313", "id_status": "truncated"}, "different"),
        # two valid IDs two digits apart: an error the check misses, or another person born that day
        ({"id_number": ID_A}, {"id_number": ID_B}, "different_valid_close"),
        ({"id_number": ID_A}, {"id_number": valid_id("22010219851120004")}, "different_valid"),
        ({"id_number": ID_A}, {"id_number": "22010219900312999" + "0", "id_status": "bad_check"}, "different"),
        ({"id_number": ID_A}, {}, "missing"),
        ({"id_number": ID_A}, {"id_prefix": "2201", "id_status": "malformed"}, "missing"),
    ]
    got = levels(settings, [(a, b) for a, b, _ in cases], "id_number")
    assert got == [c[2] for c in cases]


def test_excel_damaged_id_levels(settings):
    zeros = ID_A[:15] + "000"          # Excel rounded the tail away; here the check happens to fail or not
    cases = [
        ({"id_number": ID_A}, {"id_number": zeros}, "excel_zeros"),
        # both sides end in 000: the same mangled value is plain exact, two different ones are not repaired
        ({"id_number": zeros}, {"id_number": zeros}, "exact"),
        ({"id_number": ID_B[:14] + "9000"}, {"id_number": ID_A}, "different_valid"),
        # "2.2010219900312E+17": the 15th digit was 0, so only 13 characters survive
        ({"id_number": ID_A}, {"id_prefix": ID_A[:13], "id_status": "truncated"}, "truncated_short_prefix"),
        ({"id_number": ID_A}, {"id_prefix": ID_A[:12], "id_status": "truncated"}, "truncated_short_prefix"),
    ]
    got = levels(settings, [(a, b) for a, b, _ in cases], "id_number")
    assert got == [c[2] for c in cases]
    # the zeros wiped out the sex digit: sex carries no evidence, the birth date is in the ID
    pair = [({"id_number": ID_A, "sex": "男"}, {"id_number": zeros, "sex": "女"})]
    assert levels(settings, pair, "sex") == ["determined_by_id"]
    assert levels(settings, pair, "birth_date") == ["determined_by_id"]


def test_two_damaged_ids_one_slip_apart(settings):
    """Both IDs damaged (fails its check, cut short or ends in Excel's 000) and their first 14
    digits one digit or one swap apart: one slip on each list. A valid ID against a damaged one
    is one slip short, and IDs agreeing on all 14 digits (twins) are not this level."""
    typo_year = bad_check(ID_A, 7)             # 1990 -> 1900: a slip in the birth year
    typo_sex = bad_check(ID_A, 16)             # a slip in the sex digit
    swapped = ID_A[:10] + ID_A[11] + ID_A[10] + ID_A[12:]
    assert swapped != ID_A
    cases = [
        ({"id_number": typo_year, "id_status": "bad_check"}, {"id_number": typo_sex, "id_status": "bad_check"}, "damaged_close"),
        ({"id_number": bad_check(ID_A, 6), "id_status": "bad_check"}, {"id_number": ID_A[:15] + "000"}, "damaged_close"),
        ({"id_number": ID_A[:15] + "000"}, {"id_number": bad_check(ID_A, 6), "id_status": "bad_check"}, "damaged_close"),
        ({"id_number": swapped, "id_status": "bad_check"}, {"id_prefix": ID_A[:15], "id_status": "truncated"}, "damaged_close"),
        # one side valid: a single slip cannot explain a different birth date and a different tail
        ({"id_number": ID_A}, {"id_number": bad_check(bad_check(ID_A, 7), 16), "id_status": "bad_check"}, "different"),
        # the same 14 digits on two damaged IDs (twins share them): nothing repaired
        ({"id_number": bad_check(ID_A, 15), "id_status": "bad_check"}, {"id_number": bad_check(ID_B, 16), "id_status": "bad_check"}, "different"),
        # two digits apart that are not a swap: two slips on one side, or another person
        ({"id_number": bad_check(bad_check(ID_A, 3), 8), "id_status": "bad_check"}, {"id_number": typo_sex, "id_status": "bad_check"}, "different"),
    ]
    got = levels(settings, [(a, b) for a, b, _ in cases], "id_number")
    assert got == [c[2] for c in cases]


def test_sex_read_from_a_damaged_id_is_weaker_evidence(settings):
    damaged = [({"id_number": bad_check(ID_A, 7), "id_status": "bad_check", "sex": "男"},
                {"id_number": bad_check(ID_A, 16), "id_status": "bad_check", "sex": "女"}),
               ({"birth_date": "19900312", "sex": "男"}, {"id_number": ID_A[:15] + "000", "sex": "女"}),
               ({"birth_date": "19900312", "sex": "男"}, {"birth_date": "19900312", "sex": "女"}),
               ({"id_number": bad_check(ID_A, 7), "id_status": "bad_check", "sex": "男"},
                {"id_number": bad_check(ID_A, 16), "id_status": "bad_check", "sex": "男"})]
    assert levels(settings, damaged, "sex") == ["different_id_damaged", "different_id_damaged", "different", "exact"]


def test_truncated_prefix_needs_enough_digits(settings):
    got = levels(settings, [({"id_number": ID_A}, {"id_prefix": ID_A[:10], "id_status": "truncated"})], "id_number")
    assert got == ["different"]


def _name(norm: str, pinyin: str, surname: str | None = None, **kw: object) -> dict:
    return {"name_norm": norm, "name_pinyin": pinyin, "surname": surname or norm[0], "given_name": norm[1:], **kw}


def test_name_levels(settings):
    home = {"county_code": "220102", "village": "红旗村", "addr_detail": "3组12号", "birth_date": "19900312"}
    cases = [
        (_name("张伟", "zhang wei"), _name("张伟", "zhang wei"), "exact"),
        (_name("阿依古丽·买买提", "a yi gu li mai mai ti", surname="买买提"),
         _name("阿依古丽买买提", "a yi gu li mai mai ti", surname="买买提"), "same_without_dot"),
        (_name("张伟", "zhang wei"), _name("章伟", "zhang wei"), "homophone"),
        (_name("王未来", "wang wei lai"), _name("王末来", "wang mo lai"), "lookalike"),
        (_name("李明", "li ming"), _name("李朋", "li peng"), "lookalike"),
        (_name("季敏", "ji min"), _name("李敏", "li min"), "lookalike"),
        (_name("蒋经国", "jiang jing guo", **home), _name("蒋纬国", "jiang wei guo", **home), "sibling_pattern"),
        (_name("蒋经国", "jiang jing guo", id_number=ID_A), _name("蒋纬国", "jiang wei guo", id_number=ID_B), "sibling_pattern"),
        # same one-character difference, but the IDs agree: a typo, not a sibling
        (_name("蒋经国", "jiang jing guo", id_number=ID_A, **home),
         _name("蒋纬国", "jiang wei guo", id_number=ID_A, **home), "one_char_diff"),
        # different birth dates and no IDs: a plain one-character difference
        (_name("蒋经国", "jiang jing guo", birth_date="19800101"), _name("蒋纬国", "jiang wei guo", birth_date="19820101"), "one_char_diff"),
        (_name("欧阳翠英", "ou yang cui ying", surname="欧阳"), _name("欧阳翠华", "ou yang cui hua", surname="欧阳"), "one_char_diff"),
        (_name("阿依古丽·买买提", "a", surname="买买提"), _name("阿依古丽·买提江", "b", surname="买提江"), "similar"),
        (_name("张伟", "zhang wei"), _name("李娜", "li na"), "different"),
        (_name("张伟", "zhang wei"), {}, "missing"),
    ]
    got = levels(settings, [(a, b) for a, b, _ in cases], "name")
    assert got == [c[2] for c in cases]


def test_birth_date_and_sex_determined_by_id(settings):
    cases = [
        ({"id_number": ID_A, "sex": "男"}, {"id_number": ID_A, "sex": "男"}, "determined_by_id", "determined_by_id"),
        ({"id_number": ID_A, "sex": "男"}, {"id_number": ID_B, "sex": "男"}, "determined_by_id", "determined_by_id"),
        ({"id_number": ID_A, "sex": "男"}, {"birth_date": "19900312", "sex": "男"}, "exact", "exact"),
        ({"birth_date": "19900312", "sex": "男"}, {"birth_date": "19901203", "sex": "女"}, "month_day_swapped", "different"),
        ({"birth_date": "19900312"}, {"birth_date": "19900313"}, "one_digit", "missing"),
        ({"birth_date": "19900312"}, {"birth_date": "19851120"}, "different", "missing"),
        ({"birth_date": "19900312"}, {}, "missing", "missing"),
        # a truncated ID's prefix already holds the birth date; sex is not in the prefix
        ({"id_number": ID_A, "sex": "男"}, {"id_prefix": ID_A[:14], "id_status": "truncated", "sex": "女"},
         "determined_by_id", "different"),
    ]
    pairs = [(a, b) for a, b, _, _ in cases]
    assert levels(settings, pairs, "birth_date") == [c[2] for c in cases]
    assert levels(settings, pairs, "sex") == [c[3] for c in cases]


def test_address_and_phone_levels(settings):
    base = {"county_code": "220102", "town": "永春镇", "village": "红旗村", "addr_detail": "3组12号"}
    cases = [
        (base, dict(base), "same_village_similar_detail"),
        (base, {**base, "addr_detail": "7组88号"}, "same_village"),
        (base, {**base, "village": "前进村", "addr_detail": None}, "same_town"),
        (base, {**base, "town": "兰家镇", "village": "前进村"}, "same_county"),
        # a side without a village or town cannot disagree on it: its own level
        (base, {**base, "village": None, "addr_detail": None}, "same_town_village_unknown"),
        ({**base, "town": None, "village": None}, base, "same_county_town_unknown"),
        (base, {**base, "addr_detail": None}, "same_village_detail_unknown"),
        (base, {**base, "village": None}, "same_town_similar_detail"),
        (base, {**base, "village": "前进村"}, "same_town"),
        # village names recur across towns: same village name in another town is not the village
        (base, {**base, "town": "兰家镇", "addr_detail": None}, "same_county"),
        (base, {**base, "town": None}, "same_village_similar_detail"),
        (base, {**base, "county_code": "220183"}, "different_county"),
        (base, {}, "missing"),
    ]
    assert levels(settings, [(a, b) for a, b, _ in cases], "address") == [c[2] for c in cases]
    phones = [({"phone": "13904310000"}, {"phone": "13904310000"}), ({"phone": "13904310000"}, {"phone": "13904310001"}),
              ({"phone": "13904310000"}, {})]
    assert levels(settings, phones, "phone") == ["exact", "different", "missing"]
    # a household shares its phone: with the address already agreeing, the phone adds nothing
    shared = [({**base, "phone": "13904310000"}, {**base, "phone": "13904310000"}),
              ({**base, "phone": "13904310000"}, {**base, "village": "前进村", "phone": "13904310000"})]
    assert levels(settings, shared, "phone") == ["shared_with_address", "exact"]
    null = {lv.label: lv.is_null for lv in settings.comparison("phone").levels}
    assert null["shared_with_address"] and not null["exact"]


def test_generic_kinds_and_cross_exact():
    settings = settings_from_dict({
        "key": "record_key",
        "blocking_rules": [{"name": "all", "equal": ["k"]}],
        "comparisons": [
            {"name": "given", "kind": "jaro_winkler", "column": "given", "thresholds": [0.9, 0.7]},
            {"name": "ssn", "kind": "levenshtein", "column": "ssn", "distances": [1, 2]},
            {"name": "num", "kind": "numeric", "column": "num", "abs_differences": [2]},
            {"name": "swap", "kind": "custom", "levels": [
                {"label": "swapped", "when": {"cross_exact": {"left": "given", "right": "sur"}}},
                {"label": "other", "when": "else"}]},
        ],
    })
    left = pd.DataFrame({"record_key": [1, 2, 3], "given": ["martha", "jon", "anna"], "sur": ["x", "y", "z"],
                         "ssn": ["1234567", "1234567", None], "num": ["10", "10", "10"], "k": ["a"] * 3})
    right = pd.DataFrame({"record_key": [1, 2, 3], "given": ["marhta", "jan", "x"], "sur": ["anna", "y", "anna"],
                          "ssn": ["1234568", "1243576", "1"], "num": ["11", "20", "10"], "k": ["a"] * 3})
    idx = np.arange(3, dtype=np.int64)
    g = comparison_vectors(ColumnStore(left, right), idx, idx, settings)
    label = {c.name: [lv.label for lv in c.levels] for c in settings.comparisons}
    assert [label["given"][x] for x in g["given"]] == ["jw_0.9", "jw_0.7", "different"]
    assert [label["ssn"][x] for x in g["ssn"]] == ["lev_1", "different", "missing"]
    assert [label["num"][x] for x in g["num"]] == ["within_2", "different", "exact"]
    assert [label["swap"][x] for x in g["swap"]] == ["other", "other", "swapped"]


def test_same_prefix_and_value_matches_predicates():
    settings = settings_from_dict({
        "key": "record_key",
        "blocking_rules": [{"name": "all", "equal": ["k"]}],
        "comparisons": [{"name": "code", "kind": "custom", "levels": [
            {"label": "missing", "is_null": True, "when": {"missing": "code"}},
            {"label": "head_and_tail", "when": {"same_prefix": {"column": "code", "length": 4},
                                                "value_matches": {"column": "code", "pattern": "0+$", "side": "one"}}},
            {"label": "head", "when": {"same_prefix": {"column": "code", "length": 4}}},
            {"label": "other", "when": "else"},
        ]}],
    })
    left = pd.DataFrame({"record_key": np.arange(5, dtype=np.int64), "code": ["12345", "12345", "12300", "123", None]})
    right = pd.DataFrame({"record_key": np.arange(5, dtype=np.int64), "code": ["12340", "12349", "12300", "12345", "1"]})
    idx = np.arange(5, dtype=np.int64)
    gamma = comparison_vectors(ColumnStore(left, right), idx, idx, settings)["code"]
    labels = [lv.label for lv in settings.comparisons[0].levels]
    # both sides ending in zeros is not "one"; a value shorter than the prefix never agrees
    assert [labels[g] for g in gamma] == ["head_and_tail", "head", "head", "other", "missing"]


def test_fixed_level_may_leave_u_to_estimation():
    base = {
        "key": "record_key",
        "blocking_rules": [{"name": "all", "equal": ["k"]}],
        "comparisons": [{"name": "x", "kind": "custom", "levels": [
            {"label": "exact", "when": {"exact": "x"}},
            {"label": "other", "when": "else", "m": 0.01, "fixed": True},
        ]}],
    }
    settings = settings_from_dict(base)
    assert settings.comparisons[0].levels[1].u is None
    with pytest.raises(ValueError):
        settings_from_dict({**base, "comparisons": [{**base["comparisons"][0], "levels": [
            {"label": "exact", "when": {"exact": "x"}, "u": 0.1}, {"label": "other", "when": "else"}]}]})
    with pytest.raises(ValueError):
        settings_from_dict({**base, "em_anchor": "nope"})


def test_unknown_predicate_rejected():
    with pytest.raises(ValueError, match="unknown predicate"):
        settings_from_dict({"blocking_rules": [], "comparisons": [
            {"name": "a", "kind": "custom", "levels": [{"label": "x", "when": {"nonsense": "a"}}]}]})


def test_string_metrics_skip_pairs_without_a_common_character():
    """Names with no character in common skip rapidfuzz (Jaro 0, edit distance = longer length);
    the values must equal rapidfuzz's for every pair, long names included."""
    from rapidfuzz.distance import JaroWinkler, Levenshtein

    from matchers.linkage.comparisons import PairContext, shares_a_character

    names_l = ["王伟", "李娜", "欧阳修文", "阿不都热合曼·买买提", "张三", "王伟", None]
    names_r = ["张强", "李娜娜", "欧阳文", "阿不都热合曼·买买江", "三张", "伟王", "王伟"]
    left = pd.DataFrame({"name": names_l})
    right = pd.DataFrame({"name": names_r})
    store = ColumnStore(left, right)
    li = np.repeat(np.arange(len(left)), len(right))
    ri = np.tile(np.arange(len(right)), len(left))
    ctx = PairContext(store, li, ri)
    everywhere = np.ones(ctx.n, dtype=bool)
    jw = ctx.metric("name", "jaro_winkler", everywhere)
    lev = ctx.metric("name", "levenshtein", everywhere)
    for k, (a, b) in enumerate(zip(li, ri)):
        x, y = names_l[a], names_r[b]
        if x is None:
            assert np.isnan(jw[k]) and np.isnan(lev[k])
            continue
        assert jw[k] == pytest.approx(JaroWinkler.normalized_similarity(x, y))
        assert lev[k] == Levenshtein.distance(x, y)
    dp = ctx.distinct("name")
    share = shares_a_character(store, "name", dp.left, dp.right)
    assert share is not None and not share.all()  # the filter did skip some pairs
    # long values (addresses) are not filtered
    long = ColumnStore(pd.DataFrame({"a": ["吉林大路174号35栋6单元903室"]}), pd.DataFrame({"a": ["全安街308号11栋1单元1303室"]}))
    assert shares_a_character(long, "a", np.array([0]), np.array([1])) is None


def test_address_takes_the_better_of_current_and_registered(settings):
    """A migrant on the health list lives elsewhere; his registered address (户籍地址) is the
    home the civil list knows. Either side may carry it; without one nothing changes."""
    home = {"county_code": "220104", "town": "湖西街道", "village": "春城社区", "addr_detail": "普阳大路157号28栋6单元803室"}
    elsewhere = {"county_code": "220822", "town": "开通镇", "village": "新华村", "addr_detail": "3组12号"}
    registered = {"reg_county_code": "220104", "reg_town": "湖西街道", "reg_village": "春城社区",
                  "reg_detail": "普阳大路157号28栋6单元803室", "reg_norm": "220104春城社区普阳大路157号28栋6单元803室"}
    other_home = {"reg_county_code": "220104", "reg_town": "湖西街道", "reg_village": "南湖社区", "reg_norm": "220104南湖社区"}
    cases = [
        ({**elsewhere, **registered}, home, "same_village_similar_detail"),   # registered address on the left
        (home, {**elsewhere, **registered}, "same_village_similar_detail"),   # … or on the right
        ({**elsewhere, **other_home}, home, "same_town"),                     # registered in another community
        ({**home, **other_home}, home, "same_village_similar_detail"),        # the current address is better
        (registered, home, "same_village_similar_detail"),                   # no current address, a registered one
        (elsewhere, home, "different_county"),                               # no registered address: as before
        ({}, home, "missing"),
        ({**elsewhere, **registered}, {**elsewhere, **registered}, "same_village_similar_detail"),
    ]
    left = frame_with([record(**a) for a, _, _ in cases])
    right = frame_with([record(**b) for _, b, _ in cases])
    idx = np.arange(len(cases), dtype=np.int64)
    gammas = comparison_vectors(ColumnStore(left, right), idx, idx, settings)
    labels = [lv.label for lv in settings.comparison("address").levels]
    assert [labels[g] for g in gammas["address"]] == [c[2] for c in cases]
    # frames without the registered-address columns at all compare as before
    plain = levels(settings, [(elsewhere, home), (home, home)], "address")
    assert plain == ["different_county", "same_village_similar_detail"]


REGISTERED = ["reg_county_code", "reg_town", "reg_village", "reg_detail", "reg_norm"]


def frame_with(rows: list[dict]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=COLUMNS + REGISTERED)
    out["record_key"] = np.arange(len(out), dtype=np.int64)
    return out


def test_alternatives_must_map_columns():
    raw = {"blocking_rules": [{"name": "a", "equal": ["x"]}],
           "comparisons": [{"name": "x", "kind": "exact", "column": "x", "alternatives": [{"x": "y"}]}]}
    assert settings_from_dict(raw).comparison("x").alternatives == ((("x", "y"),),)
    raw["comparisons"][0]["alternatives"] = [["x", "y"]]
    with pytest.raises(ValueError, match="alternative"):
        settings_from_dict(raw)


def test_column_store_encodes_a_column_once_for_concurrent_readers():
    """link estimates u in a thread while the candidates are compared: both read one store."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(3)
    left = pd.DataFrame({"name": rng.choice(["王伟", "李娜", "张敏", None], 200_000).astype(object)})
    right = pd.DataFrame({"name": rng.choice(["王伟", "李静", None], 150_000).astype(object)})
    store = ColumnStore(left, right)
    with ThreadPoolExecutor(8) as pool:
        encodings = list(pool.map(lambda _: store.get("name"), range(32)))
        matrices = list(pool.map(lambda _: store.char_matrix("name"), range(32)))
    assert all(e is encodings[0] for e in encodings) and all(m is matrices[0] for m in matrices)


text_cells = st.one_of(st.lists(st.one_of(st.none(), st.sampled_from(["", "13800138000", "吉林省长春市", "a", "A", " a"])), max_size=25),
                    st.lists(st.none(), max_size=25))


@hypothesis_settings(max_examples=150, deadline=None)
@given(text_cells, text_cells, st.booleans())
def test_text_kept_in_arrow_is_encoded_as_python_text_is(left, right, one_side_only):
    """IDs, phones and house numbers reach the engine as Arrow-backed columns: same codes, same distinct values,
    also against a column the other roster lacks (None throughout)."""
    objects = (pd.Series(left, dtype=object), pd.Series(right, dtype=object))
    arrow = pd.Series(pa.array(left, type=pa.string()), dtype=pd.ArrowDtype(pa.string()))
    other = objects[1] if one_side_only else pd.Series(pa.array(right, type=pa.large_string()),
                                                       dtype=pd.ArrowDtype(pa.large_string()))
    codes, uniques = _joint_codes(*objects)
    got_codes, got_uniques = _joint_codes(arrow, other)
    assert got_codes.dtype == codes.dtype and got_codes.tolist() == codes.tolist()
    listed = got_uniques.to_pylist() if isinstance(got_uniques, pa.Array) else got_uniques.tolist()
    assert listed == uniques.tolist()
    # both sides in Arrow, or the other side without a value (a column its roster lacks): kept in Arrow
    assert isinstance(got_uniques, pa.Array) == (not one_side_only or all(v is None for v in right))
    kept, made = (EncodedColumn(got_codes[:len(left)], got_codes[len(left):], got_uniques),
                  EncodedColumn(codes[:len(left)], codes[len(left):], uniques))
    everywhere = np.arange(len(uniques))[::-1]
    assert kept.size == made.size and kept.text().equals(made.text())
    assert kept.values_at(everywhere).tolist() == made.values_at(everywhere).tolist()
    assert kept.uniques.dtype == object and kept.uniques.tolist() == made.uniques.tolist()


ascii_cells = st.lists(st.one_of(st.none(), st.text(alphabet="0123456789X -", max_size=70)), min_size=1, max_size=20)


@hypothesis_settings(max_examples=150, deadline=None)
@given(ascii_cells, ascii_cells, st.sampled_from(["", "张"]))
def test_characters_of_text_kept_in_arrow_as_of_python_text(left, right, extra):
    """IDs and phones are read as characters from their Arrow bytes; other text (extra: a Han value) from Python."""
    right = right + ([extra] if extra else [])
    as_arrow = [pd.DataFrame({"v": pd.Series(pa.array(values, type=pa.string()), dtype=pd.ArrowDtype(pa.string()))})
                for values in (left, right)]
    as_python = [pd.DataFrame({"v": pd.Series(values, dtype=object)}) for values in (left, right)]
    kept, made = ColumnStore(*as_arrow), ColumnStore(*as_python)
    assert (_ascii_matrix(kept.get("v")) is None) == (bool(extra) or kept.get("v").size == 0)
    (mat, lengths), (expected_mat, expected_lengths) = kept.char_matrix("v"), made.char_matrix("v")
    assert lengths.tolist() == expected_lengths.tolist()
    assert mat.shape == expected_mat.shape and (mat == expected_mat).all()


def _character_store(left: list, right: list, in_arrow: bool) -> ColumnStore:
    def column(values: list) -> pd.Series:
        if in_arrow:
            return pd.Series(pa.array(values, type=pa.string()), dtype=pd.ArrowDtype(pa.string()))
        return pd.Series(values, dtype=object)

    return ColumnStore(pd.DataFrame({"v": column(left)}), pd.DataFrame({"v": column(right)}))


short_names = st.lists(st.one_of(st.none(), st.text(alphabet="王李张伟娜三·a!", min_size=1, max_size=9)), min_size=1, max_size=12)
short_codes = st.lists(st.one_of(st.none(), st.text(alphabet="0129Xp", min_size=1, max_size=9)), min_size=1, max_size=12)
long_values = st.lists(st.text(alphabet="0129X张", min_size=60, max_size=70), min_size=1, max_size=4)


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.one_of(st.tuples(short_names, short_names, st.just(False)), st.tuples(short_codes, short_codes, st.booleans()),
                 st.tuples(long_values, long_values, st.just(False))))
def test_character_features_of_value_pairs_as_read_one_by_one(case):
    """diff_features and shares_a_character (vectorised, by length and by a character signature) against
    the characters of every pair of distinct values; the matrix reads at most MATRIX_WIDTH of them.
    'a' and '!', '0' and 'p' share a signature bit (their codes modulo 64)."""
    from matchers.linkage.comparisons import MATRIX_WIDTH, SHORT_VALUES, diff_features, shares_a_character

    left, right, in_arrow = case
    store = _character_store(left, right, in_arrow)
    values = store.get("v").uniques.tolist()
    ul = np.repeat(np.arange(len(values)), len(values))
    ur = np.tile(np.arange(len(values)), len(values))
    ndiff, first, second = diff_features(store, "v", ul, ur)
    share = shares_a_character(store, "v", ul, ur)
    width = min(max(map(len, values), default=1), MATRIX_WIDTH)
    for k, (a, b) in enumerate(zip(ul, ur)):
        x, y = values[a], values[b]
        if len(x) != len(y):
            assert (ndiff[k], first[k], second[k]) == (-1, 0, 0)
        else:
            at = [i for i in range(min(len(x), width)) if x[i] != y[i]]
            assert (ndiff[k], first[k], second[k]) == (len(at), (at + [0])[0], (at[1:] + [0])[0])
        if share is not None:
            reads = min(width, SHORT_VALUES)
            assert share[k] == (len(x) > reads or len(y) > reads or bool(set(x) & set(y)))


def test_pairs_compared_without_deduplication_get_the_same_levels(settings, monkeypatch):
    """Mostly distinct value pairs (random pairs for u) skip deduplication: every level must come out as with it."""
    import matchers.linkage.comparisons as comparisons

    rng = np.random.default_rng(7)
    names = ["王伟", "王玮", "汪伟", "李娜", "李那", "张三", "张叁", "欧阳修文", "欧阳修", "阿依·买买提"]
    persons = [valid_id(f"2201021990{rng.integers(1, 13):02d}{rng.integers(1, 28):02d}{rng.integers(0, 1000):03d}")
               for _ in range(40)]

    def people(n: int) -> pd.DataFrame:
        damaged = rng.random(n) < 0.3
        ids = [bad_check(i, int(rng.integers(0, 17))) if bad else i
               for i, bad in zip((str(rng.choice(persons)) for _ in range(n)), damaged)]
        return frame([record(id_number=i, id_status="bad_check" if bad else "valid", name_norm=str(rng.choice(names)),
                             phone=f"1380000{rng.integers(0, 50):04d}") for i, bad in zip(ids, damaged)])

    left, right = people(300), people(300)
    li, ri = rng.integers(0, 300, 20_000), rng.integers(0, 300, 20_000)
    monkeypatch.setattr(comparisons, "SAMPLE_PAIRS", 64)
    results = []
    for share in (0.0, 2.0):  # every column skips deduplication; none does
        monkeypatch.setattr(comparisons, "DEDUPLICATE_BELOW", share)
        results.append(comparison_vectors(ColumnStore(left, right), li, ri, settings))
    for name, gamma in results[0].items():
        assert np.array_equal(gamma, results[1][name]), name
    labels = [lv.label for lv in settings.comparison("name").levels]
    assert {"exact", "one_char_diff", "different"} <= {labels[g] for g in np.unique(results[0]["name"])}
    labels = [lv.label for lv in settings.comparison("id_number").levels]
    assert {"exact", "one_digit_bad_check", "different_valid"} <= {labels[g] for g in np.unique(results[0]["id_number"])}
