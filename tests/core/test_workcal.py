"""The working calendar: statutory holidays and adjusted workdays, overrides, working time."""

import datetime as dt
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F
from django.test import override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from wangge.accounts.scope import SYSTEM
from wangge.core import workcal
from wangge.core.errors import NotFound, ValidationError
from wangge.core.models import AuditEntry, CalendarDay, CalendarVersion
from wangge.core.workcal import (
    Source,
    add_clock_time,
    add_working_time,
    calendar_coverage,
    calendar_day_list,
    calendar_day_set,
    calendar_day_unset,
    calendar_gaps,
    is_workday,
    working_time_between,
)

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
D = dt.date
H = dt.timedelta(hours=1)
BEYOND = workcal.PACKAGE_LAST_YEAR + 4  # a year neither the package nor the tests' rows cover


def at(y, m, d, hh=0, mm=0):
    return dt.datetime(y, m, d, hh, mm, tzinfo=SH)


@pytest.fixture(autouse=True)
def fresh_calendar():
    """Each test's rows are rolled back after it: no process cache may outlive them."""
    workcal.reset()
    yield
    workcal.reset()


# --- weekends --------------------------------------------------------------------------------
def test_weekends_are_days_off_and_skipped():
    assert [is_workday(D(2026, 3, d)) for d in range(6, 10)] == [True, False, False, True]
    # Friday 16:00 + 4 working hours: 1.5 h on Friday, 2.5 h on Monday morning
    assert add_working_time(at(2026, 3, 6, 16), hours=4) == at(2026, 3, 9, 11, 30)
    # Friday 17:00 + 2 working days: the same time on Tuesday
    assert add_working_time(at(2026, 3, 6, 17), days=2) == at(2026, 3, 10, 17)
    assert working_time_between(at(2026, 3, 6, 17, 30), at(2026, 3, 9, 9)) == dt.timedelta(0)


def test_working_periods_and_lunch_break():
    assert workcal.working_day_length() == 7 * H
    assert add_working_time(at(2026, 3, 9, 9), hours=3) == at(2026, 3, 9, 12)  # not 13:30
    assert add_working_time(at(2026, 3, 9, 11), hours=2) == at(2026, 3, 9, 14, 30)
    assert add_working_time(at(2026, 3, 9, 12, 45), hours=1) == at(2026, 3, 9, 14, 30)
    assert add_working_time(at(2026, 3, 9, 13, 30), hours=4) == at(2026, 3, 9, 17, 30)
    assert working_time_between(at(2026, 3, 9, 8), at(2026, 3, 9, 20)) == 7 * H
    assert working_time_between(at(2026, 3, 9, 20), at(2026, 3, 9, 8)) == -7 * H
    assert add_working_time(at(2026, 3, 9, 10), days=0.5) == at(2026, 3, 9, 15)  # 2 + 1.5 h


def test_day_limit_rule_outside_working_hours():
    # after hours, at the weekend, before opening: the limit ends at the close of the Nth
    # working day, the next working day being day one
    assert add_working_time(at(2026, 3, 6, 18), days=2) == at(2026, 3, 10, 17, 30)
    assert add_working_time(at(2026, 3, 7, 10), days=2) == at(2026, 3, 10, 17, 30)
    assert add_working_time(at(2026, 3, 9, 8), days=1) == at(2026, 3, 9, 17, 30)
    # in the lunch break: as at 12:00
    assert add_working_time(at(2026, 3, 9, 12, 30), days=1) == at(2026, 3, 10, 12)


# --- the 2026 National Day and Mid-Autumn holidays --------------------------------------------
def test_2026_national_day_arrangement_from_the_package():
    # 国庆节: 1–7 October off; Sunday 20 September and Saturday 10 October worked
    assert not any(is_workday(D(2026, 10, d)) for d in range(1, 8))
    assert is_workday(D(2026, 10, 8)) and is_workday(D(2026, 10, 9))
    assert is_workday(D(2026, 9, 20)) and D(2026, 9, 20).weekday() == 6
    assert is_workday(D(2026, 10, 10)) and D(2026, 10, 10).weekday() == 5
    assert not is_workday(D(2026, 10, 11))
    # 中秋节: Friday 25 to Sunday 27 September
    assert not any(is_workday(D(2026, 9, d)) for d in (25, 26, 27))


