"""For every demo role: the people pages, the API, the export and their error responses, and every
log line written meanwhile (all loggers at DEBUG, SQL included), hold no full ID number and no
full mobile number — except the one value the role unmasked, and only in the unmask answer."""

import json
import logging
import re
from datetime import date

import pytest
from django.db import connection
from django.test import Client

from tests.conftest import demo_post, signed_in
from wangge.accounts.demo import DEMO_ACCOUNTS, MICRO
from wangge.accounts.enums import Perm
from wangge.accounts.rules import has_perm
from wangge.accounts.scope import scope_for
from wangge.core.masking import mask_id_number, mask_phone
from wangge.people.crypto import Field, get_keyring
from wangge.people.models import Resident
from wangge.regions.models import Grid, Region

pytestmark = pytest.mark.django_db

ROLES = [username for username, *_rest in DEMO_ACCOUNTS]  # every demo role
# A full number standing on its own (not part of a longer run of letters and digits, such as a
# hex blind index or a CSRF token).
ID_RE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
PHONE_RE = re.compile(r"(?<![0-9A-Za-z.])1[3-9]\d{9}(?![0-9A-Za-z])")
REASON = "燃气告警上门核实 E-7"


@pytest.fixture
def place_codes(city) -> set[str]:
    """Grid and region codes: 18-digit micro-grid codes are shown on pages, and are no ID."""
    return set(Grid.objects.values_list("code", flat=True)) | set(
        Region.objects.values_list("code", flat=True)
    )


@pytest.fixture
def all_logs(caplog):
    """Every logger at DEBUG into ``caplog`` (also those that do not propagate), and SQL with its
    parameters logged as if DEBUG were on."""
    loggers = [logging.getLogger()] + [
        logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
    ]
    saved = [(lg, lg.level, lg.disabled) for lg in loggers]
    attached = []
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
        if not lg.propagate:
            lg.addHandler(caplog.handler)
            attached.append(lg)
    caplog.handler.setLevel(logging.DEBUG)
    connection.force_debug_cursor = True
    yield caplog
    connection.force_debug_cursor = False
    for lg in attached:
        lg.removeHandler(caplog.handler)
    for lg, level, disabled in saved:
        lg.setLevel(level)
        lg.disabled = disabled


def _full(r: Resident) -> tuple[str, str]:
    k = get_keyring()
    return (
        k.decrypt(r.id_number_enc, field=Field.ID_NUMBER),
        k.decrypt(r.phone_enc, field=Field.PHONE),
    )


def _adults(prefix: str):
    return (
        Resident.objects.filter(
            grid_code__startswith=prefix,
            moved_out__isnull=True,
            birth_date__lt=date(date.today().year - 20, 1, 1),
        )
        .exclude(id_number_enc="")
        .exclude(phone_enc="")
    )


def _target(post) -> tuple[Resident, str]:
    """An adult with an ID number and a phone whom the post sees (if it sees anyone), and the
    place to export."""
    scope = scope_for(post)
    seen = has_perm(post, Perm.PEOPLE_VIEW) and scope.prefixes
    prefix = MICRO if (not seen or scope.covers(MICRO)) else scope.root
    return _adults(prefix).order_by("id").first(), prefix


def _outsider(post) -> int:
    """A resident the post does not see (or no resident at all: the answer is the same)."""
    scope = scope_for(post)
    for r in _adults("5101").order_by("-id")[:500]:
        if not scope.covers(r.grid_code):
            return r.pk
    return Resident.objects.order_by("-id").first().pk + 1000


def _text(resp) -> str:
    if getattr(resp, "streaming", False):
        return b"".join(resp.streaming_content).decode("utf-8")
    return resp.content.decode("utf-8")


def _found(text: str, place_codes: set[str]) -> list[str]:
    ids = [m for m in ID_RE.findall(text) if m not in place_codes]
    return ids + PHONE_RE.findall(text)


def test_the_scanner_finds_what_it_looks_for(city, place_codes):
    r, _prefix = _target(None)
    idn, phone = _full(r)
    assert _found(f'{{"id": "{idn}", "phone": "{phone}"}}', place_codes) == [idn, phone]
    assert _found(f"args=('{idn}',)", place_codes) == [idn]
    assert _found(f"{mask_id_number(idn)} {mask_phone(phone)} {MICRO}", place_codes) == []


