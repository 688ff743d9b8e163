import datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matchers.dates import DATE_STATUSES, parse_dates, valid_ymd


def one(raw) -> tuple:
    row = parse_dates(pd.Series([raw], dtype=object)).iloc[0]
    return row["date"], row["date_status"]


@pytest.mark.parametrize(
    "raw",
    [
        "2020-02-03",
        "2020/2/3",
        "2020/02/03",
        "2020.2.3",
        "20200203",
        "2020年2月3日",
        "2020年02月03日",
        "２０２０年２月３日",
        " 2020-02-03 ",
        "2020-02-03 00:00:00",
        "2020-02-03T08:30:00+08:00",
        "2020/2/3 0:00",
        "43864",
        "43864.0",
        "43864.75",
        43864,
        43864.0,
        pd.Timestamp("2020-02-03"),
        datetime.date(2020, 2, 3),
    ],
)
def test_formats_parse_to_the_same_day(raw):
    assert one(raw) == ("20200203", "ok")


@pytest.mark.parametrize(
    ("serial", "expected"),
    [("1", "19000101"), ("59", "19000228"), ("61", "19000301"), ("25569", "19700101"), ("60000", "20640408")],
)
def test_excel_serials_follow_excel_calendar(serial, expected):
    assert one(serial) == (expected, "ok")


@pytest.mark.parametrize("raw", ["", "  ", None, float("nan"), "nan", "NaT", "-", "无"])
def test_blank(raw):
    assert one(raw) == (None, "blank")


@pytest.mark.parametrize("raw", ["2020-02-30", "2019-02-29", "2020-13-01", "20200230", "abc", "2020年2月", "1990", "60"])
def test_unparseable(raw):
    assert one(raw) == (None, "unparseable")


@pytest.mark.parametrize("raw", ["1899-12-31", "2101-01-01", "0", "60001", "99999"])
def test_out_of_range(raw):
    assert one(raw) == (None, "out_of_range")


def test_leap_day_and_index_preserved():
    raw = pd.Series(["2020-02-29", "2000-02-29", "1900-02-29", None], index=list("abcd"))
    out = parse_dates(raw)
    assert out.index.tolist() == list("abcd")
    assert out["date"].tolist() == ["20200229", "20000229", None, None]
    assert out["date_status"].tolist() == ["ok", "ok", "unparseable", "blank"]
    assert set(out["date_status"]) <= set(DATE_STATUSES)


def test_datetime_column():
    raw = pd.Series(pd.to_datetime(["2020-02-03", None, "1800-01-01"]))
    out = parse_dates(raw)
    assert out["date"].tolist() == ["20200203", None, None]
    assert out["date_status"].tolist() == ["ok", "blank", "out_of_range"]


@settings(max_examples=50, deadline=None)
@given(st.dates(min_value=datetime.date(1900, 3, 1), max_value=datetime.date(2100, 12, 31)))
def test_every_format_agrees(day):
    serial = (day - datetime.date(1899, 12, 30)).days
    raws = [
        day.isoformat(),
        f"{day.year}/{day.month}/{day.day}",
        f"{day.year}.{day.month}.{day.day}",
        day.strftime("%Y%m%d"),
        f"{day.year}年{day.month}月{day.day}日",
        f"{day.isoformat()} 12:34:56",
    ]
    if serial <= 60000 and not 1900 <= serial <= 2100:  # a bare 1900-2100 is read as a year, by design
        raws += [str(serial), f"{serial}.0"]
    out = parse_dates(pd.Series(raws))
    assert out["date"].tolist() == [day.strftime("%Y%m%d")] * len(raws)


def test_valid_ymd():
    y = np.array([2020, 2021, 1900, 2000, 2020])
    m = np.array([2, 2, 2, 2, 4])
    d = np.array([29, 29, 29, 29, 31])
    assert valid_ymd(y, m, d).tolist() == [True, False, False, True, False]
