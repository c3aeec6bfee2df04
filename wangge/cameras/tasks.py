"""Background jobs of the AI cameras (Django tasks, each calling one service)."""

from __future__ import annotations

from django.tasks import task


@task()
def sweep_cameras() -> dict:
    """Offline cameras, episodes waiting for their event or their automatic close, and the
    retention purge of old frames (``detections.cameras_sweep``)."""
    from wangge.cameras.detections import cameras_sweep

    return cameras_sweep()


# For the worker's periodic schedule (``core/management/commands/worker.py``).
PERIODIC = (sweep_cameras,)
