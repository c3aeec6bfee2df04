"""The event page: timeline, map, deadlines, photos and one form per action allowed now."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from wangge.accounts.models import Unit
from wangge.core.errors import ApplicationError, ValidationError
from wangge.events import selectors, services
from wangge.events import workflow as W
from wangge.events.enums import (
    EventAction,
    EventState,
    HandlingLevel,
    RejectReason,
    Source,
)
from wangge.events.views.common import (
    PHOTO_ACTIONS,
    _allowed,
    _event_or_404,
    _field_errors,
    _grid_names,
    _name,
    _next_url,
    _units,
    clock,
    dispatcher_level,
    holder,
    is_field,
    is_unit,
)
from wangge.regions import selectors as places


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
        # the units serving the event's place (a district's centre is no choice for another's)
        units = [
            u
            for u in _units()
            if u not in suggested and e.grid_code.startswith(u.region_code or "")
        ]
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
