"""The issue's "done when", as the demo's people do it through the pages."""

import re

import pytest

from wangge.core.models import AuditEntry
from wangge.people.demo import WALKTHROUGH
from wangge.people.idcard import make_id_number
from wangge.verification.enums import RoundState

pytestmark = pytest.mark.django_db
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def test_secretary_finds_her_by_id_number_sees_red_and_household_and_unmasks_phone(client_as):
    secretary = client_as("community")
    w = WALKTHROUGH
    id_number = None
    for order in range(w["order"], w["order"] + 200, 2):
        candidate = make_id_number("510104", w["birth"], order, "female")
        found = secretary.post("/people/", {"q": candidate}, **EN).content.decode()
        if w["name"] in found:
            id_number = candidate
            break
    assert id_number, "the demo's walk-through resident is found by her ID number"
    assert id_number not in found  # the typed number is not echoed back
    rid = re.search(r'href="/people/(\d+)/"', found).group(1)
    page = secretary.get(f"/people/{rid}/", **EN).content.decode()
    assert "care-red" in page and "Elderly living alone" in page
    assert w["reason"] in page
    assert w["phone"] not in page and "138****1234" in page
    before = AuditEntry.objects.filter(action="people.unmask", object_id=rid).count()
    shown = secretary.post(
        f"/people/{rid}/",
        {"field": "phone", "reason": "独居老人走访，核实联系电话", "ref": "visit"},
        **EN,
    ).content.decode()
    assert w["phone"] in shown
    assert AuditEntry.objects.filter(action="people.unmask", object_id=rid).count() == before + 1


def test_grid_worker_completes_the_micro_grid_round_including_her_home(client_as):
    from wangge.verification.models import Round

    rnd = Round.objects.filter(place_code="510104017001001001", state=RoundState.OPEN).first()
    assert rnd is not None
    addresses = " ".join(str(t.house) for t in rnd.tasks.select_related("house__building"))
    assert "1单元601室" in addresses  # her home is one of the households to visit
