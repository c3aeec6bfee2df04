"""Scope on every workforce endpoint (issue B): each role sees the workers of its subtree only,
and an object outside the scope gets the same answer as one that does not exist — on the API
and on the pages."""

import json
from collections import defaultdict

import pytest
from django.test import Client

from tests.conftest import demo_post, signed_in
from tests.workforce.conftest import COMMUNITY, GRID, MICRO, primary_of, register
from wangge.accounts.demo import DEMO_ACCOUNTS
from wangge.accounts.enums import Perm, UnitKind
from wangge.accounts.models import Unit
from wangge.accounts.rules import has_perm
from wangge.accounts.scope import scope_for
from wangge.workforce import services
from wangge.workforce.enums import WorkerKind
from wangge.workforce.models import Assignment, DutySession, Worker

pytestmark = pytest.mark.django_db

ROLES = [username for username, *_rest in DEMO_ACCOUNTS]  # every demo role
OUTSIDE_STREET = "510104018"  # another street of the district


@pytest.mark.parametrize("username", ROLES)
def test_each_role_lists_the_workers_of_its_subtree_only(city, username):
    c = signed_in(Client(), username)
    post = demo_post(username)
    r = c.get("/api/workforce/workers", {"page": 1})
    if not has_perm(post, Perm.WORKFORCE_VIEW):
        assert r.status_code == 403
        assert c.get("/workforce/").status_code == 404
        return
    assert r.status_code == 200, r.content
    scope = scope_for(post)
    items = r.json()["items"]
    assert items, username
    for item in items:
        assert scope.covers(item["place_code"]) or any(
            scope.covers(p["code"]) for p in item["places"]
        ), (username, item)
    # the count is that of the rows of the scope, counted in Python
    places = defaultdict(list)
    for w, p in Assignment.objects.filter(ended_at__isnull=True).values_list(
        "worker_id", "place_code"
    ):
        places[w].append(p)
    expected = sum(
        1
        for pk, home, status in Worker.objects.values_list("pk", "place_code", "status")
        if status != "left" and (scope.covers(home) or any(map(scope.covers, places[pk])))
    )
    assert r.json()["count"] == expected
    assert c.get("/workforce/").status_code == 200


@pytest.fixture
def outside(city):
    """Objects of another street: a worker, an assignment, a duty session, a unit."""
    a = (
        Assignment.objects.filter(
            place_code__startswith=OUTSIDE_STREET, ended_at__isnull=True, role="primary"
        )
        .select_related("worker", "post")
        .order_by("id")
        .first()
    )
    session = DutySession.objects.filter(worker=a.worker, ended_at__isnull=True).first()
    if session is None:
        session, _c = services.duty_check_in(actor=a.post, key="outside")
    unit = Unit.objects.create(
        code="OUT-1", name="外区单位", kind=UnitKind.HOUSING, region_code="510105"
    )
    return {"worker": a.worker, "assignment": a, "session": session, "unit": unit}


def _same(a, b, what: str = "") -> None:
    assert a.status_code == b.status_code == 404, (what, a.status_code, b.status_code, a.content)
    if a.get("Content-Type", "").startswith("application/json"):
        assert a.json() == b.json()


