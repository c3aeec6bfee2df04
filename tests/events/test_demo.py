"""The demo's event history (built with the session's demo city) and its handlers."""

import os
from collections import Counter
from datetime import datetime

import pytest
from django.db.models import Count, Q
from django.utils import timezone

from tests.conftest import SEED
from wangge.core import workcal
from wangge.core.models import AuditEntry
from wangge.demo.models import DemoRun
from wangge.demo.registry import DemoContext
from wangge.events import demo, services
from wangge.events.enums import FINAL_STATES, EventAction
from wangge.events.models import Event, EventLog
from wangge.events.workflow import PREVIOUS, SAME, transition_for

pytestmark = pytest.mark.django_db


def _history():
    """The events of the demo history: the generator's keys, and the hotline's work orders."""
    return Event.objects.filter(
        Q(idem_key__startswith=f"demo-{SEED}-")
        | Q(idem_scope="hotline", idem_key__startswith="12345-")
    )


def test_history_has_every_outcome_and_no_refusals(city):
    summary = DemoRun.objects.get(step="event_history").summary
    assert summary["errors"] == 0
    assert summary["events"] >= demo.MIN_EVENTS * 0.9  # the last day's later hours come later
    for outcome in (
        "closed",
        "resolved on the spot",
        "ever overdue",
        "escalated",
        "reworked",
        "supervised",
        "rejected",
        "merged",
        "still open",
    ):
        assert summary[outcome] > 0, outcome
    assert summary["closed"] > summary["events"] / 2
    assert summary["closed on time %"] > 50
    events = _history()
    assert events.count() == summary["events"]
    sources = Counter(events.values_list("source", flat=True))
    assert sources.most_common(1)[0][0] == "patrol"
    assert {"hotline", "resident"} <= set(sources)


def test_every_event_followed_the_workflow_table_in_time_order(city):
    """Replaying each event's log: every row starts where the one before ended, takes an action
    the table allows from that state (or a row the platform writes), never goes back in time,
    and ends in the state the event is in."""
    ids = list(_history().values_list("id", flat=True))
    logs: dict[int, list] = {}
    for row in EventLog.objects.filter(event_id__in=ids).order_by("at", "id"):
        logs.setdefault(row.event_id, []).append(row)
    platform = {EventAction.WARN, EventAction.OVERDUE}
    for e in Event.objects.filter(pk__in=ids):
        rows = logs[e.pk]
        assert rows[0].action == EventAction.REPORT and rows[0].at == e.reported_at
        state, before = rows[0].to_state, rows[0].at
        suspended_from = ""
        for row in rows[1:]:
            assert row.at >= before and row.from_state == state, (e.pk, row)
            if row.action in platform:
                assert row.to_state == state and row.post_id is None
                continue
            t = transition_for(state, row.action)
            assert t is not None, (e.pk, state, row.action)
            if t.target == SAME:
                assert row.to_state == state
            elif t.target == PREVIOUS:
                assert row.to_state == suspended_from
            elif row.action != EventAction.ACCEPT:  # acceptance may dispatch at once
                assert row.to_state == t.target
            if row.action == EventAction.SUSPEND:
                suspended_from = state
            state, before = row.to_state, row.at
        assert state == e.state
        assert before <= timezone.now()


def test_closed_on_time_agrees_with_the_deadlines(city):
    for e in _history().filter(state="closed"):
        if e.on_spot:
            assert e.closed_on_time
        else:
            assert e.closed_on_time == (e.closed_at <= e.handle_due)


def test_overdue_events_were_flagged_by_the_sweep_and_some_escalated(city):
    overdue = EventLog.objects.filter(event__in=_history(), action=EventAction.OVERDUE)
    assert overdue.exists() and not overdue.filter(post__isnull=False).exists()
    for row in overdue.select_related("event"):
        assert row.at > datetime.fromisoformat(row.data["handle_due"])
    swept = EventLog.objects.filter(
        event__in=_history(), action=EventAction.ESCALATE, post__isnull=True
    )
    by_hand = EventLog.objects.filter(
        event__in=_history(), action=EventAction.ESCALATE, post__isnull=False
    )
    assert swept.exists() and by_hand.exists()
    for row in swept.select_related("event__category"):
        assert row.event.category.auto_escalate


def _plans(total=4_000):
    ctx = DemoContext(seed=SEED, verbose=False)
    return demo._plans(ctx, total, timezone.localdate())


