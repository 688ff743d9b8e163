import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matchers.ids import (
    ID_COLUMNS,
    ID_STATUSES,
    id_check_character,
    id_edit_relation,
    is_valid_id_number,
    normalise_id_number,
    standardise_id_numbers,
    upgrade_15_to_18,
)

STANDARD_EXAMPLES = ["11010519491231002X", "440524188001010014"]


def make_id(area: str, birth: str, sequence: str) -> str:
    first17 = area + birth + sequence
    return first17 + id_check_character(first17)


def one(raw) -> dict:
    return standardise_id_numbers(pd.Series([raw], dtype=object)).iloc[0].to_dict()


valid_ids = st.builds(
    make_id,
    st.sampled_from(["220102", "220381", "222401", "110105", "440524", "610104", "220113"]),
    st.dates(min_value=pd.Timestamp("1900-01-01").date(), max_value=pd.Timestamp("2026-12-31").date()).map(
        lambda d: d.strftime("%Y%m%d")
    ),
    st.integers(0, 999).map(lambda n: f"{n:03d}"),
)


def test_standard_examples_are_valid():
    for example in STANDARD_EXAMPLES:
        assert is_valid_id_number(example)
    out = standardise_id_numbers(pd.Series(STANDARD_EXAMPLES))
    assert list(out.columns) == list(ID_COLUMNS)
    assert out["id_status"].tolist() == ["valid", "valid"]
    assert out["id_number"].tolist() == STANDARD_EXAMPLES


def test_upgrade_15_matches_standard_example():
    assert upgrade_15_to_18("610104620927690") == "610104196209276908"
    row = one("610104620927690")
    assert row["id_status"] == "upgraded15"
    assert row["id_number"] == row["id_prefix"] == "610104196209276908"
    assert row["birth_date"] == "19620927"
    assert row["sex"] == "女"
    assert one("610104620927690.0")["id_number"] == "610104196209276908"
    assert one(610104620927690)["id_number"] == "610104196209276908"


@settings(max_examples=60, deadline=None)
@given(valid_ids)
def test_valid_ids_round_trip(id18):
    row = one(id18)
    assert row["id_status"] == "valid"
    assert row["id_number"] == row["id_prefix"] == id18
    assert row["birth_date"] == id18[6:14]
    assert row["sex"] == ("男" if int(id18[16]) % 2 else "女")
    assert row["id_county"] == id18[:6]
    assert is_valid_id_number(id18)
    assert normalise_id_number(id18) == id18


def single_errors(id18: str) -> set[str]:
    variants = set()
    for pos in range(18):
        alphabet = "0123456789X" if pos == 17 else "0123456789"
        variants.update(id18[:pos] + c + id18[pos + 1 :] for c in alphabet)
    for pos in range(17):
        variants.add(id18[:pos] + id18[pos + 1] + id18[pos] + id18[pos + 2 :])
    variants.discard(id18)
    return variants


@settings(max_examples=25, deadline=None)
@given(valid_ids)
def test_every_substitution_and_adjacent_transposition_is_detected(id18):
    variants = sorted(single_errors(id18))
    out = standardise_id_numbers(pd.Series(variants))
    # A change that leaves '…000' at the end reads as Excel rounding rather than a typo, and an
    # X moved off the end is no longer an ID shape at all.
    expected = [
        "malformed" if "X" in v[:17] else "truncated" if v.endswith("000") else "bad_check"
        for v in variants
    ]
    assert out["id_status"].tolist() == expected
    assert not any(is_valid_id_number(v) for v in variants)


def test_edit_relation_classifies_single_errors():
    base = STANDARD_EXAMPLES[0]
    substituted = base[:3] + "9" + base[4:]
    transposed = base[:8] + base[9] + base[8] + base[10:]
    far = base[:2] + base[12] + base[3:12] + base[2] + base[13:]
    a = pd.Series([base, base, base, base, None, base, base], index=list("abcdefg"))
    b = pd.Series([base, substituted, transposed, far, base, None, "123"], index=list("abcdefg"))
    result = id_edit_relation(a, b)
    assert result.index.tolist() == list("abcdefg")
    assert result.tolist() == [
        "exact", "one_substitution", "adjacent_transposition", "other", None, None, "other",
    ]


@settings(max_examples=30, deadline=None)
@given(valid_ids, st.integers(0, 16))
def test_edit_relation_sees_every_adjacent_swap(id18, pos):
    swapped = id18[:pos] + id18[pos + 1] + id18[pos] + id18[pos + 2 :]
    expected = "exact" if swapped == id18 else "adjacent_transposition"
    assert id_edit_relation(pd.Series([id18]), pd.Series([swapped])).iloc[0] == expected


