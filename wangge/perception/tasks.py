"""Background jobs of smart sensing (Django tasks, each calling services)."""

from __future__ import annotations

from django.tasks import task


@task()
def sensing_sweep() -> dict:
    """Escalate unacknowledged alarms, run the rules over time (inactivity, offline, low
    battery), purge old heartbeats — each idempotent and safe on several workers."""
    from wangge.perception.alarms import alarms_escalate
    from wangge.perception.ingest import messages_purge
    from wangge.perception.rules import rules_sweep

    out: dict = {"escalated": alarms_escalate()}
    out.update(rules_sweep())
    out.update(messages_purge())
    return out


# What the worker schedules every WANGGE_PERIODIC_SECONDS.
PERIODIC = (sensing_sweep,)
