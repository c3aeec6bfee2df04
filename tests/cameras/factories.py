"""Cameras, zones and frames for the tests, made through the services."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from wangge.cameras import services
from wangge.cameras.detections import detection_ingest

GRID = "510104017001001"  # 水井坊社区 第1网格 (the demo accounts' grid)
MICRO = GRID + "001"
OTHER_STREET_GRID = "510104018001001"  # another street of 锦江区
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # a Monday, 09:00 in Chengdu
LANE = [[0.2, 0.5], [0.8, 0.5], [0.8, 0.9], [0.2, 0.9]]

_n = [0]


def camera(actor, *, grid_code: str = GRID, code: str | None = None, **kw):
    _n[0] += 1
    cam, key = services.camera_register(
        actor=actor,
        code=code or f"T-CAM-{_n[0]}",
        name=kw.pop("name", f"测试摄像头{_n[0]}"),
        grid_code=grid_code,
        **kw,
    )
    return cam, key


def zone(actor, cam, **kw):
    values = {"name": "消防通道", "polygon": LANE, "kind": "vehicle_in_fire_lane", **kw}
    return services.zone_save(actor=actor, camera=cam, **values)


CAR_IN = {"class": "car", "confidence": 0.9, "box": [0.4, 0.55, 0.6, 0.8]}  # bottom-centre in
CAR_OUT = {"class": "car", "confidence": 0.9, "box": [0.4, 0.1, 0.6, 0.3]}  # above the lane


def feed(cam, start: datetime, minutes: float, *, objects, every: float = 1.0, tag="f", **kw):
    """One frame every ``every`` minutes for ``minutes`` from ``start`` (inclusive of both
    ends); returns the outcomes."""
    out = []
    k = 0
    while k * every <= minutes + 1e-9:
        at = start + timedelta(minutes=k * every)
        out.append(
            detection_ingest(
                camera=cam,
                frame_id=f"{tag}-{at.isoformat()}",
                at=at,
                objects=objects,
                now=at,
                **kw,
            )
        )
        k += 1
    return out


def jpeg(color=(120, 120, 120), size=(160, 120)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG")
    return buf.getvalue()