def test_friday_17_00_report_with_2_working_days_around_national_day():
    # 2026: the last working day before the holiday is Wednesday 30 September; the seven days
    # off are skipped, Thursday 8 October is day one
    assert add_working_time(at(2026, 9, 30, 17), days=2) == at(2026, 10, 9, 17)
    # the Friday after it: Saturday 10 October is worked (调休) and counts as day one
    assert add_working_time(at(2026, 10, 9, 17), days=2) == at(2026, 10, 12, 17)
    # the Friday before Mid-Autumn: Sunday 20 September is worked
    assert add_working_time(at(2026, 9, 18, 17), days=2) == at(2026, 9, 21, 17)
    # 2025, the classic case: Friday 26 September, Sunday 28 worked, 1–8 October off
    assert add_working_time(at(2025, 9, 26, 17), days=2) == at(2025, 9, 29, 17)
    assert add_working_time(at(2025, 9, 26, 17), days=3) == at(2025, 9, 30, 17)
    assert add_working_time(at(2025, 9, 26, 17), days=4) == at(2025, 10, 9, 17)
    span = working_time_between(at(2026, 9, 30, 17), at(2026, 10, 9, 17))
    assert span == 2 * workcal.working_day_length()


def test_spring_festival_2026():
    # 15–23 February off, Saturdays 14 and 28 February worked
    assert not any(is_workday(D(2026, 2, d)) for d in range(15, 24))
    assert is_workday(D(2026, 2, 14)) and is_workday(D(2026, 2, 28))
    assert add_working_time(at(2026, 2, 12, 10), days=3) == at(2026, 2, 24, 10)
    assert add_working_time(at(2026, 2, 13, 17), hours=2) == at(2026, 2, 14, 10, 30)
    assert working_time_between(at(2026, 2, 14, 17, 30), at(2026, 2, 24, 9)) == dt.timedelta(0)
    names = {e.date: e for e in calendar_day_list(2026)}
    assert names[D(2026, 2, 16)].name == "春节" and not names[D(2026, 2, 16)].is_workday
    assert names[D(2026, 2, 28)].is_workday and names[D(2026, 2, 28)].source == Source.PACKAGE


def test_an_adjusted_weekend_workday_counts():
    friday = at(2026, 2, 27, 17)
    assert add_working_time(friday, hours=1) == at(2026, 2, 28, 9, 30)  # Saturday
    assert working_time_between(friday, at(2026, 3, 2, 9)) == 7.5 * H


# --- overrides --------------------------------------------------------------------------------
def test_an_override_wins_over_the_package_and_is_seen_at_once():
    assert is_workday(D(2026, 3, 9))
    before = add_working_time(at(2026, 3, 6, 17), days=2)  # primes the cache
    calendar_day_set(actor=SYSTEM, day=D(2026, 3, 9), is_workday=False, name="台风停工")
    assert not is_workday(D(2026, 3, 9))
    assert add_working_time(at(2026, 3, 6, 17), days=2) == before + dt.timedelta(days=1)
    # a package holiday made a workday
    calendar_day_set(actor=SYSTEM, day=D(2026, 10, 5), is_workday=True, name="")
    assert is_workday(D(2026, 10, 5))
    entry = {e.date: e for e in calendar_day_list(2026)}[D(2026, 10, 5)]
    assert entry.is_workday and entry.source == Source.OVERRIDE
    calendar_day_unset(actor=SYSTEM, day=D(2026, 3, 9))
    assert is_workday(D(2026, 3, 9))
    assert add_working_time(at(2026, 3, 6, 17), days=2) == before
    actions = list(
        AuditEntry.objects.filter(action__startswith="calendar_day.")
        .order_by("id")
        .values_list("action", "details__date")
    )
    assert actions == [
        ("calendar_day.set", "2026-03-09"),
        ("calendar_day.set", "2026-10-05"),
        ("calendar_day.unset", "2026-03-09"),
    ]


