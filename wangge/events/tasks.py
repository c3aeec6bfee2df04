"""Background jobs of the closed loop (Django tasks, each calling one service)."""

from __future__ import annotations

from django.tasks import task


@task()
def sweep_deadlines() -> dict:
    from wangge.events.services import deadlines_sweep

    return deadlines_sweep()


@task()
def deliver_notifications() -> int:
    from wangge.events.notify import notifications_deliver

    return notifications_deliver()


# What the worker schedules every WANGGE_PERIODIC_SECONDS.
PERIODIC = (sweep_deadlines, deliver_notifications)
