"""The closed loop as one table: every transition declared once.

Each row says from which states an action may be taken, the state it leads to (``SAME`` keeps
the state, ``PREVIOUS`` returns to the state before a suspension), who may take it and which
fields it requires. Who is one of a few *actor kinds*, resolved against the event:

- ``DISPATCHER`` — the dispatcher of the event's handling level (community secretary, street /
  district dispatcher, city commander) whose place covers the event's grid;
- ``SUPERIOR`` — a dispatcher of a level above the event's handling level covering it;
- ``UNIT`` — a handler of the unit the event is dispatched to;
- ``GRID`` — a grid or micro-grid worker whose place covers the event's grid;
- ``SYSTEM`` — the platform itself (the deadline sweep, automatic dispatch, a camera that sees
  the problem gone: 自动核查).

Services, the API, the pages (which buttons to show) and the tests all read this table; nothing
else decides what may happen to an event.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from wangge.accounts.enums import Role
from wangge.events.enums import (
    LEVEL_CODE_LENGTH,
    LEVEL_ORDER,
    EventAction,
    HandlingLevel,
    Source,
)
from wangge.events.enums import EventState as S

SAME = "="
PREVIOUS = "<"


class Actor(StrEnum):
    DISPATCHER = "dispatcher"
    SUPERIOR = "superior"
    UNIT = "unit"
    GRID = "grid"
    SYSTEM = "system"


@dataclass(frozen=True)
class Transition:
    sources: tuple[str, ...]
    action: EventAction
    target: str
    actors: frozenset[Actor]
    requires: tuple[str, ...] = ()
    guard: str = ""  # a condition on the event beyond its state (see GUARDS)
    system_guard: str = ""  # a further condition when the platform itself takes the action


# Conditions some transitions need besides the state.
GUARDS = {
    "extension_asked": lambda e: (e.extension_hours or 0) > 0,
    "on_spot": lambda e: bool(e.on_spot),
    # what a machine found, a machine may check: an AI camera that sees the fire lane clear
    # again, a sensor back to normal (people verify everything else)
    "machine_found": lambda e: e.source in (Source.CAMERA, Source.SENSOR),
}


def guard_ok(t: Transition, event, kinds: set[Actor] | None = None) -> bool:
    """Whether the event meets the transition's conditions beyond its state; ``kinds`` (what
    the actor is to the event): the platform alone also meets ``system_guard``."""
    if t.guard and not GUARDS[t.guard](event):
        return False
    if t.system_guard and kinds == {Actor.SYSTEM}:
        return GUARDS[t.system_guard](event)
    return True


_D = frozenset({Actor.DISPATCHER})
_DS = frozenset({Actor.DISPATCHER, Actor.SYSTEM})
_U = frozenset({Actor.UNIT})
_CHECKERS = frozenset({Actor.GRID, Actor.DISPATCHER})
_ACTIVE = (S.ACCEPTED, S.DISPATCHED, S.ACKNOWLEDGED)

TRANSITIONS: tuple[Transition, ...] = (
    Transition((S.REPORTED,), EventAction.ACCEPT, S.ACCEPTED, _D),
    Transition((S.REPORTED,), EventAction.REJECT, S.REJECTED, _D, ("reason", "note")),
    Transition((S.REPORTED, S.ACCEPTED), EventAction.MERGE, S.MERGED, _D, ("target",)),
    Transition((S.ACCEPTED,), EventAction.DISPATCH, S.DISPATCHED, _DS, ("unit",)),
    Transition((S.DISPATCHED,), EventAction.ACKNOWLEDGE, S.ACKNOWLEDGED, _U),
    Transition((S.DISPATCHED, S.ACKNOWLEDGED), EventAction.RETURN, S.ACCEPTED, _U, ("note",)),
    Transition((S.ACKNOWLEDGED,), EventAction.HANDLE, S.HANDLED, _U, ("note",)),
    Transition(
        (S.HANDLED,),
        EventAction.VERIFY_PASS,
        S.CLOSED,
        _CHECKERS | {Actor.SYSTEM},
        system_guard="machine_found",
    ),
    Transition((S.HANDLED,), EventAction.VERIFY_FAIL, S.DISPATCHED, _CHECKERS, ("note",)),
    Transition(
        (S.REPORTED, *_ACTIVE),
        EventAction.ESCALATE,
        S.ACCEPTED,
        frozenset({Actor.DISPATCHER, Actor.SYSTEM}),
        ("note",),
    ),
    Transition(
        (S.DISPATCHED, S.ACKNOWLEDGED), EventAction.REQUEST_EXTENSION, SAME, _U, ("hours", "note")
    ),
    Transition(
        (S.DISPATCHED, S.ACKNOWLEDGED),
        EventAction.APPROVE_EXTENSION,
        SAME,
        _D,
        guard="extension_asked",
    ),
    Transition(
        (S.DISPATCHED, S.ACKNOWLEDGED),
        EventAction.DENY_EXTENSION,
        SAME,
        _D,
        ("note",),
        guard="extension_asked",
    ),
    Transition(_ACTIVE, EventAction.SUSPEND, S.SUSPENDED, _D, ("note", "review_date")),
    Transition((S.SUSPENDED,), EventAction.RESUME, PREVIOUS, _D),
    Transition(
        (S.REPORTED, *_ACTIVE, S.HANDLED, S.SUSPENDED),
        EventAction.SUPERVISE,
        SAME,
        frozenset({Actor.SUPERIOR}),
        ("note",),
    ),
    Transition((S.REPORTED,), EventAction.RESOLVE_ON_SPOT, S.CLOSED, frozenset({Actor.GRID})),
    # the community spot-checks a sample of on-the-spot resolutions (services: on_spot only)
    Transition((S.CLOSED,), EventAction.SPOT_CHECK_PASS, SAME, _D, guard="on_spot"),
    Transition((S.CLOSED,), EventAction.SPOT_CHECK_FAIL, S.ACCEPTED, _D, ("note",), "on_spot"),
)

_BY_ACTION: dict[str, list[Transition]] = {}
for _t in TRANSITIONS:
    _BY_ACTION.setdefault(_t.action, []).append(_t)


def transition_for(state: str, action: str) -> Transition | None:
    for t in _BY_ACTION.get(action, ()):
        if state in t.sources:
            return t
    return None


# --- who is who for an event --------------------------------------------------------------------
DISPATCHER_ROLE = {
    HandlingLevel.COMMUNITY: Role.COMMUNITY_SECRETARY,
    HandlingLevel.STREET: Role.STREET_DISPATCHER,
    HandlingLevel.DISTRICT: Role.DISTRICT_DISPATCHER,
    HandlingLevel.CITY: Role.CITY_COMMANDER,
}
GRID_ROLES = (Role.GRID_WORKER, Role.MICRO_GRID_WORKER)


def handling_code(grid_code: str, level: str) -> str:
    """The code of the node whose dispatcher handles an event of ``grid_code`` at ``level``."""
    return grid_code[: LEVEL_CODE_LENGTH[HandlingLevel(level)]]


def actor_kinds(post, event) -> set[Actor]:
    """What the post is to this event (possibly several things, possibly nothing)."""
    from wangge.accounts.scope import SYSTEM

    if post is SYSTEM:
        return {Actor.SYSTEM}
    kinds: set[Actor] = set()
    if post is None or not post.is_active:
        return kinds
    role = post.role
    level = HandlingLevel(event.level)
    place = post.place_code or ""
    covers = bool(place) and event.grid_code.startswith(place)
    if role == DISPATCHER_ROLE[level] and covers and place == handling_code(event.grid_code, level):
        kinds.add(Actor.DISPATCHER)
    higher = LEVEL_ORDER[LEVEL_ORDER.index(level) + 1 :]
    if covers and any(
        role == DISPATCHER_ROLE[h] and place == handling_code(event.grid_code, h) for h in higher
    ):
        kinds.add(Actor.SUPERIOR)
    if role == Role.UNIT_HANDLER and event.unit_id and post.unit_id == event.unit_id:
        kinds.add(Actor.UNIT)
    if role in GRID_ROLES and covers:
        kinds.add(Actor.GRID)
    return kinds


def allowed_actions(post, event) -> list[EventAction]:
    """The actions this post may take on the event now, in table order."""
    kinds = actor_kinds(post, event)
    out = []
    for t in TRANSITIONS:
        if (
            event.state in t.sources
            and kinds & t.actors
            and guard_ok(t, event, kinds)
            and t.action not in out
        ):
            out.append(t.action)
    return out
