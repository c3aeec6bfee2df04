"""The grid worker's phone page and the report form (also the home page's routing)."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from wangge.accounts.scope import scope_for
from wangge.core.errors import ApplicationError, ValidationError
from wangge.events import selectors, services
from wangge.events import workflow as W
from wangge.events.enums import (
    EventAction,
    EventState,
    Source,
    Urgency,
)
from wangge.events.views.common import (
    _category_groups,
    _field_errors,
    _grid_names,
    _need,
    _query,
    _rows,
    dispatcher_level,
    is_field,
    is_unit,
)
from wangge.regions import selectors as places


# --- the grid worker's phone page ---------------------------------------------------------------
def home(request):
    """/events/: each post to its own page of the loop."""
    post = request.post
    if is_field(post):
        return redirect("events:phone")
    if dispatcher_level(post):
        return redirect("events:queue")
    if is_unit(post):
        return redirect("events:unit")
    return redirect("events:inbox")


PHONE_TABS = {"open": "open", "verify": EventState.HANDLED, "closed": EventState.CLOSED}


def phone(request):
    """The field worker's page: report, the open events of my grid, what waits for my check."""
    post = request.post
    _need(is_field(post))
    verifier = post.role in W.GRID_ROLES
    tab = request.GET.get("tab", "open")
    if tab not in PHONE_TABS or (tab == "verify" and not verifier):
        tab = "open"
    q = request.GET.get("q", "").strip()
    qs = selectors.event_list(actor=post, filters={"state": PHONE_TABS[tab], "q": q})
    page = Paginator(qs, 20).get_page(request.GET.get("page"))
    now = timezone.now()
    return render(
        request,
        "events/phone.html",
        {
            "tab": tab,
            "q": q,
            "verifier": verifier,
            "n_open": selectors.event_list(actor=post, filters={"state": "open"}).count(),
            "n_verify": selectors.event_list(
                actor=post, filters={"state": EventState.HANDLED}
            ).count()
            if verifier
            else 0,
            "page": page,
            "rows": _rows(post, list(page), now),
            "query": _query(request),
            "here": request.get_full_path(),
        },
    )


def _my_grids(post) -> list:
    """The grids a field worker reports in by hand: their own grid and the micro-grids in it."""
    try:
        place = places.place_get(actor=post, code=post.place_code)
        grids = [place] if len(place.code) >= 15 else []
        grids += [p for p in places.place_children(actor=post, place=place) if len(p.code) >= 15]
    except ApplicationError:
        return []
    return grids[:200]


def _point(value: str, name: str) -> float | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise ValidationError(
            _("The location is not a number."),
            code="invalid_point",
            details={"fields": {name: _("not a number")}},
        ) from None


def report(request):
    """The report form (phone): category, title, description, urgency, location (the phone's
    position or a grid of mine), address, photos and, where the category allows, "resolved on
    the spot". A key made when the form renders makes a double tap or a retry one event."""
    post = request.post
    _need(is_field(post))
    cats = list(selectors.category_list(actor=post))
    form = request.POST if request.method == "POST" else {}
    key = form.get("key") or uuid.uuid4().hex
    errors: dict = {}
    status = 200
    if request.method == "POST":
        try:
            e, created, on_spot = _report(request, post, cats)
        except ApplicationError as exc:
            if exc.status == 404:
                raise Http404 from None
            messages.error(request, exc.message)
            errors, status = _field_errors(exc), exc.status
            if exc.code == "key_reused":  # the form was sent before with other content
                key = uuid.uuid4().hex
        else:
            if not created:
                messages.info(
                    request, _("This report was already received as %(n)s.") % {"n": e.number}
                )
            elif on_spot:
                messages.success(
                    request, _("Reported and resolved on the spot: %(n)s.") % {"n": e.number}
                )
            else:
                messages.success(request, _("Reported as %(n)s.") % {"n": e.number})
            if not scope_for(post).covers(e.grid_code):
                messages.warning(
                    request,
                    _(
                        "The place lies outside your grid (%(grid)s): the community there "
                        "handles it, and it does not show in your list."
                    )
                    % {"grid": _grid_names([e.grid_code]).get(e.grid_code, e.grid_code)},
                )
            return redirect("events:phone")
    grids = _my_grids(post)
    return render(
        request,
        "events/report.html",
        {
            "key": key,
            "v": form,
            "errors": errors,
            "category_groups": _category_groups(cats),
            "urgencies": Urgency.choices,
            "grids": grids,
            "grid_code": form.get("grid_code", post.place_code if grids else ""),
            "urgency": form.get("urgency", Urgency.NORMAL),
        },
        status=status,
    )


def _report(request, post, cats):
    P = request.POST
    code = P.get("category", "").strip()
    on_spot = P.get("on_spot") == "1"
    cat = next((c for c in cats if c.code == code), None)
    if on_spot and cat is not None and not cat.on_spot_allowed:
        raise ValidationError(
            _("This category cannot be resolved on the spot."),
            code="not_on_spot",
            details={"fields": {"on_spot": _("not for this category")}},
        )
    lon, lat = _point(P.get("lon", ""), "lon"), _point(P.get("lat", ""), "lat")
    # The report and its on-the-spot resolution succeed or fail together.
    with transaction.atomic():
        e, created = services.event_report(
            actor=post,
            source=Source.PATROL,
            category=code,
            title=P.get("title", ""),
            description=P.get("description", "").strip(),
            urgency=P.get("urgency") or Urgency.NORMAL,
            lon=lon,
            lat=lat,
            grid_code=P.get("grid_code", "").strip(),
            address=P.get("address", "").strip(),
            key=P.get("key", "").strip(),
            photos=request.FILES.getlist("photos"),
            request=request,
        )
        if created and on_spot:
            e = services.event_transition(
                actor=post,
                event=e,
                action=EventAction.RESOLVE_ON_SPOT,
                note=P.get("on_spot_note", "").strip(),
                photos=request.FILES.getlist("after_photos"),
                request=request,
            )
    return e, created, on_spot