def test_setting_a_day_twice_updates_it_and_keeps_its_author(post_of):
    admin = post_of("sysadmin")
    calendar_day_set(actor=admin, day=D(2031, 10, 1), is_workday=False, name="国庆")
    row = calendar_day_set(actor=SYSTEM, day=D(2031, 10, 1), is_workday=False, name="国庆节")
    assert CalendarDay.objects.count() == 1
    assert row.name == "国庆节" and row.created_by == admin.user
    last = AuditEntry.objects.filter(action="calendar_day.set").order_by("-id").first()
    assert last.details["before"] == {"is_workday": False, "label": "国庆"}


def test_bad_entries_are_refused():
    with pytest.raises(ValidationError):
        calendar_day_set(actor=SYSTEM, day=D(2031, 1, 1), is_workday=False, name="x" * 51)
    with pytest.raises(ValidationError):
        calendar_day_set(actor=SYSTEM, day=at(2031, 1, 1), is_workday=False)
    with pytest.raises(NotFound):
        calendar_day_unset(actor=SYSTEM, day=D(2031, 1, 1))
    assert not CalendarDay.objects.exists()


def test_another_process_change_is_noticed_through_the_version(monkeypatch):
    """A row written by another process (this one's cache untouched) shows once the shared
    counter moves and the recheck interval has passed."""
    assert is_workday(D(2026, 3, 9))
    CalendarDay.objects.create(date=D(2026, 3, 9), is_workday=False)
    assert is_workday(D(2026, 3, 9))  # cached, and the counter has not moved
    monkeypatch.setattr(workcal, "RECHECK_SECONDS", 0.0)
    assert is_workday(D(2026, 3, 9))  # rechecked: same version, same calendar
    CalendarVersion.objects.get_or_create(pk=1)
    CalendarVersion.objects.filter(pk=1).update(version=F("version") + 1)
    assert not is_workday(D(2026, 3, 9))


# --- years beyond the package ----------------------------------------------------------------
def test_a_year_beyond_the_package_uses_weekdays_and_is_reported():
    y = BEYOND
    oct1 = D(y, 10, 1)
    assert is_workday(oct1) == (oct1.weekday() < 5)
    (c,) = calendar_coverage([y])
    assert c.source == Source.WEEKDAYS and not c.covered and c.overrides == 0
    assert calendar_gaps(today=D(y, 6, 1)) == [y, y + 1]
    assert calendar_gaps(today=D(2025, 6, 1)) == []
    assert calendar_day_list(y) == []
    calendar_day_set(actor=SYSTEM, day=oct1, is_workday=False, name="国庆节")
    (c,) = calendar_coverage([y])
    assert c.source == Source.OVERRIDE and c.covered and c.overrides == 1
    assert calendar_gaps(today=D(y, 6, 1)) == [y + 1]
    assert not is_workday(oct1)


def test_deadlines_cross_into_an_uncovered_year_and_follow_its_overrides():
    last = workcal.PACKAGE_LAST_YEAR
    start = at(last, 12, 31, 17)
    first_workdays = [d for d in (D(last + 1, 1, n) for n in range(1, 8)) if d.weekday() < 5]
    assert add_working_time(start, days=2).date() == first_workdays[1]
    calendar_day_set(actor=SYSTEM, day=first_workdays[0], is_workday=False, name="元旦")
    assert add_working_time(start, days=2).date() == first_workdays[2]
    assert working_time_between(start, add_working_time(start, days=2)) == 14 * H


