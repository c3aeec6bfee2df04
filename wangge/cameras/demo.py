"""Demo step ``cameras``: three AI cameras watching fire lanes in 水井坊社区 (the demo accounts'
community), played through the real services so the pages have something to show:

- ``JJ-CAM-001`` a car has stood in its fire lane for half an hour: an open episode and its
  event waiting for the community;
- ``JJ-CAM-002`` earlier today a car blocked its lane for a quarter of an hour, the fire
  brigade's handler moved it on (handled), and the frames then showed the lane clear for five
  minutes: the platform verified and closed the event itself;
- ``JJ-CAM-003`` no frames yet: the one to watch with the built-in analyser. The step writes two
  folders of synthetic frames under the data directory (``camera-demo/JJ-CAM-003/blocked`` —
  the road, then a car parked in the lane for 13 minutes — and ``…/cleared``), for::

    wangge camera-watch --camera JJ-CAM-003 --source <data>/camera-demo/JJ-CAM-003/blocked \\
        --fps 1 --time-scale 60 --end-now --once

  (see docs/cameras.md for the whole walk-through). The cameras' keys for their AI boxes are
  written to ``demo-camera-keys.txt`` (mode 0600) beside the demo accounts.

Cheap (about 60 frames and a few transitions) and safe to run again: cameras are found by code,
frames by their ids, and the events only move on from the state they are in.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import cv2
import shapely
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from wangge.accounts.models import Post
from wangge.accounts.scope import SYSTEM
from wangge.cameras import services, synth
from wangge.cameras.detections import detection_ingest
from wangge.cameras.models import Camera, Episode
from wangge.core.errors import ApplicationError
from wangge.demo.registry import DemoContext, demo_step
from wangge.events.enums import EventState

GRIDS = ("510104017001001", "510104017001002", "510104017001003")
CAMERAS = [
    ("JJ-CAM-001", "水井坊1号院消防通道", "锦官驿街道水井坊社区1号院北侧"),
    ("JJ-CAM-002", "水井坊2号院消防通道", "锦官驿街道水井坊社区2号院东侧"),
    ("JJ-CAM-003", "水井坊3号院消防通道（内置分析演示）", "锦官驿街道水井坊社区3号院南门"),
]
KEYS_FILE = "demo-camera-keys.txt"
CAR_OBJ = {"class": "car", "confidence": 0.91, "box": list(synth.CAR)}
MIN = timedelta(minutes=1)


def _jpeg(img) -> bytes:
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


def _point(grid_code: str) -> tuple[float | None, float | None]:
    from wangge.regions.models import Grid

    g = Grid.objects.filter(code=grid_code).values_list("geometry", flat=True).first()
    if not g:
        return None, None
    p = shapely.from_geojson(g).representative_point()
    return round(p.x, 6), round(p.y, 6)


def _camera(code: str, name: str, address: str, grid: str) -> tuple[Camera, str]:
    cam = Camera.objects.filter(code=code).first()
    if cam is not None:
        return cam, ""
    lon, lat = _point(grid)
    cam, key = services.camera_register(
        actor=SYSTEM,
        code=code,
        name=name,
        grid_code=grid,
        lon=lon,
        lat=lat,
        address=address,
        vendor="演示AI盒子",
        snapshot_url="",
    )
    services.camera_snapshot_set(actor=SYSTEM, camera=cam, data=_jpeg(synth.frame(seed=7)))
    services.zone_save(
        actor=SYSTEM,
        camera=cam,
        name="消防通道",
        polygon=synth.FIRE_LANE,
        kind="vehicle_in_fire_lane",
    )
    return cam, key


def _frames(cam: Camera, tag: str, start: datetime, minutes: int, objects, *, snap) -> list:
    out = []
    for m in range(minutes + 1):
        at = start + m * MIN
        out.append(
            detection_ingest(
                camera=cam,
                frame_id=f"demo-{tag}-{m:03d}",
                at=at,
                objects=objects,
                snapshot=snap,
                now=at,
            )
        )
    return out


def _post(username: str):
    return (
        Post.objects.select_related("user", "unit")
        .filter(user__username=username, is_active=True)
        .order_by("id")
        .first()
    )


def _handle(event, at: datetime) -> None:
    """The community accepts (dispatched to the fire brigade by rule), its handler moves the car
    on and reports it handled with a photo."""
    from wangge.events.services import event_transition

    community, xf = _post("community"), _post("handler-xf")
    if community is None or xf is None:
        return
    if event.state == EventState.REPORTED:
        event = event_transition(actor=community, event=event, action="accept", at=at)
    if event.state == EventState.DISPATCHED and event.unit_id == xf.unit_id:
        event = event_transition(actor=xf, event=event, action="acknowledge", at=at + 5 * MIN)
    if event.state == EventState.ACKNOWLEDGED:
        event_transition(
            actor=xf,
            event=event,
            action="handle",
            note="已联系车主将车辆移出消防通道",
            photos=[_jpeg(synth.frame(seed=11))],
            at=at + 20 * MIN,
        )


@demo_step(
    "cameras", order=70, description=_("AI cameras on fire lanes, their episodes and events")
)
def cameras(ctx: DemoContext) -> dict:
    now = timezone.now().replace(second=0, microsecond=0)
    keys = []
    made = []
    for (code, name, address), grid in zip(CAMERAS, GRIDS, strict=True):
        cam, key = _camera(code, name, address, grid)
        made.append(cam)
        if key:
            keys.append(f"{code}\t{key}")
    blocked, cleared = _jpeg(synth.frame(car=synth.CAR, seed=21)), _jpeg(synth.frame(seed=22))
    # JJ-CAM-001: the lane blocked for the last half hour
    one = made[0]
    _frames(one, "a", now - 45 * MIN, 14, [], snap=cleared)
    _frames(one, "b", now - 30 * MIN, 30, [CAR_OBJ], snap=blocked)
    # JJ-CAM-002: blocked this morning, handled, clear for five minutes → closed by the platform
    two = made[1]
    start = now - 4 * timedelta(hours=1)
    _frames(two, "a", start, 15, [CAR_OBJ], snap=blocked)
    ep = Episode.objects.filter(camera=two).order_by("id").first()
    closed = False
    if ep is not None and ep.event is not None:
        try:
            _handle(ep.event, start + 20 * MIN)
        except ApplicationError as exc:
            ctx.log(f"cameras: the demo event could not be handled: {exc.message}")
        _frames(two, "b", start + 60 * MIN, 10, [], snap=cleared)
        ep.refresh_from_db()
        closed = ep.event.state == EventState.CLOSED
    # JJ-CAM-003: frames for the built-in analyser
    folders = ""
    if ctx.data_dir is not None:
        base = ctx.data_dir / "camera-demo" / made[2].code
        synth.blocked_then_clear(base / "blocked", empty=3, parked=13)
        synth.write(base / "cleared", [synth.frame(seed=300 + i) for i in range(9)])
        folders = str(base)
        if keys:
            path = ctx.data_dir / KEYS_FILE
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write("# camera\tkey for its AI box (Authorization: Bearer …)\n")
                fh.write("\n".join(keys) + "\n")
        ctx.log(
            f"cameras: watch a fire lane with `wangge camera-watch --camera {made[2].code} "
            f"--source {base / 'blocked'} --fps 1 --time-scale 60 --end-now --once` "
            "(docs/cameras.md)"
        )
    return {
        "cameras": len(made),
        "open_episodes": Episode.objects.filter(camera__in=made, state="open").count(),
        "auto_closed": int(closed),
        "frames_folder": folders,
    }
