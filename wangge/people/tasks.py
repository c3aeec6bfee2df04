"""Background jobs of the person–house data (Django tasks, each calling one service)."""

from __future__ import annotations

from django.core.cache import cache
from django.tasks import task

REFRESH_SECONDS = 3600


@task()
def refresh_place_counts() -> dict:
    """Residents and households per place, at most hourly (the worker offers it every
    periodic tick; the cache key makes all but one a no-op)."""
    from wangge.people.services import place_counts_refresh

    if not cache.add("people:place-counts", 1, REFRESH_SECONDS):
        return {"skipped": True}
    return place_counts_refresh()


# For the worker's periodic schedule (``core/management/commands/worker.py``).
PERIODIC = (refresh_place_counts,)
