"""HTTP ingestion (signature, replay window, rate limit, batches) and the reading API's scope."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from tests.perception.conftest import device_make, house_in, payload
from wangge.accounts.demo import COMMUNITY
from wangge.perception.enums import DeadReason
from wangge.perception.models import Alarm, DeadLetter, DeviceMessage
from wangge.perception.signing import headers, sign

pytestmark = pytest.mark.django_db
URL = "/api/perception/messages"


def post(device_id, key, body, *, ts=None, sig=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    ts = int(time.time()) if ts is None else ts
    h = headers(device_id, key, ts, raw)
    if sig is not None:
        h["X-Signature"] = sig
    return Client().post(URL, data=raw, content_type="application/json", headers=h)


def test_signed_message_is_stored(city):
    device, key = device_make("smoke")
    r = post(device.device_id, key, payload(device, seq=1, battery=77))
    assert r.status_code == 200, r.content
    out = r.json()
    assert out["stored"] == 1 and out["results"][0]["status"] == "stored"
    m = DeviceMessage.objects.get(pk=out["results"][0]["message_id"])
    assert m.transport == "http" and m.channel == "heartbeat"
    device.refresh_from_db()
    assert device.battery == 77 and device.status == "online"


def test_batch_answers_each_message_in_order(city):
    device, key = device_make("gas")
    body = [
        payload(device, seq=1),
        payload(device, seq=1),
        {"device": device.device_id, "seq": 2},
        payload(device, seq=3, event="gas", value=40),
        payload("OTHER-DEVICE", seq=4, type="gas"),
    ]
    r = post(device.device_id, key, body)
    assert r.status_code == 200
    res = r.json()["results"]
    assert [x["status"] for x in res] == ["stored", "duplicate", "dead", "stored", "dead"]
    assert res[2]["reason"] == "schema" and res[4]["reason"] == "device_mismatch"
    assert res[3]["alarm_id"] == Alarm.objects.get(device=device).pk
    assert r.json()["stored"] == 2 and r.json()["dead"] == 2 and r.json()["duplicate"] == 1


def test_not_json_is_a_dead_letter_not_an_error(city):
    device, key = device_make("smoke")
    r = post(device.device_id, key, b"\xff garbage")
    assert r.status_code == 200 and r.json()["results"][0]["reason"] == "malformed"


def test_wrong_signature_is_refused_and_kept(city):
    device, key = device_make("smoke")
    r = post(device.device_id, key, payload(device, seq=1), sig="00" * 32)
    assert r.status_code == 401 and r.json()["error"]["code"] == "bad_signature"
    dl = DeadLetter.objects.get(reason=DeadReason.BAD_SIGNATURE)
    assert dl.device_id == device.pk and json.loads(dl.body)["seq"] == 1
    # another device's key does not sign for this one
    _other, other_key = device_make("smoke")
    assert post(device.device_id, other_key, payload(device, seq=1)).status_code == 401
    assert not DeviceMessage.objects.filter(device=device).exists()


@pytest.mark.parametrize("skew", [-301, 301])
def test_timestamps_outside_five_minutes_are_refused(city, skew):
    device, key = device_make("smoke")
    r = post(device.device_id, key, payload(device, seq=1), ts=int(time.time()) + skew)
    assert r.status_code == 401 and r.json()["error"]["code"] == "replay"
    assert DeadLetter.objects.filter(reason=DeadReason.REPLAY).count() == 1


def test_unknown_device_and_missing_headers(city):
    r = post("NOBODY-1", "k", payload("NOBODY-1", seq=1))
    assert r.status_code == 401 and r.json()["error"]["code"] == "unknown_device"
    assert DeadLetter.objects.filter(reason=DeadReason.UNKNOWN_DEVICE, device_ref="NOBODY-1")
    r = Client().post(URL, data=b"{}", content_type="application/json")
    assert r.status_code == 401


def test_rate_limit_per_device(city, settings):
    settings.WANGGE_SENSING_DEVICE_RATE = 2
    device, key = device_make("smoke")
    other, other_key = device_make("smoke")
    codes = [post(device.device_id, key, payload(device, seq=s)).status_code for s in (1, 2, 3)]
    assert codes == [200, 200, 429]
    assert post(other.device_id, other_key, payload(other, seq=1)).status_code == 200
    assert DeadLetter.objects.filter(reason=DeadReason.RATE_LIMITED).count() == 1


def test_signing_is_stable():
    assert sign("k", 1700000000, b"{}") == sign("k", "1700000000", b"{}")
    assert sign("k", 1700000000, b"{}") != sign("k", 1700000001, b"{}")


def _alarm(house=None):
    from tests.perception.test_alarms import raise_gas

    return raise_gas(device_make("gas", house=house)[0] if house else None)


def test_alarm_api_is_scoped(city, client_as):
    mine = _alarm()
    other = _alarm(house_in(COMMUNITY + "002"))
    micro = client_as("micro")
    ids = [a["id"] for a in micro.get("/api/perception/alarms?state=open").json()["items"]]
    assert mine.pk in ids and other.pk not in ids
    assert micro.get(f"/api/perception/alarms/{other.pk}").status_code == 404
    detail = micro.get(f"/api/perception/alarms/{mine.pk}").json()
    assert detail["plan_steps"] and detail["type"] == "gas"
    first = [s for s in detail["steps"] if s["note_key"] == "first_responder"]
    assert first and first[0]["note"] == "第一响应人"  # in the reader's language
    en = micro.get(f"/api/perception/alarms/{mine.pk}", HTTP_ACCEPT_LANGUAGE="en").json()
    assert "first responder" in [s["note"] for s in en["steps"]]
    assert client_as("cadre").get("/api/perception/alarms").status_code == 403
    r = micro.post(f"/api/perception/alarms/{mine.pk}/acknowledge")
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    assert micro.post(f"/api/perception/alarms/{other.pk}/acknowledge").status_code == 404
    r = micro.post(
        f"/api/perception/alarms/{mine.pk}/resolve",
        data={"note": ""},
        content_type="application/json",
    )
    assert r.status_code == 422


def test_device_api_and_cockpit_selectors_are_scoped(city, client_as):
    device = device_make("smoke")[0]
    far = device_make("smoke", house=house_in(COMMUNITY + "002"))[0]
    micro = client_as("micro")
    ids = {d["device_id"] for d in micro.get("/api/perception/devices").json()["items"]}
    assert device.device_id in ids and far.device_id not in ids
    assert micro.get(f"/api/perception/devices/{far.device_id}").status_code == 404
    assert micro.get("/api/perception/counts?code=510104").status_code == 404
    community = client_as("community")
    counts = community.get(f"/api/perception/counts?code={COMMUNITY}").json()
    assert counts["devices"] >= 2
    _alarm()
    feed = community.get(f"/api/perception/feed?code={COMMUNITY}").json()
    assert feed and feed[0]["title"].startswith(feed[0]["type_label"]) and "url" in feed[0]
