"""What a cockpit request costs in SQL: from the cache, the session, the user, the post and the
rollups' version — nothing else; uncached, a handful of indexed reads."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from wangge.cockpit import services

pytestmark = pytest.mark.django_db

CACHED = ("summary", "children", "trend", "mix", "events", "events?kind=supervised", "markers")


@pytest.mark.parametrize("code", ["5101", "510104", "510104017001001"])
def test_a_cached_answer_costs_four_queries(client_as, code):
    c = client_as("commander")
    services.rollups_drain()  # what other tests queued: a drain is not what is measured here
    for path in CACHED:
        url = f"/api/cockpit/{code}/{path}"
        cache.clear()
        with CaptureQueriesContext(connection) as cold:
            assert c.get(url).status_code == 200
        with CaptureQueriesContext(connection) as warm:
            assert c.get(url).status_code == 200
        sql = [q["sql"] for q in warm.captured_queries]
        assert len(sql) == 4, (path, sql)
        assert "cockpit_rollupstate" in sql[-1], (path, sql)
        assert len(cold) <= 12, (path, [q["sql"][:80] for q in cold.captured_queries])
