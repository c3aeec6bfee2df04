"""Exports of person–house data: masked unless the post may unmask and gives a reason, never a
child under 14, sensitive tags only for posts that may see them, every export audited (refusals
too) — through the service, the page, the API and the command."""

import csv
import io
import json
from datetime import date, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from tests.conftest import signed_in
from wangge.accounts.demo import COMMUNITY, GRID, STREET
from wangge.accounts.scope import SYSTEM
from wangge.core.errors import NotFound, PermissionDenied, ValidationError
from wangge.core.masking import mask_id_number, mask_phone
from wangge.core.models import AuditEntry
from wangge.people.crypto import Field, get_keyring
from wangge.people.idcard import make_id_number
from wangge.people.imports import COLUMNS, people_export
from wangge.people.models import House, Resident
from wangge.people.services import resident_register, resident_tag_set

pytestmark = pytest.mark.django_db
REASON = "燃气告警上门核实 E-1"


def _rows(lines) -> list[dict]:
    text = "".join(lines).lstrip("\ufeff")
    return list(csv.DictReader(io.StringIO(text)))


def _body(resp) -> str:
    if resp.streaming:
        return b"".join(resp.streaming_content).decode("utf-8")
    return resp.content.decode("utf-8")


def _full(r: Resident) -> tuple[str, str]:
    k = get_keyring()
    return (
        k.decrypt(r.id_number_enc, field=Field.ID_NUMBER) if r.id_number_enc else "",
        k.decrypt(r.phone_enc, field=Field.PHONE) if r.phone_enc else "",
    )


