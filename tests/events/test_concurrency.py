"""Concurrency with real commits: threads with their own connections against the test
database. These tests commit, so they clean up the events they made (the audit rows stay: the
trail is append-only, and nothing counts them absolutely)."""

import threading
import uuid

import pytest
from django.db import connection, connections

from wangge.events import services
from wangge.events.models import Event

MICRO = "510104017001001001"
# The SQLite test database is in memory with a shared cache, where concurrent writers get
# "table is locked" at once instead of waiting as they do on the WAL file the platform uses; the
# race is exercised on PostgreSQL (CI runs the suite on both).
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs a database with concurrent writers"
    ),
]


def _in_thread(fn):
    """Run ``fn`` on a connection of its own (autocommit: its writes are committed)."""
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


@pytest.fixture(autouse=True)
def no_points(monkeypatch):
    """Acceptances here commit; the points they would score would outlive the events the
    cleanup deletes (points are tested in tests/points, the wiring in test_services.py)."""
    monkeypatch.setattr(services, "_score", lambda *a, **kw: None)


@pytest.fixture
def committed():
    """Events committed by the threads of a test, deleted again afterwards (by a thread too:
    the test's own connection is inside a transaction that is rolled back)."""
    made: list[int] = []
    yield made
    _in_thread(lambda: Event.objects.filter(pk__in=made).delete())


def _run_threads(n, fn):
    barrier = threading.Barrier(n)
    results, errors = [], []

    def body():
        try:
            barrier.wait()
            results.append(fn())
        except Exception as exc:  # noqa: BLE001 — the outcome is what we test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=body) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors


def test_concurrent_duplicate_submissions_make_one_event(committed):
    from tests.conftest import demo_post

    micro = demo_post("micro")
    key = f"concurrent-{uuid.uuid4()}"

    def submit():
        e, created = services.event_report(
            actor=micro,
            source="patrol",
            category="0303",
            title="单车堆积",
            grid_code=MICRO,
            key=key,
        )
        return e.pk, created

    results, errors = _run_threads(6, submit)
    ids = {pk for pk, _c in results}
    committed.extend(ids)
    assert _in_thread(lambda: Event.objects.filter(idem_key=key).count()) == 1
    assert len(ids) == 1 and sum(1 for _pk, c in results if c) == 1
    # a request that found the first still in flight is told so (409), never a second event
    assert all(getattr(e, "status", None) == 409 for e in errors), errors


def test_two_dispatchers_accepting_at_once_one_succeeds(committed):
    from tests.conftest import demo_post

    micro, secretary = demo_post("micro"), demo_post("community")
    e, _ = _in_thread(
        lambda: services.event_report(
            actor=micro, source="patrol", category="0303", title="单车堆积", grid_code=MICRO
        )
    )
    committed.append(e.pk)

    def accept():
        services.event_transition(actor=secretary, event=e, action="accept")
        return True

    results, errors = _run_threads(4, accept)
    assert len(results) == 1, (results, errors)
    assert len(errors) == 3 and all(getattr(x, "status", None) == 409 for x in errors), errors
    assert _in_thread(lambda: e.log.filter(action="accept").count()) == 1
