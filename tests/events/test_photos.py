"""Event photos: checked before anything is stored, served only within scope."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from wangge.accounts.models import Unit
from wangge.events import services
from wangge.events.models import Event, Photo

pytestmark = pytest.mark.django_db
MICRO = "510104017001001001"


def _jpeg(color=(200, 30, 30), size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG")
    return buf.getvalue()


def _files(tmp_root):
    return sorted(p for p in tmp_root.rglob("*") if p.is_file())


def test_report_with_photos_and_serving_in_scope(client_as, settings):
    c = client_as("micro")
    photo = SimpleUploadedFile("crack.jpg", _jpeg(), content_type="image/jpeg")
    resp = c.post(
        "/api/events/with-photos",
        {"category": "0401", "title": "墙体开裂", "grid_code": MICRO, "photos": [photo]},
        HTTP_IDEMPOTENCY_KEY="with-photo-1",
    )
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert len(body["photos"]) == 1 and body["photos"][0]["kind"] == "before"
    url = body["photos"][0]["url"]
    got = client_as("community").get(url)
    assert got.status_code == 200 and got["Content-Type"] == "image/jpeg"
    assert client_as("community").get(body["photos"][0]["thumbnail"]).status_code == 200
    assert client_as("cadre").get(url).status_code == 404  # another grid's worker


def test_a_file_that_is_not_an_image_stores_nothing(client_as, settings):
    c = client_as("micro")
    before = (Event.objects.count(), Photo.objects.count())
    fake = SimpleUploadedFile("crack.jpg", b"%PDF-1.4 not a photo", content_type="image/jpeg")
    resp = c.post(
        "/api/events/with-photos",
        {"category": "0401", "title": "墙体开裂", "grid_code": MICRO, "photos": [fake]},
    )
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "not_an_image"
    assert (Event.objects.count(), Photo.objects.count()) == before


def test_too_big_is_refused(client_as, settings):
    settings.WANGGE_PHOTO_MAX_BYTES = 100
    resp = client_as("micro").post(
        "/api/events/with-photos",
        {
            "category": "0401",
            "title": "墙体开裂",
            "grid_code": MICRO,
            "photos": [SimpleUploadedFile("a.jpg", _jpeg(size=(200, 200)))],
        },
    )
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "too_large"


def test_handling_a_crack_needs_the_after_photo(post_of):
    from django.contrib.auth import get_user_model

    from wangge.accounts.enums import Role
    from wangge.accounts.scope import SYSTEM
    from wangge.accounts.services import post_grant

    e, _ = services.event_report(
        actor=post_of("micro"), source="patrol", category="0401", title="墙体开裂", grid_code=MICRO
    )
    services.event_transition(actor=post_of("community"), event=e, action="accept")
    user = get_user_model().objects.create_user("zj-handler", password="x" * 16)
    handler = post_grant(
        actor=SYSTEM,
        user=user,
        role=Role.UNIT_HANDLER,
        place_code="",
        unit=Unit.objects.get(code="JJ-ZJ"),
    )
    services.event_transition(actor=handler, event=e, action="acknowledge")
    with pytest.raises(Exception) as exc:
        services.event_transition(actor=handler, event=e, action="handle", note="已修补")
    assert getattr(exc.value, "code", "") == "photo_required"
    services.event_transition(
        actor=handler, event=e, action="handle", note="已修补", photos=[_jpeg((20, 160, 20))]
    )
    e.refresh_from_db()
    assert e.state == "handled" and e.photos.filter(kind="after").count() == 1
    services.event_transition(actor=post_of("grid"), event=e, action="verify_pass")
    e.refresh_from_db()
    assert e.state == "closed" and e.closed_on_time
    assert [x.action for x in e.log.all()] == [
        "report",
        "accept",
        "dispatch",
        "acknowledge",
        "handle",
        "verify_pass",
    ]
