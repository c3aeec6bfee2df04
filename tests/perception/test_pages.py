"""Pages: the right roles see them (200), others do not (404), objects outside the scope are
not found; the alarm page shows the home, the people masked per role, the plan, the contacts
(numbers in full only on an audited request), and its buttons work."""

from __future__ import annotations

import pytest

from tests.perception.conftest import device_make, house_in
from tests.perception.test_alarms import raise_gas
from wangge.accounts.demo import COMMUNITY
from wangge.core.audit import AuditEntry
from wangge.perception.enums import AlarmState
from wangge.perception.models import Alarm, ResponsePlan

pytestmark = pytest.mark.django_db
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def walkthrough_house():
    from wangge.people.models import Resident

    return Resident.objects.get(name="王秀英").house


@pytest.fixture
def alarm(city):
    return raise_gas(device_make("gas", house=walkthrough_house())[0])


def test_phone_inbox_and_acknowledge(alarm, client_as):
    c = client_as("micro")
    r = c.get("/sensing/alarms/", **EN)
    assert r.status_code == 200
    assert f'href="/sensing/alarms/{alarm.pk}/"'.encode() in r.content
    assert b"Acknowledge" in r.content
    r = c.post(
        f"/sensing/alarms/{alarm.pk}/", {"action": "acknowledge", "next": "/sensing/alarms/"}
    )
    assert r.status_code == 302 and r["Location"] == "/sensing/alarms/"
    alarm.refresh_from_db()
    assert alarm.state == AlarmState.ACKNOWLEDGED


def test_alarm_page_enriched_and_masked_per_role(alarm, client_as):
    micro = client_as("micro").get(f"/sensing/alarms/{alarm.pk}/", **EN)
    assert micro.status_code == 200
    body = micro.content.decode()
    assert "王秀英" in body  # the micro-grid worker keeps the data: full name
    assert "Elderly living alone" in body and "Call the household at once" in body
    assert "138****1234" in body and "13880461234" not in body  # phones masked until asked
    assert "Show the numbers to call" in body
    street = client_as("street").get(f"/sensing/alarms/{alarm.pk}/", **EN).content.decode()
    assert "王*英" in street and "王秀英" not in street


def test_contacts_in_full_on_request_and_audited(alarm, client_as):
    c = client_as("micro")
    r = c.post(f"/sensing/alarms/{alarm.pk}/contacts/", **EN)
    assert r.status_code == 200
    assert b'href="tel:13908172345"' in r.content and b'href="tel:13880461234"' in r.content
    assert AuditEntry.objects.filter(
        action="perception.alarm_contacts_unmask", object_id=str(alarm.pk)
    ).exists()
    assert client_as("street").post(f"/sensing/alarms/{alarm.pk}/contacts/").status_code == 200
    assert client_as("cadre").post(f"/sensing/alarms/{alarm.pk}/contacts/").status_code == 404


def test_resolve_form_keeps_the_note_on_error(alarm, client_as):
    c = client_as("micro")
    r = c.post(f"/sensing/alarms/{alarm.pk}/", {"action": "resolve", "note": "x"}, **EN)
    assert r.status_code == 422 and b">x</textarea>" in r.content
    r = c.post(f"/sensing/alarms/{alarm.pk}/", {"action": "false_alarm", "note": "cooking"})
    assert r.status_code == 302
    assert Alarm.objects.get(pk=alarm.pk).state == AlarmState.FALSE_ALARM


def test_scope_and_roles(alarm, client_as):
    far = raise_gas(device_make("gas", house=house_in(COMMUNITY + "002"))[0])
    micro = client_as("micro")
    assert micro.get(f"/sensing/alarms/{far.pk}/").status_code == 404
    assert micro.get("/sensing/alarms/999999/").status_code == 404
    cadre = client_as("cadre")
    for url in ("/sensing/alarms/", f"/sensing/alarms/{alarm.pk}/", "/sensing/devices/"):
        assert cadre.get(url).status_code == 404
    community = client_as("community")
    for url in (
        "/sensing/alarms/all/?state=open&type=gas",
        f"/sensing/alarms/{far.pk}/",
        "/sensing/devices/?status=online&type=gas",
        f"/sensing/devices/{alarm.device_id}/",
        "/sensing/dead-letters/?reason=duplicate",
        "/sensing/devices/new/",
        "/sensing/plans/",
    ):
        assert community.get(url, **EN).status_code == 200, url
    assert micro.get("/sensing/dead-letters/").status_code == 404
    assert micro.get("/sensing/devices/new/").status_code == 404
    outside = device_make("smoke", house=house_in("510104018"))[0]
    assert community.get(f"/sensing/devices/{outside.pk}/").status_code == 404


def test_desk_lists_filter(alarm, client_as):
    c = client_as("community")
    r = c.get("/sensing/alarms/all/?type=gas&state=new", **EN)
    assert f"/sensing/alarms/{alarm.pk}/".encode() in r.content
    r = c.get("/sensing/alarms/all/?type=smoke&state=resolved", **EN)
    assert f"/sensing/alarms/{alarm.pk}/".encode() not in r.content
    r = c.get(f"/sensing/devices/?q={alarm.device.device_id}", **EN)
    assert alarm.device.device_id.encode() in r.content and b"1 device" in r.content


def test_device_page_rotates_key_once(alarm, client_as):
    from wangge.perception.services import device_key

    c = client_as("community")
    r = c.post(f"/sensing/devices/{alarm.device_id}/", {"action": "rotate"}, **EN)
    assert r.status_code == 200
    alarm.device.refresh_from_db()
    key = device_key(alarm.device)
    assert key.encode() in r.content
    assert key.encode() not in c.get(f"/sensing/devices/{alarm.device_id}/").content
    assert (
        client_as("micro")
        .post(f"/sensing/devices/{alarm.device_id}/", {"action": "disable"})
        .status_code
        == 404
    )


def test_register_form_keeps_input(city, client_as):
    c = client_as("community")
    r = c.post(
        "/sensing/devices/new/",
        {"device_id": "bad id!", "type": "gas", "house": str(house_in().pk), "location": "厨房"},
        **EN,
    )
    assert r.status_code == 422 and b'value="bad id!"' in r.content and "厨房" in r.content.decode()
    r = c.post(
        "/sensing/devices/new/",
        {"device_id": "PAGE-1", "type": "gas", "house": str(house_in().pk)},
        **EN,
    )
    assert r.status_code == 200 and b"shown only now" in r.content


def test_plans_edited_by_the_city_administrator_only(city, client_as):
    admin = client_as("sysadmin")
    assert admin.get("/sensing/plans/", **EN).status_code == 200
    assert admin.get("/sensing/plans/gas/", **EN).status_code == 200
    plan = ResponsePlan.objects.get(alarm_type="gas")
    data = {
        "title": plan.title,
        "title_en": plan.title_en,
        "steps": "第一步\n第二步",
        "steps_en": "First\nSecond",
        "escalate_minutes": "3",
        "category": "0601",
        "urgency": "emergency",
    }
    bad = admin.post("/sensing/plans/gas/", {**data, "category": "06"}, **EN)
    assert bad.status_code == 422 and b"First\nSecond" in bad.content
    assert admin.post("/sensing/plans/gas/", data).status_code == 302
    plan.refresh_from_db()
    assert plan.escalate_minutes == 3 and plan.step_list("en") == ["First", "Second"]
    assert client_as("community").get("/sensing/plans/gas/").status_code == 404
    assert client_as("community").post("/sensing/plans/gas/", data).status_code == 404
