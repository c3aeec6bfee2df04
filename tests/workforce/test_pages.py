"""The workforce pages as each role meets them, and the REST API's write paths."""

import json

import pytest
from django.test import Client

from tests.conftest import demo_post, signed_in
from tests.workforce.conftest import COMMUNITY, GRID, MICRO, phone, primary_of, register
from wangge.accounts.enums import Perm
from wangge.accounts.rules import has_perm
from wangge.regions.models import Grid
from wangge.workforce.enums import WorkerKind
from wangge.workforce.models import DutySession, Handover

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "username",
    [
        "commander",
        "district",
        "street",
        "community",
        "grid",
        "micro",
        "cadre",
        "volunteer",
        "handler",
        "sysadmin",
        "auditadmin",
        "resident",
    ],
)
def test_pages_open_for_the_posts_that_may_see_them(city, username):
    c = signed_in(Client(), username)
    post = demo_post(username)
    view = has_perm(post, Perm.WORKFORCE_VIEW)
    duty = has_perm(post, Perm.DUTY_CHECKIN)
    assert c.get("/workforce/").status_code == (200 if view else 404)
    assert c.get("/workforce/coverage/").status_code == (200 if view else 404)
    assert c.get("/workforce/m/").status_code == (200 if duty else 404)
    units = c.get("/workforce/units/")
    assert units.status_code in ((200,) if view or username == "handler" else (404,))
    menu = c.get("/regions/" + (post.place_code or "5101") + "/") if post.place_code else None
    if menu is not None and menu.status_code == 200:
        assert ('/workforce/"' in menu.content.decode()) == view
        assert ('/workforce/m/"' in menu.content.decode()) == duty


def test_the_phone_page_checks_in_and_out(city):
    c = signed_in(Client(), "grid")
    page = c.get("/workforce/m/")
    assert page.status_code == 200 and b'name="action" value="check_in"' in page.content
    g = Grid.objects.get(code=GRID)
    r = c.post(
        "/workforce/m/",
        {
            "action": "check_in",
            "key": "pk1",
            "lon": f"{g.max_lon + 0.02:.6f}",
            "lat": g.centroid_lat,
        },
        follow=True,
    )
    msgs = [(m.level_tag, str(m)) for m in r.context["messages"]]
    assert [tag for tag, _m in msgs] == ["warning"], msgs  # checked in, and marked as far
    s = DutySession.objects.get(worker__user__username="grid", key="pk1")
    assert s.start_far and s.ended_at is None
    on = r.content.decode()
    assert 'value="check_out"' in on and "data-patrol-url" in on and f"/duty/{s.pk}/patrol" in on
    # a double tap: the same key, no second session
    c.post("/workforce/m/", {"action": "check_in", "key": "pk1"})
    assert DutySession.objects.filter(worker__user__username="grid", key="pk1").count() == 1
    r = c.post(
        "/workforce/m/",
        {"action": "check_out", "session": s.pk, "lon": g.centroid_lon, "lat": g.centroid_lat},
        follow=True,
    )
    s.refresh_from_db()
    assert s.ended_at is not None and not s.end_far
    assert c.get(f"/workforce/duty/{s.pk}/").status_code == 200
    # the secretary sees the session on the map, the micro-grid worker does not
    assert signed_in(Client(), "community").get(f"/workforce/duty/{s.pk}/").status_code == 200
    assert signed_in(Client(), "micro").get(f"/workforce/duty/{s.pk}/").status_code == 404


def test_a_post_without_a_roster_entry_is_told_so(city):
    from django.contrib.auth import get_user_model

    from wangge.accounts.scope import SYSTEM
    from wangge.accounts.services import post_grant

    user = get_user_model().objects.create(username="not-rostered")
    post_grant(actor=SYSTEM, user=user, role="micro_grid_worker", place_code=MICRO)
    c = signed_in(Client(), "not-rostered")
    r = c.get("/workforce/m/")
    assert r.status_code == 200 and r.context["me"] is None
    r = c.post("/workforce/m/", {"action": "check_in", "key": "x"}, follow=True)
    assert [m.level_tag for m in r.context["messages"]] == ["error"]  # not on the roster
    assert not DutySession.objects.filter(key="x").exists()