@pytest.mark.parametrize(
    "raw",
    [
        "11010519491231002x",
        "１１０１０５１９４９１２３１００２Ｘ",
        "１１０１０５１９４９１２３１００２ｘ",
        "'11010519491231002X",
        "`11010519491231002X",
        "\t11010519491231002X",
        " 110105 19491231 002X ",
        "110105-19491231-002X",
        "11010519491231002×",
        "11010519491231002\u0425",
        "11010519491231002\u0445",
        '"11010519491231002X"',
        '="11010519491231002X"',
        "110105\u300019491231002X",
    ],
)
def test_dirty_variants_normalise_to_the_same_id(raw):
    row = one(raw)
    assert row["id_status"] == "valid"
    assert row["id_number"] == "11010519491231002X"


def test_scientific_notation_is_truncated_with_trusted_prefix():
    row = one("2.20102199001011E+17")
    assert row["id_status"] == "truncated"
    assert row["id_number"] is None
    assert row["id_prefix"] == "22010219900101"
    assert row["birth_date"] == "19900101"
    assert row["id_county"] == "220102"
    assert row["sex"] is None
    assert one("2.20102199001011e+17")["id_prefix"] == "22010219900101"
    # float64 repr shows 17 digits but only 15 are ever trustworthy
    assert one(2.2010219900101123e17)["id_prefix"] == "220102199001011"
    assert one("2.201E+17")["id_prefix"] == "220"


def test_excel_rounded_tail_is_truncated():
    row = one("220102199001011000")
    assert row["id_status"] == "truncated"
    assert row["id_number"] is None
    assert row["id_prefix"] == "220102199001011"
    assert row["birth_date"] == "19900101"
    assert row["sex"] is None


def test_trailing_000_with_a_correct_check_stays_valid():
    id18 = next(
        make_id("220102", "19900101", f"{s:03d}")
        for s in range(1000)
        if make_id("220102", "19900101", f"{s:03d}").endswith("000")
    )
    assert one(id18)["id_status"] == "valid"


def test_bad_check_keeps_digits_and_fields():
    row = one("11010519491231003X")
    assert row["id_status"] == "bad_check"
    assert row["id_number"] == row["id_prefix"] == "11010519491231003X"
    assert row["birth_date"] == "19491231"
    assert row["sex"] == "男"


@pytest.mark.parametrize("raw", ["", "  ", None, float("nan"), "nan", "NaN", "-", "无", "None", "\t"])
def test_blank_variants(raw):
    row = one(raw)
    assert row["id_status"] == "blank"
    assert all(row[c] is None for c in ID_COLUMNS if c != "id_status")


@pytest.mark.parametrize("raw", ["abc", "1101051949123100", "1101051949123100XX", "X10105194912310021", "1234"])
def test_malformed(raw):
    row = one(raw)
    assert row["id_status"] == "malformed"
    assert row["id_number"] is None and row["id_prefix"] is None


def test_area_code_newer_than_birth_year_is_accepted():
    id18 = make_id("220381", "19500312", "123")
    row = one(id18)
    assert row["id_status"] == "valid"
    assert row["birth_date"] == "19500312"
    assert row["id_county"] == "220381"


def test_impossible_birth_date_gives_no_birth_date():
    id18 = make_id("220102", "19901332", "123")
    row = one(id18)
    assert row["id_status"] == "valid"
    assert row["birth_date"] is None
    assert one(make_id("220102", "18991231", "123"))["birth_date"] is None


def test_index_and_statuses_are_preserved():
    raw = pd.Series(["11010519491231002X", None, "abc"], index=[10, 20, 30])
    out = standardise_id_numbers(raw)
    assert out.index.tolist() == [10, 20, 30]
    assert set(out["id_status"]) <= set(ID_STATUSES)
    assert standardise_id_numbers(pd.Series([], dtype=object)).shape == (0, len(ID_COLUMNS))


def test_arrow_backed_input():
    raw = pd.Series(["11010519491231002x", None], dtype="string[pyarrow]")
    assert standardise_id_numbers(raw)["id_number"].tolist() == ["11010519491231002X", None]


def test_a_roster_sized_column_at_once():
    """203,000 values in one vectorised call: every status counted, every valid ID kept as it was."""
    ids = [make_id("220102", "19900101", f"{s:03d}") for s in range(1000)] * 200
    raw = pd.Series(ids + ["2.20102199001011E+17", "610104620927690", "110105 19491231 002x"] * 1000)
    out = standardise_id_numbers(raw)
    counts = out["id_status"].value_counts()
    assert counts["valid"] == 201_000 and counts["truncated"] == 1000 and counts["upgraded15"] == 1000
    assert np.all(out["id_number"].iloc[:200_000].to_numpy() == np.array(ids, dtype=object))


def test_numeric_columns_read_without_dtype_str():
    floats = standardise_id_numbers(pd.Series([610104620927690.0, np.nan, 2.2010219900101123e17]))
    assert floats["id_status"].tolist() == ["upgraded15", "blank", "truncated"]
    assert floats["id_prefix"].tolist() == ["610104196209276908", None, "220102199001011"]
    ints = standardise_id_numbers(pd.Series([440524188001010014, 610104620927690], dtype="int64"))
    assert ints["id_status"].tolist() == ["valid", "upgraded15"]
