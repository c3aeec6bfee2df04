"""Reads of the cockpit: every figure of a node for a period, through the actor's scope.

Every node reads its rollups (``models.py``): the node's own rows, and the rows whose
``parent`` is the node for its children; a grid's category mix is counted from its few events.
Answers are cached under the rollups'
version (bumped by every drain that counted a change), so a cached figure is never older than
the rollups; anything queued is drained before a read.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import Count, Sum
from django.db.models.functions import Left
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.rules import has_perm, require
from wangge.accounts.scope import scope_for
from wangge.cockpit import services
from wangge.cockpit.kpis import (  # noqa: F401 (re-exported for the pages and reports)
    KPI_BY_KEY,
    KPIS,
    MAX_DAYS,
    PERIODS,
    Kpi,
    Period,
    kpi_change,
    kpi_values,
    median_hours,
    period_parse,
    today,
)
from wangge.cockpit.models import DAY_COUNTERS, OPEN_COUNTERS, DayCount, MixCount, OpenCount
from wangge.cockpit.rollups import MIX_LENGTHS
from wangge.core.errors import NotFound, ValidationError
from wangge.events.enums import OPEN_STATES, Source
from wangge.events.models import Category, Event
from wangge.regions import codes as C
from wangge.regions import selectors as places

_TZ = ZoneInfo(settings.TIME_ZONE)


# --- where the counters come from ---------------------------------------------------------------
class _Rollups:
    """Counters of a node down to the community, and of its children, from the rollup tables."""

    def __init__(self, code: str):
        self.code = code

    def node(self, p: Period) -> dict[str, int]:
        agg = DayCount.objects.filter(code=self.code, day__range=(p.start, p.end)).aggregate(
            **{c: Sum(c) for c in DAY_COUNTERS}
        )
        return {k: v for k, v in agg.items() if v}

    def series(self, p: Period) -> dict[date, dict[str, int]]:
        rows = DayCount.objects.filter(code=self.code, day__range=(p.start, p.end))
        return {r["day"]: r for r in rows.values("day", *DAY_COUNTERS)}

    def children(self, p: Period) -> dict[str, dict[str, int]]:
        rows = (
            DayCount.objects.filter(parent=self.code, day__range=(p.start, p.end))
            .values("code")
            .annotate(**{c: Sum(c) for c in DAY_COUNTERS})
        )
        return {r.pop("code"): r for r in rows}

    def open_node(self) -> dict[str, int]:
        agg = OpenCount.objects.filter(code=self.code).aggregate(
            **{c: Sum(c) for c in OPEN_COUNTERS}
        )
        return {k: v or 0 for k, v in agg.items()}

    def open_by_state(self) -> dict[str, int]:
        rows = OpenCount.objects.filter(code=self.code, open__gt=0)
        return dict(rows.values_list("state", "open"))

    def open_children(self) -> dict[str, dict[str, int]]:
        rows = (
            OpenCount.objects.filter(parent=self.code)
            .values("code")
            .annotate(**{c: Sum(c) for c in OPEN_COUNTERS})
        )
        return {r.pop("code"): r for r in rows}

    def mix(self, p: Period) -> list[tuple[int, str, int]]:
        if len(self.code) not in MIX_LENGTHS:
            return _mix_from_events(self.code, p)
        return list(
            MixCount.objects.filter(code=self.code, day__range=(p.start, p.end))
            .values_list("category_id", "source")
            .annotate(n=Sum("reported"))
        )


def _mix_from_events(code: str, p: Period) -> list[tuple[int, str, int]]:
    """A grid's (or micro-grid's) reports of the period by category and source, counted from
    its events as ``MixCount`` counts them: on the local day each was reported."""
    start = datetime.combine(p.start, time.min, tzinfo=_TZ)
    end = datetime.combine(p.end + timedelta(days=1), time.min, tzinfo=_TZ)
    return list(
        Event.objects.filter(
            **C.prefix_filter(code, "grid_code"), reported_at__gte=start, reported_at__lt=end
        )
        .order_by()
        .values_list("category_id", "source")
        .annotate(n=Count("id"))
    )


def _source(code: str) -> _Rollups:
    return _Rollups(code)


# --- access and caching ------------------------------------------------------------------------
def _node(actor, code: str) -> str:
    require(actor, Perm.COCKPIT_VIEW)
    code = C.normalize(code or "")
    if not code.isdigit() or len(code) not in C.LENGTH_LEVELS:
        raise NotFound(_("No place has the code %(code)s.") % {"code": code[:20]})
    scope_for(actor).check(code)
    return code


def _cached(what: str, code: str, p: Period | None, build: Callable[[], Any]) -> Any:
    span = f"{p.start}:{p.end}" if p else "-"
    key = f"cockpit:{services.drained_version()}:{what}:{code}:{span}"
    hit = cache.get(key)
    if hit is None:
        hit = build()
        cache.set(key, hit, 600)
    return hit


# --- the node and its figures ------------------------------------------------------------------
def cockpit_root(*, actor) -> str:
    """The node a post's cockpit opens at (its own place)."""
    require(actor, Perm.COCKPIT_VIEW)
    root = scope_for(actor).root
    if root is None:
        raise NotFound(_("This post has no place to show."))
    return root or C.CITY_CODE