def _age(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _living(prefix: str):
    return Resident.objects.filter(grid_code__startswith=prefix, moved_out__isnull=True)


def _exports():
    return AuditEntry.objects.filter(action="export.people").order_by("id")


def test_masked_by_default_with_full_names_for_posts_that_keep_the_data(city, post_of):
    before = _exports().count()
    rows = _rows(people_export(actor=post_of("community"), code=GRID))
    assert list(rows[0]) == [*COLUMNS, "tags"]
    adults = [r for r in _living(GRID) if r.birth_date and _age(r.birth_date, date.today()) >= 14]
    with_id = [r for r in adults if r.id_number_enc]
    assert len(rows) == len(adults) and with_id
    exported_ids = {row["id_number"] for row in rows}
    exported_phones = {row["phone"] for row in rows}
    for r in with_id:
        idn, phone = _full(r)
        assert mask_id_number(idn) in exported_ids and idn not in exported_ids
        if phone:
            assert mask_phone(phone) in exported_phones and phone not in exported_phones
    assert {row["name"] for row in rows} == {r.name for r in adults}  # secretary: full names
    entry = _exports().last()
    assert _exports().count() == before + 1
    assert (entry.object_id, entry.outcome, entry.post_id) == (GRID, "ok", post_of("community").pk)
    assert entry.details["masked"] is True and entry.details["rows"] == len(rows)


def test_dispatchers_get_masked_names_too(city, post_of):
    rows = _rows(people_export(actor=post_of("street"), code=GRID))
    assert rows and all("*" in row["name"] for row in rows)
    assert all("*" in row["id_number"] for row in rows if row["id_number"])


def test_code_defaults_to_the_posts_place_and_out_of_scope_is_not_found(city, post_of):
    people_export(actor=post_of("grid"))
    assert _exports().last().object_id == GRID
    with pytest.raises(NotFound):
        people_export(actor=post_of("community"), code=STREET + "002")
    with pytest.raises(NotFound):
        people_export(actor=post_of("community"), code="abc")
    with pytest.raises(PermissionDenied):
        people_export(actor=post_of("volunteer"), code=COMMUNITY + "003")


def test_unmasked_export_has_full_values_and_is_audited_with_its_reason(city, post_of):
    rows = _rows(people_export(actor=post_of("grid"), code=GRID, unmasked=True, reason=REASON))
    full = {_full(r)[0] for r in _living(GRID) if r.id_number_enc}
    exported = {row["id_number"] for row in rows if row["id_number"]}
    assert exported and exported <= full
    entry = _exports().last()
    assert entry.outcome == "ok" and entry.details["masked"] is False
    assert entry.details["reason"] == REASON and entry.details["rows"] == len(rows)


@pytest.mark.parametrize("username", ["cadre", "volunteer", "sysadmin"])
def test_unmasked_export_needs_the_unmask_permission(city, post_of, username):
    post = post_of(username)
    code = post.place_code or GRID
    before = _exports().count()
    with pytest.raises(PermissionDenied):
        people_export(actor=post, code=code, unmasked=True, reason=REASON)
    if username == "cadre":  # may view: the refusal of the unmasked export is audited
        entry = _exports().last()
        assert _exports().count() == before + 1
        assert entry.outcome == "denied" and entry.details["masked"] is False
    else:  # may not even view: refused before anything else, like every read
        assert _exports().count() == before


@pytest.mark.parametrize("reason", ["", "   ", "abc"])
def test_unmasked_export_needs_a_reason(city, post_of, reason):
    with pytest.raises(ValidationError) as exc:
        people_export(actor=post_of("community"), code=GRID, unmasked=True, reason=reason)
    assert exc.value.code == "reason_required"
    entry = _exports().last()
    assert entry.outcome == "denied" and entry.post_id == post_of("community").pk


def test_unmasked_exports_are_limited_per_day(city, post_of, settings, caplog):
    settings.WANGGE_UNMASKED_EXPORTS_PER_DAY = 2
    post = post_of("micro")
    for _i in range(2):
        people_export(actor=post, code=post.place_code, unmasked=True, reason=REASON)
    with pytest.raises(PermissionDenied) as exc:
        people_export(actor=post, code=post.place_code, unmasked=True, reason=REASON)
    assert exc.value.code == "export_rate"
    assert _exports().last().outcome == "denied"
    assert "security alert" in caplog.text
    people_export(actor=post, code=post.place_code)  # masked exports go on


def _house():
    return House.objects.filter(grid_code__startswith=GRID).order_by("id").first()


def _years_ago(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def test_children_under_14_are_never_exported_masked_or_not(city, post_of):
    today = date.today()
    born = {
        "just 14": _years_ago(today, 14),
        "turns 14 tomorrow": _years_ago(today, 14) + timedelta(days=1),
    }
    made = {}
    for seq, (label, birth) in zip((700, 702), born.items(), strict=True):
        made[label] = make_id_number("510104", birth, seq, "female")
        resident_register(
            actor=post_of("grid"), house=_house(), name="童测试", id_number=made[label]
        )
    actor, district = post_of("district"), "510104"
    rows = _rows(people_export(actor=actor, code=district, unmasked=True, reason=REASON))
    exported = {row["id_number"] for row in rows}
    assert made["just 14"] in exported and made["turns 14 tomorrow"] not in exported
    children = {
        _full(r)[0] for r in _living(district) if r.birth_date and _age(r.birth_date, today) < 14
    }
    assert len(children) > 50  # the demo's children: the test means something
    assert not exported & children
    adults = _living(district).count() - len(children)
    assert len(rows) == adults
    assert len(_rows(people_export(actor=actor, code=district))) == adults


def test_sensitive_tags_only_for_posts_that_may_see_them(city, post_of):
    r = _living(GRID).filter(birth_date__lt=date(1970, 1, 1)).order_by("id").first()
    resident_tag_set(actor=post_of("grid"), resident=r, tag_code="disabled")
    resident_tag_set(actor=post_of("grid"), resident=r, tag_code="elderly_alone")
    masked_id = mask_id_number(_full(r)[0])

    def tags_of(username):
        rows = _rows(people_export(actor=post_of(username), code=GRID))
        return next(row["tags"].split(";") for row in rows if row["id_number"] == masked_id)

    assert {"disabled", "elderly_alone"} <= set(tags_of("grid"))
    street = tags_of("street")
    assert "elderly_alone" in street and "disabled" not in street
    text = "".join(people_export(actor=post_of("street"), code=GRID))
    for hidden in ("disabled", "seriously_ill", "mental_health", "child_in_difficulty"):
        assert hidden not in text


def test_formula_like_text_is_defused(city, post_of):
    house = _house()
    idn = make_id_number("510104", date(1975, 3, 4), 801, "male")
    resident_register(actor=post_of("grid"), house=house, name="=HYPERLINK(1)", id_number=idn)
    rows = _rows(people_export(actor=post_of("grid"), code=GRID, unmasked=True, reason=REASON))
    row = next(row for row in rows if row["id_number"] == idn)
    assert row["name"] == "'=HYPERLINK(1)"


# --- the page -------------------------------------------------------------------------------
def _client(username: str) -> Client:
    """Signed in, pages in English (the default language of pages is Chinese)."""
    return signed_in(Client(headers={"accept-language": "en"}), username)


def test_export_page_masked_and_unmasked(city):
    c = _client("community")
    page = c.get("/people/export/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'value="{COMMUNITY}"' in html and 'name="unmasked"' in html
    resp = c.post("/people/export/", {"code": GRID})
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/csv")
    assert f"residents-{GRID}.csv" in resp["Content-Disposition"]
    assert resp["Cache-Control"] == "no-store"
    masked = _rows([_body(resp)])
    assert masked and all("*" in row["id_number"] for row in masked if row["id_number"])
    resp = c.post("/people/export/", {"code": GRID, "unmasked": "on", "reason": REASON})
    full = _rows([_body(resp)])
    assert "-unmasked.csv" in resp["Content-Disposition"]
    assert len(full) == len(masked) and all("*" not in row["id_number"] for row in full)


def test_export_page_keeps_the_choice_when_refused(city):
    c = _client("community")
    before = _exports().count()
    resp = c.post("/people/export/", {"code": GRID, "unmasked": "on", "reason": "ab"})
    html = resp.content.decode()
    assert resp.status_code == 200 and "text/html" in resp["Content-Type"]
    assert "at least 4 characters" in html
    assert 'name="unmasked" checked' in html and 'value="ab"' in html and f'value="{GRID}"' in html
    assert _exports().count() == before + 1 and _exports().last().outcome == "denied"
    out = c.post("/people/export/", {"code": STREET + "002"})
    assert out.status_code == 200 and "No place has the code" in out.content.decode()


def test_export_page_without_unmask_permission(city):
    c = _client("cadre")
    html = c.get("/people/export/").content.decode()
    assert 'name="unmasked"' not in html
    resp = c.post(
        "/people/export/", {"code": COMMUNITY + "002", "unmasked": "on", "reason": REASON}
    )
    assert "text/html" in resp["Content-Type"] and "may not export" in resp.content.decode()
    assert _client("volunteer").get("/people/export/").status_code == 404


def test_search_page_links_import_and_export(city):
    community = _client("community").get("/people/").content.decode()
    assert "/people/import/" in community and "/people/export/" in community
    street = _client("street").get("/people/").content.decode()
    assert "/people/import/" not in street and "/people/export/" in street


# --- the API --------------------------------------------------------------------------------
def test_api_export(city):
    c = _client("grid")
    resp = c.get("/api/people/export", {"code": GRID})
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/csv")
    masked = _rows([_body(resp)])
    assert masked and all("*" in row["id_number"] for row in masked if row["id_number"])
    resp = c.post(
        "/api/people/export",
        json.dumps({"code": GRID, "reason": REASON}),
        content_type="application/json",
    )
    assert resp.status_code == 200
    full = _rows([_body(resp)])
    assert len(full) == len(masked) and all("*" not in r["id_number"] for r in full)
    bad = c.post(
        "/api/people/export", json.dumps({"code": GRID, "reason": "x"}), "application/json"
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "reason_required"
    assert c.get("/api/people/export", {"code": STREET + "002"}).status_code == 404
    cadre = _client("cadre")
    refused = cadre.post(
        "/api/people/export",
        json.dumps({"code": COMMUNITY + "002", "reason": REASON}),
        "application/json",
    )
    assert refused.status_code == 403
    outcomes = list(_exports().values_list("outcome", flat=True))[-3:]
    assert outcomes == ["ok", "denied", "denied"]


# --- the command ----------------------------------------------------------------------------
def test_command_masked_and_unmasked(city, tmp_path, capsys):
    out = tmp_path / "masked.csv"
    call_command("export_people", "--code", GRID, "--out", str(out))
    masked = _rows([out.read_text(encoding="utf-8")])
    assert masked and all("*" in row["id_number"] for row in masked if row["id_number"])
    assert f"{len(masked)} residents written" in capsys.readouterr().out
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    entry = _exports().last()
    assert entry.role == "system" and entry.details["masked"] is True
    with pytest.raises(CommandError, match="exists"):
        call_command("export_people", "--code", GRID, "--out", str(out))
    with pytest.raises(CommandError, match="at least 4 characters"):
        call_command(
            "export_people", "--code", GRID, "--out", str(tmp_path / "x.csv"), "--unmasked"
        )
    assert not (tmp_path / "x.csv").exists()
    full_path = tmp_path / "full.csv"
    call_command(
        "export_people", "--code", GRID, "--out", str(full_path), "--unmasked", "--reason", REASON
    )
    full = _rows([full_path.read_text(encoding="utf-8")])
    assert len(full) == len(masked) and all("*" not in row["id_number"] for row in full)
    assert _exports().last().details["reason"] == REASON


def test_command_as_the_platform_sees_everything(city, tmp_path):
    out = tmp_path / "street.csv"
    call_command("export_people", "--code", STREET, "--out", str(out))
    assert len(_rows([out.read_text(encoding="utf-8")])) == len(
        _rows(people_export(actor=SYSTEM, code=STREET))
    )
