"""Person–house data through the services and selectors, with the demo city's posts."""

import pytest
from django.test import override_settings

from wangge.accounts.scope import SYSTEM
from wangge.core.errors import NotFound, PermissionDenied, ValidationError
from wangge.core.models import AuditEntry
from wangge.people import selectors, services
from wangge.people.crypto import Field, get_keyring
from wangge.people.idcard import make_id_number
from wangge.people.models import House, Resident

pytestmark = pytest.mark.django_db


def _house(prefix="510104017001001001"):
    return House.objects.filter(grid_code__startswith=prefix).first()


def _register(post, **kw):
    from datetime import date

    idn = kw.pop("id_number", make_id_number("510104", date(1950, 3, 1), 7, "female"))
    return services.resident_register(
        actor=post,
        house=kw.pop("house", _house()),
        name=kw.pop("name", "王秀华"),
        id_number=idn,
        phone=kw.pop("phone", "13812345678"),
        **kw,
    ), idn


def test_register_encrypts_and_searches_by_blind_index(post_of):
    grid = post_of("grid")
    r, idn = _register(grid)
    r.refresh_from_db()
    assert idn not in r.id_number_enc and "13812345678" not in r.phone_enc
    assert r.sex == "female" and r.birth_date.year == 1950
    assert get_keyring().decrypt(r.id_number_enc, field=Field.ID_NUMBER) == idn
    # the community secretary finds her by exact ID number and by phone
    secretary = post_of("community")
    assert list(selectors.resident_search(actor=secretary, q=idn)) == [r]
    assert list(selectors.resident_search(actor=secretary, q="138 1234 5678")) == [r]
    # outside the scope she does not exist
    assert not selectors.resident_search(actor=post_of("cadre"), q=idn).exists()
    with pytest.raises(NotFound):
        selectors.resident_get(actor=post_of("cadre"), resident_id=r.pk)


def test_views_are_masked_per_role(post_of):
    r, idn = _register(post_of("grid"))
    for who in ("grid", "community", "street", "district", "commander", "micro"):
        post = post_of(who)
        if not selectors.scope_for(post).covers(r.grid_code):
            continue
        view = selectors.resident_view(actor=post, resident=r)
        text = repr(view)
        assert idn not in text and "13812345678" not in text, who
        assert view.id_number.startswith("510104") and view.id_number.endswith(idn[-4:])
        assert view.phone == "138****5678"
    # dispatchers above the community see masked names; those keeping the data, full ones
    assert selectors.resident_view(actor=post_of("street"), resident=r).name == "王*华"
    assert selectors.resident_view(actor=post_of("grid"), resident=r).name == "王秀华"


def test_unmask_needs_a_reason_and_is_audited(post_of):
    r, idn = _register(post_of("grid"), house=_house("510104017001001002"))
    secretary = post_of("community")
    with pytest.raises(ValidationError):
        services.resident_unmask(actor=secretary, resident=r, field="phone", reason="")
    value = services.resident_unmask(
        actor=secretary,
        resident=r,
        field="phone",
        reason="独居老人燃气告警，联系本人",
        ref="event-1",
    )
    assert value == "13812345678"
    entry = AuditEntry.objects.filter(action="people.unmask").latest("id")
    assert entry.object_id == str(r.pk) and entry.details["field"] == "phone"
    assert "13812345678" not in str(entry.details)
    # out of scope (the neighbouring micro-grid's worker): not found; no permission: refused
    with pytest.raises(NotFound):
        services.resident_unmask(
            actor=post_of("micro"), resident=r, field="phone", reason="看看而已"
        )
    for who in ("sysadmin", "volunteer", "auditadmin"):
        with pytest.raises(PermissionDenied):
            services.resident_unmask(
                actor=post_of(who), resident=r, field="id_number", reason="看看而已"
            )


def test_a_childs_record_needs_the_secretarys_approval(post_of):
    from datetime import date

    grid, secretary = post_of("grid"), post_of("community")
    child, _ = _register(
        grid,
        name="李小明",
        relation="child",
        id_number=make_id_number("510104", date(2018, 6, 1), 11, "male"),
        phone="",
    )
    with pytest.raises(PermissionDenied, match="child"):
        services.resident_unmask(
            actor=grid, resident=child, field="id_number", reason="核对户籍信息"
        )
    assert AuditEntry.objects.filter(action="people.unmask", outcome="denied").exists()
    with pytest.raises(PermissionDenied):
        services.child_unmask_approve(actor=grid, resident=child, post=grid, reason="核对")
    services.child_unmask_approve(actor=secretary, resident=child, post=grid, reason="入学材料核对")
    assert services.resident_unmask(
        actor=grid, resident=child, field="id_number", reason="核对户籍信息"
    ).startswith("510104")


@override_settings(WANGGE_UNMASK_PER_HOUR=3)
def test_unusual_unmask_volume_is_refused_and_alerted(post_of):
    r, _ = _register(post_of("grid"))
    secretary = post_of("community")
    for _i in range(3):
        services.resident_unmask(actor=secretary, resident=r, field="phone", reason="回访核实")
    with pytest.raises(PermissionDenied):
        services.resident_unmask(actor=secretary, resident=r, field="phone", reason="回访核实")
    assert AuditEntry.objects.filter(action="people.unmask_refused").exists()


