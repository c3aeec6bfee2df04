"""The cockpit's pages: a node's live picture, and the same on the command-centre wall.

The KPI cards and the ranking are rendered on the server (the page reads without JavaScript
and prints); ``cockpit.js`` draws the map and the charts and keeps everything live.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from wangge.cockpit import selectors
from wangge.core.errors import ApplicationError
from wangge.people.enums import CareLevel
from wangge.regions import selectors as places

SCREEN_KPIS = ("on_time_rate", "overdue", "reported", "closure_rate", "response_rate")


def _or_404(call, **kw):
    try:
        return call(**kw)
    except ApplicationError as exc:
        if exc.status in (403, 404):
            raise Http404(exc.message) from None
        raise


def home(request):
    root = _or_404(selectors.cockpit_root, actor=request.post)
    url = reverse("cockpit:node", args=[root])
    return redirect(f"{url}?{request.GET.urlencode()}" if request.GET else url)


def _labels() -> dict:
    return {
        "kpis": {k.key: str(k.label) for k in selectors.KPIS},
        "kinds": {k.key: k.kind for k in selectors.KPIS},
        "better": {k.key: k.better for k in selectors.KPIS},
        "noData": _("no data"),
        "events": _("open events"),
        "new": _("new"),
        "overdue": _("overdue"),
        "due": _("due"),
        "reported": _("Reported"),
        "closed": _("Closed"),
        "missed": _("Deadlines missed"),
        "hours": _("h"),
        "zones": _("Functional zones"),
        "updated": _("Updated"),
        "offline": _("Connection lost; retrying …"),
        "none": _("None"),
        "alarm": _("Alarm"),
    }


def _has_zones(post, code: str) -> bool:
    """Whether a functional zone takes in streets under the node (the overlay's checkbox)."""
    zones = places.zones_geojson(actor=post)["features"]
    return any(s.startswith(code) for z in zones for s in z["properties"]["streets"])


def node(request, code: str):
    post = request.post
    info = _or_404(selectors.cockpit_node, actor=post, code=code)
    g = request.GET
    try:
        period = selectors.period_parse(
            g.get("period", "30d"), g.get("start", ""), g.get("end", "")
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        period = selectors.period_parse("30d")
    kpi = g.get("kpi", "on_time_rate")
    if kpi not in selectors.KPI_BY_KEY:
        kpi = "on_time_rate"
    summary = selectors.cockpit_summary(actor=post, code=info["code"], period=period)
    cards = [{"kpi": k, **summary["kpis"][k.key]} for k in selectors.KPIS]
    context = {
        "node": info,
        "period": period,
        "periods": [
            ("today", _("Today")),
            ("7d", _("7 days")),
            ("30d", _("30 days")),
            ("90d", _("90 days")),
        ],
        "kpi": kpi,
        "kpis": selectors.KPIS,
        "cards": cards,
        "open_by_state": summary["open_by_state"],
        "labels": _labels(),
        "screen_kpis": SCREEN_KPIS,
        "care_levels": CareLevel.choices,
    }
    if g.get("screen") == "1":
        context["sensing"] = selectors.cockpit_sensing(actor=post, code=info["code"])
        return render(request, "cockpit/screen.html", context)
    context["children"] = selectors.cockpit_children(actor=post, code=info["code"], period=period)
    context["people"] = selectors.cockpit_people(actor=post, code=info["code"])
    context["sensing"] = selectors.cockpit_sensing(actor=post, code=info["code"])
    context["has_zones"] = info["level"] in ("city", "district") and _has_zones(post, info["code"])
    return render(request, "cockpit/cockpit.html", context)