def cockpit_node(*, actor, code: str) -> dict[str, Any]:
    """The node, the way up (breadcrumbs: links only where in scope) and its children."""
    code = _node(actor, code)
    place = places.place_get(actor=actor, code=code, geometry=False)
    scope = scope_for(actor)
    return {
        "code": place.code,
        "name": place.name,
        "level": place.level,
        "level_label": place.get_level_display(),
        "display_code": place.display_code,
        "residents": place.residents,
        "households": place.households,
        "ancestors": [
            {"code": a.code, "name": a.name, "in_scope": scope.covers(a.code)}
            for a in places.place_ancestors(actor=actor, place=place)
        ],
        "children": [
            {"code": c.code, "name": c.name, "kind": getattr(c, "kind", "")}
            for c in places.place_children(actor=actor, place=place)
        ],
        "may_export": has_perm(actor, Perm.COCKPIT_EXPORT),
    }


def cockpit_summary(*, actor, code: str, period: Period) -> dict[str, Any]:
    """The node's KPIs for the period, each with the previous period's value and the change;
    the open events now by state."""
    code = _node(actor, code)

    def build():
        src = _source(code)
        opn = src.open_node()
        now = kpi_values(src.node(period), opn)
        before = kpi_values(src.node(period.previous()), None)
        return {
            "period": period.as_dict(),
            "previous": period.previous().as_dict(),
            "kpis": {
                k.key: {
                    "value": now.get(k.key),
                    "previous": None if k.snapshot else before.get(k.key),
                    "change": None if k.snapshot else kpi_change(now.get(k.key), before.get(k.key)),
                }
                for k in KPIS
            },
            "open_by_state": src.open_by_state(),
        }

    return _cached("summary", code, period, build)


def cockpit_children(*, actor, code: str, period: Period) -> list[dict[str, Any]]:
    """Every child of the node with its KPIs (children without events have zeros): the
    ranking table and the choropleth."""
    code = _node(actor, code)

    def build():
        node = cockpit_node(actor=actor, code=code)
        src = _source(code)
        days, opn = src.children(period), src.open_children()
        rows = []
        for child in node["children"]:
            c = child["code"]
            rows.append({**child, **kpi_values(days.get(c, {}), opn.get(c, {}))})
        return rows

    return _cached("children", code, period, build)


def cockpit_trend(*, actor, code: str, period: Period) -> dict[str, list]:
    """Daily reported, closed and missed deadlines (due but not closed on time) over the period
    (at least the last 14 days)."""
    code = _node(actor, code)
    if period.days < 14:
        period = Period(period.key, period.end - timedelta(days=13), period.end)

    def build():
        series = _source(code).series(period)
        days = period.dates()
        get = lambda d, k: (series.get(d) or {}).get(k) or 0  # noqa: E731
        return {
            "days": [d.isoformat() for d in days],
            "reported": [get(d, "reported") for d in days],
            "closed": [get(d, "closed") for d in days],
            "overdue": [get(d, "due") - get(d, "due_on_time") for d in days],
        }

    return _cached("trend", code, period, build)


def _category_name(c: Category) -> str:
    return c.name_en if (get_language() or "").startswith("en") and c.name_en else c.name


def cockpit_mix(*, actor, code: str, period: Period, top: int = 8) -> dict[str, list]:
    """Reports of the period by major category (the top ones, the rest together) and by source."""
    code = _node(actor, code)

    def build():
        rows = _source(code).mix(period)
        cats = {c.pk: c.parent or c for c in Category.objects.select_related("parent").all()}
        by_cat: dict[str, int] = defaultdict(int)
        by_src: dict[str, int] = defaultdict(int)
        for cat, src, n in rows:
            major = cats.get(cat)
            by_cat[_category_name(major) if major else "?"] += n
            by_src[src] += n
        ranked = sorted(by_cat.items(), key=lambda kv: (-kv[1], kv[0]))
        if len(ranked) > top:
            rest = sum(n for _k, n in ranked[top - 1 :])
            # not "其他": that is the name of a major category of its own
            ranked = ranked[: top - 1] + [(_("All other categories"), rest)]
        labels = dict(Source.choices)
        return {
            "categories": [{"name": k, "n": n} for k, n in ranked],
            "sources": [
                {"source": s, "name": str(labels.get(s, s)), "n": n}
                for s, n in sorted(by_src.items(), key=lambda kv: -kv[1])
            ],
        }

    return _cached(f"mix:{top}:{get_language()}", code, period, build)


