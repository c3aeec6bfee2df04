"""``inline_in`` / ``inline``: the same rows as ``in`` / exact; on SQLite the values are written
into the SQL, so the cockpit's lists use their partial indexes."""

from __future__ import annotations

import pytest
from django.db import connection

from wangge.events.enums import OPEN_STATES
from wangge.events.models import Event

pytestmark = pytest.mark.django_db


def test_same_rows_as_the_standard_lookups(city):
    for flag in ("overdue", "supervised"):
        for value in (True, False):
            inline = Event.objects.filter(
                state__inline_in=OPEN_STATES, **{f"{flag}__inline": value}
            )
            plain = Event.objects.filter(state__in=OPEN_STATES, **{flag: value})
            assert set(inline.values_list("id", flat=True)) == set(
                plain.values_list("id", flat=True)
            )
    assert Event.objects.filter(state__inline_in=OPEN_STATES).exists()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's planner")
def test_sqlite_writes_the_values_and_uses_the_partial_indexes(city):
    qs = Event.objects.filter(state__inline_in=OPEN_STATES, overdue__inline=True)
    sql, params = qs.order_by("handle_due", "id")[:50].query.sql_with_params()
    assert "IN ('reported', 'accepted'" in sql and '"overdue" = 1' in sql and params == ()
    forced = sql.replace(
        'FROM "events_event"', 'FROM "events_event" INDEXED BY "event_open_overdue"'
    )
    with connection.cursor() as cur:
        cur.execute(forced, params)  # SQLite refuses an index it cannot prove usable
        assert len(cur.fetchall()) == min(50, qs.count())
        bound = Event.objects.filter(state__in=OPEN_STATES, overdue=True)
        sql, params = bound.order_by("handle_due", "id")[:50].query.sql_with_params()
        forced = sql.replace(
            'FROM "events_event"', 'FROM "events_event" INDEXED BY "event_open_overdue"'
        )
        with pytest.raises(Exception, match="no query solution"):
            cur.execute(forced, params)  # … and with bound values it cannot
    with pytest.raises(ValueError):
        list(Event.objects.filter(state__inline_in=["reported' OR 1=1 --"]))
