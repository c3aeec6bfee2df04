"""The cockpit's reports: its tables as Excel or CSV files, and the printable daily brief.

Both need ``Perm.COCKPIT_EXPORT`` on top of seeing the node; like the cockpit's pages they
answer 404 for a node outside the post's scope and for a post without the permission (the
people export does the same), and a clear 4xx page for a bad table, format, period or day,
writing nothing. Every file and every brief is audited (``cockpit.export`` /
``cockpit.brief``) once it has been built, just before it is sent.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET

from wangge.cockpit import reports, selectors
from wangge.cockpit.views import _or_404
from wangge.core import audit
from wangge.core.errors import ApplicationError, ValidationError

BRIEF_EVENTS = 20
BRIEF_BACK_DAYS = 365


def _reporting_node(request, code: str) -> dict:
    """The node, if the post sees it and may export its figures; 404 otherwise."""
    info = _or_404(selectors.cockpit_node, actor=request.post, code=code)
    if not info["may_export"]:
        raise Http404
    return info


def _refused(request, node: dict, exc: ApplicationError, **extra) -> HttpResponse:
    """The brief's page with the message alone (nothing built, nothing audited)."""
    ctx = {"node": node, "error": exc.message, **extra}
    return render(request, "cockpit/brief.html", ctx, status=exc.status)


# --- exports -----------------------------------------------------------------------------------
@require_GET
def export(request, code: str, fmt: str):
    """``/cockpit/<code>/export.<xlsx|csv>?table=kpis|children|trend|mix|all&period=…``."""
    post = request.post
    node = _reporting_node(request, code)
    g = request.GET
    try:
        fmt, tables = reports.export_parse(fmt, g.get("table", ""))
        period = selectors.period_parse(
            g.get("period", "30d"), g.get("start", ""), g.get("end", "")
        )
    except ApplicationError as exc:
        return _refused(request, node, exc)
    code = node["code"]
    built = []
    for key in tables:
        if key == "kpis":
            s = selectors.cockpit_summary(actor=post, code=code, period=period)
            built.append(reports.kpis_table(s))
        elif key == "children":
            rows = selectors.cockpit_children(actor=post, code=code, period=period)
            built.append(reports.children_table(rows))
        elif key == "trend":
            t = selectors.cockpit_trend(actor=post, code=code, period=period)
            built.append(reports.trend_table(t, period))
        else:
            m = selectors.cockpit_mix(actor=post, code=code, period=period, top=1000)
            built.append(reports.mix_table(m))
    title = reports.title_line(node, period, timezone.localtime())
    if fmt == "xlsx":
        body, content_type = reports.workbook_bytes(built, title=title), reports.XLSX_TYPE
    else:
        body, content_type = reports.csv_bytes(built[0], title=title), reports.CSV_TYPE
    table = "all" if len(tables) > 1 else tables[0]
    audit.record(
        actor=post,
        action="cockpit.export",
        object_type="place",
        object_id=code,
        details={
            "table": table,
            "format": fmt,
            "period": {"key": period.key, "start": period.start, "end": period.end},
            "rows": sum(len(t.rows) for t in built),
        },
        request=request,
    )
    resp = HttpResponse(body, content_type=content_type)
    name = reports.filename(code, table, period, fmt)
    resp["Content-Disposition"] = f'attachment; filename="{name}"'
    resp["Cache-Control"] = "no-store"
    return resp


# --- the daily brief ---------------------------------------------------------------------------
def brief_day(text: str, today: date) -> date:
    """The brief's day: ``YYYY-MM-DD`` from today back a year; empty means yesterday."""
    text = (text or "").strip()
    if not text:
        return today - timedelta(days=1)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            _("The day must be a date (YYYY-MM-DD)."), details={"fields": {"day": _("a date")}}
        ) from None
    if day > today:
        raise ValidationError(
            _("There is no brief of %(day)s yet: choose today or a day before.")
            % {"day": day.isoformat()},
            details={"fields": {"day": _("out of range")}},
        )
    first = today - timedelta(days=BRIEF_BACK_DAYS)
    if day < first:
        raise ValidationError(
            _("A brief goes back at most a year: choose a day from %(first)s.")
            % {"first": first.isoformat()},
            details={"fields": {"day": _("out of range")}},
        )
    return day


