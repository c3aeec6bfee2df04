"""The transition table, exhaustively: every (state, action, demo role) is allowed or refused
exactly as the expectations below say. The expectations are written out by hand from the issue,
not derived from ``workflow.py``, so a wrong row in the table fails here."""

from datetime import date

import pytest
from django.db import transaction

from wangge.accounts.demo import DEMO_ACCOUNTS
from wangge.accounts.models import Unit
from wangge.accounts.scope import SYSTEM
from wangge.core.errors import ApplicationError
from wangge.events import services
from wangge.events.enums import EventAction, EventState
from wangge.events.models import Event, EventLog
from wangge.events.workflow import TRANSITIONS, allowed_actions

pytestmark = pytest.mark.django_db

MICRO = "510104017001001001"
USERS = [username for username, *_rest in DEMO_ACCOUNTS]  # every demo role
S = EventState
A = EventAction
ACTIVE = {S.ACCEPTED, S.DISPATCHED, S.ACKNOWLEDGED}
# action → (states it may be taken from, demo users who may take it on a community-level event
# of the demo micro-grid, dispatched to the urban-management unit, reported by "micro")
EXPECTED = {
    A.ACCEPT: ({S.REPORTED}, {"community"}),
    A.REJECT: ({S.REPORTED}, {"community"}),
    A.MERGE: ({S.REPORTED, S.ACCEPTED}, {"community"}),
    A.DISPATCH: ({S.ACCEPTED}, {"community"}),
    A.ACKNOWLEDGE: ({S.DISPATCHED}, {"handler"}),
    A.RETURN: ({S.DISPATCHED, S.ACKNOWLEDGED}, {"handler"}),
    A.HANDLE: ({S.ACKNOWLEDGED}, {"handler"}),
    A.VERIFY_PASS: ({S.HANDLED}, {"grid", "micro", "community"}),
    A.VERIFY_FAIL: ({S.HANDLED}, {"grid", "micro", "community"}),
    A.ESCALATE: ({S.REPORTED} | ACTIVE, {"community"}),
    A.REQUEST_EXTENSION: ({S.DISPATCHED, S.ACKNOWLEDGED}, {"handler"}),
    A.APPROVE_EXTENSION: ({S.DISPATCHED, S.ACKNOWLEDGED}, {"community"}),
    A.DENY_EXTENSION: ({S.DISPATCHED, S.ACKNOWLEDGED}, {"community"}),
    A.SUSPEND: (ACTIVE, {"community"}),
    A.RESUME: ({S.SUSPENDED}, {"community"}),
    A.SUPERVISE: (
        {S.REPORTED, S.HANDLED, S.SUSPENDED} | ACTIVE,
        {"street", "district", "commander"},
    ),
    # on the spot: only the grid worker who reported it (the table allows grid workers, the
    # service adds "the reporter")
    A.RESOLVE_ON_SPOT: ({S.REPORTED}, {"micro"}),
    # the community secretary spot-checks events resolved on the spot (all fixtures are)
    A.SPOT_CHECK_PASS: ({S.CLOSED}, {"community"}),
    A.SPOT_CHECK_FAIL: ({S.CLOSED}, {"community"}),
}
DATA = {
    A.REJECT: {"reason": "invalid"},
    A.REQUEST_EXTENSION: {"hours": 8},
    A.SUSPEND: {"review_date": date(2030, 1, 1).isoformat()},
}


def test_every_declared_action_has_expectations():
    declared = {t.action for t in TRANSITIONS}
    assert declared == set(EXPECTED)


@pytest.fixture
def events_in_every_state(post_of):
    """One event per state, in the demo micro-grid, reported by the micro-grid worker."""
    micro = post_of("micro")
    unit = Unit.objects.get(code="JJ-CG")
    target, _ = services.event_report(
        actor=micro, source="patrol", category="9901", title="merge target", grid_code=MICRO
    )
    out = {}
    for state in S.values:
        e, _ = services.event_report(
            actor=micro,
            source="patrol",
            category="9901",  # other: may be resolved on the spot, no photo needed
            title=f"state {state}",
            grid_code=MICRO,
        )
        Event.objects.filter(pk=e.pk).update(
            state=state,
            unit=unit if state in (S.DISPATCHED, S.ACKNOWLEDGED, S.HANDLED) else None,
            extension_hours=8,
            suspended_from=S.ACKNOWLEDGED if state == S.SUSPENDED else "",
            on_spot=state == S.CLOSED,
            dispatched_at=e.reported_at,
        )
        out[state] = Event.objects.get(pk=e.pk)
    return out, target


