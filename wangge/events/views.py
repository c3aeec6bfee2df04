"""Pages of the closed loop: the grid worker's phone page and report form, the dispatcher's
queue (with bulk actions), the unit's queue, the event page (timeline, map, deadlines, one form
per action the workflow table allows now) and the inbox.

Same rule as ``api.py``: parse, call a service or a selector, render. Every write goes through
``services.event_report`` / ``services.event_transition``; what a post may do is read from
``workflow.TRANSITIONS``; what is out of the post's scope answers 404.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import F
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from wangge.accounts.enums import Role
from wangge.accounts.models import Unit
from wangge.accounts.scope import scope_for
from wangge.core.errors import ApplicationError, ValidationError
from wangge.events import selectors, services
from wangge.events import workflow as W
from wangge.events.enums import (
    FINAL_STATES,
    EventAction,
    EventState,
    HandlingLevel,
    Notice,
    RejectReason,
    Source,
    Urgency,
)
from wangge.regions import codes as C
from wangge.regions import selectors as places
from wangge.regions.models import Grid

PAGE_SIZE = 25
BULK_MAX = 200
FIELD_ROLES = (*W.GRID_ROLES, Role.SUNK_CADRE, Role.VOLUNTEER)
LEVEL_OF_ROLE = {role: level for level, role in W.DISPATCHER_ROLE.items()}
# Actions whose form offers photos (the services store them as "after" or "evidence").
PHOTO_ACTIONS = (
    EventAction.HANDLE,
    EventAction.RESOLVE_ON_SPOT,
    EventAction.VERIFY_PASS,
    EventAction.VERIFY_FAIL,
)
BULK_ACTIONS = (EventAction.ACCEPT, EventAction.ESCALATE)
NEAR_SHARE = 0.8  # like the sweep: "near" once 80 % of the time to the deadline is used


# --- who sees which page --------------------------------------------------------------------------
def is_field(post) -> bool:
    """Grid and micro-grid workers, sunk cadres and volunteers: the phone page."""
    return post is not None and post.role in FIELD_ROLES and bool(post.place_code)


def dispatcher_level(post) -> str | None:
    """The handling level a dispatcher's post serves (community secretary → community …)."""
    if post is None or not post.place_code:
        return None
    return LEVEL_OF_ROLE.get(post.role)


def is_unit(post) -> bool:
    return post is not None and post.role == Role.UNIT_HANDLER and bool(post.unit_id)


def _need(ok: bool) -> None:
    if not ok:
        raise Http404


def _event_or_404(post, event_id):
    try:
        return selectors.event_get(actor=post, event_id=event_id)
    except ApplicationError:
        raise Http404 from None


