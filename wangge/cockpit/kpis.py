"""Periods and KPIs: what a period is and how each KPI is computed from summed counters.

Pure functions and declarations, shared by the selectors, the pages, the exports and the
benchmark (``selectors`` re-exports them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from wangge.cockpit.rollups import BUCKET_HOURS, local_day
from wangge.core.errors import ValidationError

# --- periods ---------------------------------------------------------------------------------
PERIODS = {"today": 1, "7d": 7, "30d": 30, "90d": 90}
MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    key: str
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        return Period("previous", self.start - timedelta(days=self.days), self.start - timedelta(1))

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "start": self.start, "end": self.end, "days": self.days}


def today() -> date:
    return local_day(timezone.now())


def period_parse(key: str = "30d", start: str = "", end: str = "") -> Period:
    """``today``, ``7d``, ``30d``, ``90d`` (ending today) or ``custom`` from ``start`` to ``end``
    (ISO dates, at most a year, not after today)."""
    now = today()
    key = (key or "30d").strip()
    if key in PERIODS:
        return Period(key, now - timedelta(days=PERIODS[key] - 1), now)
    if key != "custom":
        raise ValidationError(
            _("Unknown period %(p)s: use today, 7d, 30d, 90d or custom.") % {"p": key[:20]},
            details={"fields": {"period": _("unknown period")}},
        )
    try:
        a, b = date.fromisoformat(start), date.fromisoformat(end)
    except (TypeError, ValueError):
        raise ValidationError(
            _("A custom period needs a start and an end date (YYYY-MM-DD)."),
            details={"fields": {"start": _("a date"), "end": _("a date")}},
        ) from None
    if a > b or b > now or (b - a).days + 1 > MAX_DAYS:
        raise ValidationError(
            _("The period must start before it ends, end by today and last at most %(n)s days.")
            % {"n": MAX_DAYS},
            details={"fields": {"start": _("out of range"), "end": _("out of range")}},
        )
    return Period("custom", a, b)


# --- KPIs ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Kpi:
    key: str
    label: Any
    kind: str  # count, percent, hours
    better: int  # +1 higher is better, −1 lower is better, 0 neither
    snapshot: bool = False  # a figure of now, not of the period


KPIS: tuple[Kpi, ...] = (
    Kpi("reported", gettext_lazy("Reported"), "count", 0),
    Kpi("accepted", gettext_lazy("Accepted"), "count", 0),
    Kpi("closed", gettext_lazy("Closed"), "count", 1),
    Kpi("open", gettext_lazy("Open now"), "count", -1, snapshot=True),
    Kpi("overdue", gettext_lazy("Overdue now"), "count", -1, snapshot=True),
    Kpi("supervised", gettext_lazy("Supervised now"), "count", -1, snapshot=True),
    Kpi("on_time_rate", gettext_lazy("On-time closure rate"), "percent", 1),
    Kpi("closure_rate", gettext_lazy("Closure rate"), "percent", 1),
    Kpi("response_rate", gettext_lazy("24-hour response rate"), "percent", 1),
    Kpi("verify_pass_rate", gettext_lazy("Verification pass rate"), "percent", 1),
    Kpi("rework", gettext_lazy("Rework"), "count", -1),
    Kpi("on_spot_rate", gettext_lazy("On-the-spot resolution rate"), "percent", 1),
    Kpi("median_hours", gettext_lazy("Median handling time"), "hours", -1),
)
KPI_BY_KEY = {k.key: k for k in KPIS}


def _rate(num: int, den: int) -> float | None:
    return round(100.0 * num / den, 1) if den else None


def median_hours(c: dict[str, int]) -> float | None:
    """The median handling time from the duration buckets, interpolated inside its bucket."""
    counts = [c.get(f"h{i}", 0) for i in range(len(BUCKET_HOURS) + 1)]
    n = sum(counts)
    if not n:
        return None
    half, seen = n / 2, 0
    for i, k in enumerate(counts):
        if k and seen + k >= half:
            lo = BUCKET_HOURS[i - 1] if i else 0
            hi = BUCKET_HOURS[i] if i < len(BUCKET_HOURS) else lo * 2
            return round(lo + (hi - lo) * (half - seen) / k, 1)
        seen += k
    return None  # pragma: no cover


def kpi_values(c: dict[str, int], opn: dict[str, int] | None) -> dict[str, float | int | None]:
    """The KPIs from summed day counters (``c``) and open counters (``opn``; None: not asked)."""
    out: dict[str, float | int | None] = {
        "reported": c.get("reported", 0),
        "accepted": c.get("accepted", 0),
        "closed": c.get("closed", 0),
        "on_time_rate": _rate(c.get("due_on_time", 0), c.get("due", 0)),
        "closure_rate": _rate(c.get("cohort_closed", 0), c.get("valid", 0)),
        "response_rate": _rate(c.get("responded_24h", 0), c.get("valid", 0)),
        "verify_pass_rate": _rate(c.get("verified", 0), c.get("verified", 0) + c.get("rework", 0)),
        "rework": c.get("rework", 0),
        "on_spot_rate": _rate(c.get("on_spot", 0), c.get("closed", 0)),
        "median_hours": median_hours(c),
    }
    if opn is not None:
        out.update({k: opn.get(k, 0) for k in ("open", "overdue", "supervised")})
    return out


def kpi_change(now, before) -> float | None:
    if now is None or before is None:
        return None
    return round(now - before, 1)
