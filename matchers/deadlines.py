"""The monthly review deadline: the 10th of the following month, moved to the next working day.

Chinese public holidays move weekdays off and weekends on (调休), so "next weekday" is wrong
about twice a year. Sources in order: an override file (an office adds a newly published year),
chinesecalendar (official arrangements, 2004–2026 in 1.11), then the `holidays` package, whose
years beyond the published arrangements are estimates and are flagged provisional.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from schemas.rosters import SCHEMA_DIR

OVERRIDE_FILE = "holidays_override.yaml"
DUE_DAY = 10
MAX_SEARCH_DAYS = 40
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class HolidayCalendarMissing(RuntimeError):
    """No source knows the working days of a year: the deadline cannot be computed honestly."""


@dataclass(frozen=True)
class Deadline:
    period: str
    nominal: dt.date
    due: dt.date
    source: str
    provisional: bool

    @property
    def moved(self) -> bool:
        return self.due != self.nominal

    def describe(self) -> str:
        """One line for reports: the date, and why it is not the 10th when it is not."""
        text = f"{self.due.isoformat()}（{'星期' + '一二三四五六日'[self.due.weekday()]}）"
        if self.moved:
            text += f"，{self.nominal.isoformat()} 为休息日，顺延至下一工作日"
        if self.provisional:
            text += f"；{self.due.year}年放假安排未收录，按{self.source}暂定，请在 {OVERRIDE_FILE} 中补充后复核"
        return text


def override_paths() -> list[Path]:
    """Override files, most specific first: the state folder's, then the shipped one."""
    home = Path(os.environ.get("RELIEFMATCH_HOME", ".reliefmatch"))
    return [home / OVERRIDE_FILE, SCHEMA_DIR / OVERRIDE_FILE]


def _expand(values: list[object], where: Path, year: int, key: str) -> frozenset[dt.date]:
    days: set[dt.date] = set()
    for value in values or []:
        text = value.isoformat() if isinstance(value, dt.date) else str(value).strip()
        try:
            if ".." in text:
                start, end = (dt.date.fromisoformat(part.strip()) for part in text.split("..", 1))
                days.update(start + dt.timedelta(days=i) for i in range((end - start).days + 1))
            else:
                days.add(dt.date.fromisoformat(text))
        except ValueError:
            raise HolidayCalendarMissing(
                f"{where}: {year}.{key} has '{text}', which is not a date: write YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD") from None
    return frozenset(days)


@lru_cache(maxsize=8)
def _load_override(path: Path, mtime_ns: int) -> dict[int, tuple[frozenset[dt.date], frozenset[dt.date]]]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise HolidayCalendarMissing(f"{path}: expected a mapping of years to holidays/workdays")
    years = {}
    for year, body in raw.items():
        body = body or {}
        years[int(year)] = (_expand(body.get("holidays"), path, int(year), "holidays"),
                            _expand(body.get("workdays"), path, int(year), "workdays"))
    return years


def _override_for(year: int) -> tuple[frozenset[dt.date], frozenset[dt.date], Path] | None:
    for path in override_paths():
        if path.is_file():
            found = _load_override(path.resolve(), path.stat().st_mtime_ns).get(year)
            if found is not None:
                return found[0], found[1], path
    return None


def _chinese_calendar(day: dt.date) -> bool | None:
    import chinese_calendar

    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


@lru_cache(maxsize=32)
def _holidays_calendar(year: int):
    try:
        import holidays
    except ImportError:
        return None
    return holidays.China(years=year)


def is_working_day(day: dt.date) -> tuple[bool, str, bool]:
    """(working?, source, provisional) for one day."""
    override = _override_for(day.year)
    if override is not None:
        off, on, path = override
        working = day in on or (day.weekday() < 5 and day not in off)
        return working, f"override {path.name}", False
    answer = _chinese_calendar(day)
    if answer is not None:
        return answer, "chinesecalendar", False
    calendar = _holidays_calendar(day.year)
    if calendar is not None:
        published = any(d.year == day.year for d in calendar.weekend_workdays)
        return bool(calendar.is_working_day(day)), "holidays", not published
    raise HolidayCalendarMissing(
        f"no public-holiday calendar covers {day.year}: add the year's 放假安排 (holidays and make-up workdays) "
        f"to {override_paths()[0]} or {override_paths()[1]}")


def parse_period(period: str) -> tuple[int, int]:
    match = _PERIOD.match(period or "")
    if not match:
        raise ValueError(f"period '{period}' is not a month: write it as YYYY-MM, e.g. 2026-11")
    return int(match.group(1)), int(match.group(2))


def review_deadline(period: str, strict: bool = False) -> Deadline:
    """Due date of a period's review: the 10th of the next month, or the first working day after.

    strict=True refuses an estimated calendar (a year whose arrangement is not published yet).
    """
    year, month = parse_period(period)
    nominal = dt.date(year + month // 12, month % 12 + 1, DUE_DAY)
    day, provisional, sources = nominal, False, []
    for _ in range(MAX_SEARCH_DAYS):
        working, source, guessed = is_working_day(day)
        provisional |= guessed
        sources.append(source)
        if working:
            if provisional and strict:
                raise HolidayCalendarMissing(
                    f"the {day.year} holiday arrangement is not published in any bundled calendar: add it to "
                    f"{override_paths()[0]} or {override_paths()[1]}")
            return Deadline(period, nominal, day, sources[-1], provisional)
        day += dt.timedelta(days=1)
    raise HolidayCalendarMissing(f"no working day within {MAX_SEARCH_DAYS} days after {nominal.isoformat()}: check the holiday calendar")
