"""What the pages share: who sees which page, deadlines and who holds an event, names, rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib import messages
from django.http import Http404
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from wangge.accounts.enums import Role
from wangge.accounts.models import Unit
from wangge.core.errors import ApplicationError
from wangge.events import selectors, services
from wangge.events import workflow as W
from wangge.events.enums import (
    FINAL_STATES,
    EventAction,
    EventState,
    HandlingLevel,
)
from wangge.regions import codes as C
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
