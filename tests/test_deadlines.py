"""The review deadline: the 10th of the next month, moved over weekends and public holidays."""
from __future__ import annotations

import datetime as dt

import pytest

from matchers import deadlines
from matchers.deadlines import HolidayCalendarMissing, is_working_day, review_deadline


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """No state-folder override file leaks in from the working directory."""
    monkeypatch.setenv("RELIEFMATCH_HOME", str(tmp_path))


def test_make_up_working_saturday_is_not_moved():
    # 10 Oct 2026 is a Saturday worked in exchange for the National Day week (调休上班)
    assert dt.date(2026, 10, 10).weekday() == 5
    deadline = review_deadline("2026-09")
    assert deadline.due == dt.date(2026, 10, 10)
    assert not deadline.moved and deadline.source == "chinesecalendar" and not deadline.provisional


def test_plain_weekend_moves_to_monday():
    deadline = review_deadline("2026-04")  # 10 May 2026 is a Sunday
    assert deadline.due == dt.date(2026, 5, 11)
    assert deadline.moved and "顺延" in deadline.describe()


def test_holiday_moves_to_the_make_up_sunday():
    # Spring Festival 2024: 10–17 Feb off, Sunday 18 Feb worked in exchange
    deadline = review_deadline("2024-01")
    assert deadline.due == dt.date(2024, 2, 18)
    assert deadline.due.weekday() == 6


def test_ordinary_weekday_and_year_end_rollover():
    assert review_deadline("2026-11").due == dt.date(2026, 12, 10)
    assert review_deadline("2025-12").due == dt.date(2026, 1, 12)  # Saturday 10 Jan 2026


def test_uncovered_year_is_provisional_or_refused():
    deadline = review_deadline("2026-12")  # January 2027: chinesecalendar 1.11 stops at 2026
    assert deadline.provisional and deadline.due == dt.date(2027, 1, 11)
    assert "暂定" in deadline.describe()
    with pytest.raises(HolidayCalendarMissing, match="holidays_override.yaml"):
        review_deadline("2026-12", strict=True)


def test_missing_calendar_gives_a_clear_message(monkeypatch):
    monkeypatch.setattr(deadlines, "_holidays_calendar", lambda year: None)
    with pytest.raises(HolidayCalendarMissing, match="no public-holiday calendar covers 2031"):
        review_deadline("2031-02")


def test_override_file_takes_precedence(tmp_path):
    (tmp_path / "holidays_override.yaml").write_text(
        "2027:\n  holidays: [2027-01-01..2027-01-03, 2027-01-11]\n  workdays: [2027-01-10]\n", encoding="utf-8")
    deadline = review_deadline("2026-12", strict=True)
    assert deadline.due == dt.date(2027, 1, 10) and not deadline.provisional
    assert deadline.source.startswith("override")


def test_override_reproduces_the_published_2026_arrangement(tmp_path):
    """The override format, filled with 2026's arrangement, agrees with chinesecalendar on every day."""
    (tmp_path / "holidays_override.yaml").write_text(
        "2026:\n"
        "  holidays: [2026-01-01..2026-01-03, 2026-02-15..2026-02-23, 2026-04-04..2026-04-06,\n"
        "             2026-05-01..2026-05-05, 2026-06-19..2026-06-21, 2026-09-25..2026-09-27,\n"
        "             2026-10-01..2026-10-07]\n"
        "  workdays: [2026-01-04, 2026-02-14, 2026-02-28, 2026-05-09, 2026-09-20, 2026-10-10]\n", encoding="utf-8")
    import chinese_calendar

    day = dt.date(2026, 1, 1)
    while day.year == 2026:
        assert is_working_day(day)[0] == chinese_calendar.is_workday(day), day
        day += dt.timedelta(days=1)


def test_bad_period_and_bad_override(tmp_path):
    with pytest.raises(ValueError, match="YYYY-MM"):
        review_deadline("2026-13")
    (tmp_path / "holidays_override.yaml").write_text("2027:\n  holidays: [next friday]\n", encoding="utf-8")
    with pytest.raises(HolidayCalendarMissing, match="not a date"):
        review_deadline("2026-12")
