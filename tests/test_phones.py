import pandas as pd
import pytest

from matchers.phones import normalise_phones


def one(raw):
    return normalise_phones(pd.Series([raw], dtype=object)).iloc[0]


@pytest.mark.parametrize(
    "raw",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "１３８００１３８０００",
        "+86 138 0013 8000",
        "+8613800138000",
        "008613800138000",
        "8613800138000",
        "(+86)13800138000",
        "013800138000",
        "1.38001380001E+10",
        "1.3800138000E+10",
        "13800138000.0",
        13800138000,
        13800138000.0,
        "13800138000/13900139000",
        "13800138000，13900139000",
        "13800138000 13900139000",
        "'13800138000",
    ],
)
def test_mobile_variants(raw):
    assert one(raw) == "13800138000"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0431-88888888", "043188888888"),
        ("(0431)88888888", "043188888888"),
        ("（0431）8888-8888", "043188888888"),
        ("+86-431-88888888", "043188888888"),
        ("0431-88888888转123", "043188888888"),
        ("88888888", "88888888"),
        ("8612345", "8612345"),
        ("43188888888", "043188888888"),
        ("2112345678", "02112345678"),
    ],
)
def test_landlines_keep_area_code(raw, expected):
    assert one(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", " ", None, float("nan"), "nan", "无", "-", "123", "abc"]
    + ["00000000000", "11111111111", "99999999999", "1.38E+10"],
)
def test_empty_placeholders_and_lost_digits_are_none(raw):
    assert one(raw) is None


def test_index_preserved_and_mixed_batch():
    raw = pd.Series(["13800138000", None, "0431-88888888"], index=[5, 6, 7])
    out = normalise_phones(raw)
    assert out.index.tolist() == [5, 6, 7]
    assert out.tolist() == ["13800138000", None, "043188888888"]
    assert normalise_phones(pd.Series([], dtype=object)).empty


def test_float_column_with_blanks():
    out = normalise_phones(pd.Series([13800138000.0, float("nan"), 43188888888.0]))
    assert out.tolist() == ["13800138000", None, "043188888888"]