@pytest.mark.parametrize("username", ROLES)
def test_no_full_numbers_anywhere_for_any_role(city, username, all_logs, place_codes):
    c = signed_in(Client(), username)
    post = demo_post(username)
    target, prefix = _target(post)
    idn, phone = _full(target)
    assert ID_RE.fullmatch(idn) and PHONE_RE.fullmatch(phone)  # what the scan would catch
    outsider = _outsider(post)
    sees = has_perm(post, Perm.PEOPLE_VIEW) and scope_for(post).covers(target.grid_code)
    may_unmask = sees and has_perm(post, Perm.PEOPLE_UNMASK)
    api = f"/api/people/residents/{target.pk}"
    unmask_body = json.dumps({"field": "phone", "reason": REASON, "ref": "E-7"})

    responses = {
        "list page": c.get("/people/"),
        "name search page": c.get("/people/", {"q": target.name}),
        "ID search page": c.post("/people/", {"q": idn}),
        "phone search page": c.post("/people/", {"q": phone}),
        "detail page": c.get(f"/people/{target.pk}/"),
        "API list": c.get("/api/people/residents"),
        "API name search": c.get("/api/people/residents", {"q": target.name}),
        "API ID search": c.get("/api/people/residents", {"q": idn}),
        "API detail": c.get(api),
        "export page": c.get("/people/export/"),
        "export": c.post("/people/export/", {"code": prefix}),
        "API export": c.get("/api/people/export", {"code": prefix}),
        # errors
        "bad care level page": c.get("/people/", {"care_level": "purple"}),
        "bad care level API": c.get("/api/people/residents", {"care_level": "purple"}),
        "unknown tag API": c.get("/api/people/residents", {"tag": "no_such_tag"}),
        "hidden tag API": c.get("/api/people/residents", {"tag": "disabled"}),
        "unknown tag page": c.get("/people/", {"tag": "no_such_tag"}),
        "out of scope API": c.get(f"/api/people/residents/{outsider}"),
        "out of scope page": c.get(f"/people/{outsider}/"),
        "malformed id API": c.get("/api/people/residents/abc"),
        "bad reason API": c.post(
            f"{api}/unmask",
            json.dumps({"field": "id_number", "reason": "x"}),
            content_type="application/json",
        ),
        "bad reason page": c.post(f"/people/{target.pk}/", {"field": "id_number", "reason": ""}),
        "bad field API": c.post(
            f"{api}/unmask",
            json.dumps({"field": "id_card", "reason": REASON}),
            content_type="application/json",
        ),
        "bad export reason": c.post(
            "/people/export/", {"code": prefix, "unmasked": "on", "reason": "x"}
        ),
        "bad export reason API": c.post(
            "/api/people/export",
            json.dumps({"code": prefix, "reason": "x"}),
            content_type="application/json",
        ),
        "out of scope export API": c.get("/api/people/export", {"code": "5101049"}),
    }
    unmasked = c.post(f"{api}/unmask", unmask_body, content_type="application/json")
    # after unmasking, the value is still shown nowhere else
    responses["detail page after"] = c.get(f"/people/{target.pk}/")
    responses["API detail after"] = c.get(api)
    responses["API phone search after"] = c.get("/api/people/residents", {"q": phone})

    texts = {what: _text(resp) for what, resp in responses.items()}
    for what, text in texts.items():
        assert not _found(text, place_codes), (username, what)
    logs = "\n".join(
        [r.getMessage() for r in all_logs.records]
        + [r.exc_text or "" for r in all_logs.records]
        + [all_logs.text]
    )
    assert any("SELECT" in r.getMessage() for r in all_logs.records)  # SQL was logged
    assert not _found(logs, place_codes), username

    if may_unmask:
        assert unmasked.status_code == 200
        assert _found(_text(unmasked), place_codes) == [phone]
        assert unmasked.json()["value"] == phone
    else:
        assert unmasked.status_code in (403, 404)
        assert not _found(_text(unmasked), place_codes)

    if sees:  # the resident is really on these pages, masked
        for what in ("detail page", "API detail", "ID search page", "API ID search"):
            assert mask_id_number(idn) in texts[what], (username, what)
            assert mask_phone(phone) in texts[what], (username, what)
        assert mask_phone(phone) in texts["API phone search after"]
        assert responses["export"]["Content-Type"].startswith("text/csv")
        assert mask_id_number(idn) in texts["export"] and mask_id_number(idn) in texts["API export"]
        assert responses["bad care level API"].status_code == 422
        assert responses["unknown tag API"].status_code == 422
        assert responses["out of scope API"].status_code == 404
        assert responses["bad reason API"].status_code == (422 if may_unmask else 403)
    else:
        assert responses["detail page"].status_code == 404
        assert responses["API detail"].status_code in (403, 404)
        assert responses["export page"].status_code == 404