# --- events on the cockpit ---------------------------------------------------------------------
def _under(qs, code: str, field: str = "grid_code"):
    """The rows of ``qs`` under the node ``code``, which ``_node`` has checked lies in the
    post's scope (so no second scope filter is needed). The city holds every row: no condition
    at all. On SQLite a district's rows are matched on the code's first digits, a condition no
    index serves: SQLite's planner takes any index range it is offered (it cannot tell a quarter
    of the table from a handful), and a list would then sort a district's hundreds of thousands
    of rows instead of walking its own index in order and stopping at the first it needs.
    PostgreSQL knows the sizes and chooses by itself."""
    if code == C.CITY_CODE:
        return qs
    if connection.vendor == "sqlite" and len(code) <= C.LEVEL_LENGTHS[C.Level.DISTRICT]:
        return qs.alias(_node_prefix=Left(field, len(code))).filter(_node_prefix=code)
    return qs.filter(**C.prefix_filter(code, field))


def _open_events(actor, code: str):
    # written as the partial indexes' condition is, so SQLite uses them (core.lookups)
    return _under(Event.objects.filter(state__inline_in=OPEN_STATES), _node(actor, code))


def cockpit_events(*, actor, code: str, kind: str = "overdue", limit: int = 50) -> list[Event]:
    """Open events under the node that are overdue (``kind=overdue``, earliest deadline first)
    or supervised (``kind=supervised``). Read through partial indexes in the list's order
    (``events.Event.Meta.indexes``) and cached under the rollups' version like every figure:
    an event that falls overdue, is supervised or changes its deadline changes the counters."""
    code = _node(actor, code)
    if kind not in ("overdue", "supervised"):
        raise ValidationError(
            _("Unknown list %(k)s: use overdue or supervised.") % {"k": kind[:20]},
        )
    limit = max(1, min(limit, 200))

    def build():
        # the categories by a second query: joined, SQLite would join every overdue event
        # before it sorts them (70 ms at 1 M events), not the fifty it keeps
        qs = _open_events(actor, code).filter(**{f"{kind}__inline": True})
        qs = qs.prefetch_related("category")
        return list(qs.order_by("handle_due", "id")[:limit])

    return _cached(f"events:{kind}:{limit}", code, None, build)


def _event_row(e: Event) -> dict[str, Any]:
    """An event as the cockpit's lists and feed show it."""
    return {
        "id": e.pk,
        "number": e.number,
        "title": e.title,
        "category_name": e.category.name,
        "state": e.state,
        "grid_code": e.grid_code,
        "reported_at": e.reported_at,
        "handle_due": e.handle_due,
        "overdue": e.overdue,
        "supervised": e.supervised,
    }


def _json(data) -> bytes:
    return json.dumps(
        data, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":")
    ).encode()


def cockpit_events_json(*, actor, code: str, kind: str = "overdue", limit: int = 50) -> bytes:
    """``cockpit_events`` as the JSON rows the API sends, cached as such (under the same
    version): a wall of screens costs one encoding per change."""
    code = _node(actor, code)
    rows = lambda: cockpit_events(actor=actor, code=code, kind=kind, limit=limit)  # noqa: E731
    if kind not in ("overdue", "supervised"):
        rows()  # the error
    limit = max(1, min(limit, 200))
    return _cached(
        f"events-json:{kind}:{limit}", code, None, lambda: _json([_event_row(e) for e in rows()])
    )


def cockpit_markers(*, actor, code: str, limit: int = 3000) -> dict[str, Any]:
    """Open events under the node with a position (overdue first, then the newest), for the
    map's clustered markers; ``total`` says how many events are open under the node in all
    (from the rollups: the markers are the first ``limit`` of them)."""
    return json.loads(cockpit_markers_json(actor=actor, code=code, limit=limit))


def cockpit_markers_json(*, actor, code: str, limit: int = 3000) -> bytes:
    """``cockpit_markers`` as the JSON the API sends, cached as such: thousands of markers are
    encoded once per change, not once per screen that asks."""
    code = _node(actor, code)

    def build():
        qs = _open_events(actor, code).filter(lon__isnull=False, lat__isnull=False)
        rows = qs.order_by("-overdue", "-reported_at").values_list(
            "id", "number", "title", "lon", "lat", "overdue", "state"
        )[:limit]
        data = {"total": _source(code).open_node()["open"], "events": [list(r) for r in rows]}
        return _json(data)

    return _cached(f"markers:{limit}", code, None, build)