def _next_url(request, default: str) -> str:
    nxt = request.POST.get("next") or request.GET.get("next") or ""
    ok = nxt.startswith("/") and url_has_allowed_host_and_scheme(
        nxt, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return nxt if ok else default


def _field_errors(exc: ApplicationError) -> dict:
    d = exc.details if isinstance(exc.details, dict) else {}
    f = d.get("fields")
    return f if isinstance(f, dict) else {}


def _query(request, *drop: str) -> str:
    q = request.GET.copy()
    for k in ("page", *drop):
        q.pop(k, None)
    return q.urlencode()


# --- deadlines, holders, names --------------------------------------------------------------------
@dataclass(frozen=True)
class Clock:
    """A deadline as people read it: what is due, when, how much time is left and its colour
    (``overdue`` red, ``near`` orange, ``ontime`` green, ``closed`` grey, ``paused``)."""

    label: str
    due: datetime | None
    tone: str
    left: str


def _duration(td: timedelta) -> str:
    minutes = max(int(td.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return _("%(d)d d %(h)d h") % {"d": days, "h": hours}
    if hours:
        return _("%(h)d h %(m)d min") % {"h": hours, "m": mins}
    return _("%(m)d min") % {"m": mins}


def clock(e, now: datetime) -> Clock:
    S = EventState
    if e.state in FINAL_STATES:
        late = e.state == S.CLOSED and e.closed_on_time is False
        return Clock(
            EventState(e.state).label,
            e.closed_at,
            "closed",
            _("closed late") if late else "",
        )
    if e.state == S.SUSPENDED:
        review = e.review_date.isoformat() if e.review_date else "—"
        return Clock(_("Suspended"), None, "paused", _("review on %(d)s") % {"d": review})
    if e.state in (S.DISPATCHED, S.ACKNOWLEDGED, S.HANDLED) and e.handle_due:
        label, due, start, near_at = _("Handle by"), e.handle_due, e.dispatched_at, e.warn_at
    else:
        label, due, near_at = _("Respond by"), e.response_due, None
        start = max(t for t in (e.reported_at, e.accepted_at) if t is not None)
    if due is None:
        return Clock(label, None, "", "")
    if e.overdue or due <= now:
        return Clock(label, due, "overdue", _("overdue by %(t)s") % {"t": _duration(now - due)})
    near = e.warned or (near_at is not None and now >= near_at)
    if not near and start is not None and start < due:
        near = now >= start + (due - start) * NEAR_SHARE
    return Clock(
        label, due, "near" if near else "ontime", _("%(t)s left") % {"t": _duration(due - now)}
    )


def _name(post) -> str:
    if post is None:
        return _("the platform")
    user = post.user
    return user.get_full_name() or user.username


def holder(e) -> tuple[str, list[str]]:
    """Who holds the event now: a label and the names of the posts."""
    S = EventState
    if e.state in (S.REPORTED, S.ACCEPTED, S.SUSPENDED):
        label = _("Dispatcher (%(level)s)") % {"level": HandlingLevel(e.level).label}
        return label, [_name(p) for p in services.dispatcher_posts(e)]
    if e.state in (S.DISPATCHED, S.ACKNOWLEDGED):
        return str(e.unit) if e.unit_id else "—", [_name(p) for p in services.unit_posts(e)]
    if e.state == S.HANDLED:
        checkers = services.grid_posts(e) or services.dispatcher_posts(e)
        return _("Verification on site"), [_name(p) for p in checkers]
    return _("Nobody: the event is finished"), []


def _grid_names(codes) -> dict[str, str]:
    """Names of grids for codes already taken from scoped events (names are not personal)."""
    codes = {c for c in codes if c}
    if not codes:
        return {}
    return dict(Grid.objects.filter(code__in=codes).values_list("code", "name"))


def _units() -> list[Unit]:
    return list(Unit.objects.filter(is_active=True).order_by("code"))


def _category_groups(cats) -> list[tuple[object, list]]:
    """Major categories with their small ones, for pickers and filters (``label`` in the
    page's language: the taxonomy carries Chinese and English names)."""
    english = (get_language() or "").startswith("en")
    for c in cats:
        c.label = c.name_en if english and c.name_en else c.name
    majors = [c for c in cats if c.parent_id is None]
    smalls: dict[int, list] = {}
    for c in cats:
        if c.parent_id is not None:
            smalls.setdefault(c.parent_id, []).append(c)
    return [(m, smalls.get(m.pk, [])) for m in majors]


@dataclass
class Row:
    e: object
    clock: Clock
    grid_name: str
    quick: list  # (action, label): one-click actions (no fields needed)
    forms: list  # (action, label): actions that need a form on the event page
    duplicates: int = 0

    @property
    def allowed(self) -> set[str]:
        return {a for a, _label in self.quick + self.forms}


SPOT_CHECKS = (EventAction.SPOT_CHECK_PASS, EventAction.SPOT_CHECK_FAIL)
EXTENSION_ANSWERS = (EventAction.APPROVE_EXTENSION, EventAction.DENY_EXTENSION)


def _allowed(post, e, timeline=None) -> list[EventAction]:
    """The actions the table allows now, less those the services would refuse for a reason the
    table does not carry: spot checks of an event not resolved on the spot (or checked
    already), answers to an extension nobody asked for. No button that can only fail."""
    out = selectors.event_actions(actor=post, event=e)
    checked = timeline is not None and any(log.action in SPOT_CHECKS for log in timeline)
    if not e.on_spot or checked:
        out = [a for a in out if a not in SPOT_CHECKS]
    if not e.extension_hours:  # nothing asked: nothing to approve or deny
        out = [a for a in out if a not in EXTENSION_ANSWERS]
    return out


def _rows(post, events, now, *, duplicates: bool = False) -> list[Row]:
    names = _grid_names(e.grid_code for e in events)
    out = []
    for e in events:
        quick, forms = [], []
        for a in _allowed(post, e):
            t = W.transition_for(e.state, a)
            needs_form = bool(t and t.requires) or a == EventAction.RESOLVE_ON_SPOT
            (forms if needs_form else quick).append((a.value, a.label))
        dups = 0
        if duplicates and e.state in (EventState.REPORTED, EventState.ACCEPTED):
            dups = len(selectors.duplicate_candidates(actor=post, event=e, limit=5))
        out.append(Row(e, clock(e, now), names.get(e.grid_code, ""), quick, forms, dups))
    return out


def _list_filters(request, *, default_state: str = "open") -> dict:
    g = request.GET
    state = g.get("state", default_state)
    return {
        "state": "" if state == "all" else state,
        "category": g.get("category", "").strip(),
        "grid": C.normalize(g.get("grid", "") or ""),
        "overdue": g.get("overdue") == "1",
        "supervised": g.get("supervised") == "1",
        "q": g.get("q", "").strip(),
    }


def _event_list(request, post, filters: dict):
    """The scoped list; a bad filter value is reported and dropped, not a server error."""
    try:
        return selectors.event_list(actor=post, filters=filters), filters
    except ApplicationError as exc:
        messages.error(request, exc.message)
        filters = {**filters, "state": ""}
        return selectors.event_list(actor=post, filters=filters), filters


def _list_context(request, post, filters: dict) -> dict:
    cats = list(selectors.category_list(actor=post))
    return {
        "f": filters,
        "state_param": request.GET.get("state", "open"),
        "states": EventState.choices,
        "category_groups": _category_groups(cats),
        "query": _query(request),
    }


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


# --- the event page -----------------------------------------------------------------------------
def detail(request, event_id: int):
    """The event: what, where, who holds it, deadlines, photos, map, timeline, duplicates, and
    a form for each action allowed now. A POST takes one action (``action`` + its fields)."""
    post = request.post
    e = _event_or_404(post, event_id)
    failed = None
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            done = _act(request, post, e, action)
        except ApplicationError as exc:
            if exc.status == 404:
                raise Http404 from None
            failed, status = exc, exc.status
            e = _event_or_404(post, event_id)
        else:
            messages.success(request, _done_message(action, done))
            return redirect(_next_url(request, reverse("events:detail", args=[e.pk])))
    return render(
        request, "events/detail.html", _detail_context(request, post, e, failed), status=status
    )


def _act(request, post, e, action: str):
    t = W.transition_for(e.state, action) if action in EventAction.values else None
    data = {}
    for field in t.requires if t else ():
        if field == "note":
            continue
        value = request.POST.get(field, "").strip()
        if field == "target" and value:
            value = _target_id(post, value)
        if value:
            data[field] = value
    return services.event_transition(
        actor=post,
        event=e,
        action=action,
        note=request.POST.get("note", ""),
        data=data,
        photos=request.FILES.getlist("photos"),
        request=request,
    )


def _target_id(post, value: str):
    """Merge target: an event id or number in the dispatcher's scope."""
    if value.isdigit():
        return value
    number = value.upper()
    found = (
        selectors.event_list(actor=post, filters={"q": number})
        .filter(number=number)
        .values_list("pk", flat=True)
        .first()
    )
    if found is None:
        raise ValidationError(
            _("No event has the number %(n)s.") % {"n": value},
            code="invalid_target",
            details={"fields": {"target": _("unknown event")}},
        )
    return found


def _done_message(action: str, e) -> str:
    text = _("%(action)s: done. The event is now %(state)s.") % {
        "action": EventAction(action).label,
        "state": EventState(e.state).label,
    }
    if e.state in (EventState.DISPATCHED,) and e.unit_id:
        text += " " + _("Dispatched to %(unit)s.") % {"unit": e.unit}
    return text


@dataclass
class ActionForm:
    action: str
    label: str
    fields: tuple[str, ...]
    photos: bool
    open: bool
    values: dict  # what was typed, when this form came back with an error
    errors: dict


def _detail_context(request, post, e, failed: ApplicationError | None) -> dict:
    now = timezone.now()
    timeline = selectors.event_timeline(actor=post, event=e)
    allowed = _allowed(post, e, timeline)
    kinds = W.actor_kinds(post, e)
    posted = request.POST if failed is not None else {}
    wanted = posted.get("action") or request.GET.get("act", "")
    errors = _field_errors(failed) if failed is not None else {}
    forms = []
    for a in allowed:
        t = W.transition_for(e.state, a)
        mine = a == wanted
        forms.append(
            ActionForm(
                a.value,
                a.label,
                t.requires if t else (),
                a in PHOTO_ACTIONS,
                mine,
                posted if mine else {},
                errors if mine else {},
            )
        )
    suggested, units = [], []
    if EventAction.DISPATCH in allowed:
        suggested = services.dispatch_candidates(e)
        units = [u for u in _units() if u not in suggested]
    dups = []
    if W.Actor.DISPATCHER in kinds and e.state in (EventState.REPORTED, EventState.ACCEPTED):
        dups = selectors.duplicate_candidates(actor=post, event=e)
    unit_codes = {log.data.get("unit") for log in timeline if isinstance(log.data, dict)}
    unit_names = dict(
        Unit.objects.filter(code__in=[c for c in unit_codes if c]).values_list("code", "name")
    )
    hold_label, hold_names = holder(e)
    illegal_allowed = []
    if failed is not None and failed.code == "illegal_action":
        # what the service answered, as far as this page offers it (the same forms below)
        answered = set((failed.details or {}).get("allowed", []))
        illegal_allowed = [a.label for a in allowed if a.value in answered]
    return {
        "layout": "phone.html" if is_field(post) else "base.html",
        "back": _back(post),
        "e": e,
        "clock": clock(e, now),
        "grid_name": _grid_names([e.grid_code]).get(e.grid_code, ""),
        "ancestors": _ancestors(post, e.grid_code),
        "holder_label": hold_label,
        "holder_names": hold_names,
        "forms": forms,
        "reasons": RejectReason.choices,
        "suggested_units": suggested,
        "units": units,
        "duplicates": dups,
        "merge_allowed": EventAction.MERGE in allowed,
        "timeline": [_log_view(log, unit_names) for log in timeline],
        "photos": list(e.photos.all()),
        "failed": failed,
        "illegal_allowed": illegal_allowed,
        "next": _next_url(request, ""),
        "here": request.get_full_path(),
        "today": timezone.localdate().isoformat(),
    }


def _back(post) -> tuple[str, str] | None:
    if is_field(post):
        return reverse("events:phone"), _("My events")
    if dispatcher_level(post):
        return reverse("events:queue"), _("Queue")
    if is_unit(post):
        return reverse("events:unit"), _("Unit queue")
    return None


def _ancestors(post, code: str) -> list:
    """The place chain above the event's grid (for the breadcrumb), as far as the post sees."""
    try:
        place = places.place_get(actor=post, code=code)
        return [*places.place_ancestors(actor=post, place=place), place]
    except ApplicationError:
        return []


_DATA_LABELS = {  # lazy: translated when a page shows them, in the page's language
    "unit": gettext_lazy("unit"),
    "reason": gettext_lazy("reason"),
    "target": gettext_lazy("merged into"),
    "hours": gettext_lazy("hours"),
    "review_date": gettext_lazy("review on"),
    "source": gettext_lazy("source"),
    "from_level": gettext_lazy("from level"),
    "to_level": gettext_lazy("to level"),
}


def _when(value) -> str:
    d = parse_datetime(value) if isinstance(value, str) else value
    return timezone.localtime(d).strftime("%Y-%m-%d %H:%M") if d else "—"


def _log_view(log, unit_names: dict) -> dict:
    """A timeline row: the action, who, when, the note and what the row's data says (deadline
    changes as before → after)."""
    data = log.data or {}
    items = []
    for k, label in (("response_due", _("respond by")), ("handle_due", _("handle by"))):
        if k not in data:
            continue
        value = _when(data[k]) if data[k] else "—"
        before = _when(data[f"{k}_before"]) if data.get(f"{k}_before") else ""
        if before == value:
            continue
        items.append((label, f"{before} → {value}" if before else value))
    for k, v in data.items():
        if k.startswith("_") or k.endswith("_due") or k.endswith("_before") or k == "suspended_at":
            continue
        if k == "reason":
            v = RejectReason(v).label if v in RejectReason.values else v
        elif k in ("from_level", "to_level"):
            v = HandlingLevel(v).label if v in HandlingLevel.values else v
        elif k == "source":
            v = Source(v).label if v in Source.values else v
        elif k == "unit" and v:
            v = unit_names.get(v, v)
        items.append((_DATA_LABELS.get(k, k), v))
    post = log.post
    return {
        "log": log,
        "label": EventAction(log.action).label if log.action in EventAction.values else log.action,
        "who": _name(post) if post is not None else _("the platform"),
        "role": post.get_role_display() if post is not None else "",
        "to_state": EventState(log.to_state).label if log.to_state in EventState.values else "",
        "changed": log.from_state != log.to_state,
        "items": items,
        "photos": list(log.photos.all()),
        "tone": "overdue"
        if log.action == EventAction.OVERDUE
        else "near"
        if log.action == EventAction.WARN
        else "supervised"
        if log.action == EventAction.SUPERVISE
        else "",
    }


# --- the inbox ----------------------------------------------------------------------------------
def inbox(request):
    """The post's notices, unread first; mark some or all read."""
    post = request.post
    _need(post is not None)
    if request.method == "POST":
        ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()]
        every = request.POST.get("all") == "1"
        if every or ids:
            n = services.notifications_read(actor=post, ids=None if every else ids)
            messages.success(request, _("%(n)d notices marked read.") % {"n": n})
        else:
            messages.error(request, _("Select the notices to mark read."))
        return redirect(f"{reverse('events:inbox')}?{request.GET.urlencode()}")
    show = request.GET.get("show", "all")
    kind = request.GET.get("kind", "")
    qs = selectors.inbox(actor=post, unread_only=show == "unread")
    if kind in Notice.values:
        qs = qs.filter(kind=kind)
    qs = qs.order_by(F("read_at").asc(nulls_first=True), "-created_at", "-id")
    page = Paginator(qs, 30).get_page(request.GET.get("page"))
    return render(
        request,
        "events/inbox.html",
        {
            "layout": "phone.html" if is_field(post) else "base.html",
            "page": page,
            "show": show,
            "kind": kind,
            "kinds": Notice.choices,
            "query": _query(request),
            "back": _back(post),
        },
    )