def test_id_numbers_are_validated_and_unique(post_of):
    grid = post_of("grid")
    _, idn = _register(grid)
    with pytest.raises(ValidationError, match="already registered"):
        _register(grid, id_number=idn)
    bad = idn[:-1] + ("0" if idn[-1] != "0" else "1")
    with pytest.raises(ValidationError) as exc:
        _register(grid, id_number=bad)
    assert bad not in exc.value.message  # the number never appears in an error


def test_sensitive_tags_do_not_exist_for_others(post_of):
    r, _ = _register(post_of("grid"))
    services.resident_tag_set(actor=post_of("grid"), resident=r, tag_code="disabled")
    services.resident_tag_set(actor=post_of("grid"), resident=r, tag_code="elderly_alone")
    assert "disabled" in selectors.resident_view(actor=post_of("community"), resident=r).tags
    street = post_of("street")
    assert selectors.resident_view(actor=street, resident=r).tags == ["elderly_alone"]
    with pytest.raises(ValidationError, match="Unknown tag"):
        selectors.resident_list(actor=street, filters={"tag": "disabled"})
    with pytest.raises(ValidationError, match="Unknown tag"):
        selectors.resident_list(actor=street, filters={"tag": "no-such-tag"})
    assert selectors.resident_list(actor=street, filters={"tag": "elderly_alone"}).exists()


def test_care_level_history(post_of):
    r, _ = _register(post_of("grid"))
    services.care_level_set(actor=post_of("grid"), resident=r, level="yellow", reason="独居")
    services.care_level_set(
        actor=post_of("community"), resident=r, level="red", reason="摔倒后行动不便"
    )
    r.refresh_from_db()
    assert r.care_level == "red"
    history = selectors.care_history(actor=post_of("community"), resident=r)
    assert [a.level for a in history] == ["red", "yellow"]
    view = selectors.resident_view(actor=post_of("community"), resident=r)
    assert view.visit_every_days == 7


def test_the_demo_city_has_people(city):
    assert Resident.objects.count() > 5_000
    aged = Resident.objects.filter(birth_date__year__lte=1966).count() / Resident.objects.count()
    assert 0.12 < aged < 0.35
    assert Resident.objects.filter(care_level="red").exists()
    assert not Resident.objects.filter(id_number_enc__regex=r"\d{17}").exists()
    households = House.objects.count()
    # ≈ 2.5 a household at the demo's size; the test city has ~1 resident a micro-grid, so the
    # last household of each is cut short
    assert 1.2 < Resident.objects.count() / households < 3.0


def test_no_plaintext_number_reaches_the_database(post_of):
    from django.db import connection

    r, idn = _register(post_of("grid"), phone="13998765432")
    with connection.cursor() as cur:
        cur.execute("SELECT * FROM people_resident WHERE id = %s", [r.pk])
        row = " ".join(str(v) for v in cur.fetchone())
        cur.execute("SELECT details FROM core_auditentry")
        log = " ".join(str(v[0]) for v in cur.fetchall())
    for secret in (idn, "13998765432"):
        assert secret not in row and secret not in log


def test_key_rotation_keeps_every_value_readable_and_searchable(post_of, capsys):
    from django.core.management import call_command

    from wangge.people.crypto import reset_keyring

    r, idn = _register(post_of("grid"), phone="13700001111")
    before = Resident.objects.get(pk=r.pk)
    old_key = get_keyring().active_key_id
    call_command("keys", "rotate")
    out = capsys.readouterr().out
    keys = get_keyring()
    assert keys.active_key_id != old_key and "re-encrypted" in out
    after = Resident.objects.get(pk=r.pk)
    assert after.id_number_enc != before.id_number_enc
    assert f":{keys.active_key_id}:" in after.id_number_enc
    assert after.id_number_index == before.id_number_index
    reset_keyring()  # as another process would: it reads keys.json again
    assert get_keyring().decrypt(after.id_number_enc, field=Field.ID_NUMBER) == idn
    assert list(selectors.resident_search(actor=post_of("community"), q=idn)) == [after]
    # every resident of the demo moved to the new key; running again changes nothing
    assert (
        not Resident.objects.exclude(id_number_enc="")
        .exclude(id_number_enc__contains=f":{keys.active_key_id}:")
        .exists()
    )
    assert services.keys_reencrypt(actor=SYSTEM) == 0


def test_pinyin_initials_search(post_of):
    from wangge.people.pinyin import initials

    assert (
        initials("王秀英") == "wxy" and initials("单雄信") == "sxx" and initials("曾小贤") == "zxx"
    )
    grid = post_of("grid")
    r, _idn = _register(grid, name="褚桂兰")
    found = selectors.resident_search(actor=post_of("community"), q="CGL")
    assert r in list(found)
    assert all(x.name_initials.startswith("cgl") for x in found)
    services.resident_correct(actor=grid, resident=r, changes={"name": "褚桂芬"})
    assert r in list(selectors.resident_search(actor=post_of("community"), q="cgf"))
    assert not selectors.resident_search(actor=post_of("cadre"), q="cgf").filter(pk=r.pk).exists()
