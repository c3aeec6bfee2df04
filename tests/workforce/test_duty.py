"""Duty: check-in and check-out with the phone's position (far from the place: allowed and
flagged), idempotent check-ins and patrol batches (a retried batch never duplicates points),
and the count of workers on duty now."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.conftest import demo_post, signed_in
from tests.workforce.conftest import COMMUNITY, GRID
from wangge.core.errors import Conflict, NotFound, ValidationError
from wangge.regions.geometry import from_geojson_text
from wangge.regions.models import Grid
from wangge.workforce import selectors, services
from wangge.workforce.models import DutySession, PatrolBatch, PatrolPoint

pytestmark = pytest.mark.django_db


def _inside(code: str) -> tuple[float, float]:
    g = Grid.objects.get(code=code)
    return g.centroid_lon, g.centroid_lat


def _east_of(code: str, metres: float) -> tuple[float, float]:
    """A point ``metres`` east of the grid's easternmost point, at that point's latitude."""
    import math

    geom = from_geojson_text(Grid.objects.get(code=code).geometry)
    xs = [x for x, _y in geom.exterior.coords]
    ys = [y for _x, y in geom.exterior.coords]
    i = max(range(len(xs)), key=lambda k: xs[k])
    km_per_deg = 111.32 * math.cos(math.radians(ys[i]))
    return xs[i] + metres / 1000 / km_per_deg, ys[i]


def test_check_in_inside_is_not_flagged_and_far_is(wf):
    grid = demo_post("grid")
    lon, lat = _inside(GRID)
    s, created = services.duty_check_in(actor=grid, lon=lon, lat=lat, accuracy=12, key="a")
    assert created and s.place_code == GRID and s.start_distance_m == 0 and not s.start_far
    assert s.post_id == grid.pk
    # check out 1 km east of the grid: allowed, flagged
    lon, lat = _east_of(GRID, 1000)
    s = services.duty_check_out(actor=grid, session=s, lon=lon, lat=lat)
    assert s.ended_at is not None and s.end_far
    assert 950 <= s.end_distance_m <= 1050
    # check in 1 km away: allowed (a session starts) and flagged
    far, created = services.duty_check_in(actor=grid, lon=lon, lat=lat, key="b")
    assert created and far.start_far and far.ended_at is None
    services.duty_check_out(actor=grid, session=far)
    # 100 m away is within the allowance (300 m)
    lon, lat = _east_of(GRID, 100)
    near, _c = services.duty_check_in(actor=grid, lon=lon, lat=lat, key="c")
    assert 80 <= near.start_distance_m <= 120 and not near.start_far


def test_the_allowance_is_a_setting(wf, settings):
    settings.WANGGE_DUTY_FAR_METERS = 2000
    lon, lat = _east_of(GRID, 1000)
    s, _c = services.duty_check_in(actor=demo_post("grid"), lon=lon, lat=lat, key="k")
    assert not s.start_far and s.start_distance_m > 900


def test_no_position_is_recorded_as_none(wf):
    s, _c = services.duty_check_in(actor=demo_post("grid"), key="k")
    assert s.start_distance_m is None and not s.start_far and s.start_lon is None
    with pytest.raises(ValidationError):  # half a position
        services.duty_check_in(actor=demo_post("micro"), lon=104.1, key="m")
    with pytest.raises(ValidationError):  # far outside the city
        services.duty_check_in(actor=demo_post("micro"), lon=116.4, lat=39.9, key="m")


def test_check_in_is_idempotent_and_one_at_a_time(wf):
    grid = demo_post("grid")
    first, created = services.duty_check_in(actor=grid, key="same")
    again, created_again = services.duty_check_in(actor=grid, key="same")
    assert created and not created_again and again.pk == first.pk
    with pytest.raises(Conflict) as exc:  # on duty already: check out first
        services.duty_check_in(actor=grid, key="other")
    assert exc.value.details == {"session": first.pk}
    out = services.duty_check_out(actor=grid, session=first)
    assert services.duty_check_out(actor=grid, session=first).ended_at == out.ended_at
    assert DutySession.objects.filter(worker__user=grid.user, key="same").count() == 1


def test_only_workers_of_the_place_check_in(wf):
    with pytest.raises(NotFound):  # the security of others' sessions: not found
        services.duty_check_out(
            actor=demo_post("micro"),
            session=services.duty_check_in(actor=demo_post("grid"), key="x")[0],
        )
    from wangge.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):  # a secretary has no duty of this kind
        services.duty_check_in(actor=demo_post("community"))


def _points(start, n: int, code: str = GRID) -> list[dict]:
    lon, lat = _inside(code)
    return [
        {"at": start + timedelta(minutes=i), "lon": lon + i * 1e-5, "lat": lat, "accuracy": 8}
        for i in range(n)
    ]


def test_a_retried_patrol_batch_is_written_once(wf):
    grid = demo_post("grid")
    s, _c = services.duty_check_in(actor=grid, key="p")
    pts = _points(s.started_at, 5)
    b1, created1 = services.patrol_record(actor=grid, session=s, key="batch-1", points=pts)
    b2, created2 = services.patrol_record(actor=grid, session=s, key="batch-1", points=pts)
    assert created1 and not created2 and b1.pk == b2.pk
    assert PatrolPoint.objects.filter(session=s).count() == 5
    s.refresh_from_db()
    assert s.points == 5
    # the same key with other points is refused; a new key is a new batch
    with pytest.raises(Conflict):
        services.patrol_record(actor=grid, session=s, key="batch-1", points=pts[:2])
    services.patrol_record(
        actor=grid, session=s, key="batch-2", points=_points(s.started_at + timedelta(minutes=5), 3)
    )
    s.refresh_from_db()
    assert s.points == 8 and PatrolBatch.objects.filter(session=s).count() == 2
    # points outside the session's time are not kept, but counted
    b, _c = services.patrol_record(
        actor=grid, session=s, key="batch-3", points=_points(s.started_at - timedelta(days=1), 2)
    )
    assert b.points == 0 and b.ignored == 2
    # after check-out, points recorded on duty still arrive (an offline phone)
    services.duty_check_out(actor=grid, session=s)
    b, _c = services.patrol_record(
        actor=grid, session=s, key="batch-4", points=_points(s.started_at + timedelta(minutes=1), 1)
    )
    assert b.points == 1


def test_patrol_retry_through_the_api(wf):
    c = signed_in(Client(), "grid")
    r = c.post(
        "/api/workforce/duty/check-in",
        json.dumps({"key": "phone-1", **dict(zip(("lon", "lat"), _inside(GRID), strict=True))}),
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    sid = r.json()["id"]
    start = timezone.now()
    body = json.dumps(
        {
            "key": "5b0c1f2e-retry",
            "points": [
                {
                    "at": (start + timedelta(seconds=30 * i)).isoformat(),
                    "lon": p["lon"],
                    "lat": p["lat"],
                    "accuracy": 10,
                }
                for i, p in enumerate(_points(start, 4))
            ],
        }
    )
    url = f"/api/workforce/duty/{sid}/patrol"
    first = c.post(url, body, content_type="application/json")
    second = c.post(url, body, content_type="application/json")  # the answer was lost: again
    assert first.status_code == 201 and second.status_code == 200, second.content
    assert first.json()["batch_id"] == second.json()["batch_id"]
    assert second.json()["session_points"] == 4
    assert PatrolPoint.objects.filter(session_id=sid).count() == 4
    trace = c.get(f"/api/workforce/duty/{sid}/trace.geojson").json()
    route = [f for f in trace["features"] if f["properties"]["role"] == "route"]
    assert len(route) == 1 and len(route[0]["geometry"]["coordinates"]) == 4
    # a retried check-in is the same session
    r = c.post(
        "/api/workforce/duty/check-in",
        json.dumps({"key": "phone-1"}),
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["id"] == sid
    # another worker cannot add to it, nor see it
    other = signed_in(Client(), "micro")
    assert other.post(url, body, content_type="application/json").status_code == 404
    assert other.get(f"/api/workforce/duty/{sid}").status_code == 404


def test_workers_on_duty_now(wf, settings):
    secretary = demo_post("community")
    before = selectors.on_duty_count(actor=secretary, code=COMMUNITY)
    grid_before = selectors.on_duty_count(actor=secretary, code=GRID)
    s, _c = services.duty_check_in(actor=demo_post("grid"), key="n")
    assert selectors.on_duty_count(actor=secretary, code=COMMUNITY) == before + 1
    assert selectors.on_duty_count(actor=secretary, code=GRID) == grid_before + 1
    # a session left open past the limit no longer counts
    DutySession.objects.filter(pk=s.pk).update(
        started_at=timezone.now() - timedelta(hours=settings.WANGGE_DUTY_MAX_HOURS + 1)
    )
    assert selectors.on_duty_count(actor=secretary, code=COMMUNITY) == before
    DutySession.objects.filter(pk=s.pk).update(started_at=timezone.now())
    services.duty_check_out(actor=demo_post("grid"), session=s)
    assert selectors.on_duty_count(actor=secretary, code=COMMUNITY) == before
    # the API gives the same figure, and per child
    r = signed_in(Client(), "community").get("/api/workforce/on-duty", {"code": COMMUNITY})
    assert r.json()["on_duty"] == before
    assert sum(r.json()["children"].values()) == before