def test_outside_answers_as_missing_on_the_api(city, outside):
    c = signed_in(Client(), "community")
    w, a, s, u = outside["worker"], outside["assignment"], outside["session"], outside["unit"]
    missing = 10**9
    j = "application/json"
    pairs = {
        "worker": (f"/api/workforce/workers/{w.pk}", f"/api/workforce/workers/{missing}"),
        "assignments": (
            f"/api/workforce/workers/{w.pk}/assignments",
            f"/api/workforce/workers/{missing}/assignments",
        ),
        "duty": (f"/api/workforce/duty/{s.pk}", f"/api/workforce/duty/{missing}"),
        "trace": (
            f"/api/workforce/duty/{s.pk}/trace.geojson",
            f"/api/workforce/duty/{missing}/trace.geojson",
        ),
        "unit": (f"/api/workforce/units/{u.pk}", f"/api/workforce/units/{missing}"),
    }
    for what, (out, miss) in pairs.items():
        _same(c.get(out), c.get(miss), what)
    # writes
    _same(
        c.patch(f"/api/workforce/workers/{w.pk}", json.dumps({"name": "x"}), j),
        c.patch(f"/api/workforce/workers/{missing}", json.dumps({"name": "x"}), j),
    )
    _same(
        c.post(f"/api/workforce/workers/{w.pk}/status", json.dumps({"status": "left"}), j),
        c.post(f"/api/workforce/workers/{missing}/status", json.dumps({"status": "left"}), j),
    )
    _same(
        c.post(f"/api/workforce/assignments/{a.pk}/end", json.dumps({}), j),
        c.post(f"/api/workforce/assignments/{missing}/end", json.dumps({}), j),
    )
    _same(
        c.post(
            "/api/workforce/assignments", json.dumps({"worker_id": w.pk, "place_code": MICRO}), j
        ),
        c.post(
            "/api/workforce/assignments", json.dumps({"worker_id": missing, "place_code": MICRO}), j
        ),
    )
    # a place outside and a place that does not exist
    mine = register(WorkerKind.MICRO, COMMUNITY)
    out_code, no_code = a.place_code, COMMUNITY + "999"
    r1 = c.post(
        "/api/workforce/assignments",
        json.dumps({"worker_id": mine.pk, "place_code": out_code}),
        j,
    )
    r2 = c.post(
        "/api/workforce/assignments", json.dumps({"worker_id": mine.pk, "place_code": no_code}), j
    )
    assert r1.status_code == r2.status_code == 404
    assert r1.json()["error"]["code"] == r2.json()["error"]["code"] == "not_found"
    for path in (
        "/api/workforce/places/{}/team",
        "/api/workforce/coverage?code={}",
        "/api/workforce/coverage/candidates?code={}",
        "/api/workforce/on-duty?code={}",
    ):
        r1, r2 = c.get(path.format(out_code)), c.get(path.format(no_code))
        assert r1.status_code == r2.status_code == 404, path
        assert r1.json()["error"]["code"] == r2.json()["error"]["code"]
    # a secretary outside the scope
    r = c.post(
        "/api/workforce/party-orgs",
        json.dumps({"grid_code": GRID, "name": "党支部", "secretary_id": w.pk}),
        j,
    )
    r_missing = c.post(
        "/api/workforce/party-orgs",
        json.dumps({"grid_code": GRID, "name": "党支部", "secretary_id": missing}),
        j,
    )
    _same(r, r_missing)
    # another worker's session: not found for the worker too
    g = signed_in(Client(), "grid")
    _same(
        g.post(f"/api/workforce/duty/{s.pk}/check-out", json.dumps({}), j),
        g.post(f"/api/workforce/duty/{missing}/check-out", json.dumps({}), j),
    )
    body = json.dumps(
        {"key": "k", "points": [{"at": "2026-01-01T10:00:00+08:00", "lon": 104.1, "lat": 30.6}]}
    )
    _same(
        g.post(f"/api/workforce/duty/{s.pk}/patrol", body, j),
        g.post(f"/api/workforce/duty/{missing}/patrol", body, j),
    )
    # nothing changed
    w.refresh_from_db()
    assert w.name != "x" and w.status == "active"
    a.refresh_from_db()
    assert a.ended_at is None


def test_outside_answers_as_missing_on_the_pages(city, outside):
    c = signed_in(Client(), "community")
    w, a, s = outside["worker"], outside["assignment"], outside["session"]
    missing = 10**9
    for out, miss in (
        (f"/workforce/workers/{w.pk}/", f"/workforce/workers/{missing}/"),
        (f"/workforce/places/{a.place_code}/", f"/workforce/places/{COMMUNITY}999/"),
        (f"/workforce/duty/{s.pk}/", f"/workforce/duty/{missing}/"),
        (f"/workforce/coverage/?code={a.place_code}", f"/workforce/coverage/?code={COMMUNITY}999"),
        (f"/workforce/units/{outside['unit'].pk}/", f"/workforce/units/{missing}/"),
    ):
        assert c.get(out).status_code == c.get(miss).status_code == 404, out
    for out, miss in (
        (f"/workforce/assignments/{a.pk}/end/", f"/workforce/assignments/{missing}/end/"),
        (f"/workforce/workers/{w.pk}/status/", f"/workforce/workers/{missing}/status/"),
    ):
        assert c.post(out, {"status": "left"}).status_code == 404
        assert c.post(miss, {"status": "left"}).status_code == 404
    r = c.post("/workforce/assign/", {"code": a.place_code, "worker": w.pk})
    assert r.status_code == 404
    a.refresh_from_db()
    assert a.ended_at is None and DutySession.objects.filter(pk=s.pk, ended_at__isnull=True)


def test_helpers_and_liaisons_see_only_their_places(city):
    cadre = demo_post("cadre")
    r = signed_in(Client(), "cadre").get(f"/api/workforce/places/{GRID}/team")
    assert r.status_code == 404  # the cadre works on grid 002, not 001
    assert (
        signed_in(Client(), "cadre")
        .get(f"/api/workforce/places/{cadre.place_code}/team")
        .status_code
        == 200
    )
    # a volunteer checks in but does not read the roster
    assert signed_in(Client(), "volunteer").get("/api/workforce/workers").status_code == 403
    # the primary worker of the demo micro-grid is the demo account
    assert primary_of(MICRO).worker.user.username == "micro"
