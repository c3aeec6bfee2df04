"""The Chinese working calendar: which days are workdays, and deadlines in working time.

Which days are workdays, most authoritative first:

1. an administrator's ``CalendarDay`` row for the date (``calendar_day_set``/``_unset``);
2. the ``chinesecalendar`` package: statutory holidays and adjusted workdays (调休, weekend days
   that are worked) for the years it covers (2004–2026 in 1.11);
3. Monday to Friday. A year that has neither package data nor any override row falls back to
   this rule, which misses every holiday: ``calendar_coverage()`` reports such years, ``wangge
   workcal check`` fails on them, and building such a year logs a warning.

Working time runs inside the working periods of each workday, ``settings.WANGGE_WORK_HOURS``
(default ``[("09:00", "12:00"), ("13:30", "17:30")]``, i.e. 7 working hours a day) in the local
time zone ``settings.TIME_ZONE`` (Asia/Shanghai: UTC+8 all year, no daylight saving since 1991).

Think of a clock that runs only during working periods: W(t) is its reading at instant t.

- ``working_time_between(a, b)`` = W(b) - W(a).
- ``add_working_time(start, hours=h, days=n)`` is the *earliest* instant t with
  W(t) = W(start) + h hours + n working days, where one working day is the length of one day's
  working periods. Hence ``working_time_between(start, add_working_time(start, hours=h))`` is
  exactly ``h`` hours, and a deadline that falls on the end of a period is that end (12:00,
  17:30), never the start of the next one.

The rule for day limits follows from that: a limit of N working days is N days' worth of
working time counted from the moment of the report, on the same clock as limits in working
hours (so the 80% warning and the reports measure both alike):

- Started inside working hours, an N-working-day limit ends at the same clock time on the Nth
  working day after: a report on Friday 17:00 with 2 working days ends at 17:00 on the second
  working day after, skipping weekends and holidays and counting adjusted weekend workdays.
- Started outside working hours (evening, weekend, holiday, before 09:00, or at 09:00 sharp),
  the clock starts at the next working period, so the limit ends at the close of the Nth
  working day (17:30), that next working day being day one. Started in the lunch break (or at
  13:30 sharp), it ends at 12:00 on the Nth working day after.
- Fractions are working time: ``days=0.5`` is half a day's working hours (3.5 h by default).

(The Civil Code's rule for legal periods — the starting day is not counted and the period ends
at the close of business on its last day — would give more time to reports made during working
hours; a category that needs it can add the rest of the starting day itself.)

Emergency limits run on the wall clock: ``add_clock_time``. All functions take aware datetimes
and return aware datetimes in the local time zone.

Speed: every working day of a year, with running counts, is built once per process and kept
until an administrator changes the calendar (``CalendarVersion`` is compared at most once every
``RECHECK_SECONDS``); a deadline is then a few integer operations and list lookups, and a UTC
input (``timezone.now()``, a row read back) is shifted by the zone's fixed offset instead of
going through ``astimezone()``. ``benchmarks/workcal.py`` prints the rates.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from chinese_calendar import constants as _package
from django.conf import settings
from django.core.signals import setting_changed
from django.db import models, transaction
from django.db.models import Count, F
from django.db.models.functions import ExtractYear
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from wangge.core import audit
from wangge.core.errors import NotFound, ValidationError
from wangge.core.models import CalendarDay, CalendarVersion

log = logging.getLogger(__name__)

RECHECK_SECONDS = 1.0
DEFAULT_WORK_HOURS = (("09:00", "12:00"), ("13:30", "17:30"))

PACKAGE_FIRST_YEAR = min(_package.holidays).year
PACKAGE_LAST_YEAR = max(_package.holidays).year

_US_PER_SECOND = 1_000_000
_US_PER_HOUR = 3600 * _US_PER_SECOND
_US_PER_DAY = 24 * _US_PER_HOUR
_NAME_MAX = CalendarDay._meta.get_field("name").max_length
_PACKAGE_NAMES = {h.value: h.chinese for h in _package.Holiday}
_PLAIN_ZONES = (ZoneInfo, dt.timezone)  # always give an offset: aware whenever set


class Source(models.TextChoices):
    """Where a day's status or a year's calendar comes from."""

    OVERRIDE = "override", gettext_lazy("administrator")
    PACKAGE = "package", gettext_lazy("chinesecalendar package")
    WEEKDAYS = "weekdays", gettext_lazy("Monday–Friday rule (holidays unknown)")


# --- the working periods of a day ------------------------------------------------------------
def _parse_clock(value) -> int:
    """Microseconds since midnight of ``"HH:MM"``, ``"HH:MM:SS"`` or a ``datetime.time``."""
    if isinstance(value, str):
        value = dt.time.fromisoformat(value)
    if not isinstance(value, dt.time) or value.tzinfo is not None:
        raise ValueError(f"WANGGE_WORK_HOURS: {value!r} is not a local clock time")
    return (
        (value.hour * 60 + value.minute) * 60 + value.second
    ) * _US_PER_SECOND + value.microsecond


class Schedule:
    """A workday's working periods, as microseconds since midnight."""

    __slots__ = ("periods", "day", "end")

    def __init__(self, hours: Iterable) -> None:
        periods: list[tuple[int, int, int]] = []  # (start, end, working time before start)
        before = 0
        last_end = -1
        for pair in hours:
            start, end = (_parse_clock(v) for v in pair)
            if not start < end:
                raise ValueError(f"WANGGE_WORK_HOURS: period {pair!r} does not end after it starts")
            if start < last_end:
                raise ValueError("WANGGE_WORK_HOURS: periods must be in order and not overlap")
            periods.append((start, end, before))
            before += end - start
            last_end = end
        if not periods:
            raise ValueError("WANGGE_WORK_HOURS: at least one working period is needed")
        self.periods = tuple(periods)
        self.day = before  # working microseconds in one workday
        self.end = last_end  # end of the day's last period

    def offset(self, t: int) -> int:
        """Working microseconds of a workday elapsed at clock time ``t``."""
        for start, end, before in self.periods:
            if t <= start:
                return before
            if t < end:
                return before + t - start
        return self.day

    def clock(self, w: int) -> int:
        """The earliest clock time at which ``w`` (0 < w ≤ day) working microseconds have
        elapsed."""
        for start, end, before in self.periods:
            if w <= before + end - start:
                return start + w - before
        return self.end


