"""Events (事件/案件) and everything the closed loop records about them.

An event belongs to a grid (``grid_code``, the spine) and is handled at a level (community →
street → district → city) whose dispatcher holds it until it is dispatched to a unit. Its state
changes only through ``services.event_transition`` following the table in ``workflow.py``; each
change writes one immutable ``EventLog`` row (the timeline is the audit trail of the event) and,
in the same transaction, the notices it causes (``Notification``, an outbox).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from wangge.accounts.enums import UnitKind
from wangge.events.enums import (
    OPEN_STATES,
    EventAction,
    EventState,
    HandlingLevel,
    Notice,
    Source,
    Urgency,
)

# Events that still need work (the condition of the partial indexes the cockpit reads).
_OPEN = models.Q(state__in=OPEN_STATES)


class Category(models.Model):
    """A two-level taxonomy: a major category (大类, ``parent`` empty) and its small ones (小类).
    Limits are in working hours for normal and urgent events and in clock hours for emergencies."""

    code = models.CharField(_("code"), max_length=20, unique=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    name = models.CharField(_("name"), max_length=60)
    name_en = models.CharField(_("English name"), max_length=100)
    unit_kind = models.CharField(
        _("default handling unit"), max_length=20, choices=UnitKind.choices, blank=True
    )
    response_hours_normal = models.FloatField(
        _("response limit, normal (working hours)"), default=8
    )
    response_hours_urgent = models.FloatField(
        _("response limit, urgent (working hours)"), default=2
    )
    response_hours_emergency = models.FloatField(
        _("response limit, emergency (clock hours)"), default=0.5
    )
    handle_hours_normal = models.FloatField(_("handling limit, normal (working hours)"), default=40)
    handle_hours_urgent = models.FloatField(_("handling limit, urgent (working hours)"), default=16)
    handle_hours_emergency = models.FloatField(
        _("handling limit, emergency (clock hours)"), default=4
    )
    on_spot_allowed = models.BooleanField(
        _("a grid worker may resolve it on the spot"), default=False
    )
    needs_after_photo = models.BooleanField(_("closing needs an 'after' photo"), default=False)
    auto_escalate = models.BooleanField(_("escalate automatically when overdue"), default=False)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("category")
        verbose_name_plural = _("categories")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def limits(self, urgency: str) -> tuple[float, float]:
        """(response, handling) limit in hours for an urgency."""
        u = Urgency(urgency).value
        return getattr(self, f"response_hours_{u}"), getattr(self, f"handle_hours_{u}")


class DispatchRule(models.Model):
    """(category, region subtree) → unit; the most specific rule wins (longest region code, then
    small category over major category over any)."""

    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.CASCADE, related_name="rules"
    )
    region_code = models.CharField(_("region (code prefix)"), max_length=18)
    unit = models.ForeignKey("accounts.Unit", on_delete=models.CASCADE, related_name="+")

    class Meta:
        verbose_name = _("dispatch rule")
        verbose_name_plural = _("dispatch rules")
        constraints = [
            models.UniqueConstraint(
                fields=["category", "region_code", "unit"], name="dispatch_rule_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.category_id or '*'} @ {self.region_code} → {self.unit_id}"


class Event(models.Model):
    number = models.CharField(_("number"), max_length=24, unique=True)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="events")
    title = models.CharField(_("title"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    urgency = models.CharField(
        _("urgency"), max_length=10, choices=Urgency.choices, default=Urgency.NORMAL
    )
    source = models.CharField(_("source"), max_length=12, choices=Source.choices)
    grid_code = models.CharField(_("grid code"), max_length=18)
    lon = models.FloatField(_("longitude"), null=True, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    reporter = models.ForeignKey(
        "accounts.Post", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reporter_name = models.CharField(_("reported by"), max_length=60, blank=True)
    external_ref = models.CharField(_("external number"), max_length=60, blank=True)
    # idempotent intake: the client's key within its scope (the reporting post, or a source such
    # as the hotline), and a hash of the payload it came with
    idem_scope = models.CharField(max_length=40, blank=True)
    idem_key = models.CharField(max_length=100, blank=True)
    idem_hash = models.CharField(max_length=64, blank=True)

    state = models.CharField(
        _("state"), max_length=14, choices=EventState.choices, default=EventState.REPORTED
    )
    level = models.CharField(
        _("handling level"),
        max_length=10,
        choices=HandlingLevel.choices,
        default=HandlingLevel.COMMUNITY,
    )
    unit = models.ForeignKey(
        "accounts.Unit", null=True, blank=True, on_delete=models.PROTECT, related_name="events"
    )
    reported_at = models.DateTimeField(_("reported at"), db_index=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    response_due = models.DateTimeField(_("respond by"), null=True, blank=True)
    handle_due = models.DateTimeField(_("handle by"), null=True, blank=True)
    warn_at = models.DateTimeField(null=True, blank=True)
    warned = models.BooleanField(_("deadline warning sent"), default=False)
    overdue = models.BooleanField(_("overdue"), default=False)
    closed_on_time = models.BooleanField(null=True, blank=True)
    rework_count = models.PositiveSmallIntegerField(_("rework"), default=0)
    escalations = models.PositiveSmallIntegerField(_("escalations"), default=0)
    supervised = models.BooleanField(_("supervised"), default=False)
    supervise_note = models.CharField(max_length=300, blank=True)
    on_spot = models.BooleanField(_("resolved on the spot"), default=False)
    suspended_from = models.CharField(max_length=14, blank=True)
    review_date = models.DateField(_("review on"), null=True, blank=True)
    suspended_hours = models.FloatField(default=0)
    extension_hours = models.FloatField(_("extension asked (working hours)"), default=0)
    extension_reason = models.CharField(max_length=300, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        constraints = [
            models.UniqueConstraint(
                fields=["idem_scope", "idem_key"],
                condition=~models.Q(idem_key=""),
                name="event_idempotency_key",
            )
        ]
        indexes = [
            models.Index(fields=["grid_code", "state"], name="event_grid_state"),
            models.Index(fields=["state", "overdue", "handle_due"], name="event_state_due"),
            models.Index(fields=["state", "warned", "warn_at"], name="event_state_warn"),
            models.Index(fields=["unit", "state"], name="event_unit_state"),
            # The cockpit's lists of open events (overdue, supervised: earliest deadline first)
            # and its map markers (overdue, then newest), for the whole city or any subtree:
            # small partial indexes in the lists' order, with the grid code in the key so a
            # subtree is filtered inside the index; by grid first for a small subtree.
            models.Index(
                fields=["handle_due", "id", "grid_code"],
                condition=_OPEN & models.Q(overdue=True),
                name="event_open_overdue",
            ),
            models.Index(
                fields=["grid_code", "handle_due"],
                condition=_OPEN & models.Q(overdue=True),
                name="event_open_overdue_grid",
            ),
            models.Index(
                fields=["handle_due", "id", "grid_code"],
                condition=_OPEN & models.Q(supervised=True),
                name="event_open_supervised",
            ),
            models.Index(
                fields=["grid_code", "handle_due"],
                condition=_OPEN & models.Q(supervised=True),
                name="event_open_supervised_grid",
            ),
            # The markers' columns ride along (PostgreSQL INCLUDE; SQLite makes the plain
            # index): the map's few thousand rows are read from the index alone, not from
            # thousands of scattered table pages.
            models.Index(
                fields=["overdue", "reported_at", "grid_code"],
                include=["id", "number", "title", "lon", "lat", "state"],
                condition=_OPEN & models.Q(lon__isnull=False),
                name="event_open_markers",
            ),
            # … and by grid for a street or below, whose few thousand open events are read in
            # a range and sorted (walking the city's order would skip most of the city's).
            models.Index(
                fields=["grid_code"],
                include=["overdue", "reported_at", "id", "number", "title", "lon", "lat", "state"],
                condition=_OPEN & models.Q(lon__isnull=False),
                name="event_open_markers_grid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    @property
    def is_open(self) -> bool:
        from wangge.events.enums import OPEN_STATES

        return self.state in OPEN_STATES


class Photo(models.Model):
    """A cleaned photo (checked by content, metadata stripped but for time and place)."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="photos")
    log = models.ForeignKey(
        "EventLog", null=True, blank=True, on_delete=models.SET_NULL, related_name="photos"
    )
    kind = models.CharField(max_length=10, default="before")  # before / after / evidence
    file = models.CharField(max_length=200)
    thumbnail = models.CharField(max_length=200)
    content_type = models.CharField(max_length=30)
    sha256 = models.CharField(max_length=64)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    taken_at = models.DateTimeField(null=True, blank=True)
    lon = models.FloatField(null=True, blank=True)
    lat = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.file


class EventLog(models.Model):
    """One action on an event: who (post), when, from which state to which, the note and the
    data it carried (unit, deadlines before and after, reason …). Never changed."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="log")
    action = models.CharField(_("action"), max_length=20, choices=EventAction.choices)
    from_state = models.CharField(max_length=14, blank=True)
    to_state = models.CharField(max_length=14)
    post = models.ForeignKey(
        "accounts.Post", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(_("at"), db_index=True)
    note = models.TextField(_("note"), blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("event action")
        verbose_name_plural = _("event actions")

    def __str__(self) -> str:
        return f"{self.event_id} {self.action} {self.from_state}→{self.to_state}"


class Notification(models.Model):
    """A notice for a post's inbox, written in the same transaction as the change that causes
    it (an outbox): delivery to other channels reads the rows not yet ``delivered_at``."""

    post = models.ForeignKey("accounts.Post", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Notice.choices)
    event = models.ForeignKey(Event, null=True, on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=300)
    # Where the notice opens when it is about something other than an event (an alarm's page);
    # a path inside the site, never an outside address.
    link = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["post", "read_at"], name="notice_post_unread"),
            models.Index(fields=["delivered_at"], name="notice_undelivered"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.post_id}"
