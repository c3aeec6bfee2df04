"""The points API: every endpoint scoped; an outsider gets the answer a missing object gets."""

import json
from decimal import Decimal as D

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.conftest import demo_post, signed_in
from wangge.core.models import AuditEntry
from wangge.points.models import Balance, Redemption, Reward

pytestmark = pytest.mark.django_db


def _client(username):
    return signed_in(Client(), username)


def _post(c, url, body, **headers):
    return c.post(url, json.dumps(body), content_type="application/json", **headers)


def _patch(c, url, body):
    return c.patch(url, json.dumps(body), content_type="application/json")


def test_my_points_and_ledger_show_what_each_entry_was_for(city):
    c = _client("micro")
    me = c.get("/api/points/me").json()
    micro = demo_post("micro")
    assert D(me["balance"]) == Balance.objects.get(pk=micro.user_id).points > 0
    items = c.get("/api/points/me/entries").json()["items"]
    reports = [i for i in items if i["fact_kind"] == "event_report"]
    assert reports and all(i["event_id"] == i["fact_id"] for i in reports)  # linked: hers
    assert all(D(i["points"]) == 2 for i in reports)
    assert {i["label"] for i in reports} == {"上报有效事件"}
    en = c.get("/api/points/me/entries", HTTP_ACCEPT_LANGUAGE="en").json()["items"]
    assert "Valid event reported (counted when accepted)" in {i["label"] for i in en}


def test_a_dispatcher_sees_the_workers_of_its_scope_and_nobody_else(city):
    micro = demo_post("micro")
    missing = get_user_model().objects.order_by("-pk").first().pk + 1000
    community = _client("community")
    assert community.get(f"/api/points/workers/{micro.user_id}").status_code == 200
    assert community.get(f"/api/points/workers/{micro.user_id}/entries").status_code == 200
    # a secretary of another community: the same answer as for a user who does not exist
    from wangge.accounts.models import Post

    other = Post.objects.filter(role="community_secretary", is_active=True).exclude(
        place_code=micro.place_code[:12]
    )
    other = other.exclude(place_code__startswith="510104017001").first()
    outsider = signed_in(Client(), other.user.username)
    for url in (f"/api/points/workers/{micro.user_id}", f"/api/points/workers/{missing}"):
        r = outsider.get(url)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    body_out = outsider.get(f"/api/points/workers/{micro.user_id}/entries").json()
    body_missing = outsider.get(f"/api/points/workers/{missing}/entries").json()
    assert body_out == body_missing
    # a worker reads no other worker's ledger, and a non-worker user is no worker of anyone's
    grid = _client("grid")
    assert grid.get(f"/api/points/workers/{micro.user_id}").status_code == 404
    street = demo_post("street")
    assert community.get(f"/api/points/workers/{street.user_id}").status_code == 404


def test_rankings_stay_inside_the_scope(city):
    street = _client("street")
    board = street.get("/api/points/rankings", {"code": "510104017"}).json()
    assert board["code"] == "510104017" and board["total"] >= 1
    micro = demo_post("micro")
    assert micro.user_id in [r["user_id"] for r in board["rows"]]
    ranks = [r["rank"] for r in board["rows"]]
    assert ranks == sorted(ranks)
    pts = [D(r["points"]) for r in board["rows"]]
    assert pts == sorted(pts, reverse=True)
    # another street, and a code that is no place at all: the same 404
    outside = street.get("/api/points/rankings", {"code": "510104018"})
    nowhere = street.get("/api/points/rankings", {"code": "510104999"})
    assert outside.status_code == nowhere.status_code == 404
    assert outside.json()["error"]["code"] == nowhere.json()["error"]["code"] == "not_found"
    # a micro-grid worker sees the board of their own micro-grid only
    mine = _client("micro")
    own = mine.get("/api/points/rankings").json()
    assert own["code"] == micro.place_code and own["mine"]["user_id"] == micro.user_id
    assert mine.get("/api/points/rankings", {"code": "510104017"}).status_code == 404
    assert mine.get("/api/points/rankings", {"period": "week"}).status_code == 422
    year = street.get("/api/points/rankings", {"code": "510104017", "period": "year"}).json()
    assert year["period"] == "year" and year["total"] >= board["total"]


def test_roles_without_points_get_no_points_pages(city):
    for username in ("handler", "auditadmin", "resident"):
        c = _client(username)
        assert c.get("/api/points/me").status_code == 403
        assert c.get("/api/points/rankings").status_code == 403
    assert _client("street").get("/api/points/me").status_code == 403  # no worker post


def test_rules_read_by_all_and_changed_by_the_system_administrator(city):
    rules = _client("micro").get("/api/points/rules").json()
    assert {r["action"]: D(r["points"]) for r in rules}["household_verify"] == D("0.5")
    assert _patch(_client("street"), "/api/points/rules/care_visit", {"points": 5}).status_code == (
        403
    )
    admin = _client("sysadmin")
    r = _patch(admin, "/api/points/rules/care_visit", {"points": "1.5", "daily_cap": None})
    assert r.status_code == 200 and D(r.json()["points"]) == D("1.5")
    assert r.json()["daily_cap"] is None
    assert _patch(admin, "/api/points/rules/care_visit", {"points": "abc"}).status_code == 422
    assert _patch(admin, "/api/points/rules/nope", {"points": 1}).status_code == 404
    made = _post(
        admin, "/api/points/rules", {"action": "night_patrol", "name": "夜巡", "points": 1}
    )
    assert made.status_code == 200
    assert AuditEntry.objects.filter(action="points.rule_create", username="sysadmin").exists()


def test_catalogue_and_redemption(city):
    admin = _client("sysadmin")
    made = _post(admin, "/api/points/rewards", {"name": "雨伞", "cost": "2", "stock": 1})
    assert made.status_code == 200
    rid = made.json()["id"]
    assert (
        _post(
            _client("micro"), "/api/points/rewards", {"name": "x", "cost": 1, "stock": 1}
        ).status_code
        == 403
    )
    micro = _client("micro")
    assert rid in [r["id"] for r in micro.get("/api/points/rewards").json()]
    first = _post(micro, f"/api/points/rewards/{rid}/redeem", {}, HTTP_IDEMPOTENCY_KEY="tap-1")
    assert first.status_code == 200 and first.json()["created"] is True
    again = _post(micro, f"/api/points/rewards/{rid}/redeem", {"key": "tap-1"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.json()["created"] is False
    sold_out = _post(micro, f"/api/points/rewards/{rid}/redeem", {"key": "tap-2"})
    assert sold_out.status_code == 409 and sold_out.json()["error"]["code"] == "out_of_stock"
    assert Redemption.objects.filter(reward_id=rid).count() == 1
    assert Reward.objects.get(pk=rid).stock == 0
    assert [r["id"] for r in micro.get("/api/points/redemptions").json()["items"]] == [
        first.json()["id"]
    ]
    # withdrawn: gone from the catalogue for workers; redeeming it is "not found"
    assert (
        _patch(admin, f"/api/points/rewards/{rid}", {"is_active": False, "stock": 5}).status_code
        == 200
    )
    assert rid not in [r["id"] for r in micro.get("/api/points/rewards").json()]
    assert _post(micro, f"/api/points/rewards/{rid}/redeem", {}).status_code == 404
    assert _post(micro, "/api/points/rewards/999999/redeem", {}).status_code == 404
    # a dispatcher may look at the catalogue but redeems nothing
    cheap = Reward.objects.filter(is_active=True).order_by("cost").first()
    assert _post(_client("street"), f"/api/points/rewards/{cheap.pk}/redeem", {}).status_code == 403