# --- one year's workdays ---------------------------------------------------------------------
class Year:
    """The workdays of one calendar year: ``work[i]`` for the i-th day of the year, ``before[i]``
    workdays before it (``before[-1]`` is the year's total), ``days`` their ordinals."""

    __slots__ = ("year", "first", "work", "before", "days", "ymd", "total", "source")

    def __init__(self, year: int, overrides: dict[int, bool]) -> None:
        first = dt.date(year, 1, 1).toordinal()
        n = 366 if _is_leap(year) else 365
        in_package = PACKAGE_FIRST_YEAR <= year <= PACKAGE_LAST_YEAR
        holidays, workdays = _package.holidays, _package.workdays
        work = bytearray(n)
        before = [0] * (n + 1)
        days: list[int] = []
        overridden = False
        for i in range(n):
            o = first + i
            w = (o + 6) % 7 < 5  # the ordinal 1 (0001-01-01) was a Monday
            if in_package:
                d = dt.date.fromordinal(o)
                if d in workdays:
                    w = True
                elif d in holidays:
                    w = False
            mine = overrides.get(o)
            if mine is not None:
                w = mine
                overridden = True
            if w:
                work[i] = 1
                days.append(o)
            before[i + 1] = len(days)
        self.year = year
        self.first = first
        self.work = bytes(work)
        self.before = before
        self.days = days
        self.ymd = [(d.year, d.month, d.day) for d in map(dt.date.fromordinal, days)]
        self.total = len(days)
        if in_package:
            self.source = Source.PACKAGE
        elif overridden:
            self.source = Source.OVERRIDE
        else:
            self.source = Source.WEEKDAYS
            log.warning(
                "Working calendar: no holiday data for %d; Monday to Friday are taken as "
                "workdays. Enter the official dates: wangge workcal set DATE workday|holiday NAME",
                year,
            )


_FIXED_UNTIL = 2100


@functools.cache
def _fixed_offset(tz: dt.tzinfo) -> tuple[int, int]:
    """(offset in microseconds, year Y) when ``tz`` keeps one UTC offset from Y + 1 to
    ``_FIXED_UNTIL`` (checked on the first of every month), else (0, ``_FIXED_UNTIL``)."""
    offset = tz.utcoffset(dt.datetime(_FIXED_UNTIL, 12, 1))
    year = _FIXED_UNTIL
    while year > 1900 and all(
        tz.utcoffset(dt.datetime(year, month, 1)) == offset for month in range(1, 13)
    ):
        year -= 1
    if offset is None or year == _FIXED_UNTIL:
        return 0, _FIXED_UNTIL
    return offset // dt.timedelta(microseconds=1), year


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


