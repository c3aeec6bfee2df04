from django.db import models
from django.utils.translation import gettext_lazy as _

from wangge.events.enums import Urgency


class ZoneKind(models.TextChoices):
    VEHICLE_IN_FIRE_LANE = "vehicle_in_fire_lane", _("Vehicle in a fire lane (消防通道占用)")
    GARBAGE = "garbage", _("Garbage pile-up (垃圾堆积)")
    CROWD = "crowd", _("Crowd (人员聚集)")


class EpisodeState(models.TextChoices):
    OPEN = "open", _("Open")
    ENDED = "ended", _("Ended")


class EpisodeEnd(models.TextChoices):
    AUTO_CLOSED = "auto_closed", _("Closed automatically: the zone stayed clear")
    CLOSED = "closed", _("Closed by people")
    REJECTED = "rejected", _("Event rejected")
    MERGED = "merged", _("Event merged into another")


# The class the built-in analyser (``wangge camera-watch``) reports: a lasting foreground
# object of any kind. It counts for every zone except crowds (which count people).
GENERIC_CLASS = "object"


# What each kind of rule starts with; the form lets a manager change every value.
KIND_DEFAULTS: dict[str, dict] = {
    ZoneKind.VEHICLE_IN_FIRE_LANE: {
        "classes": ["car", "truck", "bus", "motorcycle"],
        "min_confidence": 0.5,
        "min_count": 1,
        "dwell_minutes": 10.0,
        "clear_minutes": 5.0,
        "category_code": "0501",  # 消防通道堵塞
        "urgency": Urgency.URGENT,
    },
    ZoneKind.GARBAGE: {
        "classes": ["garbage", "trash"],
        "min_confidence": 0.5,
        "min_count": 1,
        "dwell_minutes": 30.0,
        "clear_minutes": 5.0,
        "category_code": "0901",  # 垃圾堆积
        "urgency": Urgency.NORMAL,
    },
    ZoneKind.CROWD: {
        "classes": ["person"],
        "min_confidence": 0.5,
        "min_count": 20,
        "dwell_minutes": 5.0,
        "clear_minutes": 5.0,
        "category_code": "0702",  # 治安隐患
        "urgency": Urgency.URGENT,
    },
}

# Event titles are data (stored, shown as written), in the platform's language.
TITLE = {
    ZoneKind.VEHICLE_IN_FIRE_LANE: "消防通道被占用：{camera} {zone}",
    ZoneKind.GARBAGE: "垃圾堆积：{camera} {zone}",
    ZoneKind.CROWD: "人员聚集：{camera} {zone}",
}
