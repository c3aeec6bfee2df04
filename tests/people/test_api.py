import json

import pytest
from django.test import Client

from tests.conftest import signed_in
from wangge.core.models import AuditEntry
from wangge.people.crypto import Field, get_keyring
from wangge.people.models import Resident

pytestmark = pytest.mark.django_db


def _an_elder_in(prefix: str) -> Resident:
    return (
        Resident.objects.filter(
            grid_code__startswith=prefix, phone_enc__gt="", moved_out__isnull=True
        )
        .order_by("birth_date")
        .first()
    )


def _full(r: Resident) -> tuple[str, str]:
    k = get_keyring()
    return (
        k.decrypt(r.id_number_enc, field=Field.ID_NUMBER) if r.id_number_enc else "",
        k.decrypt(r.phone_enc, field=Field.PHONE) if r.phone_enc else "",
    )


def test_secretary_finds_by_id_number_sees_household_and_unmasks_phone(city):
    r = _an_elder_in("510104017001")
    idn, phone = _full(r)
    c = signed_in(Client(), "community")
    page = c.get("/api/people/residents", {"q": idn})
    assert page.status_code == 200
    body = page.content.decode()
    assert idn not in body and phone not in body
    items = page.json()["items"]
    assert [i["id"] for i in items] == [r.id]
    detail = c.get(f"/api/people/residents/{r.id}")
    assert detail.status_code == 200
    assert idn not in detail.content.decode() and phone not in detail.content.decode()
    r2 = c.post(
        f"/api/people/residents/{r.id}/unmask",
        json.dumps({"field": "phone", "reason": "燃气告警回访", "ref": "E-1"}),
        content_type="application/json",
    )
    assert r2.status_code == 200 and r2.json()["value"] == phone
    assert AuditEntry.objects.filter(action="people.unmask", object_id=str(r.id)).exists()


@pytest.mark.parametrize(
    "username",
    [
        "commander",
        "district",
        "street",
        "community",
        "grid",
        "micro",
        "cadre",
        "volunteer",
        "handler",
        "sysadmin",
        "secadmin",
        "auditadmin",
        "resident",
    ],
)
def test_no_full_numbers_in_any_response_for_any_role(city, username):
    c = signed_in(Client(), username)
    residents = list(Resident.objects.filter(grid_code__startswith="510104017001")[:20])
    secrets = [v for r in residents for v in _full(r) if v]
    responses = [c.get("/api/people/residents"), c.get("/api/people/residents", {"q": "王"})]
    responses += [c.get(f"/api/people/residents/{r.id}") for r in residents[:5]]
    responses += [c.get("/api/people/residents", {"q": secrets[0]})]
    for resp in responses:
        text = resp.content.decode()
        for s in secrets:
            assert s not in text, (username, resp.request["PATH_INFO"])


def test_out_of_scope_resident_is_404(city):
    r = _an_elder_in("510104018")
    c = signed_in(Client(), "community")
    assert c.get(f"/api/people/residents/{r.id}").status_code == 404
    resp = c.post(
        f"/api/people/residents/{r.id}/unmask",
        json.dumps({"field": "phone", "reason": "试一试看"}),
        content_type="application/json",
    )
    assert resp.status_code == 404


def test_hidden_sensitive_tag_filter_is_refused(city):
    c = signed_in(Client(), "street")
    assert c.get("/api/people/residents", {"tag": "disabled"}).status_code == 422
    assert c.get("/api/people/residents", {"tag": "elderly_alone"}).status_code == 200


def test_pages_search_and_unmask(city):
    r = _an_elder_in("510104017001")
    idn, phone = _full(r)
    c = signed_in(Client(), "community")
    page = c.post("/people/", {"q": idn}).content.decode()
    assert f"/people/{r.id}/" in page and idn not in page and phone not in page
    detail = c.get(f"/people/{r.id}/").content.decode()
    assert phone not in detail
    shown = c.post(f"/people/{r.id}/", {"field": "phone", "reason": "燃气告警回访"})
    assert phone in shown.content.decode()
    refused = c.post(f"/people/{r.id}/", {"field": "phone", "reason": ""})
    assert phone not in refused.content.decode()
    assert signed_in(Client(), "cadre").get(f"/people/{r.id}/").status_code == 404
    assert signed_in(Client(), "sysadmin").get("/people/").status_code == 404
    # a number never searches through the URL; a name redirects to a linkable GET
    assert idn not in c.get("/people/", {"q": idn}).content.decode()
    r3 = c.post("/people/", {"q": "王"})
    assert r3.status_code == 302 and "q=%E7%8E%8B" in r3["Location"]


def test_a_number_typed_with_dashes_or_spaces_is_searched_as_a_number_not_put_in_the_url(city):
    from wangge.people.text import is_exact_query

    r = _an_elder_in("510104017001")
    _idn, phone = _full(r)
    c = signed_in(Client(), "community")
    for typed in (f"{phone[:3]}-{phone[3:7]}-{phone[7:]}", f"{phone[:3]} {phone[3:7]} {phone[7:]}"):
        assert is_exact_query(typed)
        answer = c.post("/people/", {"q": typed})
        assert answer.status_code == 200  # not redirected to a GET with the number in it
        page = answer.content.decode()
        assert f"/people/{r.id}/" in page and phone not in page and typed not in page
    assert not is_exact_query("王秀英") and not is_exact_query("锦江区红星路")