def _ranking(rows: list[dict]) -> list[dict]:
    """Children by on-time closure rate, worst first; those without a deadline due that day
    last (by name)."""
    rated = sorted(
        (r for r in rows if r["on_time_rate"] is not None),
        key=lambda r: (r["on_time_rate"], -r["overdue"], r["code"]),
    )
    unrated = sorted(
        (r for r in rows if r["on_time_rate"] is None), key=lambda r: (-r["overdue"], r["code"])
    )
    return rated + unrated


def _late(event, now) -> str:
    """How long past its deadline an overdue event is: whole days, or hours under a day."""
    if not event.overdue or event.handle_due is None or event.handle_due >= now:
        return ""
    hours = int((now - event.handle_due).total_seconds() // 3600)
    if hours >= 24:
        return ngettext("%(n)s day", "%(n)s days", hours // 24) % {"n": hours // 24}
    return _("%(n)s h") % {"n": max(hours, 1)}


def _event_row(event, names: dict[str, str], now) -> dict:
    return {"e": event, "grid": names.get(event.grid_code, ""), "late": _late(event, now)}


@require_GET
def brief(request, code: str):
    """The daily brief of a node: one or two A4 pages to print."""
    post = request.post
    node = _reporting_node(request, code)
    today = selectors.today()
    text = request.GET.get("day", "")
    try:
        day = brief_day(text, today)
    except ApplicationError as exc:
        return _refused(request, node, exc, day_text=text[:10], today=today, brief_form=True)
    code = node["code"]
    period = selectors.period_parse("custom", day.isoformat(), day.isoformat())
    summary = selectors.cockpit_summary(actor=post, code=code, period=period)
    week = selectors.Period("custom", day - timedelta(days=6), day)
    trend = reports.trend_table(selectors.cockpit_trend(actor=post, code=code, period=week), week)
    children = _ranking(selectors.cockpit_children(actor=post, code=code, period=period))
    mix = selectors.cockpit_mix(actor=post, code=code, period=period)
    overdue = selectors.cockpit_events(actor=post, code=code, kind="overdue", limit=BRIEF_EVENTS)
    supervised = selectors.cockpit_events(
        actor=post, code=code, kind="supervised", limit=BRIEF_EVENTS
    )
    names = selectors.cockpit_grid_names(
        actor=post, codes=[e.grid_code for e in overdue + supervised]
    )
    total = sum(c["n"] for c in mix["categories"])
    now = timezone.localtime()
    audit.record(
        actor=post,
        action="cockpit.brief",
        object_type="place",
        object_id=code,
        details={"day": day, "children": len(children), "events": len(overdue) + len(supervised)},
        request=request,
    )
    ctx = {
        "node": node,
        "day": day,
        "today": today,
        "day_text": day.isoformat(),
        "brief_form": True,
        "previous_day": day - timedelta(days=1),
        "next_day": day + timedelta(days=1) if day < today else None,
        "cards": [{"kpi": k, **summary["kpis"][k.key]} for k in selectors.KPIS],
        "trend": trend.rows,
        "children": children,
        "categories": [{**c, "share": reports.share(c["n"], total)} for c in mix["categories"]],
        "sources": [{**s, "name": reports.source_label(s)} for s in mix["sources"]],
        "reported": total,
        "event_lists": [
            (_("Overdue events"), [_event_row(e, names, now) for e in overdue], True),
            (_("Supervised events"), [_event_row(e, names, now) for e in supervised], False),
        ],
        "events_limit": BRIEF_EVENTS,
        "printed_at": now,
        "printed_by": post.user.get_full_name() or post.user.username,
        "printed_post": str(post),
    }
    return render(request, "cockpit/brief.html", ctx)
