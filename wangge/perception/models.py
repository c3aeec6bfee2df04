"""Devices (感知设备), what they send, what could not be stored, and the alarms they raise.

A device belongs to a house (so to its residents, grid and workers) and carries the code of
its grid (the spine). Its messages are kept append-only in ``DeviceMessage`` (unique per
device and sequence number, so a retried message is stored once); old heartbeats are purged
after ``WANGGE_SENSING_HEARTBEAT_DAYS``. Whatever could not be stored lands in ``DeadLetter``
with the reason and the raw body (bounded).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from wangge.events.enums import Urgency
from wangge.perception.enums import (
    OPEN_ALARM_STATES,
    STEP_NOTES,
    AlarmState,
    AlarmType,
    DeadReason,
    DeviceStatus,
    DeviceType,
    IssueKind,
    StepKind,
    Transport,
)

DEAD_BODY_CHARS = 2_000


class Device(models.Model):
    device_id = models.CharField(_("device id"), max_length=64, unique=True)
    type = models.CharField(_("type"), max_length=10, choices=DeviceType.choices)
    house = models.ForeignKey(
        "people.House",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="devices",
        verbose_name=_("house"),
    )
    grid_code = models.CharField(_("grid code"), max_length=18, db_index=True)
    location = models.CharField(_("where in the home"), max_length=60, blank=True)
    # who installs and maintains it (a property company, the installer): maintenance events go
    # to them; the grid's dispatcher when empty
    unit = models.ForeignKey(
        "accounts.Unit",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("maintenance unit"),
    )
    status = models.CharField(
        _("status"), max_length=12, choices=DeviceStatus.choices, default=DeviceStatus.OFFLINE
    )
    heartbeat_seconds = models.PositiveIntegerField(_("heartbeat interval (seconds)"), default=600)
    inactivity_hours = models.PositiveSmallIntegerField(
        _("welfare check after hours without a door opening"), null=True, blank=True
    )
    last_seen_at = models.DateTimeField(_("last message"), null=True, blank=True)
    last_heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    last_activity_at = models.DateTimeField(_("last door opening"), null=True, blank=True)
    # when the device counts as offline unless heard from: last message + 3 × the interval
    offline_after = models.DateTimeField(null=True, blank=True)
    battery = models.PositiveSmallIntegerField(_("battery (%)"), null=True, blank=True)
    firmware = models.CharField(_("firmware"), max_length=40, blank=True)
    rssi = models.SmallIntegerField(_("signal (dBm)"), null=True, blank=True)
    false_alarms = models.PositiveIntegerField(_("false alarms"), default=0)
    # the HMAC key, encrypted with the people keyring (field "device_key"); shown once
    key_enc = models.TextField(blank=True)
    key_set_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("device")
        verbose_name_plural = _("devices")
        indexes = [
            models.Index(fields=["grid_code", "status"], name="device_grid_status"),
            models.Index(fields=["status", "last_seen_at"], name="device_status_seen"),
            models.Index(fields=["status", "offline_after"], name="device_status_offline"),
        ]

    def __str__(self) -> str:
        return self.device_id


class DeviceMessage(models.Model):
    """One message a device sent, stored once (device, seq). Never changed."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="messages")
    seq = models.BigIntegerField(_("sequence number"))
    channel = models.CharField(_("channel"), max_length=10)
    event = models.CharField(_("event"), max_length=32)
    value = models.CharField(_("value"), max_length=100, blank=True)
    battery = models.PositiveSmallIntegerField(null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"))
    received_at = models.DateTimeField(_("received at"))
    transport = models.CharField(max_length=4, choices=Transport.choices)

    class Meta:
        verbose_name = _("device message")
        verbose_name_plural = _("device messages")
        constraints = [
            models.UniqueConstraint(fields=["device", "seq"], name="device_message_seq_unique")
        ]
        indexes = [
            models.Index(fields=["device", "received_at"], name="device_message_time"),
            models.Index(fields=["channel", "received_at"], name="device_message_channel"),
        ]

    def __str__(self) -> str:
        return f"{self.device_id}#{self.seq} {self.event}"


class DeadLetter(models.Model):
    """A message that was not stored, with why and its raw body (at most ``DEAD_BODY_CHARS``)."""

    received_at = models.DateTimeField(_("received at"))
    transport = models.CharField(max_length=4, choices=Transport.choices)
    channel = models.CharField(_("channel"), max_length=10, blank=True)
    device_ref = models.CharField(_("device id given"), max_length=64, blank=True)
    device = models.ForeignKey(
        Device, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # the known device's grid, so a community sees its own devices' dead letters; empty when
    # the device is unknown (only whole-city posts see those)
    grid_code = models.CharField(max_length=18, blank=True)
    reason = models.CharField(_("reason"), max_length=16, choices=DeadReason.choices)
    detail = models.CharField(_("detail"), max_length=200, blank=True)
    body = models.TextField(_("body"), blank=True)
    body_size = models.PositiveIntegerField(_("size (bytes)"), default=0)

    class Meta:
        verbose_name = _("dead letter")
        verbose_name_plural = _("dead letters")
        indexes = [
            models.Index(fields=["received_at"], name="dead_letter_time"),
            models.Index(fields=["grid_code", "received_at"], name="dead_letter_grid_time"),
            models.Index(fields=["reason", "received_at"], name="dead_letter_reason_time"),
        ]

    def __str__(self) -> str:
        return f"{self.reason} {self.device_ref}"


class ResponsePlan(models.Model):
    """The response plan (预案) for an alarm type: ordered steps in Chinese and English, the
    minutes before an unacknowledged alarm escalates, and the event it opens."""

    alarm_type = models.CharField(
        _("alarm type"), max_length=12, choices=AlarmType.choices, unique=True
    )
    title = models.CharField(_("title"), max_length=100)
    title_en = models.CharField(_("English title"), max_length=150)
    steps = models.TextField(_("steps (one a line)"))
    steps_en = models.TextField(_("steps in English (one a line)"))
    escalate_minutes = models.PositiveSmallIntegerField(
        _("escalate when not acknowledged within (minutes)"), default=5
    )
    category = models.CharField(_("event category (small category code)"), max_length=20)
    urgency = models.CharField(
        _("event urgency"), max_length=10, choices=Urgency.choices, default=Urgency.EMERGENCY
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        "accounts.Post", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["alarm_type"]
        verbose_name = _("response plan")
        verbose_name_plural = _("response plans")

    def __str__(self) -> str:
        return self.title

    def step_list(self, language: str | None = None) -> list[str]:
        """The steps in the language (Chinese unless it is English)."""
        from django.utils.translation import get_language

        zh = (language or get_language() or "zh").startswith("zh")
        text = self.steps if zh or not self.steps_en.strip() else self.steps_en
        return [line.strip() for line in text.splitlines() if line.strip()]

    def title_for(self, language: str | None = None) -> str:
        from django.utils.translation import get_language

        zh = (language or get_language() or "zh").startswith("zh")
        return self.title if zh or not self.title_en else self.title_en


class Alarm(models.Model):
    """An alarm a device raised (or a rule over time: inactivity). One open alarm per device
    and type: a repeat while it is open counts, it does not open another."""

    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="alarms")
    type = models.CharField(_("type"), max_length=12, choices=AlarmType.choices)
    house = models.ForeignKey(
        "people.House", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    grid_code = models.CharField(_("grid code"), max_length=18)
    state = models.CharField(
        _("state"), max_length=18, choices=AlarmState.choices, default=AlarmState.NEW
    )
    value = models.CharField(_("value"), max_length=100, blank=True)
    message_id = models.BigIntegerField(null=True, blank=True)  # the first message (no FK: purged)
    count = models.PositiveIntegerField(_("messages"), default=1)
    raised_at = models.DateTimeField(_("raised at"))
    last_at = models.DateTimeField(_("last message at"))
    # escalation: 0 = the first responder was told; each step up adds one
    level = models.PositiveSmallIntegerField(_("escalation level"), default=0)
    next_escalation_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        "accounts.Post", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        "accounts.Post", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(_("note"), blank=True)
    event = models.ForeignKey(
        "events.Event", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("alarm")
        verbose_name_plural = _("alarms")
        constraints = [
            models.UniqueConstraint(
                fields=["device", "type"],
                condition=models.Q(state__in=["new", "acknowledged"]),
                name="alarm_one_open_per_device_type",
            )
        ]
        indexes = [
            models.Index(fields=["grid_code", "raised_at"], name="alarm_grid_time"),
            models.Index(fields=["state", "next_escalation_at"], name="alarm_escalation"),
            models.Index(fields=["raised_at"], name="alarm_time"),
            models.Index(fields=["event"], name="alarm_event"),
        ]

    def __str__(self) -> str:
        return f"alarm {self.pk} {self.type}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_ALARM_STATES


class AlarmStep(models.Model):
    """A line of an alarm's timeline: raised, who was told (and why), escalations, who
    acknowledged, resolved or marked it false, its event. Never changed."""

    alarm = models.ForeignKey(Alarm, on_delete=models.CASCADE, related_name="steps")
    kind = models.CharField(_("kind"), max_length=14, choices=StepKind.choices)
    at = models.DateTimeField(_("at"))
    post = models.ForeignKey(
        "accounts.Post", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor = models.ForeignKey(
        "accounts.Post", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    # A note the platform wrote: a key of ``STEP_NOTES`` and its arguments, put into words in
    # the reader's language (``text``); ``note`` is what a person wrote (or a number, a value).
    note_key = models.CharField(max_length=24, blank=True)
    note_args = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("alarm step")
        verbose_name_plural = _("alarm steps")

    def __str__(self) -> str:
        return f"{self.alarm_id} {self.kind}"

    @property
    def text(self) -> str:
        """The note in the active language."""
        from django.utils.translation import gettext

        from wangge.events.enums import EventAction, EventState

        message = STEP_NOTES.get(self.note_key)
        if message is None:
            return self.note
        args = dict(self.note_args or {})
        for name, choices in (("action", EventAction), ("state", EventState)):
            if args.get(name) in choices.values:
                args[name] = choices(args[name]).label
        try:
            return gettext(message) % args
        except (KeyError, TypeError, ValueError):
            return gettext(message)


class DeviceIssue(models.Model):
    """An episode of a device problem (offline, low battery, repeated false alarms): one
    maintenance event per episode; the episode ends when the problem does."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="issues")
    kind = models.CharField(_("kind"), max_length=14, choices=IssueKind.choices)
    opened_at = models.DateTimeField(_("opened at"))
    closed_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    event = models.ForeignKey(
        "events.Event", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("device issue")
        verbose_name_plural = _("device issues")
        constraints = [
            models.UniqueConstraint(
                fields=["device", "kind"],
                condition=models.Q(closed_at__isnull=True),
                name="device_issue_one_open",
            )
        ]

    def __str__(self) -> str:
        return f"{self.device_id} {self.kind}"