class Calendar:
    """The process's calendar at one ``CalendarVersion``: immutable overrides, years built on
    first use (a race builds a year twice, harmlessly)."""

    def __init__(self, overrides: dict[int, bool], schedule: Schedule, tz: dt.tzinfo) -> None:
        self.overrides = overrides
        self.schedule = schedule
        self.tz = tz
        self._years: dict[int, Year] = {}
        # UTC input (timezone.now(), rows read back) skips astimezone() in the years where the
        # zone's offset never changes (Asia/Shanghai: all years after 1991).
        self.fixed_offset, self.fixed_after = _fixed_offset(tz)

    def year(self, y: int) -> Year:
        found = self._years.get(y)
        if found is None:
            if not dt.MINYEAR <= y <= dt.MAXYEAR:
                raise OverflowError(f"working calendar: year {y} is out of range")
            found = self._years[y] = Year(y, self.overrides)
        return found

    def is_workday(self, d: dt.date) -> bool:
        yc = self.year(d.year)
        return bool(yc.work[d.toordinal() - yc.first])

    def position(self, moment: dt.datetime) -> tuple[int, int]:
        """(year, working microseconds since the start of that year) at ``moment``."""
        tzinfo = moment.tzinfo
        if tzinfo is dt.UTC and self.fixed_after < moment.year <= _FIXED_UNTIL:
            t = (
                ((moment.hour * 60 + moment.minute) * 60 + moment.second) * _US_PER_SECOND
                + moment.microsecond
                + self.fixed_offset
            )
            o = moment.toordinal()
            if t >= _US_PER_DAY:
                o, t = o + 1, t - _US_PER_DAY
            elif t < 0:
                o, t = o - 1, t + _US_PER_DAY
            yc = self.year(moment.year)
            i = o - yc.first
            if i < 0:
                yc = self.year(moment.year - 1)
                i = o - yc.first
            elif i >= len(yc.work):
                yc = self.year(moment.year + 1)
                i = o - yc.first
        else:
            if tzinfo is None or (type(tzinfo) not in _PLAIN_ZONES and moment.utcoffset() is None):
                raise ValueError(f"working calendar: {moment!r} is naive; pass an aware datetime")
            local = moment if tzinfo is self.tz else moment.astimezone(self.tz)
            yc = self.year(local.year)
            i = local.toordinal() - yc.first
            t = (
                (local.hour * 60 + local.minute) * 60 + local.second
            ) * _US_PER_SECOND + local.microsecond
        w = yc.before[i] * self.schedule.day
        if yc.work[i]:
            w += self.schedule.offset(t)
        return yc.year, w

    def instant(self, y: int, w: int) -> dt.datetime:
        """The earliest instant at which ``w`` > 0 working microseconds of year ``y`` (or of the
        years after it, if ``w`` runs past the end of ``y``) have elapsed."""
        day = self.schedule.day
        yc = self.year(y)
        while w > yc.total * day:
            w -= yc.total * day
            yc = self.year(yc.year + 1)
        k, rem = divmod(w, day)
        if rem:
            y, mo, d = yc.ymd[k]
            t = self.schedule.clock(rem)
        else:
            y, mo, d = yc.ymd[k - 1]
            t = self.schedule.end
        h, t = divmod(t, _US_PER_HOUR)
        m, t = divmod(t, 60 * _US_PER_SECOND)
        s, us = divmod(t, _US_PER_SECOND)
        return dt.datetime(y, mo, d, h, m, s, us, tzinfo=self.tz)

    def working_days_between_years(self, a: int, b: int) -> int:
        """Workdays in the years ``a`` up to but not including ``b`` (``a`` ≤ ``b``)."""
        return sum(self.year(y).total for y in range(a, b))


# --- the process-wide calendar ---------------------------------------------------------------
_lock = threading.Lock()
_state: dict = {"calendar": None, "version": None, "checked": 0.0}


def _current_version() -> int:
    row = CalendarVersion.objects.filter(pk=1).values_list("version", flat=True).first()
    return int(row or 0)


def _build() -> Calendar:
    rows = CalendarDay.objects.values_list("date", "is_workday")
    overrides = {d.toordinal(): bool(w) for d, w in rows}
    hours = getattr(settings, "WANGGE_WORK_HOURS", DEFAULT_WORK_HOURS)
    return Calendar(overrides, Schedule(hours), ZoneInfo(settings.TIME_ZONE))


