"""AI cameras (摄像头): where they look, the zones drawn on their picture, the frames their AI
box (or the built-in analyser) reports, and the episodes of lasting occupancy that open and
close events.

A camera belongs to a grid (``grid_code``, the spine). Its key for the vendor's AI box is stored
only as a SHA-256 (shown once at registration and rotation). A zone carries its rule and the
rule's running state (``presence_since`` …), updated frame by frame by ``detections.py``. An
episode is one stretch of lasting occupancy of a zone: it opens one event and ends when the
event is closed (automatically, once the zone stayed clear after handling, or by people).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from wangge.cameras.enums import EpisodeEnd, EpisodeState, ZoneKind
from wangge.events.enums import Urgency


class Camera(models.Model):
    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    grid_code = models.CharField(_("grid code"), max_length=18, db_index=True)
    lon = models.FloatField(_("longitude"), null=True, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    stream_url = models.CharField(_("stream URL (RTSP/HTTP)"), max_length=500, blank=True)
    snapshot_url = models.CharField(_("snapshot URL"), max_length=500, blank=True)
    vendor = models.CharField(_("vendor"), max_length=60, blank=True)
    active = models.BooleanField(_("active"), default=True)
    key_hash = models.CharField(max_length=64, unique=True)
    key_prefix = models.CharField(_("key starts with"), max_length=16)
    key_set_at = models.DateTimeField(_("key issued"))
    # the reference picture zones are drawn on (a path under the uploads' cameras/ directory)
    snapshot = models.CharField(max_length=120, blank=True)
    snapshot_width = models.PositiveIntegerField(null=True, blank=True)
    snapshot_height = models.PositiveIntegerField(null=True, blank=True)
    snapshot_at = models.DateTimeField(null=True, blank=True)
    last_frame_at = models.DateTimeField(_("last detection"), null=True, blank=True)
    offline = models.BooleanField(_("offline"), default=False)
    offline_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("camera")
        verbose_name_plural = _("cameras")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Zone(models.Model):
    """A polygon in normalised image coordinates (x right, y down, 0..1) with its rule."""

    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="zones")
    name = models.CharField(_("name"), max_length=60)
    polygon = models.JSONField(_("polygon"), default=list)
    kind = models.CharField(_("rule"), max_length=24, choices=ZoneKind.choices)
    classes = models.JSONField(_("object classes"), default=list)
    min_confidence = models.FloatField(_("minimum confidence"), default=0.5)
    min_count = models.PositiveSmallIntegerField(_("objects needed"), default=1)
    dwell_minutes = models.FloatField(_("dwell (minutes)"), default=10)
    clear_minutes = models.FloatField(_("clear for (minutes)"), default=5)
    category_code = models.CharField(_("event category"), max_length=20)
    urgency = models.CharField(
        _("urgency"), max_length=10, choices=Urgency.choices, default=Urgency.NORMAL
    )
    active = models.BooleanField(_("active"), default=True)
    # the rule's running state (see engine.ZoneRun)
    presence_since = models.DateTimeField(null=True, blank=True)
    last_present_at = models.DateTimeField(null=True, blank=True)
    clear_since = models.DateTimeField(null=True, blank=True)
    last_frame_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["camera_id", "name"]
        verbose_name = _("camera zone")
        verbose_name_plural = _("camera zones")
        constraints = [
            models.UniqueConstraint(fields=["camera", "name"], name="camera_zone_name_unique")
        ]

    def __str__(self) -> str:
        return f"{self.camera_id}/{self.name}"


class Detection(models.Model):
    """One analysed frame as the AI box reported it (objects as JSON; an empty list means the
    frame was analysed and nothing was seen). Its snapshot is kept only when the frame opened
    or ended an episode."""

    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="detections")
    frame_id = models.CharField(max_length=100)
    at = models.DateTimeField(_("frame time"))
    received_at = models.DateTimeField(_("received"))
    seen = models.JSONField(_("objects seen"), default=list)
    present = models.JSONField(default=list)  # ids of the zones the frame showed occupied
    snapshot = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("detection")
        verbose_name_plural = _("detections")
        constraints = [
            models.UniqueConstraint(fields=["camera", "frame_id"], name="detection_frame_unique")
        ]
        indexes = [
            models.Index(fields=["camera", "at"], name="detection_camera_at"),
            models.Index(fields=["received_at"], name="detection_received"),
        ]

    def __str__(self) -> str:
        return f"{self.camera_id}/{self.frame_id}"


class Episode(models.Model):
    """One stretch of lasting occupancy of a zone and the event it opened."""

    zone = models.ForeignKey(Zone, on_delete=models.PROTECT, related_name="episodes")
    camera = models.ForeignKey(Camera, on_delete=models.PROTECT, related_name="episodes")
    grid_code = models.CharField(max_length=18, db_index=True)
    state = models.CharField(
        _("state"), max_length=8, choices=EpisodeState.choices, default=EpisodeState.OPEN
    )
    started_at = models.DateTimeField(_("occupied since"))
    opened_at = models.DateTimeField(_("opened"))
    event = models.ForeignKey(
        "events.Event", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cleared_at = models.DateTimeField(_("zone clear since"), null=True, blank=True)
    clear_confirmed_at = models.DateTimeField(
        _("clear after handling confirmed"), null=True, blank=True
    )
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    end_reason = models.CharField(
        _("ended because"), max_length=12, choices=EpisodeEnd.choices, blank=True
    )
    open_detection = models.ForeignKey(
        Detection, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    close_detection = models.ForeignKey(
        Detection, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    open_snapshot = models.CharField(max_length=120, blank=True)
    close_snapshot = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name = _("occupancy episode")
        verbose_name_plural = _("occupancy episodes")
        constraints = [
            models.UniqueConstraint(
                fields=["zone"],
                condition=models.Q(state="open"),
                name="episode_one_open_per_zone",
            )
        ]

    def __str__(self) -> str:
        return f"episode {self.pk} of zone {self.zone_id}"
