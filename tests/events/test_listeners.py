"""Apps above events hear every transition inside its transaction."""

import pytest
from django.db import transaction

from wangge.events import listeners, services
from wangge.events.models import Event

pytestmark = pytest.mark.django_db
MICRO = "510104017001001001"


@pytest.fixture
def heard(monkeypatch):
    calls = []
    monkeypatch.setattr(listeners, "_listeners", [])

    def listener(**kw):
        calls.append(kw)

    listeners.transition_listen(listener)
    listeners.transition_listen(listener)  # registering twice still tells it once
    return calls


def test_listeners_hear_each_transition_with_its_states(post_of, heard):
    e, _ = services.event_report(
        actor=post_of("micro"),
        source="patrol",
        category="0401",
        title="墙体开裂",
        grid_code=MICRO,
    )
    assert heard == []  # a report is not a transition
    services.event_transition(actor=post_of("community"), event=e, action="accept")
    assert [(h["action"], h["frm"], h["to"]) for h in heard][0] == (
        "accept",
        "reported",
        "accepted",
    )
    assert heard[0]["event"].pk == e.pk and heard[0]["at"] is not None


def test_a_failing_listener_aborts_the_transition(post_of, heard, monkeypatch):
    e, _ = services.event_report(
        actor=post_of("micro"),
        source="patrol",
        category="0401",
        title="墙体开裂",
        grid_code=MICRO,
    )

    def broken(**kw):
        raise RuntimeError("listener failed")

    listeners.transition_listen(broken)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.event_transition(actor=post_of("community"), event=e, action="accept")
    assert Event.objects.get(pk=e.pk).state == "reported"
