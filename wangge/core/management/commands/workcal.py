"""``wangge workcal``: the working calendar that deadlines are counted on.

wangge workcal show 2026                    holidays and adjusted workdays, with their source
wangge workcal set 2027-10-01 holiday 国庆节   an administrator's entry (wins over the package)
wangge workcal set 2027-09-26 workday 国庆节   an adjusted weekend workday (调休)
wangge workcal unset 2027-10-01              remove an entry
wangge workcal check                        exit 1 if this or next year's holidays are unknown
"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from wangge.accounts.scope import SYSTEM
from wangge.core import workcal
from wangge.core.errors import ApplicationError

KINDS = ("workday", "holiday")


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(_("%(value)s is not a date (YYYY-MM-DD).") % {"value": value}) from None


class Command(BaseCommand):
    help = (
        "The working calendar (statutory holidays and adjusted workdays): show a year, set or "
        "unset a day, check that this and next year are covered."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True)
        show = sub.add_parser("show", help="List a year's holidays and adjusted workdays.")
        show.add_argument("year", type=int)
        put = sub.add_parser("set", help="Make a date a workday or a holiday (wins over all).")
        put.add_argument("date", help="YYYY-MM-DD")
        put.add_argument("kind", choices=KINDS)
        put.add_argument("name", nargs="?", default="", help="e.g. 国庆节")
        unset = sub.add_parser("unset", help="Remove the entry for a date.")
        unset.add_argument("date", help="YYYY-MM-DD")
        sub.add_parser("check", help="Exit 1 if this or next year's holidays are unknown.")

    def handle(self, *args, subcommand, **options):
        try:
            if subcommand == "show":
                self._show(options["year"])
            elif subcommand == "set":
                self._set(_date(options["date"]), options["kind"], options["name"])
            elif subcommand == "unset":
                self._unset(_date(options["date"]))
            else:
                self._check()
        except ApplicationError as exc:
            raise CommandError(exc.message) from None

    def _coverage_line(self, c: workcal.YearCoverage) -> str:
        entries = ngettext(
            "%(n)d entry of the administrator", "%(n)d entries of the administrator", c.overrides
        ) % {"n": c.overrides}
        text = f"{c.year}: {workcal.Source(c.source).label}, {entries}"
        return text if c.covered else f"{text} — {_('NOT COVERED')}"

    def _show(self, year: int) -> None:
        if not dt.MINYEAR <= year <= dt.MAXYEAR:
            raise CommandError(_("%(year)d is not a year.") % {"year": year})
        (coverage,) = workcal.calendar_coverage([year])
        self.stdout.write(self._coverage_line(coverage))
        for e in workcal.calendar_day_list(year):
            kind = _("workday") if e.is_workday else _("holiday")
            weekday = WEEKDAYS[e.date.weekday()]
            source = workcal.Source(e.source).label
            self.stdout.write(f"{e.date.isoformat()}\t{weekday}\t{kind}\t{e.name}\t{source}")

    def _set(self, day: dt.date, kind: str, name: str) -> None:
        workcal.calendar_day_set(actor=SYSTEM, day=day, is_workday=kind == "workday", name=name)
        what = _("a workday") if kind == "workday" else _("a holiday")
        self.stdout.write(_("%(date)s is now %(what)s.") % {"date": day.isoformat(), "what": what})

    def _unset(self, day: dt.date) -> None:
        workcal.calendar_day_unset(actor=SYSTEM, day=day)
        now = _("a workday") if workcal.is_workday(day) else _("a day off")
        self.stdout.write(
            _("%(date)s: entry removed; it is %(now)s by the default calendar.")
            % {"date": day.isoformat(), "now": now}
        )

    def _check(self) -> None:
        today = timezone.localdate()
        coverage = workcal.calendar_coverage([today.year, today.year + 1])
        for c in coverage:
            self.stdout.write(self._coverage_line(c))
        gaps = [c.year for c in coverage if not c.covered]
        if gaps:
            raise CommandError(
                _(
                    "No holidays are known for %(years)s: deadlines there count Monday to "
                    "Friday as workdays and miss every statutory holiday. Enter the State "
                    "Council's official arrangement: wangge workcal set DATE holiday|workday NAME"
                )
                % {"years": ", ".join(str(y) for y in gaps)},
                returncode=1,
            )
