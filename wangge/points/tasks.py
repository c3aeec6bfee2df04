"""Background jobs of the points system (Django tasks, each calling one service)."""

from __future__ import annotations

from django.tasks import task


@task()
def expire_points() -> dict:
    from wangge.points.services import points_expire

    out = points_expire()
    return {"users": out["users"], "points": str(out["points"])}


# For the worker's periodic schedule (``core/management/commands/worker.py``).
PERIODIC = (expire_points,)
