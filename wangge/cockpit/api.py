"""REST API of the cockpit: the figures of a node for a period (parse → selector → serialise).

Every endpoint takes the node's code; ``period`` is ``today``, ``7d``, ``30d``, ``90d`` or
``custom`` with ``start`` and ``end`` (ISO dates).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpResponse
from ninja import Router, Schema

from wangge.cockpit import selectors

router = Router(tags=["cockpit"])


class PeriodOut(Schema):
    key: str
    start: date
    end: date
    days: int


class KpiOut(Schema):
    value: float | None
    previous: float | None
    change: float | None


class SummaryOut(Schema):
    period: PeriodOut
    previous: PeriodOut
    kpis: dict[str, KpiOut]
    open_by_state: dict[str, int]


class ChildOut(Schema):
    code: str
    name: str
    kind: str
    reported: int
    accepted: int
    closed: int
    open: int
    overdue: int
    supervised: int
    on_time_rate: float | None
    closure_rate: float | None
    response_rate: float | None
    verify_pass_rate: float | None
    rework: int
    on_spot_rate: float | None
    median_hours: float | None


class TrendOut(Schema):
    days: list[str]
    reported: list[int]
    closed: list[int]
    overdue: list[int]


class EventRow(Schema):
    id: int
    number: str
    title: str
    category_name: str
    state: str
    grid_code: str
    reported_at: datetime
    handle_due: datetime | None
    overdue: bool
    supervised: bool


class AlarmRow(Schema):
    id: int
    type: str
    type_label: str
    state: str
    state_label: str
    grid_code: str
    raised_at: datetime
    title: str
    url: str


class FeedOut(Schema):
    version: int
    last_id: int
    events: list[EventRow]
    alarms: list[AlarmRow] | None = None  # for posts that see the sensors
    sensing: dict[str, int] | None = None


def _period(period: str, start: str, end: str) -> selectors.Period:
    return selectors.period_parse(period, start, end)


@router.get("/{code}/summary", response=SummaryOut)
def summary(request, code: str, period: str = "30d", start: str = "", end: str = ""):
    """KPIs of the node for the period, each with the previous period and the change."""
    return selectors.cockpit_summary(
        actor=request.post, code=code, period=_period(period, start, end)
    )


@router.get("/{code}/children", response=list[ChildOut])
def children(request, code: str, period: str = "30d", start: str = "", end: str = ""):
    """Every child of the node with its KPIs (ranking and choropleth)."""
    return selectors.cockpit_children(
        actor=request.post, code=code, period=_period(period, start, end)
    )


@router.get("/{code}/trend", response=TrendOut)
def trend(request, code: str, period: str = "30d", start: str = "", end: str = ""):
    """Daily reported, closed and missed deadlines."""
    return selectors.cockpit_trend(
        actor=request.post, code=code, period=_period(period, start, end)
    )


@router.get("/{code}/mix", response=dict[str, list[dict[str, Any]]])
def mix(request, code: str, period: str = "30d", start: str = "", end: str = ""):
    """Reports by major category (top 8) and by source."""
    return selectors.cockpit_mix(actor=request.post, code=code, period=_period(period, start, end))


@router.get("/{code}/people", response=dict[str, Any])
def people(request, code: str):
    """Population, households, care colours, verification coverage and workforce."""
    return selectors.cockpit_people(actor=request.post, code=code)


@router.get("/{code}/events", response=list[EventRow])
def events(request, code: str, kind: str = "overdue", limit: int = 50):
    """Open events that are overdue or supervised."""
    body = selectors.cockpit_events_json(actor=request.post, code=code, kind=kind, limit=limit)
    return HttpResponse(body, content_type="application/json")


@router.get("/{code}/markers", response=dict[str, Any])
def markers(request, code: str):
    """Open events with a position: ``[id, number, title, lon, lat, overdue, state]`` each."""
    body = selectors.cockpit_markers_json(actor=request.post, code=code)
    return HttpResponse(body, content_type="application/json")


@router.get("/{code}/feed", response=FeedOut)
def feed(request, code: str, after: int = 0):
    """Events reported after ``after`` (an event id) and the rollups' version; for posts that see
    the sensors, the latest alarms and the devices' and alarms' counts."""
    return selectors.cockpit_feed(actor=request.post, code=code, after=after)
