"""Address parsing and Jilin division-code resolution."""
from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matchers.addresses import (
    ADDRESS_COLUMNS,
    county_name,
    current_county_code,
    normalise_detail,
    parse_county,
    prefecture_code,
    standardise_addresses,
)


def _parse(address: str) -> dict[str, object]:
    return standardise_addresses(pd.Series([address])).iloc[0].to_dict()


def test_full_urban_address() -> None:
    row = _parse("吉林省长春市朝阳区红旗街道新村社区3-2-501")
    assert row == {
        "addr_province": "吉林省",
        "addr_prefecture": "长春市",
        "addr_county": "朝阳区",
        "addr_county_code": "220104",
        "addr_town": "红旗街道",
        "addr_village": "新村社区",
        "addr_detail": "3栋2单元501室",
        "addr_norm": "吉林省长春市朝阳区红旗街道新村社区3栋2单元501室",
    }


def test_province_and_prefecture_are_inferred() -> None:
    short = _parse("朝阳区红旗街道新村社区3栋2单元501室")
    full = _parse("吉林省长春市朝阳区红旗街道新村社区3-2-501")
    assert short == full
    assert _parse("长春朝阳区红旗街道新村社区3-2-501")["addr_norm"] == full["addr_norm"]


def test_hash_and_hao_are_unified() -> None:
    assert _parse("朝阳区人民大街88#")["addr_detail"] == "人民大街88号"
    assert _parse("朝阳区人民大街八十八号")["addr_detail"] == "人民大街88号"
    assert normalise_detail("5#楼3单元201") == "5栋3单元201室"


def test_erdao_and_erdaojiang_are_different_districts() -> None:
    changchun = _parse("二道区东站街道")
    tonghua = _parse("通化市二道江区五道江镇")
    assert (changchun["addr_county_code"], changchun["addr_prefecture"]) == ("220105", "长春市")
    assert (tonghua["addr_county_code"], tonghua["addr_prefecture"]) == ("220503", "通化市")
    assert tonghua["addr_town"] == "五道江镇"


def test_rural_address_with_numerals_kept_inside_place_names() -> None:
    row = _parse("吉林省白山市八道江区红土崖镇三道沟村五社")
    assert row["addr_county"] == "浑江区"
    assert row["addr_county_code"] == "220602"
    assert row["addr_town"] == "红土崖镇"
    assert row["addr_village"] == "三道沟村"
    assert row["addr_detail"] == "5社"


def test_villager_group_and_ordinal() -> None:
    assert _parse("农安县合隆镇陈家店村三组")["addr_detail"] == "3组"
    assert _parse("农安县合隆镇陈家店村第三组")["addr_detail"] == "3组"
    assert _parse("榆树市秀水镇大岭村十五社")["addr_detail"] == "15社"
    row = _parse("农安县合隆镇陈家店村村民委员会")
    assert row["addr_village"] == "陈家店村"


@pytest.mark.parametrize("place", ["四平市", "九台区", "二道江区", "八道江区"])
def test_numerals_in_place_names_are_not_converted(place: str) -> None:
    assert _parse(place)["addr_norm"].endswith(place.replace("八道江区", "浑江区"))
    assert normalise_detail("二道沟屯三号") == "二道沟屯3号"


def test_beijing_chaoyang_is_not_jilin() -> None:
    row = _parse("北京市朝阳区建国路88号")
    assert row["addr_province"] == "北京市"
    assert row["addr_county"] == "朝阳区"
    assert row["addr_county_code"] is None
    assert _parse("朝阳区建国路88号")["addr_county_code"] == "220104"


def test_gongzhuling_old_and_new_prefecture() -> None:
    for address in ("四平市公主岭市范家屯镇", "长春市公主岭市范家屯镇", "公主岭范家屯镇", "吉林省公主岭市范家屯镇"):
        row = _parse(address)
        assert (row["addr_county_code"], row["addr_prefecture"]) == ("220184", "长春市"), address
        assert row["addr_town"] == "范家屯镇"


@pytest.mark.parametrize(
    ("address", "code", "county"),
    [("九台市营城街道", "220113", "九台区"), ("江源县", "220605", "江源区"), ("扶余县", "220781", "扶余市"),
     ("吉林市船营区", "220204", "船营区"), ("通化县快大茂镇", "220521", "通化县"),
     ("前郭县前郭镇", "220721", "前郭尔罗斯蒙古族自治县"), ("延边州延吉市", "222401", "延吉市"),
     ("吉林省吉林市郊区", "220211", "丰满区")],
)
def test_old_and_short_county_names_resolve(address: str, code: str, county: str) -> None:
    row = _parse(address)
    assert (row["addr_county_code"], row["addr_county"]) == (code, county)


def test_unknown_county_in_jilin_keeps_text_without_code() -> None:
    row = _parse("长春市高新区硅谷街道")
    assert (row["addr_prefecture"], row["addr_county"], row["addr_county_code"]) == ("长春市", "高新区", None)
    assert row["addr_town"] == "硅谷街道"


def test_other_province_prefecture_without_province() -> None:
    row = _parse("沈阳市铁西区兴华街道")
    assert row["addr_county_code"] is None
    assert row["addr_prefecture"] == "沈阳市"


def test_missing_addresses_and_index() -> None:
    frame = standardise_addresses(pd.Series([None, "", "朝阳区"], index=["a", "b", "c"]))
    assert list(frame.columns) == ADDRESS_COLUMNS
    assert list(frame.index) == ["a", "b", "c"]
    assert frame.loc[["a", "b"]].isna().all().all()
    assert frame.loc["c", "addr_county_code"] == "220104"


def test_current_county_code() -> None:
    codes = pd.Series(["220381", "220602", "220181", "220625", "220724", "220104", "110105", None, "222421"])
    assert current_county_code(codes).tolist() == [
        "220184", "220602", "220113", "220605", "220781", "220104", "110105", None, "222405",
    ]


def test_county_name_and_prefecture_code() -> None:
    assert county_name("220381") == "公主岭市"
    assert county_name("220602") == "浑江区"
    assert county_name(None) is None
    assert prefecture_code("220184") == "220100"
    assert prefecture_code(None) is None


def test_parse_county() -> None:
    text = pd.Series(["长春市朝阳区", "朝阳区", "公主岭市", "北京市朝阳区", None])
    assert parse_county(text).tolist() == ["220104", "220104", "220184", None, None]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("吉林省长春市朝阳区二道江镇乡村社组号#-123一二三五十单元栋室楼 ")), max_size=30))
def test_parser_never_fails_and_is_stable(address: str) -> None:
    row = _parse(address)
    assert set(row) == set(ADDRESS_COLUMNS)
    if row["addr_norm"]:
        assert _parse(row["addr_norm"])["addr_norm"] == row["addr_norm"]
