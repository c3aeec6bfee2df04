"""Background jobs of the cockpit (Django tasks, each calling one service)."""

from __future__ import annotations

from django.tasks import task


@task()
def drain_rollups() -> int:
    """Count the queued event changes into the rollups (cockpit reads also drain first)."""
    from wangge.cockpit.services import rollups_drain

    return rollups_drain()


# For the worker's periodic schedule (``core/management/commands/worker.py``).
PERIODIC = (drain_rollups,)
