"""The demo's points: scored from the demo's facts, with a catalogue, re-runnable."""

from decimal import Decimal as D

import pytest

from tests.conftest import SEED, demo_post
from wangge.demo.models import DemoRun
from wangge.demo.registry import DemoContext
from wangge.events.models import Event
from wangge.points import demo
from wangge.points.models import Balance, Entry, Reward

pytestmark = pytest.mark.django_db


def test_the_demo_micro_grid_worker_has_points_for_her_reports_and_can_redeem(city):
    summary = DemoRun.objects.get(step="points").summary
    assert summary["rules"] == 7 and summary["rewards"] == len(demo.REWARDS)
    micro = demo_post("micro")
    reported = set(
        Event.objects.filter(reporter__user_id=micro.user_id, source="patrol").values_list(
            "id", flat=True
        )
    )
    scored = Entry.objects.filter(user_id=micro.user_id, fact_kind__startswith="event_")
    assert scored.count() == 6 and set(scored.values_list("fact_id", flat=True)) <= reported
    balance = Balance.objects.get(pk=micro.user_id).points
    assert balance == D("13")  # five reports accepted (+2 each), one resolved on the spot (+3)
    assert Reward.objects.filter(is_active=True, stock__gt=0, cost__lte=balance).exists()


def test_the_history_s_own_patrol_reports_are_by_grid_workers_not_the_micro_grid_worker(city):
    """What the report to the events engineer says: the history's patrols are made by the
    grids' full-time workers; the micro-grid worker's reports come from the points step."""
    history = Event.objects.filter(idem_key__startswith=f"demo-{SEED}-", source="patrol")
    roles = set(history.exclude(reporter=None).values_list("reporter__role", flat=True))
    assert roles == {"grid_worker"}
    micro = demo_post("micro")
    assert not history.filter(reporter__user_id=micro.user_id).exists()


def test_running_the_step_again_changes_nothing(city):
    before = (Entry.objects.count(), Event.objects.count(), Reward.objects.count())
    again = demo.points(DemoContext(seed=SEED, verbose=False))
    assert again["written"] == 0 and again["rules"] == 0 and again["rewards"] == 0
    assert (Entry.objects.count(), Event.objects.count(), Reward.objects.count()) == before