def test_check_command_fails_while_this_or_next_year_is_unknown(monkeypatch):
    y = BEYOND
    monkeypatch.setattr(workcal.timezone, "localdate", lambda: D(y, 6, 1))
    out = StringIO()
    with pytest.raises(CommandError) as err:
        call_command("workcal", "check", stdout=out)
    assert err.value.returncode == 1
    assert f"{y}, {y + 1}" in str(err.value)
    assert "NOT COVERED" in out.getvalue()
    call_command("workcal", "set", f"{y}-01-01", "holiday", "元旦", stdout=StringIO())
    call_command("workcal", "set", f"{y + 1}-01-01", "holiday", "元旦", stdout=StringIO())
    call_command("workcal", "check", stdout=StringIO())  # no error


def test_show_set_unset_commands():
    out = StringIO()
    call_command("workcal", "show", "2026", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("2026: chinesecalendar package")
    assert any(line.startswith("2026-10-10\t") and "workday" in line for line in lines)
    call_command("workcal", "set", "2026-10-11", "workday", "补班", stdout=StringIO())
    assert is_workday(D(2026, 10, 11))
    out = StringIO()
    call_command("workcal", "show", "2026", stdout=out)
    assert any(
        line.startswith("2026-10-11\t") and line.endswith("administrator")
        for line in out.getvalue().splitlines()
    )
    call_command("workcal", "unset", "2026-10-11", stdout=StringIO())
    assert not is_workday(D(2026, 10, 11))
    assert AuditEntry.objects.filter(action="calendar_day.unset", role="system").exists()
    with pytest.raises(CommandError):
        call_command("workcal", "unset", "2026-10-11", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("workcal", "set", "2026-13-01", "holiday", stdout=StringIO())


# --- the admin page ---------------------------------------------------------------------------
def test_the_system_administrator_edits_days_in_the_admin(client_as):
    c = client_as("sysadmin")
    assert c.get("/admin/core/calendarday/").status_code == 200
    r = c.post(
        "/admin/core/calendarday/add/",
        {"date": f"{BEYOND}-10-01", "is_workday": "", "name": "国庆节"},
    )
    assert r.status_code == 302
    row = CalendarDay.objects.get(date=D(BEYOND, 10, 1))
    assert not is_workday(row.date)
    assert AuditEntry.objects.filter(
        action="calendar_day.set", object_id=str(row.pk), role="system_admin"
    ).exists()
    r = c.post(f"/admin/core/calendarday/{row.pk}/delete/", {"post": "yes"})
    assert r.status_code == 302 and not CalendarDay.objects.exists()
    assert is_workday(row.date) == (row.date.weekday() < 5)


@pytest.mark.parametrize("who", ["commander", "secadmin", "auditadmin"])
def test_other_roles_cannot_open_the_calendar_admin(client_as, who):
    assert client_as(who).get("/admin/core/calendarday/").status_code != 200


# --- time zones and settings ------------------------------------------------------------------
def test_aware_in_aware_out_in_local_time():
    utc = dt.datetime(2026, 3, 6, 9, tzinfo=dt.UTC)  # 17:00 in Shanghai
    end = add_working_time(utc, days=2)
    assert end == at(2026, 3, 10, 17) and end.utcoffset() == 8 * H
    ny = utc.astimezone(ZoneInfo("America/New_York"))
    assert add_working_time(ny, days=2) == end
    # UTC input across the local new year: 2026-12-31 16:30 UTC is 2027-01-01 00:30 here
    new_year = dt.datetime(2026, 12, 31, 16, 30, tzinfo=dt.UTC)
    assert working_time_between(new_year, at(2027, 1, 1, 9, 30)) == 0.5 * H * is_workday(
        D(2027, 1, 1)
    )
    assert working_time_between(at(2026, 12, 31, 17), new_year) == 0.5 * H
    with pytest.raises(ValueError):
        add_working_time(dt.datetime(2026, 3, 6, 17), hours=1)
    with pytest.raises(ValueError):
        working_time_between(dt.datetime(2026, 3, 6, 17), utc)
    with pytest.raises(ValueError):
        add_working_time(utc, hours=-1)
    assert add_working_time(utc, hours=0) == utc


def test_clock_time_is_elapsed_time_without_daylight_saving():
    # Shanghai is UTC+8 all year
    for month in (1, 4, 7, 11):
        assert at(2026, month, 1).utcoffset() == 8 * H
        assert add_clock_time(at(2026, month, 1, 20), hours=24) == at(2026, month, 2, 20)
    assert add_clock_time(at(2026, 9, 30, 22), hours=4) == at(2026, 10, 1, 2)  # holidays too
    # even from a zone that has it: 24 real hours across New York's spring-forward night
    ny = dt.datetime(2026, 3, 7, 12, tzinfo=ZoneInfo("America/New_York"))
    later = add_clock_time(ny, hours=24)
    assert later - ny == 24 * H and later.utcoffset() == 8 * H
    with pytest.raises(ValueError):
        add_clock_time(dt.datetime(2026, 3, 7, 12), hours=1)


def test_working_hours_come_from_settings():
    hours = [("08:00", "12:00"), ("14:00", "18:00")]
    with override_settings(WANGGE_WORK_HOURS=hours):
        assert workcal.working_day_length() == 8 * H
        assert add_working_time(at(2026, 3, 9, 17), hours=2) == at(2026, 3, 10, 9)
    assert workcal.working_day_length() == 7 * H
    with pytest.raises(ValueError):
        workcal.Schedule([("13:00", "12:00")])
    with pytest.raises(ValueError):
        workcal.Schedule([("09:00", "12:00"), ("11:00", "13:00")])


# --- properties -------------------------------------------------------------------------------
MOMENTS = st.datetimes(
    min_value=dt.datetime(2025, 1, 1),
    max_value=dt.datetime(workcal.PACKAGE_LAST_YEAR + 1, 12, 31),
).map(lambda d: d.replace(tzinfo=SH))
HOURS = st.floats(min_value=0, max_value=400, allow_nan=False)
PROPS = hsettings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@PROPS
@given(a=MOMENTS, b=MOMENTS, h=HOURS, k=HOURS)
def test_add_working_time_is_monotonic(a, b, h, k):
    a, b = min(a, b), max(a, b)
    h, k = min(h, k), max(h, k)
    assert add_working_time(a, hours=h) <= add_working_time(b, hours=h)
    assert add_working_time(a, hours=h) <= add_working_time(a, hours=k)
    assert add_working_time(a, hours=h) >= a


@PROPS
@given(start=MOMENTS, h=HOURS)
def test_working_time_between_inverts_add_working_time(start, h):
    end = add_working_time(start, hours=h)
    elapsed = working_time_between(start, end)
    assert abs(elapsed - dt.timedelta(hours=h)) <= dt.timedelta(microseconds=1)
    # the same from UTC (a fast path) and from a fixed +08:00 offset (the general path)
    for other in (dt.UTC, dt.timezone(8 * H)):
        assert add_working_time(start.astimezone(other), hours=h) == end
        assert working_time_between(start.astimezone(other), end) == elapsed
    if elapsed:  # (less than half a microsecond is nothing)
        # it ends in working time: inside a working period of a workday, never at its start
        local = end.astimezone(SH)
        assert is_workday(local.date())
        clock = local.time()
        assert dt.time(9) < clock <= dt.time(12) or dt.time(13, 30) < clock <= dt.time(17, 30)
        # and it is the earliest such instant
        assert working_time_between(start, end - dt.timedelta(microseconds=1)) < elapsed


@PROPS
@given(start=MOMENTS, n=st.integers(min_value=1, max_value=30))
def test_a_day_limit_keeps_the_clock_time_inside_working_hours(start, n):
    end = add_working_time(start, days=n)
    assert working_time_between(start, end) == n * workcal.working_day_length()
    clock = start.time()
    inside = dt.time(9) < clock <= dt.time(12) or dt.time(13, 30) < clock <= dt.time(17, 30)
    if is_workday(start.date()) and inside:
        assert end.time() == clock
        assert end.date() > start.date()
    else:
        assert end.time() in (dt.time(12), dt.time(17, 30))
