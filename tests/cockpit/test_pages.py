"""The cockpit pages and API: what each level sees, the figures against the raw events, the
period's validation, scope (out of scope is 404), the big screen."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.cockpit.conftest import raw_reported
from wangge.cockpit import selectors, services
from wangge.events.enums import OPEN_STATES
from wangge.events.models import Event
from wangge.regions import codes as C

pytestmark = pytest.mark.django_db

JINJIANG = "510104"
STREET = "510104017"
COMMUNITY = "510104017001"
GRID = "510104017001001"
MICRO = "510104017001001001"


@pytest.mark.parametrize("code", ["5101", JINJIANG, STREET, COMMUNITY, GRID, MICRO])
def test_summary_matches_the_raw_events_at_every_level(post_of, code):
    commander = post_of("commander")
    for key in ("today", "7d", "30d", "90d"):
        period = selectors.period_parse(key)
        s = selectors.cockpit_summary(actor=commander, code=code, period=period)
        assert s["kpis"]["reported"]["value"] == raw_reported(code, period), (code, key)
    opened = Event.objects.filter(state__in=OPEN_STATES, **C.prefix_filter(code, "grid_code"))
    s = selectors.cockpit_summary(actor=commander, code=code, period=selectors.period_parse())
    assert s["kpis"]["open"]["value"] == opened.count()
    assert s["kpis"]["overdue"]["value"] == opened.filter(overdue=True).count()


def test_children_add_up_to_the_node(post_of):
    commander = post_of("commander")
    period = selectors.period_parse("90d")
    for code in ("5101", JINJIANG, STREET, COMMUNITY, GRID):
        node = selectors.cockpit_summary(actor=commander, code=code, period=period)["kpis"]
        rows = selectors.cockpit_children(actor=commander, code=code, period=period)
        assert rows, code
        # events sit in grids; an event of a general grid has no micro-grid child
        total = sum(r["reported"] for r in rows)
        if len(code) < 15:
            assert total == node["reported"]["value"], code
        else:
            assert total <= node["reported"]["value"]
        assert sum(r["open"] for r in rows) <= node["open"]["value"]


def test_a_new_report_shows_at_once_and_the_cache_follows(post_of):
    commander = post_of("commander")
    period = selectors.period_parse("today")
    before = selectors.cockpit_summary(actor=commander, code=COMMUNITY, period=period)
    from wangge.events import services as event_services

    event_services.event_report(
        actor=post_of("micro"),
        source="patrol",
        category="9901",
        title="新的",
        grid_code=GRID + "001",
    )
    after = selectors.cockpit_summary(actor=commander, code=COMMUNITY, period=period)
    assert after["kpis"]["reported"]["value"] == before["kpis"]["reported"]["value"] + 1
    assert after["kpis"]["open"]["value"] == before["kpis"]["open"]["value"] + 1


def test_scope_and_permissions(post_of):
    from wangge.core.errors import NotFound, PermissionDenied

    street = post_of("street")
    with pytest.raises(NotFound):
        selectors.cockpit_summary(actor=street, code="510105", period=selectors.period_parse())
    assert selectors.cockpit_root(actor=street) == STREET
    with pytest.raises(PermissionDenied):
        selectors.cockpit_root(actor=post_of("auditadmin"))


def test_period_validation():
    from wangge.core.errors import ApplicationError

    today = selectors.today()
    p = selectors.period_parse("custom", (today - timedelta(days=9)).isoformat(), today.isoformat())
    assert p.days == 10 and p.previous().end == p.start - timedelta(days=1)
    for bad in [
        ("weekly", "", ""),
        ("custom", "", ""),
        ("custom", "2026-13-01", "2026-12-01"),
        ("custom", today.isoformat(), (today - timedelta(days=1)).isoformat()),
        ("custom", (today - timedelta(days=400)).isoformat(), today.isoformat()),
        ("custom", today.isoformat(), (today + timedelta(days=1)).isoformat()),
    ]:
        with pytest.raises(ApplicationError):
            selectors.period_parse(*bad)


def test_pages_render_for_each_level(client_as):
    for user, code in [
        ("commander", "5101"),
        ("district", JINJIANG),
        ("street", STREET),
        ("community", COMMUNITY),
        ("grid", None),
    ]:
        c = client_as(user)
        r = c.get("/cockpit/", HTTP_ACCEPT_LANGUAGE="en")
        assert r.status_code == 302
        r = c.get(r["Location"], HTTP_ACCEPT_LANGUAGE="en")
        assert r.status_code == 200, user
        body = r.content.decode()
        assert "On-time closure rate" in body and "cockpit.js" in body
        if code:
            assert f'data-code="{code}"' in body
        r = c.get(r.request["PATH_INFO"] + "?screen=1", HTTP_ACCEPT_LANGUAGE="en")
        assert r.status_code == 200 and "screen-kpis" in r.content.decode()
    c = client_as("street")
    assert c.get("/cockpit/510105/").status_code == 404
    assert c.get(f"/cockpit/{STREET}/?period=custom&start=x").status_code == 200  # message, 30d


def test_api_endpoints(client_as):
    c = client_as("district")
    base = f"/api/cockpit/{JINJIANG}/"
    for path in (
        "summary",
        "children",
        "trend",
        "mix",
        "people",
        "events",
        "markers",
        "feed",
        "events?kind=supervised",
        "summary?period=7d",
    ):
        r = c.get(base + path)
        assert r.status_code == 200, (path, r.content[:300])
    assert c.get(base + "summary?period=custom&start=2020-01-01&end=2019-01-01").status_code == 422
    assert c.get("/api/cockpit/510105/summary").status_code == 404
    feed = c.get(base + "feed").json()
    assert feed["version"] >= 1
    assert feed["events"] and feed["last_id"] >= max(e["id"] for e in feed["events"])
    assert c.get(base + f"feed?after={feed['last_id']}").json()["events"] == []
    services.rollups_drain()


def test_place_counts_are_written_up_the_tree():
    from wangge.people.models import House, Resident
    from wangge.people.services import place_counts_refresh
    from wangge.regions.models import Grid, Region

    place_counts_refresh()
    living = Resident.objects.filter(moved_out__isnull=True)
    city = Region.objects.get(code="5101")
    assert city.residents == living.count() > 0
    assert city.households == House.objects.count()
    community = Region.objects.get(code=COMMUNITY)
    assert community.residents == living.filter(grid_code__startswith=COMMUNITY).count()
    grid = Grid.objects.get(code=GRID)
    assert grid.residents == living.filter(grid_code__startswith=GRID).count()
