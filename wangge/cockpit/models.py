"""The cockpit's own tables: rollups of the events and the change log that feeds them.

The cockpit writes nothing but these. Database triggers on ``events_event`` (migration 0002)
append to ``EventChange`` the image of an event row before (sign −1) and after (sign +1) every
insert, update of a counted column, and delete — whatever wrote it: a workflow action, the
deadline sweep's bulk update, the batch intake's COPY, an import. ``services.rollups_drain``
turns the images into counter deltas (``rollups.contributions``) and adds them to the rollups in
the same transaction that deletes the images, so every change is counted exactly once and
drains may run side by side (the deltas commute).

Rollups are kept per node of the place tree down to the community (code lengths 4, 6, 9, 12):
a node's figures are its own rows, its children's figures are the rows whose ``parent`` is the
node. Grids and micro-grids are small enough to be computed from their raw events with the
same contribution function (``selectors``), so the rollups stay a few rows per node and day.
"""

from __future__ import annotations

from django.db import models

# The counters of a node and day; see ``rollups.contributions`` for what each one counts.
DAY_COUNTERS = (
    "reported",
    "valid",
    "responded_24h",
    "cohort_closed",
    "accepted",
    "closed",
    "closed_on_time",
    "on_spot",
    "verified",
    "rework",
    "handle_seconds",
    "due",
    "due_on_time",
    "h0",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "h7",
    "h8",
    "h9",
    "h10",
    "h11",
)
OPEN_COUNTERS = ("open", "overdue", "supervised")
MIX_COUNTERS = ("reported",)


class EventChange(models.Model):
    """The image of an event row, before (−1) or after (+1) a change; written by triggers only
    and deleted by the drain that counts it."""

    sign = models.SmallIntegerField()
    event_id = models.BigIntegerField()
    grid_code = models.CharField(max_length=18)
    category_id = models.BigIntegerField()
    source = models.CharField(max_length=12)
    state = models.CharField(max_length=14)
    reported_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True)
    closed_at = models.DateTimeField(null=True)
    handle_due = models.DateTimeField(null=True)
    overdue = models.BooleanField()
    closed_on_time = models.BooleanField(null=True)
    on_spot = models.BooleanField()
    rework_count = models.IntegerField()
    supervised = models.BooleanField()

    def __str__(self) -> str:
        return f"{self.sign:+d} event {self.event_id}"


def _counter():
    return models.BigIntegerField(default=0)


class DayCount(models.Model):
    """Counters of one node (city … community, or a grid under its community) for one day."""

    code = models.CharField(max_length=18)
    parent = models.CharField(max_length=18)
    day = models.DateField()
    locals().update({name: _counter() for name in DAY_COUNTERS})

    class Meta:
        constraints = [models.UniqueConstraint(fields=["code", "day"], name="cockpit_day_code_day")]
        indexes = [models.Index(fields=["parent", "day"], name="cockpit_day_parent_day")]

    def __str__(self) -> str:
        return f"{self.code} {self.day}"


class MixCount(models.Model):
    """Reports of one node and day by small category and source."""

    code = models.CharField(max_length=18)
    day = models.DateField()
    category_id = models.BigIntegerField()
    source = models.CharField(max_length=12)
    reported = _counter()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["code", "day", "category_id", "source"], name="cockpit_mix_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.day} {self.category_id} {self.source}"


class OpenCount(models.Model):
    """Open events of one node now, by state (with how many are overdue or supervised)."""

    code = models.CharField(max_length=18)
    parent = models.CharField(max_length=18)
    state = models.CharField(max_length=14)
    open = _counter()
    overdue = _counter()
    supervised = _counter()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["code", "state"], name="cockpit_open_code_state")
        ]
        indexes = [models.Index(fields=["parent"], name="cockpit_open_parent")]

    def __str__(self) -> str:
        return f"{self.code} {self.state}"


class RollupState(models.Model):
    """One row: the version of the rollups, bumped by every drain that counted something (the
    cockpit's caches are keyed by it), and when they were last rebuilt."""

    version = models.BigIntegerField(default=0)
    rebuilt_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"rollups version {self.version}"
