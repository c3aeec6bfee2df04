"""The points pages, and the demo's walk-through through them: the micro-grid worker sees the
points of the events she reported and redeems a reward; the street's ranking board lists its
best workers."""

import re
from decimal import Decimal as D

import pytest

from tests.conftest import demo_post
from wangge.core.models import AuditEntry
from wangge.events.models import Event
from wangge.points.models import Balance, Redemption, Reward

pytestmark = pytest.mark.django_db
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def test_walkthrough_the_micro_grid_worker_sees_her_points_and_redeems_a_reward(client_as):
    micro = demo_post("micro")
    c = client_as("micro")
    # from her phone page, the top bar leads to her points
    phone = c.get("/events/m/", **EN).content.decode()
    assert 'href="/points/"' in phone
    r = c.get("/points/", **EN)
    assert r.status_code == 302 and r["Location"] == "/points/mine/"
    page = c.get("/points/mine/", **EN).content.decode()
    assert "content phone" in page  # the phone layout
    before = Balance.objects.get(pk=micro.user_id).points
    assert before >= 10
    # every event she reported and that was accepted is a line linked to the event
    mine = Event.objects.filter(reporter__user_id=micro.user_id, source="patrol")
    accepted = [e for e in mine if e.log.filter(action="accept").exists()]
    assert len(accepted) >= 4
    for e in accepted:
        assert f'href="/events/{e.pk}/"' in page and e.title in page
    assert "Valid event reported" in page and "+2" in page
    assert "Event resolved on the spot" in page and "+3" in page
    # the catalogue: she can afford the cheapest reward
    rewards = c.get("/points/rewards/", **EN).content.decode()
    cheapest = Reward.objects.filter(is_active=True, stock__gt=0).order_by("cost").first()
    assert cheapest.cost <= before and cheapest.name_en in rewards
    key = re.search(
        rf'action="/points/rewards/{cheapest.pk}/redeem/".*?name="key" value="([^"]+)"',
        rewards,
        re.S,
    ).group(1)
    stock = cheapest.stock
    done = c.post(f"/points/rewards/{cheapest.pk}/redeem/", {"key": key}, follow=True, **EN)
    assert "Redeemed" in done.content.decode()
    again = c.post(f"/points/rewards/{cheapest.pk}/redeem/", {"key": key}, follow=True, **EN)
    assert "already made" in again.content.decode()  # a double tap redeems once
    assert Redemption.objects.filter(user_id=micro.user_id).count() == 1
    assert Balance.objects.get(pk=micro.user_id).points == before - cheapest.cost
    assert Reward.objects.get(pk=cheapest.pk).stock == stock - 1
    assert AuditEntry.objects.filter(action="points.redeem", username="micro").count() == 1
    ledger = c.get("/points/mine/", **EN).content.decode()
    assert "Reward redeemed" in ledger and cheapest.name_en in ledger


def test_walkthrough_the_street_ranking_board_lists_its_best_workers(client_as):
    micro = demo_post("micro")
    c = client_as("street")
    r = c.get("/points/", **EN)
    assert r["Location"] == "/points/rankings/"
    page = c.get("/points/rankings/", {"code": "510104017"}, **EN).content.decode()
    assert "锦官驿" in page  # the street's board
    assert "第1微网格微网格员" in page  # the demo micro-grid worker is on it
    names = re.findall(r'<td class="title"><a href="/points/workers/(\d+)/">', page)
    assert str(micro.user_id) in names
    # by the month's points, most first, ranks in order
    ranks = [int(x) for x in re.findall(r'data-label="Rank">(\d+)<', page)]
    assert ranks == sorted(ranks) and ranks[0] == 1
    # the year's board, and the communities' boards below
    assert c.get("/points/rankings/", {"code": "510104017", "period": "year"}).status_code == 200
    assert "?code=510104017001&amp;" in page
    # a worker's ledger from the board; the street next door does not exist for this post
    assert c.get(f"/points/workers/{micro.user_id}/", **EN).status_code == 200
    assert c.get("/points/rankings/", {"code": "510104018"}).status_code == 404
    assert "desktop" not in page and 'class="menu"' in page and 'href="/points/"' in page