def test_every_state_action_role_is_allowed_exactly_as_declared(events_in_every_state, post_of):
    events, target = events_in_every_state
    posts = {u: post_of(u) for u in USERS}
    mismatches = []
    for state, event in events.items():
        for action, (sources, users) in EXPECTED.items():
            for user in USERS:
                expected = state in sources and user in users
                data = dict(DATA.get(action, {}))
                if action == A.MERGE:
                    data["target"] = target.pk
                if action == A.DISPATCH:
                    data["unit"] = "JJ-CG"
                ok, status = True, 200
                with transaction.atomic():
                    try:
                        services.event_transition(
                            actor=posts[user],
                            event=event,
                            action=action,
                            note="测试说明",
                            data=data,
                        )
                    except ApplicationError as exc:
                        ok, status = False, exc.status
                    transaction.set_rollback(True)
                if ok != expected:
                    mismatches.append((state, action.value, user, status))
                elif not ok:
                    assert status in (403, 404, 409), (state, action, user, status)
    assert not mismatches, mismatches[:20]


def test_an_illegal_action_answers_409_with_the_state_and_what_is_allowed(post_of):
    e, _ = services.event_report(
        actor=post_of("micro"), source="patrol", category="0303", title="单车堆积", grid_code=MICRO
    )
    with pytest.raises(ApplicationError) as exc:
        services.event_transition(actor=post_of("community"), event=e, action="handle", note="x")
    assert exc.value.status == 409
    assert exc.value.details["state"] == "reported"
    assert set(exc.value.details["allowed"]) >= {"accept", "reject", "escalate"}


def test_every_transition_writes_one_log_row(post_of):
    e, _ = services.event_report(
        actor=post_of("micro"), source="patrol", category="0303", title="单车堆积", grid_code=MICRO
    )
    assert list(EventLog.objects.filter(event=e).values_list("action", flat=True)) == ["report"]
    services.event_transition(actor=post_of("community"), event=e, action="accept")
    e.refresh_from_db()
    actions = list(EventLog.objects.filter(event=e).values_list("action", "post__role"))
    # accepted, then dispatched automatically by the platform (one unit of the kind serves it)
    assert actions == [
        ("report", "micro_grid_worker"),
        ("accept", "community_secretary"),
        ("dispatch", None),
    ]
    assert e.state == S.DISPATCHED and e.unit.code == "JJ-CG" and e.handle_due > e.dispatched_at


def test_system_may_dispatch_escalate_and_verify_what_a_machine_found(post_of):
    e, _ = services.event_report(
        actor=post_of("micro"), source="patrol", category="0303", title="单车堆积", grid_code=MICRO
    )
    with pytest.raises(ApplicationError):
        services.event_transition(actor=SYSTEM, event=e, action="accept")
    services.event_transition(actor=SYSTEM, event=e, action="escalate", note="超期自动上报")
    e.refresh_from_db()
    assert e.level == "street" and e.escalations == 1 and e.state == S.ACCEPTED
    # verification: the platform only closes what a camera or a sensor reported
    for source, may in (("patrol", False), ("camera", True), ("sensor", True)):
        ev, _ = services.event_report(
            actor=post_of("micro") if source == "patrol" else SYSTEM,
            source=source,
            category="0303",
            title="单车堆积",
            grid_code=MICRO,
        )
        Event.objects.filter(pk=ev.pk).update(state=S.HANDLED)
        ev.refresh_from_db()
        assert (EventAction.VERIFY_PASS in allowed_actions(SYSTEM, ev)) is may, source
        if may:
            services.event_transition(actor=SYSTEM, event=ev, action="verify_pass", note="自动核查")
            ev.refresh_from_db()
            assert ev.state == S.CLOSED
        else:
            with pytest.raises(ApplicationError):
                services.event_transition(actor=SYSTEM, event=ev, action="verify_pass")
            # people verify whatever reported it
            assert EventAction.VERIFY_PASS in allowed_actions(post_of("grid"), ev)


def test_spot_checks_only_on_spot_resolutions_once(post_of):
    from wangge.events import selectors

    micro, secretary = post_of("micro"), post_of("community")
    e, _ = services.event_report(
        actor=micro, source="patrol", category="9901", title="楼道杂物", grid_code=MICRO
    )
    services.event_transition(actor=micro, event=e, action="resolve_on_spot")
    sample = selectors.spot_check_sample(actor=secretary, share=1.0)
    assert e.pk in [x.pk for x in sample]
    services.event_transition(actor=secretary, event=e, action="spot_check_fail", note="杂物仍在")
    e.refresh_from_db()
    assert e.state == S.ACCEPTED and e.rework_count == 1 and not e.on_spot
    assert e.pk not in [x.pk for x in selectors.spot_check_sample(actor=secretary, share=1.0)]
    other, _ = services.event_report(
        actor=micro, source="patrol", category="9901", title="普通事件", grid_code=MICRO
    )
    services.event_transition(
        actor=secretary, event=other, action="reject", data={"reason": "invalid"}, note="无效"
    )
    with pytest.raises(
        ApplicationError
    ):  # rejected is not closed; closed by handling is not on the spot
        services.event_transition(actor=secretary, event=other, action="spot_check_pass")
