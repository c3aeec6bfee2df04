"""Races with real commits (PostgreSQL): threads with their own connections against the test
database. These tests commit, so they make their own users, rule and reward and delete them
afterwards (the audit rows stay: the trail is append-only)."""

import threading
import uuid
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections, transaction
from django.utils import timezone

from wangge.accounts.models import Post
from wangge.accounts.scope import SYSTEM
from wangge.accounts.services import post_grant
from wangge.points import services
from wangge.points.models import Balance, Entry, Redemption, Reward, Rule

MICRO = "510104017001001001"
# The SQLite test database is in memory with a shared cache, where concurrent writers get
# "table is locked" at once instead of waiting as they do on the WAL file the platform uses; the
# races are exercised on PostgreSQL (CI runs the suite on both). test_services.py holds the
# same rules checked one request after another.
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs a database with concurrent writers"
    ),
]


def _in_thread(fn):
    out = {}

    def body():
        try:
            out["value"] = fn()
        finally:
            connections.close_all()

    t = threading.Thread(target=body)
    t.start()
    t.join(60)
    return out.get("value")


def _run_threads(n, fn):
    barrier = threading.Barrier(n)
    results, errors = [], []

    def body(i):
        try:
            barrier.wait()
            results.append(fn(i))
        except Exception as exc:  # noqa: BLE001 — the outcome is what we test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors


class World:
    """Users, a rule and rewards committed for one test, deleted again afterwards."""

    def __init__(self):
        self.tag = uuid.uuid4().hex[:8]
        self.users, self.rewards = [], []
        self.rule = _in_thread(
            lambda: services.rule_create(
                actor=SYSTEM,
                action=f"cc_{self.tag}",
                name="并发",
                points="1",
                daily_cap="3",
            )
        )

    def worker(self, points: int = 0) -> Post:
        def make():
            user = get_user_model().objects.create(username=f"cc-{self.tag}-{len(self.users)}")
            post = post_grant(actor=SYSTEM, user=user, role="micro_grid_worker", place_code=MICRO)
            start = timezone.now() - timedelta(days=points + 1)
            for i in range(points):  # one a day: under the daily cap
                with transaction.atomic():
                    services.points_award(
                        user=user,
                        fact_kind=self.rule.action,
                        fact_id=user.pk * 1000 + i,
                        at=start + timedelta(days=i),
                    )
            return post

        post = _in_thread(make)
        self.users.append(post.user_id)
        return post

    def reward(self, cost: str, stock: int) -> Reward:
        r = _in_thread(
            lambda: services.reward_create(
                actor=SYSTEM, name=f"cc-{self.tag}", cost=cost, stock=stock
            )
        )
        self.rewards.append(r.pk)
        return r

    def cleanup(self):
        def drop():
            Entry.objects.filter(user_id__in=self.users).delete()
            Redemption.objects.filter(user_id__in=self.users).delete()
            Balance.objects.filter(user_id__in=self.users).delete()
            Reward.objects.filter(pk__in=self.rewards).delete()
            Rule.objects.filter(pk=self.rule.pk).delete()
            Post.objects.filter(user_id__in=self.users).delete()
            get_user_model().objects.filter(pk__in=self.users).delete()

        _in_thread(drop)


@pytest.fixture
def world(city):
    w = World()
    yield w
    w.cleanup()


def _state(user_id, reward_id):
    def read():
        bal = Balance.objects.get(pk=user_id).points
        total = sum(Entry.objects.filter(user_id=user_id).values_list("points", flat=True), D(0))
        return bal, total, Reward.objects.get(pk=reward_id).stock

    return _in_thread(read)


def test_concurrent_redemptions_never_overdraw_the_balance(world):
    w = world.worker(points=5)
    reward = world.reward("2", stock=100)

    results, errors = _run_threads(
        6, lambda i: services.reward_redeem(actor=w, reward=reward, key=f"k{i}")
    )
    assert len(results) == 2, (results, errors)  # 5 points buy two rewards at 2
    assert all(getattr(e, "code", "") == "not_enough_points" for e in errors), errors
    bal, total, stock = _state(w.user_id, reward.pk)
    assert bal == total == D("1") and stock == 98


def test_concurrent_redemptions_never_take_the_stock_below_zero(world):
    workers = [world.worker(points=3) for _ in range(5)]
    reward = world.reward("1", stock=3)
    results, errors = _run_threads(
        5, lambda i: services.reward_redeem(actor=workers[i], reward=reward)
    )
    assert len(results) == 3, (results, errors)
    assert all(getattr(e, "code", "") == "out_of_stock" for e in errors), errors
    assert _in_thread(lambda: Reward.objects.get(pk=reward.pk).stock) == 0


def test_a_retried_request_racing_itself_redeems_once(world):
    w = world.worker(points=5)
    reward = world.reward("1", stock=10)
    results, errors = _run_threads(
        4, lambda i: services.reward_redeem(actor=w, reward=reward, key="same")
    )
    assert not errors, errors
    assert len({r.pk for r, _created in results}) == 1
    assert sum(1 for _r, created in results if created) == 1
    bal, total, stock = _state(w.user_id, reward.pk)
    assert bal == total == D("4") and stock == 9


def test_a_fact_raced_by_two_requests_scores_once_and_caps_hold(world):
    w = world.worker()
    now = timezone.now()

    def award(i):
        with transaction.atomic():
            return services.points_award(
                user=w.user_id, fact_kind=world.rule.action, fact_id=424242, at=now
            )

    results, errors = _run_threads(4, award)
    assert not errors, errors
    assert sum(1 for r in results if r is not None) == 1

    def other(i):  # six different facts on one day, cap 3: three count, three are capped
        with transaction.atomic():
            return services.points_award(
                user=w.user_id, fact_kind=world.rule.action, fact_id=500000 + i, at=now
            )

    results, errors = _run_threads(6, other)
    assert not errors, errors
    assert (
        _in_thread(
            lambda: sorted(Entry.objects.filter(user_id=w.user_id).values_list("points", flat=True))
        )
        == [D("0")] * 4 + [D("1")] * 3
    )
    assert _in_thread(lambda: Balance.objects.get(pk=w.user_id).points) == D("3")
