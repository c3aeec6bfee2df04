"""The camera pages: who sees them, scope, forms that keep input, the zone editor, keys shown
once, snapshots served only in scope."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.cameras.factories import CAR_IN, OTHER_STREET_GRID, T0, camera, feed, jpeg, zone
from wangge.cameras.models import Camera, Zone
from wangge.cameras.services import key_hash

pytestmark = pytest.mark.django_db
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def cams(post_of):
    mine, _ = camera(post_of("community"), name="水井坊东门")
    zone(post_of("community"), mine)
    feed(mine, T0, 11, objects=[CAR_IN], snapshot=jpeg((200, 40, 40)))
    far, _ = camera(post_of("district"), grid_code=OTHER_STREET_GRID, name="远处摄像头")
    return mine, far


def test_the_list_shows_the_cameras_in_scope_with_filters(client_as, cams):
    mine, far = cams
    r = client_as("community").get("/cameras/", **EN)
    assert r.status_code == 200
    body = r.content.decode()
    assert mine.name in body and far.name not in body and "zone occupied" in body
    r = client_as("community").get("/cameras/?status=offline", **EN)
    assert mine.name not in r.content.decode()
    r = client_as("district").get(f"/cameras/?q={far.code}", **EN)
    assert far.name in r.content.decode() and mine.name not in r.content.decode()
    assert client_as("grid").get("/cameras/", **EN).status_code == 200  # sensing view
    assert client_as("volunteer").get("/cameras/", **EN).status_code == 404


def test_the_camera_page_shows_zones_frames_episodes_and_events(client_as, cams):
    mine, far = cams
    r = client_as("grid").get(f"/cameras/{mine.pk}/", **EN)
    assert r.status_code == 200
    body = r.content.decode()
    ep = mine.episodes.get()
    assert "消防通道" in body and ep.event.number in body and f"/events/{ep.event_id}/" in body
    assert f"/cameras/episodes/{ep.pk}/open.jpg" in body
    assert "Draw a zone" not in body  # viewing only
    assert client_as("grid").get(f"/cameras/{far.pk}/", **EN).status_code == 404
    assert client_as("grid").get(f"/cameras/episodes/{ep.pk}/open.jpg").status_code == 200
    far_ep = client_as("street").get(f"/cameras/episodes/{ep.pk}/open.jpg")
    assert far_ep.status_code == 200  # the street covers the community
    assert client_as("volunteer").get(f"/cameras/episodes/{ep.pk}/open.jpg").status_code == 404


def test_registering_shows_the_key_once_and_keeps_input_on_error(client_as, post_of):
    c = client_as("community")
    r = c.post("/cameras/new/", {"code": "PG-1", "name": "", "grid_code": "510104017001001"}, **EN)
    assert r.status_code == 422 and 'value="PG-1"' in r.content.decode()
    assert not Camera.objects.filter(code="PG-1").exists()
    r = c.post(
        "/cameras/new/",
        {"code": "PG-1", "name": "小区北门", "grid_code": OTHER_STREET_GRID},
        **EN,
    )
    assert r.status_code == 422 and "outside your area" in r.content.decode()
    r = c.post(
        "/cameras/new/",
        {"code": "PG-1", "name": "小区北门", "grid_code": "510104017001001", "active": "on"},
        **EN,
    )
    assert r.status_code == 200
    key = re.search(r'id="camera-key">([^<]+)<', r.content.decode()).group(1)
    cam = Camera.objects.get(code="PG-1")
    assert cam.key_hash == key_hash(key) and key not in cam.key_hash
    # a new key through the page replaces it
    r = c.post(f"/cameras/{cam.pk}/key/", **EN)
    new = re.search(r'id="camera-key">([^<]+)<', r.content.decode()).group(1)
    cam.refresh_from_db()
    assert new != key and cam.key_hash == key_hash(new)
    assert client_as("grid").get("/cameras/new/").status_code == 404  # views, does not manage


def test_editing_a_camera(client_as, cams):
    mine, _far = cams
    c = client_as("community")
    r = c.get(f"/cameras/{mine.pk}/edit/", **EN)
    assert r.status_code == 200 and mine.key_prefix in r.content.decode()
    data = {
        "name": "水井坊东门（新）",
        "grid_code": mine.grid_code,
        "vendor": "海康",
        "active": "on",
    }
    r = c.post(f"/cameras/{mine.pk}/edit/", data, **EN)
    assert r.status_code == 302
    mine.refresh_from_db()
    assert mine.name == "水井坊东门（新）" and mine.vendor == "海康" and mine.code.startswith("T-")
    r = c.post(f"/cameras/{mine.pk}/disable/", **EN)
    mine.refresh_from_db()
    assert r.status_code == 302 and not mine.active


def test_the_zone_editor_takes_points_as_text_and_keeps_them_on_error(client_as, cams):
    mine, _far = cams
    c = client_as("community")
    r = c.get(f"/cameras/{mine.pk}/zones/new/", **EN)
    body = r.content.decode()
    assert r.status_code == 200 and "cameras/zone-draw.js" in body and 'id="zone-defaults"' in body
    assert 'id="id_polygon"' in body and f"/cameras/{mine.pk}/snapshot/" in body
    bad = {"name": "垃圾点", "kind": "garbage", "polygon": "0.1,0.1; 0.5,0.5"}
    r = c.post(f"/cameras/{mine.pk}/zones/new/", bad, **EN)
    assert r.status_code == 422 and "0.1,0.1; 0.5,0.5" in r.content.decode()
    assert "at least three points" in r.content.decode()
    good = {**bad, "polygon": "0.1,0.1; 0.5,0.1; 0.5,0.4; 0.1,0.4", "active": "on"}
    r = c.post(f"/cameras/{mine.pk}/zones/new/", good, **EN)
    assert r.status_code == 302
    z = Zone.objects.get(camera=mine, name="垃圾点")
    assert z.polygon == [[0.1, 0.1], [0.5, 0.1], [0.5, 0.4], [0.1, 0.4]]
    assert z.dwell_minutes == 30 and z.category_code == "0901" and "garbage" in z.classes
    r = c.get(f"/cameras/{mine.pk}/zones/{z.pk}/", **EN)
    assert "0.1,0.1; 0.5,0.1; 0.5,0.4; 0.1,0.4" in r.content.decode()
    assert client_as("grid").get(f"/cameras/{mine.pk}/zones/{z.pk}/").status_code == 404


def test_uploading_the_view_and_serving_it_in_scope(client_as, cams, post_of):
    _mine, far = cams
    c = client_as("district")
    up = SimpleUploadedFile("view.jpg", jpeg((10, 120, 10), (640, 480)), "image/jpeg")
    r = c.post(f"/cameras/{far.pk}/snapshot/upload/", {"image": up}, **EN)
    assert r.status_code == 302
    far.refresh_from_db()
    assert far.snapshot and (far.snapshot_width, far.snapshot_height) == (640, 480)
    r = c.get(f"/cameras/{far.pk}/snapshot/")
    assert r.status_code == 200 and r["Content-Type"] == "image/jpeg"
    assert client_as("community").get(f"/cameras/{far.pk}/snapshot/").status_code == 404
    not_image = SimpleUploadedFile("view.jpg", b"%PDF-1.4 not a picture", "image/jpeg")
    r = c.post(f"/cameras/{far.pk}/snapshot/upload/", {"image": not_image}, follow=True, **EN)
    assert "not" in r.content.decode().lower()  # the image check's message
    r = c.post(f"/cameras/{far.pk}/snapshot/fetch/", follow=True, **EN)
    assert "no snapshot URL" in r.content.decode()


def test_fetching_the_view_from_the_cameras_snapshot_url(client_as, post_of):
    import http.server
    import socket
    import threading

    picture = jpeg((30, 30, 200), (320, 240))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.end_headers()
            self.wfile.write(picture)

        def log_message(self, *a):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cam, _ = camera(
            post_of("community"),
            snapshot_url=f"http://127.0.0.1:{server.server_port}/snapshot.jpg",
        )
        r = client_as("community").post(f"/cameras/{cam.pk}/snapshot/fetch/", follow=True, **EN)
        assert "Picture fetched" in r.content.decode()
        cam.refresh_from_db()
        assert cam.snapshot and cam.snapshot_width == 320
    finally:
        server.shutdown()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    cam2, _ = camera(post_of("community"), snapshot_url=f"http://127.0.0.1:{closed}/x.jpg")
    r = client_as("community").post(f"/cameras/{cam2.pk}/snapshot/fetch/", follow=True, **EN)
    assert "could not be fetched" in r.content.decode()
