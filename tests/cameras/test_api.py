"""POST /api/perception/detections: the camera's key, its own code, idempotent frames, clear
422s; and the scoped reads."""

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.cameras.factories import CAR_IN, OTHER_STREET_GRID, camera, jpeg, zone
from wangge.cameras import services
from wangge.cameras.models import Detection, Episode
from wangge.core.models import AuditEntry

pytestmark = pytest.mark.django_db
URL = "/api/perception/detections"


@pytest.fixture
def cam(post_of):
    c, key = camera(post_of("community"))
    zone(post_of("community"), c)
    return c, key


def post(client, key, body, **extra):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key is not None else {}
    return client.post(
        URL, data=json.dumps(body, default=str), content_type="application/json", **headers
    )


def frame(c, fid="frame-1", *, objects=(), at=None, **kw):
    return {
        "camera": c.code,
        "time": (at or timezone.now()).isoformat(),
        "id": fid,
        "objects": list(objects),
        **kw,
    }


def test_a_frame_with_the_cameras_key_is_taken_once(client, cam):
    c, key = cam
    r = post(client, key, frame(c, objects=[CAR_IN]))
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["duplicate"] is False and len(body["present_zones"]) == 1
    r2 = post(client, key, frame(c, objects=[CAR_IN]))
    assert r2.status_code == 200 and r2.json()["duplicate"] is True
    assert r2.json()["id"] == body["id"]
    assert Detection.objects.filter(camera=c).count() == 1
    c.refresh_from_db()
    assert c.last_frame_at is not None


def test_missing_or_wrong_key_is_401_and_stores_nothing(client, cam):
    c, key = cam
    for k in (None, "", "wgcam_not-the-key", key + "x"):
        r = post(client, k, frame(c))
        assert r.status_code == 401, k
        assert r.json()["error"]["code"] == "unauthenticated"
    assert not Detection.objects.filter(camera=c).exists()


def test_a_session_or_api_token_is_not_a_camera_key(client_as, cam):
    c, _key = cam
    r = client_as("community").post(URL, data=json.dumps(frame(c)), content_type="application/json")
    assert r.status_code == 401


def test_another_cameras_code_is_refused(client, cam, post_of):
    c, key = cam
    other, other_key = camera(post_of("community"))
    r = post(client, key, frame(other))
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_camera"
    assert not Detection.objects.filter(camera__in=[c, other]).exists()


def test_a_rotated_or_disabled_camera_key_stops_working(client, cam, post_of):
    c, key = cam
    c, new_key = services.camera_rotate_key(actor=post_of("community"), camera=c)
    assert post(client, key, frame(c, "a")).status_code == 401
    assert post(client, new_key, frame(c, "b")).status_code == 201
    services.camera_disable(actor=post_of("community"), camera=c)
    assert post(client, new_key, frame(c, "c")).status_code == 401
    actions = set(
        AuditEntry.objects.filter(object_type="cameras.camera", object_id=str(c.pk)).values_list(
            "action", flat=True
        )
    )
    assert {"cameras.register", "cameras.rotate_key", "cameras.disable"} <= actions
    assert not AuditEntry.objects.filter(details__icontains=new_key).exists()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"objects": [{"class": "car", "confidence": 2, "box": [0, 0, 1, 1]}]}, "confidence"),
        ({"objects": [{"class": "car", "confidence": 0.5, "box": [0, 0, 1]}]}, "box"),
        ({"objects": [{"class": "car", "confidence": 0.5, "box": [0.9, 0, 0.1, 1]}]}, "box"),
        ({"objects": [{"confidence": 0.5, "box": [0, 0, 1, 1]}]}, "class"),
        ({"time": "not a time"}, "time"),
        ({"id": ""}, "id"),
        ({"objects": None}, "objects"),
        ({"snapshot": "%%%not-base64"}, "snapshot"),
        ({"snapshot": base64.b64encode(b"GIF89a not a jpeg").decode()}, "snapshot"),
    ],
)
def test_bad_payloads_are_422_with_the_field_and_store_nothing(client, cam, change, field):
    c, key = cam
    r = post(client, key, {**frame(c), **change})
    assert r.status_code == 422, r.content
    assert field in json.dumps(r.json()["error"])
    assert not Detection.objects.filter(camera=c).exists()


def test_a_frame_from_the_future_is_refused(client, cam):
    c, key = cam
    r = post(client, key, frame(c, at=timezone.now() + timedelta(hours=1)))
    assert r.status_code == 422 and "time" in json.dumps(r.json())


def test_the_dwell_through_the_api_opens_an_event_with_the_snapshot(client, cam):
    c, key = cam
    start = timezone.now() - timedelta(minutes=12)
    snap = base64.b64encode(jpeg((180, 20, 20))).decode()
    opened = []
    for m in range(12):
        r = post(
            client,
            key,
            frame(c, f"f{m}", objects=[CAR_IN], at=start + timedelta(minutes=m), snapshot=snap),
        )
        assert r.status_code == 201
        opened += r.json()["events_opened"]
    assert len(opened) == 1
    ep = Episode.objects.get(camera=c)
    assert ep.event_id == opened[0] and ep.event.photos.count() == 1
    c.refresh_from_db()
    assert c.snapshot  # the first snapshot became the camera's reference picture


def test_reads_are_scoped(client_as, cam, post_of):
    c, _key = cam
    far, _ = camera(post_of("district"), grid_code=OTHER_STREET_GRID)
    r = client_as("community").get("/api/perception/cameras")
    codes = {x["code"] for x in r.json()["items"]}
    assert c.code in codes and far.code not in codes
    assert client_as("community").get(f"/api/perception/cameras/{far.pk}").status_code == 404
    r = client_as("community").get(f"/api/perception/cameras/{c.pk}")
    assert r.status_code == 200 and r.json()["zones"][0]["kind"] == "vehicle_in_fire_lane"
    assert client_as("district").get(f"/api/perception/cameras/{far.pk}").status_code == 200
    # no sensing permission: sees no camera
    assert client_as("volunteer").get(f"/api/perception/cameras/{c.pk}").status_code == 404
