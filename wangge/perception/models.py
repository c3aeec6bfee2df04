"""Devices (感知设备), what they send, what could not be stored, and the alarms they raise.

A device belongs to a house (so to its residents, grid and workers) and carries the code of
its grid (the spine). Its messages are kept append-only in ``DeviceMessage`` (unique per
device and sequence number, so a retried message is stored once); old heartbeats are purged
after ``WANGGE_SENSING_HEARTBEAT_DAYS``. Whatever could not be stored lands in ``DeadLetter``
with the reason and the raw body (bounded).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from wangge.perception.enums import DeadReason, DeviceStatus, DeviceType, Transport

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
    battery = models.PositiveSmallIntegerField(_("battery (%)"), null=True, blank=True)
    firmware = models.CharField(_("firmware"), max_length=40, blank=True)
    rssi = models.SmallIntegerField(_("signal (dBm)"), null=True, blank=True)
    false_alarms = models.PositiveIntegerField(_("false alarms"), default=0)
    # the HMAC key, encrypted with the people keyring (field "device_key"); shown once
    key_enc = models.TextField(blank=True)
    key_set_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("device")
        verbose_name_plural = _("devices")
        indexes = [
            models.Index(fields=["grid_code", "status"], name="device_grid_status"),
            models.Index(fields=["status", "last_seen_at"], name="device_status_seen"),
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