def test_the_profile_hands_a_place_over(city):
    c = signed_in(Client(), "community")
    leaving = primary_of(MICRO)
    successor = register(WorkerKind.MICRO, COMMUNITY, name="接班人")
    page = c.get(f"/workforce/workers/{leaving.worker_id}/")
    html = page.content.decode()
    assert page.status_code == 200 and f'value="{successor.pk}"' in html
    r = c.post(
        f"/workforce/assignments/{leaving.pk}/end/",
        {
            "successor": successor.pk,
            "reason": "调岗",
            "next": f"/workforce/workers/{leaving.worker_id}/",
        },
        follow=True,
    )
    assert r.status_code == 200
    h = Handover.objects.get(assignment=leaving)
    assert h.to_worker_id == successor.pk and primary_of(MICRO).worker_id == successor.pk
    assert "接班人" in r.content.decode()  # in the history: handed to
    # the team page and the grid's team show the successor
    assert "接班人" in c.get(f"/workforce/places/{GRID}/").content.decode()
    # a status change from the profile
    r = c.post(f"/workforce/workers/{successor.pk}/status/", {"status": "on_leave"}, follow=True)
    successor.refresh_from_db()
    assert successor.status == "on_leave"
    # the grid worker sees the team but has no forms to change it
    g = signed_in(Client(), "grid").get(f"/workforce/workers/{successor.pk}/")
    assert g.status_code == 200 and b"/end/" not in g.content
    assert signed_in(Client(), "grid").post(
        f"/workforce/workers/{successor.pk}/status/", {"status": "active"}
    ).status_code in (302, 404)
    successor.refresh_from_db()
    assert successor.status == "on_leave"


def test_the_api_registers_assigns_and_hands_over(city):
    c = signed_in(Client(), "community")
    j = "application/json"
    number = phone()
    r = c.post(
        "/api/workforce/workers",
        json.dumps(
            {
                "name": "孙丽",
                "kind": "micro",
                "phone": number,
                "place_code": COMMUNITY,
                "skills": ["first_aid"],
            }
        ),
        j,
    )
    assert r.status_code == 201, r.content
    w = r.json()
    assert w["phone"] == number[:3] + "****" + number[-4:] and w["places"] == []
    gap = next(g for g in c.get("/api/workforce/coverage").json()["gaps"] if g["kind"] == "micro")
    r = c.post(
        "/api/workforce/assignments",
        json.dumps({"worker_id": w["id"], "place_code": gap["code"]}),
        j,
    )
    assert r.status_code == 201 and r.json()["role"] == "primary"
    aid = r.json()["id"]
    r = c.post(
        "/api/workforce/assignments",
        json.dumps({"worker_id": w["id"], "place_code": gap["code"]}),
        j,
    )
    assert r.status_code == 201 and r.json()["id"] == aid  # again: the same assignment
    other = register(WorkerKind.MICRO, COMMUNITY)
    r = c.post(
        "/api/workforce/assignments",
        json.dumps({"worker_id": other.pk, "place_code": gap["code"]}),
        j,
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "has_primary"
    r = c.post(f"/api/workforce/assignments/{aid}/end", json.dumps({"successor_id": other.pk}), j)
    assert r.status_code == 200 and r.json()["to_worker_id"] == other.pk
    detail = c.get(f"/api/workforce/workers/{w['id']}").json()
    assert detail["assignments"][0]["successor_id"] == other.pk
    assert detail["handovers"][0]["to_worker_id"] == other.pk
    r = c.patch(f"/api/workforce/workers/{w['id']}", json.dumps({"skills": ["legal", "it"]}), j)
    assert r.status_code == 200 and r.json()["skills"] == ["it", "legal"]
    r = c.post(f"/api/workforce/workers/{w['id']}/status", json.dumps({"status": "left"}), j)
    assert r.status_code == 200 and r.json()["status"] == "left"
    # the grid worker may read, not write
    g = signed_in(Client(), "grid")
    assert g.get(f"/api/workforce/workers/{other.pk}").status_code in (200, 404)
    r = g.post(f"/api/workforce/workers/{other.pk}/status", json.dumps({"status": "left"}), j)
    assert r.status_code in (403, 404)
    # units: categories and handlers
    units = c.get("/api/workforce/units").json()
    cg = next(u for u in units if u["code"] == "JJ-CG")
    d = c.get(f"/api/workforce/units/{cg['id']}").json()
    assert d["categories"] and any(h["name"] for h in d["handlers"])


def test_openapi_documents_the_workforce(city):
    schema = signed_in(Client(), "community").get("/api/openapi.json").json()
    paths = [p for p in schema["paths"] if p.startswith("/api/workforce/")]
    assert len(paths) >= 15
    assert "/api/workforce/duty/{session_id}/patrol" in paths