def test_pages_answer_by_role_and_scope(client_as):
    micro = demo_post("micro")
    assert client_as("handler").get("/points/").status_code == 404
    assert client_as("resident").get("/points/mine/").status_code == 404
    assert client_as("street").get("/points/mine/").status_code == 404  # no worker post
    grid = client_as("grid")
    assert grid.get(f"/points/workers/{micro.user_id}/").status_code == 404
    assert grid.get("/points/rankings/").status_code == 200
    assert grid.get("/points/rules/").status_code == 200
    # another community's secretary: the same 404 as for a user who does not exist
    from wangge.accounts.models import Post

    other = (
        Post.objects.filter(role="community_secretary", is_active=True)
        .exclude(place_code="510104017001")
        .first()
    )
    outsider = client_as(other.user.username)
    assert outsider.get(f"/points/workers/{micro.user_id}/").status_code == 404
    assert outsider.get("/points/workers/99999999/").status_code == 404
    assert client_as("community").get(f"/points/workers/{micro.user_id}/").status_code == 200
    # a bad month on a board falls back to this month, with a message
    r = client_as("community").get("/points/rankings/", {"when": "2026-13"}, **EN)
    assert r.status_code == 200 and "YYYY-MM" in r.content.decode()


def test_the_system_administrator_edits_rules_and_rewards_on_the_pages(client_as):
    admin = client_as("sysadmin")
    assert admin.get("/points/").status_code == 302
    page = admin.get("/points/rules/", **EN).content.decode()
    assert "household_verify" in page and "Add a rule" in page
    r = admin.post(
        "/points/rules/",
        {
            "op": "update",
            "action": "household_verify",
            "name": "入户核验一户",
            "name_en": "Household verified",
            "points": "0.5",
            "daily_cap": "12",
            "monthly_cap": "",
            "valid_months": "",
            "is_active": "1",
        },
    )
    assert r.status_code == 302
    from wangge.points.models import Rule

    rule = Rule.objects.get(action="household_verify")
    assert rule.daily_cap == D("12") and rule.monthly_cap is None and rule.valid_months is None
    bad = admin.post(
        "/points/rules/", {"op": "update", "action": "care_visit", "points": "x"}, **EN
    )
    assert bad.status_code == 200 and "two decimals" in bad.content.decode()
    r = admin.post(
        "/points/rewards/",
        {"op": "create", "name": "保温杯", "cost": "8", "stock": "20", "is_active": "1"},
    )
    assert r.status_code == 302 and Reward.objects.filter(name="保温杯", stock=20).exists()
    # workers read the rules but may not change them (same 404 as a page that is not there)
    micro = client_as("micro")
    assert micro.post("/points/rules/", {"op": "create", "action": "x1"}).status_code == 404
    assert micro.post("/points/rewards/", {"op": "create", "name": "x"}).status_code == 404
    assert b"Add a reward" not in micro.get("/points/rewards/", **EN).content


def test_the_admin_pages_save_through_the_services(client_as):
    admin = client_as("sysadmin")
    assert admin.get("/admin/points/rule/").status_code == 200
    reward = Reward.objects.order_by("id").first()
    r = admin.post(
        f"/admin/points/reward/{reward.pk}/change/",
        {
            "name": reward.name,
            "name_en": reward.name_en,
            "description": reward.description,
            "cost": "7",
            "stock": "3",
            "is_active": "on",
        },
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    reward.refresh_from_db()
    assert (reward.cost, reward.stock) == (D("7"), 3)
    assert AuditEntry.objects.filter(
        action="points.reward_update", object_id=str(reward.pk), username="sysadmin"
    ).exists()
    assert client_as("street").get("/admin/points/rule/").status_code in (302, 403)
