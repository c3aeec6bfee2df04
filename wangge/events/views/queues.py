"""The dispatcher's queue (with bulk actions), spot checks, and the unit's queue."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from wangge.core.errors import ApplicationError
from wangge.events import selectors, services
from wangge.events import workflow as W
from wangge.events.enums import (
    EventAction,
    EventState,
    HandlingLevel,
)
from wangge.events.views.common import (
    BULK_ACTIONS,
    BULK_MAX,
    PAGE_SIZE,
    _event_list,
    _list_context,
    _list_filters,
    _need,
    _rows,
    dispatcher_level,
    is_unit,
)
from wangge.regions import selectors as places


# --- the dispatcher's queue ---------------------------------------------------------------------
def queue(request):
    """Events held at the dispatcher's level and place (or, with ``held=below``, everything in
    the area), with filters, deadlines, the actions allowed now and bulk accept / escalate."""
    post = request.post
    level = dispatcher_level(post)
    _need(level is not None)
    bulk_error = None
    status = 200
    if request.method == "POST":
        outcome = _bulk(request, post)
        if isinstance(outcome, list):
            request.session["events_bulk"] = outcome
            return redirect(f"{reverse('events:queue')}?{request.GET.urlencode()}")
        bulk_error, status = outcome, 422
    filters = _list_filters(request)
    held = request.GET.get("held", "mine")
    wanted = {**filters, "level": level} if held != "below" else filters
    qs, filters = _event_list(request, post, wanted)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    children = []
    try:
        node = places.place_get(actor=post, code=post.place_code)
        children = places.place_children(actor=post, place=node)[:300]
    except ApplicationError:
        pass
    return render(
        request,
        "events/queue.html",
        {
            **_list_context(request, post, filters),
            "level": HandlingLevel(level),
            "held": held,
            "page": page,
            "rows": _rows(post, list(page), now, duplicates=True),
            "children": children,
            "bulk_actions": [(a.value, a.label) for a in BULK_ACTIONS],
            "bulk_results": request.session.pop("events_bulk", None)
            if request.method == "GET"
            else None,
            "bulk_error": bulk_error,
            "picked": {int(i) for i in request.POST.getlist("ids") if i.isdigit()},
            "bulk_action": request.POST.get("action", ""),
            "bulk_note": request.POST.get("note", ""),
            "here": request.get_full_path(),
        },
        status=status,
    )


def _bulk(request, post) -> list[dict] | str:
    """Take one action on several events, each on its own (one refusal stops nothing).
    Returns what happened to each, or the reason the form itself is refused."""
    action = request.POST.get("action", "")
    note = request.POST.get("note", "").strip()
    ids = list(dict.fromkeys(i for i in request.POST.getlist("ids") if i.isdigit()))
    if action not in {a.value for a in BULK_ACTIONS}:
        return _("Choose what to do with the selected events.")
    if not ids:
        return _("Select at least one event.")
    if len(ids) > BULK_MAX:
        return _("At most %(n)d events at once.") % {"n": BULK_MAX}
    t = next(t for t in W.TRANSITIONS if t.action == action)
    if "note" in t.requires and len(note) < 2:
        return _("Write a note for this action.")
    results = []
    for i in ids:
        try:
            e = selectors.event_get(actor=post, event_id=i)
        except ApplicationError:
            results.append(
                {"id": None, "number": i, "title": "", "ok": False, "message": _("No such event.")}
            )
            continue
        row = {"id": e.pk, "number": e.number, "title": e.title}
        try:
            done = services.event_transition(
                actor=post, event=e, action=action, note=note, request=request
            )
        except ApplicationError as exc:
            results.append({**row, "ok": False, "message": str(exc.message)})
            continue
        message = str(EventState(done.state).label)
        if done.unit_id:
            message += " · " + str(done.unit)
        if action == EventAction.ESCALATE:
            message += " · " + _("now handled at the %(level)s level") % {
                "level": HandlingLevel(done.level).label
            }
        dups = selectors.duplicate_candidates(actor=post, event=done, limit=3)
        if dups:
            message += " · " + _("possible duplicates: %(list)s") % {
                "list": ", ".join(d.number for d, _m in dups)
            }
        results.append({**row, "ok": True, "message": message})
    return results


# --- spot checks of on-the-spot resolutions -------------------------------------------------------
def spot_checks(request):
    """This week's sample of events grid workers resolved on the spot: the dispatcher opens
    each, looks at the before/after photos and passes or fails the check (a failure sends the
    event back for handling, counted as rework)."""
    post = request.post
    _need(dispatcher_level(post) is not None)
    sample = selectors.spot_check_sample(actor=post)
    return render(
        request,
        "events/spot_checks.html",
        {
            "rows": _rows(post, sample, timezone.now()),
            "summary": selectors.spot_check_summary(actor=post),
            "here": request.get_full_path(),
        },
    )


# --- the unit's queue ---------------------------------------------------------------------------
def unit_queue(request):
    """Events dispatched to the handler's unit: acknowledge, handle, return, ask for time."""
    post = request.post
    _need(is_unit(post))
    filters = _list_filters(request)
    qs, filters = _event_list(request, post, filters)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "events/unit.html",
        {
            **_list_context(request, post, filters),
            "unit": post.unit,
            "page": page,
            "rows": _rows(post, list(page), timezone.now()),
            "here": request.get_full_path(),
        },
    )