def test_the_mixes_follow_the_declared_shares(city):
    plans = _plans()
    n = len(plans)
    by_source = Counter(p.source for p in plans)
    assert by_source.most_common(1)[0][0] == "patrol"
    assert 0.12 < by_source["hotline"] / n < 0.26
    # the demo district's outcomes in the declared shares (the others': see below)
    home = [p for p in plans if p.grid_code.startswith(demo.DISTRICT)]
    assert len(home) == 4_000
    n = len(home)
    outcomes = Counter(p.outcome for p in home)
    for outcome, share in demo.OUTCOMES.items():
        if outcome not in ("duplicate", "reject"):  # a duplicate without an original: reject
            assert abs(outcomes[outcome] - share * n) <= 1, outcome
    assert outcomes["duplicate"] + outcomes["reject"] == round(
        (demo.OUTCOMES["duplicate"] + demo.OUTCOMES["reject"]) * n
    )
    # patrols by day: daytime; hotline calls until late; fewer patrols on rest days
    patrol_hours = [timezone.localtime(p.at).hour for p in plans if p.source == "patrol"]
    assert sum(8 <= h < 18 for h in patrol_hours) / len(patrol_hours) > 0.8
    days = {timezone.localtime(p.at).date() for p in plans}
    work = [d for d in days if workcal.is_workday(d)]
    rest = [d for d in days if not workcal.is_workday(d)]
    per_day = Counter(timezone.localtime(p.at).date() for p in plans if p.source == "patrol")
    assert sum(per_day[d] for d in rest) / len(rest) < 0.6 * sum(per_day[d] for d in work) / len(
        work
    )
    # sensors report gas, alarms of the elderly …; on-the-spot resolutions are patrols
    assert {p.category for p in plans if p.source == "sensor"} <= set(
        demo.CATEGORIES_BY_SOURCE["sensor"]
    )
    assert all(p.source == "patrol" for p in plans if p.outcome == "on_spot")
    dup = [p for p in plans if p.outcome == "duplicate"]
    assert all(p.category == plans[p.base].category and p.at >= plans[p.base].at for p in dup)
    assert all(p.grid_code == plans[p.base].grid_code for p in dup)
    # the same seed and day give the same plan (re-runs find their keys)
    again = _plans()
    assert [(p.key, p.title, p.at) for p in again] == [(p.key, p.title, p.at) for p in plans]


def test_running_the_step_again_duplicates_nothing(city):
    events = _history().count()
    logs = set(
        EventLog.objects.filter(event__in=_history()).values_list("event_id", "action", "at")
    )
    until = datetime.fromisoformat(DemoRun.objects.get(step="event_history").summary["until"])
    summary = demo.event_history(DemoContext(seed=SEED, verbose=False))
    assert summary["errors"] == 0
    assert _history().count() >= events  # the same; more only if later hours came meanwhile
    assert not _history().values("idem_key").annotate(n=Count("id")).filter(n__gt=1).exists()
    after = set(
        EventLog.objects.filter(event__in=_history()).values_list("event_id", "action", "at")
    )
    assert logs <= after
    assert all(at > until for _e, _a, at in after - logs)  # only what has come due since


def test_the_units_handle_it_walkthrough(post_of):
    """The issue's done-when: a cracked wall reported by the grid worker, accepted by the
    community, dispatched to 住建 automatically, handled by its handler (demo account
    handler-zj) with a photo, verified by the grid worker, closed; all on the timeline."""
    micro, community, zj = post_of("micro"), post_of("community"), post_of("handler-zj")
    assert zj is not None and zj.unit.code == "JJ-ZJ"
    e, _ = services.event_report(
        actor=micro,
        source="patrol",
        category="0401",
        title="房屋外墙开裂",
        grid_code="510104017001001001",
    )
    e = services.event_transition(actor=community, event=e, action="accept")
    assert e.state == "dispatched" and e.unit.code == "JJ-ZJ"
    e = services.event_transition(actor=zj, event=e, action="acknowledge")
    e = services.event_transition(
        actor=zj, event=e, action="handle", note="已修补裂缝", photos=[demo._after_photos(1)[0]]
    )
    e = services.event_transition(actor=post_of("grid"), event=e, action="verify_pass")
    assert e.state == "closed" and e.closed_on_time
    assert [r.action for r in e.log.all()] == [
        "report",
        "accept",
        "dispatch",
        "acknowledge",
        "handle",
        "verify_pass",
    ]
    audited = AuditEntry.objects.filter(object_type="events.event", object_id=str(e.pk))
    assert audited.count() == 6 and audited.filter(username="handler-zj").count() == 2


