"""Name standardisation and pairwise name relations."""
from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matchers.names import (
    DOT,
    name_pinyin_key,
    name_relation,
    normalise_name,
    split_surname,
    standardise_names,
)


@pytest.mark.parametrize(
    "raw",
    ["阿依古丽·买买提", "阿依古丽•买买提", "阿依古丽・买买提", "阿依古丽‧买买提", "阿依古丽∙买买提",
     "阿依古丽．买买提", "阿依古丽.买买提", "阿依古丽 · 买买提", "阿依古丽 买买提", "阿依古丽··买买提"],
)
def test_dot_variants_unify_to_middle_dot(raw: str) -> None:
    assert normalise_name(raw) == f"阿依古丽{DOT}买买提"


@pytest.mark.parametrize("raw", ["张 伟", "张  伟", " 张伟 ", "张\u3000伟", "王 小明", "欧阳 娜娜"])
def test_inner_spaces_of_han_names_are_removed(raw: str) -> None:
    assert DOT not in normalise_name(raw)
    assert " " not in normalise_name(raw)


def test_traditional_to_simplified_keeps_protected_surnames() -> None:
    assert normalise_name("張偉") == "张伟"
    assert normalise_name("於麗華") == "於丽华"
    assert normalise_name("于丽华") == "于丽华"
    assert normalise_name("甯靜") == "甯静"
    assert normalise_name("宁静") == "宁静"
    assert normalise_name("於麗華") != normalise_name("于丽华")
    assert normalise_name("歐陽娜娜") == "欧阳娜娜"


def test_blank_and_missing_names() -> None:
    assert normalise_name("   ") is None
    assert normalise_name(None) is None
    frame = standardise_names(pd.Series(["", None, float("nan"), "  "], index=[5, 6, 7, 8]))
    assert list(frame.index) == [5, 6, 7, 8]
    assert frame.isna().all().all()


@pytest.mark.parametrize(
    ("name", "pinyin"),
    [("朴明浩", "piao ming hao"), ("单田芳", "shan tian fang"), ("曾国藩", "zeng guo fan"),
     ("区志强", "ou zhi qiang"), ("仇大海", "qiu da hai"), ("尉迟恭", "yu chi gong"),
     ("万俟卨", "mo qi xie"), ("吕绿", "lv lv"), ("张伟", "zhang wei"),
     ("阿依古丽·买买提", "a yi gu li mai mai ti")],
)
def test_pinyin_uses_surname_readings(name: str, pinyin: str) -> None:
    assert name_pinyin_key(normalise_name(name)) == pinyin


def test_surname_reading_applies_only_to_the_surname() -> None:
    assert name_pinyin_key("王单") == "wang dan"


def test_latin_names_give_one_lowercase_token() -> None:
    assert normalise_name("John  Smith") == "johnsmith"
    assert name_pinyin_key(normalise_name("O'Brien, Mary")) == "obrienmary"


@pytest.mark.parametrize(
    ("name", "surname", "given"),
    [("欧阳娜娜", "欧阳", "娜娜"), ("诸葛亮", "诸葛", "亮"), ("司马相如", "司马", "相如"),
     ("张伟", "张", "伟"), ("钟离", "钟", "离"), ("艾力·买买提", "买买提", "艾力")],
)
def test_compound_surname_split(name: str, surname: str, given: str) -> None:
    assert split_surname(name) == (surname, given)


def test_standardise_names_columns() -> None:
    raw = pd.Series([" 歐陽 娜娜 ", "艾力 买买提", "張偉", "張偉"], index=[10, 11, 12, 13])
    frame = standardise_names(raw)
    assert list(frame.columns) == ["name", "name_norm", "name_pinyin", "name_nodot", "surname", "given_name"]
    assert frame.loc[10].tolist() == ["歐陽 娜娜", "欧阳娜娜", "ou yang na na", "欧阳娜娜", "欧阳", "娜娜"]
    assert frame.loc[11, "name_norm"] == f"艾力{DOT}买买提"
    assert frame.loc[11, "name_nodot"] == "艾力买买提"
    assert frame.loc[13, "name_pinyin"] == "zhang wei"