def get_calendar() -> Calendar:
    """The process's calendar, reloaded if an administrator changed it since it was built."""
    st = _state
    if st["calendar"] is not None and time.monotonic() - st["checked"] < RECHECK_SECONDS:
        return st["calendar"]
    with _lock:
        version = _current_version()
        if st["calendar"] is None or version != st["version"]:
            st["calendar"] = _build()
            st["version"] = version
        st["checked"] = time.monotonic()
        return st["calendar"]


def reset() -> None:
    """Forget the process's calendar; the next call reloads it."""
    with _lock:
        _state.update(calendar=None, version=None, checked=0.0)


def _on_setting_changed(*, setting, **kwargs) -> None:
    if setting in ("WANGGE_WORK_HOURS", "TIME_ZONE"):
        reset()


setting_changed.connect(_on_setting_changed, dispatch_uid="wangge.core.workcal")


# --- the calendar's questions ----------------------------------------------------------------
def is_workday(d: dt.date) -> bool:
    """Whether ``d`` is a workday: an administrator's entry, else the package, else Mon–Fri."""
    if isinstance(d, dt.datetime):
        raise TypeError("is_workday() takes a date; pass moment.astimezone(tz).date()")
    return get_calendar().is_workday(d)


def add_working_time(start: dt.datetime, *, hours: float = 0, days: float = 0) -> dt.datetime:
    """The deadline ``hours`` working hours plus ``days`` working days after ``start``.

    The earliest instant at which that much working time has elapsed since ``start`` (see the
    module's notes for what this means for day limits). Zero returns ``start`` in local time;
    negative amounts are refused.
    """
    cal = get_calendar()
    amount = round(hours * _US_PER_HOUR + days * cal.schedule.day)
    if amount < 0:
        raise ValueError("add_working_time(): the amount of time must not be negative")
    y, w = cal.position(start)
    if amount == 0:
        return start.astimezone(cal.tz)
    return cal.instant(y, w + amount)


def working_time_between(a: dt.datetime, b: dt.datetime) -> dt.timedelta:
    """Working time elapsed from ``a`` to ``b`` (negative when ``b`` is before ``a``)."""
    cal = get_calendar()
    ya, wa = cal.position(a)
    yb, wb = cal.position(b)
    if ya < yb:
        wb += cal.working_days_between_years(ya, yb) * cal.schedule.day
    elif yb < ya:
        wa += cal.working_days_between_years(yb, ya) * cal.schedule.day
    return dt.timedelta(microseconds=wb - wa)


def add_clock_time(start: dt.datetime, *, hours: float = 0, days: float = 0) -> dt.datetime:
    """``start`` plus elapsed wall-clock time (emergency limits), in local time.

    Computed in UTC, so it stays right in any time zone (Asia/Shanghai has no daylight saving
    anyway): ``add_clock_time(t, hours=24)`` is always 24 real hours later.
    """
    if start.utcoffset() is None:
        raise ValueError(f"working calendar: {start!r} is naive; pass an aware datetime")
    if hours < 0 or days < 0:
        raise ValueError("add_clock_time(): the amount of time must not be negative")
    utc = start.astimezone(dt.UTC) + dt.timedelta(hours=hours, days=days)
    return utc.astimezone(get_calendar().tz)


def working_day_length() -> dt.timedelta:
    """The working time in one workday (7 hours with the default periods)."""
    return dt.timedelta(microseconds=get_calendar().schedule.day)


# --- coverage and listing (read fresh from the database: for people, not the hot path) -------
@dataclass(frozen=True)
class YearCoverage:
    year: int
    source: str  # a Source value: the most authoritative data the year has
    overrides: int  # administrator entries in the year

    @property
    def covered(self) -> bool:
        return self.source != Source.WEEKDAYS


def calendar_coverage(years: Iterable[int]) -> list[YearCoverage]:
    """For each year, where its holidays come from. A year outside the package counts as
    covered once an administrator has entered any day of it (enter the whole official notice:
    the State Council publishes the next year's arrangement around November)."""
    years = sorted(set(years))
    counts = dict(
        CalendarDay.objects.filter(date__year__in=years)
        .annotate(y=ExtractYear("date"))
        .values("y")
        .annotate(n=Count("id"))
        .values_list("y", "n")
    )
    out = []
    for y in years:
        n = counts.get(y, 0)
        if PACKAGE_FIRST_YEAR <= y <= PACKAGE_LAST_YEAR:
            source = Source.PACKAGE
        elif n:
            source = Source.OVERRIDE
        else:
            source = Source.WEEKDAYS
        out.append(YearCoverage(year=y, source=source, overrides=n))
    return out