# Screens polling the same node within these seconds share one answer of the feed.
FEED_SECONDS = 3


def cockpit_feed(*, actor, code: str, after: int = 0, limit: int = 20) -> dict[str, Any]:
    """Events under the node with an id above ``after`` (newest first; with ``after=0`` the
    latest reported), ``last_id`` to poll from next, and the rollups' version: a client polls
    this and reloads its figures when the version moves. For a post that sees the sensors, also
    the latest alarms (no personal data) and the devices' and alarms' counts now. An answer is
    shared for ``FEED_SECONDS`` by whoever polls the same node from the same event."""
    code = _node(actor, code)
    sensing = has_perm(actor, Perm.SENSING_VIEW)
    key = f"cockpit:feed:{code}:{int(after)}:{int(limit)}:{int(sensing)}"
    hit = cache.get(key)
    if hit is not None:
        return hit
    version = services.drained_version()
    # the newest come straight from the primary key's and the report time's indexes (_under)
    qs = _under(Event.objects.all(), code).select_related("category")
    limit = max(1, min(limit, 100))
    last_id = qs.order_by("-pk").values_list("pk", flat=True).first() or 0
    if after:
        rows = list(qs.filter(pk__gt=after).order_by("-pk")[:limit])
    else:
        rows = list(qs.order_by("-reported_at", "-pk")[:limit])
    out = {
        "version": version,
        "last_id": max(last_id, after),
        "events": [_event_row(e) for e in rows],
    }
    if sensing:
        from wangge.perception.selectors import alarm_feed

        out["alarms"] = alarm_feed(actor=actor, code=code, limit=limit)
        out["sensing"] = cockpit_sensing(actor=actor, code=code)
    cache.set(key, out, FEED_SECONDS)
    return out


def cockpit_sensing(*, actor, code: str) -> dict[str, int] | None:
    """The node's devices (total, online, offline, low battery) and alarms (open, not yet
    acknowledged, raised today) for a post that sees the sensors (else None); counted at most
    every ten seconds however many screens poll."""
    code = _node(actor, code)
    if not has_perm(actor, Perm.SENSING_VIEW):
        return None
    key = f"cockpit:sensing:{code}"
    hit = cache.get(key)
    if hit is None:
        from wangge.perception.selectors import sensing_counts

        hit = sensing_counts(actor=actor, code=code)
        cache.set(key, hit, 10)
    return hit


# --- people and workforce ----------------------------------------------------------------------
def cockpit_people(*, actor, code: str) -> dict[str, Any]:
    """Population, households, vulnerable people by care colour, verification coverage and the
    workforce of the node (each part only when the post may see it; cached two minutes)."""
    code = _node(actor, code)
    key = f"cockpit:people:{code}:{actor.role if actor else ''}"
    hit = cache.get(key)
    if hit is not None:
        return hit
    place = places.place_get(actor=actor, code=code)
    out: dict[str, Any] = {"residents": place.residents, "households": place.households}
    if has_perm(actor, Perm.PEOPLE_VIEW):
        from wangge.people.selectors import care_counts
        from wangge.verification.selectors import coverage

        out["care"] = care_counts(actor=actor, code=code)
        cov = coverage(actor=actor, code=code)
        out["verification"] = {
            "cycle": cov.cycle,
            "households": cov.total.households,
            "verified": cov.total.verified,
            "percent": cov.total.percent,
        }
    if has_perm(actor, Perm.WORKFORCE_VIEW):
        from wangge.workforce.selectors import coverage as workforce_coverage

        w = workforce_coverage(actor=actor, code=code).total
        out["workforce"] = {
            "grids": w.grids,
            "grids_covered": w.grids - w.grids_without,
            "micros": w.micros,
            "micros_covered": w.micros - w.micros_without,
            "cadres": w.cadres,
            "on_duty": w.on_duty,
        }
    cache.set(key, out, 120)
    return out


# --- names for the reports ---------------------------------------------------------------------
def cockpit_grid_names(*, actor, codes) -> dict[str, str]:
    """Names of the grids (and micro-grids) among ``codes`` that lie in the actor's scope: the
    daily brief names the grid of each event it lists."""
    require(actor, Perm.COCKPIT_VIEW)
    scope = scope_for(actor)
    wanted = {c for c in codes if c and scope.covers(c)}
    if not wanted:
        return {}
    from wangge.regions.models import Grid

    return dict(Grid.objects.filter(code__in=wanted).values_list("code", "name"))