def _relations(pairs: list[tuple[str | None, str | None]]) -> list[str | None]:
    a = standardise_names(pd.Series([p[0] for p in pairs], dtype=object))
    b = standardise_names(pd.Series([p[1] for p in pairs], dtype=object))
    return name_relation(a["name_norm"], b["name_norm"], a["name_pinyin"], b["name_pinyin"]).tolist()


def test_name_relation_kinds() -> None:
    pairs = [
        ("张伟", "張偉"),
        ("张伟", "章伟"),
        ("张伟", "张玮"),
        ("王未", "王末"),
        ("王小明", "王大明"),
        ("蒋经国", "蒋纬国"),
        ("欧阳娜娜", "欧阳娜"),
        ("张伟", "李强"),
        ("阿依古丽·买买提", "阿依古丽买买提"),
        (None, "张伟"),
        ("张伟", ""),
        ("於明", "于明"),
    ]
    assert _relations(pairs) == [
        "exact_norm", "homophone", "homophone", "lookalike", "one_char_diff", "one_char_diff",
        "similar", "different", "exact_norm", None, None, "homophone",
    ]


def test_name_relation_keeps_index_and_repeated_pairs() -> None:
    idx = pd.Index([7, 3, 9])
    a = pd.Series(["王未", "王未", "王己"], index=idx)
    b = pd.Series(["王末", "王末", "王已"], index=idx)
    pa, pb = a.map(name_pinyin_key), b.map(name_pinyin_key)
    result = name_relation(a, b, pa, pb)
    assert list(result.index) == [7, 3, 9]
    assert result.tolist() == ["lookalike"] * 3


_han = st.text(alphabet=st.sampled_from(list("张王李赵刘陈杨黄周吴伟芳娜敏静丽强磊军洋")), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None)
@given(_han)
def test_normalisation_is_idempotent(name: str) -> None:
    once = normalise_name(name)
    assert normalise_name(once) == once


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_han, _han), min_size=1, max_size=20))
def test_relation_is_symmetric(pairs: list[tuple[str, str]]) -> None:
    a = pd.Series([p[0] for p in pairs])
    b = pd.Series([p[1] for p in pairs])
    pa, pb = a.map(name_pinyin_key), b.map(name_pinyin_key)
    assert name_relation(a, b, pa, pb).tolist() == name_relation(b, a, pb, pa).tolist()


def test_batch_path_equals_per_value_path() -> None:
    """name_columns reads plain Han names in Arrow, in batch; it must agree with the per-value path."""
    import pyarrow as pa

    from matchers.names import NAME_TEXT_COLUMNS, _standardise_one, name_columns

    values = ["张伟", "張偉", "司馬英淑", "欧阳娜娜", "於小明", "甯静", "单田芳", "朴槿惠", "區志", "乾隆", "曾国藩",
              "李秀英", "王", "阿依古丽·买买提", "张 伟", "Smith", "", None, "张伟"]
    columns = name_columns(pa.array(values, type=pa.string()))
    for i, value in enumerate(values):
        expected = _standardise_one(value)[1:]
        assert tuple(columns[c][i].as_py() for c in NAME_TEXT_COLUMNS) == expected, value


def test_phrase_table_has_no_single_characters():
    """_pinyin_reader leaves pypinyin's phrase table out: that is only right while no phrase is one character."""
    import json
    from importlib.resources import files

    phrases = json.loads(files("pypinyin").joinpath("phrases_dict.json").read_text(encoding="utf-8"))
    assert phrases and not [word for word in phrases if len(word) == 1]


def test_readings_do_not_load_the_phrase_table():
    import subprocess
    import sys

    script = ("import os, sys; os.environ.pop('PYPINYIN_NO_PHRASES', None)\n"
              "from matchers.names import _char_pinyin\n"
              "print(_char_pinyin('重'), _char_pinyin('吕'), 'pypinyin.phrases_dict' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["zhong", "lv", "False"]