def test_handler_accounts_go_to_the_accounts_file(city, tmp_path, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    path = tmp_path / "demo-accounts.txt"
    path.write_text("# user\tpassword\nhandler\tsecret\tUnit handler\tJJ-CG\t\n")
    ctx = DemoContext(seed=SEED, verbose=False, data_dir=tmp_path)
    assert demo._handlers(ctx) == len(demo.HANDLERS)
    demo._handlers(ctx)  # twice: the lines are replaced, not added again
    lines = path.read_text().splitlines()
    users = [line.split("\t")[0] for line in lines[1:]]
    assert users == ["handler"] + [h[0] for h in demo.HANDLERS]
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    from django.contrib.auth import authenticate

    username, password = lines[2].split("\t")[:2]
    assert authenticate(username=username, password=password) is not None


def test_open_history_events_are_not_in_a_final_state(city):
    summary = DemoRun.objects.get(step="event_history").summary
    assert _history().exclude(state__in=FINAL_STATES).count() == summary["still open"]


def test_the_other_districts_get_a_share_of_the_history(city):
    from shapely.geometry import Point

    from wangge.regions.geometry import from_geojson_text
    from wangge.regions.models import Grid
    from wangge.regions.synth import districts

    plans = _plans(total=2_000)
    elsewhere = [p for p in plans if not p.grid_code.startswith(demo.DISTRICT)]
    assert abs(len(elsewhere) / len(plans) - demo.ELSEWHERE_SHARE) < 0.01
    by_district = Counter(p.grid_code[:6] for p in elsewhere)
    assert set(by_district) == {d.code for d in districts()} - {demo.DISTRICT}
    # spread by population: the most populous district gets the most
    population = {d.code: d.population for d in districts()}
    biggest = max(by_district, key=population.get)
    assert by_district[biggest] == max(by_district.values())
    # at a random point inside the grid (one a community: no buildings to stand by)
    grids = dict(
        Grid.objects.filter(code__in={p.grid_code for p in elsewhere[:40]}).values_list(
            "code", "geometry"
        )
    )
    for p in elsewhere[:40]:
        assert from_geojson_text(grids[p.grid_code]).contains(Point(p.lon, p.lat))
        assert p.dlon == p.dlat == 0 and p.address
    # every outcome (but on the spot: no grid workers there), each district's own on-time
    # propensity
    assert {p.outcome for p in elsewhere} == set(demo.OUTCOMES) - {"on_spot"}
    for code in by_district:
        outcomes = Counter(p.outcome for p in elsewhere if p.grid_code[:6] == code)
        assert outcomes["stuck"] >= 1
        handled = outcomes["on_time"] + outcomes["late"]
        expected = demo.on_time_propensity(DemoContext(seed=SEED), code)
        # largest remainders, and one report made stuck where the shares give none
        assert abs(outcomes["on_time"] - handled * expected) <= 2, code


def test_few_reports_still_reach_every_district(city):
    plans = _plans(total=demo.MIN_EVENTS)
    home = [p for p in plans if p.grid_code.startswith(demo.DISTRICT)]
    assert len(home) == demo.MIN_EVENTS
    by_district = Counter(p.grid_code[:6] for p in plans)
    assert len(by_district) == 20 and min(by_district.values()) >= demo.MIN_PER_DISTRICT


def test_every_district_has_events_open_and_overdue_ones_and_its_own_on_time_rate(city):
    from wangge.regions.synth import districts

    summary = DemoRun.objects.get(step="event_history").summary
    assert summary["districts with events"] == 20
    rates = []
    for d in districts():
        events = _history().filter(grid_code__startswith=d.code)
        assert events.exists(), d.name
        assert events.exclude(state__in=FINAL_STATES).exists(), d.name
        assert events.filter(overdue=True).exists(), d.name
        closed = events.filter(state="closed")
        if closed.exists():
            rates.append(closed.filter(closed_on_time=True).count() / closed.count())
    assert max(rates) - min(rates) >= 0.5  # a choropleth shows a range
    # propensities drawn per district from the seed, in the declared range
    ctx = DemoContext(seed=SEED)
    drawn = [demo.on_time_propensity(ctx, d.code) for d in districts() if d.code != demo.DISTRICT]
    assert all(demo.ON_TIME_RANGE[0] <= p <= demo.ON_TIME_RANGE[1] for p in drawn)
    assert max(drawn) - min(drawn) > 0.2


def test_other_districts_events_are_handled_by_their_own_unit(city):
    from wangge.accounts.models import Unit

    for e in _history().exclude(grid_code__startswith=demo.DISTRICT).filter(unit__isnull=False):
        assert e.unit.code == demo.fallback_unit_code(e.grid_code[:6])
        assert e.unit.region_code == e.grid_code[:6]
    unit = Unit.objects.get(code=demo.fallback_unit_code("510105"))
    assert unit.name == "青羊区社会治理综合服务中心"


def test_no_grid_worker_posts_where_the_workforce_is_not_built(city):
    """The other districts have no workers: their patrols' reports come in through the system
    (no one earns points there) and the community verifies the handling."""
    from wangge.accounts.models import Post

    workers = Post.objects.filter(role__in=["grid_worker", "micro_grid_worker"], is_active=True)
    assert not workers.exclude(place_code__startswith=demo.DISTRICT).exists()
    elsewhere = _history().exclude(grid_code__startswith=demo.DISTRICT)
    assert elsewhere.filter(source="patrol").exists()
    assert not elsewhere.filter(reporter__isnull=False, source="patrol").exists()
    checks = EventLog.objects.filter(event__in=elsewhere, action="verify_pass")
    assert checks.exists()
    assert set(checks.values_list("post__role", flat=True)) <= {
        "community_secretary",
        "street_dispatcher",
        "district_dispatcher",
    }
