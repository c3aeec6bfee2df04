"""The AI cameras' API (mounted under /api/perception): vendor AI boxes post detections with
their camera's key; posts with the sensing permission read the cameras of their place."""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _
from ninja import Field, Router, Schema
from ninja.pagination import PageNumberPagination, paginate
from ninja.security import HttpBearer

from wangge.cameras import selectors
from wangge.cameras.detections import decode_snapshot, detection_ingest
from wangge.cameras.models import Camera
from wangge.cameras.services import key_hash
from wangge.core.errors import PermissionDenied
from wangge.core.http import client_ip
from wangge.core.ratelimit import limited

router = Router(tags=["cameras"])


class CameraKeyAuth(HttpBearer):
    openapi_description = (
        "The camera's key for its AI box: `Authorization: Bearer wgcam_…` (shown once when the "
        "camera is registered or its key rotated)."
    )

    def authenticate(self, request, token):
        if limited(f"camera-auth:{client_ip(request)}", limit=1200, window=60):
            return None
        digest = key_hash(token or "")
        cam = Camera.objects.filter(key_hash=digest).first()
        if cam is None or not hmac.compare_digest(cam.key_hash, digest) or not cam.active:
            return None
        request.camera = cam
        return cam


class ObjectIn(Schema):
    class_: str = Field(..., alias="class", min_length=1, max_length=40)
    confidence: float = Field(..., ge=0, le=1)
    box: list[float] = Field(..., min_length=4, max_length=4)


class DetectionIn(Schema):
    camera: str = Field(..., min_length=1, max_length=40)
    time: datetime
    id: str = Field(..., min_length=1, max_length=100)
    objects: list[ObjectIn] = Field(..., max_length=500)
    snapshot: str | None = None


class DetectionOut(Schema):
    id: int
    duplicate: bool
    present_zones: list[int]
    episodes_opened: list[int]
    episodes_closed: list[int]
    events_opened: list[int]


@router.post(
    "/detections",
    auth=CameraKeyAuth(),
    response={200: DetectionOut, 201: DetectionOut},
    summary="An AI box reports one analysed frame",
)
def post_detection(request, body: DetectionIn):
    """One analysed frame. ``objects`` empty means "analysed, nothing seen" (that is how a zone
    becomes clear); the same ``id`` again returns the first answer (200, duplicate). Boxes are
    ``[x1, y1, x2, y2]`` in normalised image coordinates (0..1, y down)."""
    cam = request.camera
    if body.camera != cam.code:
        raise PermissionDenied(_("This key belongs to another camera."), code="wrong_camera")
    objects = [{"class": o.class_, "confidence": o.confidence, "box": o.box} for o in body.objects]
    snapshot = decode_snapshot(body.snapshot)
    out = detection_ingest(
        camera=cam, frame_id=body.id, at=body.time, objects=objects, snapshot=snapshot
    )
    answer = {
        "id": out.detection.pk,
        "duplicate": not out.created,
        "present_zones": out.present,
        "episodes_opened": [e.pk for e in out.opened],
        "episodes_closed": [e.pk for e in out.closed],
        "events_opened": [e.event_id for e in out.opened if e.event_id],
    }
    return (201 if out.created else 200), answer


# --- reading --------------------------------------------------------------------------------------
class CameraOut(Schema):
    id: int
    code: str
    name: str
    grid_code: str
    lon: float | None
    lat: float | None
    address: str
    vendor: str
    active: bool
    offline: bool
    last_frame_at: datetime | None


class ZoneOut(Schema):
    id: int
    name: str
    kind: str
    polygon: list[list[float]]
    classes: list[str]
    min_confidence: float
    min_count: int
    dwell_minutes: float
    clear_minutes: float
    category_code: str
    urgency: str
    active: bool
    occupied_since: datetime | None = Field(None, alias="presence_since")


class CameraDetailOut(CameraOut):
    zones: list[ZoneOut]


@router.get("/cameras", response=list[CameraOut], summary="Cameras of one's place")
@paginate(PageNumberPagination, page_size=50)
def list_cameras(request, q: str = "", grid: str = "", status: str = "", vendor: str = "") -> Any:
    filters = {"q": q, "grid": grid, "status": status, "vendor": vendor}
    return selectors.camera_list(actor=request.post, filters=filters)


@router.get("/cameras/{camera_id}", response=CameraDetailOut, summary="A camera and its zones")
def get_camera(request, camera_id: int):
    cam = selectors.camera_get(actor=request.post, camera_id=camera_id)
    zones = selectors.camera_zones(actor=request.post, camera=cam)
    return {**{f: getattr(cam, f) for f in CameraOut.model_fields}, "zones": zones}