def calendar_gaps(today: dt.date | None = None) -> list[int]:
    """The current and next year, those of them whose holidays are unknown."""
    today = today or timezone.localdate()
    return [c.year for c in calendar_coverage([today.year, today.year + 1]) if not c.covered]


@dataclass(frozen=True)
class CalendarEntry:
    date: dt.date
    is_workday: bool
    name: str
    source: str  # Source.OVERRIDE or Source.PACKAGE


def calendar_day_list(year: int) -> list[CalendarEntry]:
    """The year's days that differ from a plain week or are named holidays: the package's
    holidays and adjusted workdays (names in Chinese) with the administrator's entries over
    them."""
    entries: dict[dt.date, CalendarEntry] = {}
    if PACKAGE_FIRST_YEAR <= year <= PACKAGE_LAST_YEAR:
        for table, work in ((_package.holidays, False), (_package.workdays, True)):
            for d, name in table.items():
                if d.year == year:
                    label = _PACKAGE_NAMES.get(name, name)
                    entries[d] = CalendarEntry(d, work, label, Source.PACKAGE)
    for row in CalendarDay.objects.filter(date__year=year):
        entries[row.date] = CalendarEntry(row.date, row.is_workday, row.name, Source.OVERRIDE)
    return [entries[d] for d in sorted(entries)]


# --- writes (the administrator's entries) ----------------------------------------------------
# The caller checks the permission (the admin page: Perm.PLACES_IMPORT; the command: the
# platform itself): ``core`` sits below ``accounts`` and does not import its rules.
def _user_of(actor):
    if actor is None:
        return None
    if hasattr(actor, "role") and hasattr(actor, "user"):  # a post, or the platform
        return actor.user
    return actor if hasattr(actor, "username") else None


def _version_bump() -> None:
    """Tell every process to reload: now in this one, on commit again (another thread may
    have rebuilt from the old rows meanwhile), elsewhere within ``RECHECK_SECONDS``."""
    bumped = CalendarVersion.objects.filter(pk=1).update(version=F("version") + 1)
    if not bumped:
        _row, created = CalendarVersion.objects.get_or_create(pk=1, defaults={"version": 1})
        if not created:
            CalendarVersion.objects.filter(pk=1).update(version=F("version") + 1)
    reset()
    transaction.on_commit(reset)


def calendar_day_set(
    *, actor, day: dt.date, is_workday: bool, name: str = "", request=None
) -> CalendarDay:
    """Make ``day`` a workday or a day off, whatever the package says; audited."""
    if isinstance(day, dt.datetime) or not isinstance(day, dt.date):
        raise ValidationError(_("Give a date, e.g. 2027-10-01."), code="bad_date")
    name = (name or "").strip()
    if len(name) > _NAME_MAX:
        raise ValidationError(
            _("The name may have at most %(n)d characters.") % {"n": _NAME_MAX}, code="bad_name"
        )
    with transaction.atomic():
        old = CalendarDay.objects.select_for_update().filter(date=day).first()
        before = None if old is None else {"is_workday": old.is_workday, "label": old.name}
        row, _created = CalendarDay.objects.update_or_create(
            date=day,
            defaults={"is_workday": bool(is_workday), "name": name},
            create_defaults={
                "is_workday": bool(is_workday),
                "name": name,
                "created_by": _user_of(actor),
            },
        )
        _version_bump()
        audit.record(
            actor=actor,
            action="calendar_day.set",
            obj=row,
            details={
                "date": day.isoformat(),
                "is_workday": bool(is_workday),
                "label": name,
                "before": before,
            },
            request=request,
        )
    return row


def calendar_day_unset(*, actor, day: dt.date, request=None) -> None:
    """Remove the administrator's entry for ``day``: the package (or Mon–Fri) applies again."""
    with transaction.atomic():
        row = CalendarDay.objects.select_for_update().filter(date=day).first()
        if row is None:
            raise NotFound(_("The calendar has no entry of its own for %(date)s.") % {"date": day})
        details = {"date": day.isoformat(), "is_workday": row.is_workday, "label": row.name}
        pk = row.pk
        row.delete()
        _version_bump()
        audit.record(
            actor=actor,
            action="calendar_day.unset",
            object_type=CalendarDay._meta.label_lower,
            object_id=str(pk),
            details=details,
            request=request,
        )
