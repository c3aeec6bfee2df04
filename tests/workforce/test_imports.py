"""Roster import: the people import's row errors and modes (all or nothing; the good rows and an
error file), re-importing changes nothing, XLSX cells as a clerk typed them, and the page's
errors masked."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.conftest import demo_post, signed_in
from tests.workforce.conftest import COMMUNITY, GRID, MICRO, OTHER_COMMUNITY, phone, primary_of
from wangge.accounts.enums import Role
from wangge.accounts.models import Post
from wangge.core.errors import ValidationError
from wangge.core.masking import mask_phone
from wangge.people.crypto import Field, get_keyring
from wangge.workforce import selectors, services
from wangge.workforce.enums import AssignmentRole, WorkerKind, WorkerStatus
from wangge.workforce.imports import COLUMNS, roster_import
from wangge.workforce.models import Worker

pytestmark = pytest.mark.django_db


def _csv(tmp_path, rows, header=None, name="roster.csv"):
    path = tmp_path / name
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header or COLUMNS)
        for r in rows:
            w.writerow([r.get(c, "") for c in (header or COLUMNS)])
    return path


def _gaps(post) -> list[str]:
    return [
        g.code for g in selectors.coverage(actor=post, code=COMMUNITY).gaps if len(g.code) == 18
    ]


def _worker(number: str) -> Worker:
    return Worker.objects.get(phone_index=get_keyring().blind_index(number, field=Field.PHONE))


def test_a_good_roster_and_importing_it_again(city, tmp_path):
    secretary = demo_post("community")
    gaps = _gaps(secretary)
    p_micro, p_cadre, p_vol, p_police = phone(), phone(), phone(), phone()
    rows = [
        # one micro-grid worker for two micro-grids: one row per place
        {
            "name": "王芳",
            "kind": "微网格员",
            "phone": p_micro,
            "place_code": gaps[0],
            "skills": "急救、调解",
        },
        {"name": "王芳", "kind": "micro", "phone": p_micro, "place_code": gaps[1]},
        # a cadre waiting to be placed, registered at the community
        {
            "name": "赵强",
            "kind": "Sunk party cadre",
            "phone": p_cadre,
            "place_code": COMMUNITY,
            "origin": "区财政局",
        },
        {
            "name": "陈静",
            "kind": "volunteer",
            "phone": p_vol,
            "place_code": GRID,
            "team": "水井坊社区志愿服务队",
            "username": "vol-chenjing",
        },
        {
            "name": "刘警官",
            "kind": "police",
            "phone": p_police,
            "place_code": COMMUNITY,
            "unit": "JJ-GA",
            "role": "协助",
        },
    ]
    path = _csv(tmp_path, rows)
    result = roster_import(actor=secretary, path=path, mode="all")
    assert result.as_dict() == {
        "rows": 5,
        "created": 4,
        "updated": 1,
        "unchanged": 0,
        "errors": 0,
    }
    micro = _worker(p_micro)
    assert micro.kind == WorkerKind.MICRO and micro.place_code == COMMUNITY
    assert sorted(micro.skills) == ["first_aid", "mediation"]
    assert {a.place_code for a in micro.assignments.all()} == set(gaps[:2])
    assert all(a.role == AssignmentRole.PRIMARY for a in micro.assignments.all())
    assert (
        Post.objects.filter(
            user=micro.user, role=Role.MICRO_GRID_WORKER, place_code__in=gaps[:2], is_active=True
        ).count()
        == 2
    )
    cadre = _worker(p_cadre)
    assert cadre.origin == "区财政局" and not cadre.assignments.exists()
    assert cadre.pk in {w.pk for w in selectors.coverage(actor=secretary, code=COMMUNITY).unplaced}
    vol = _worker(p_vol)
    assert vol.user.username == "vol-chenjing" and vol.team.name == "水井坊社区志愿服务队"
    assert vol.assignments.get().role == AssignmentRole.HELPER
    police = _worker(p_police)
    assert police.unit.code == "JJ-GA" and police.assignments.get().place_code == COMMUNITY
    # again: nothing changes
    again = roster_import(actor=secretary, path=path, mode="all")
    assert again.as_dict() == {"rows": 5, "created": 0, "updated": 0, "unchanged": 5, "errors": 0}
    assert Worker.objects.filter(phone_index=micro.phone_index).count() == 1
    # a change of a detail is an update
    rows[2]["origin"] = "区教育局"
    result = roster_import(actor=secretary, path=_csv(tmp_path, rows, name="b.csv"), mode="all")
    assert (result.updated, result.unchanged) == (1, 4)
    cadre.refresh_from_db()
    assert cadre.origin == "区教育局"


def test_row_errors_and_all_or_nothing(city, tmp_path):
    secretary = demo_post("community")
    gaps = _gaps(secretary)
    left = services.worker_register(
        actor=secretary, name="退休", kind="micro", phone=phone(), place_code=COMMUNITY
    )
    services.worker_status_set(actor=secretary, worker=left, status=WorkerStatus.LEFT)
    left_phone = get_keyring().decrypt(left.phone_enc, field=Field.PHONE)
    twice = phone()
    rows = [
        {"name": "", "kind": "micro", "phone": phone(), "place_code": gaps[0]},  # 2
        {"name": "甲", "kind": "wizard", "phone": phone(), "place_code": gaps[0]},  # 3
        {"name": "乙", "kind": "micro", "phone": "12345", "place_code": gaps[0]},  # 4
        {"name": "丙", "kind": "micro", "phone": phone(), "place_code": OTHER_COMMUNITY + "001001"},
        {"name": "丁", "kind": "micro", "phone": phone(), "place_code": COMMUNITY + "999"},  # 6
        {"name": "戊", "kind": "full_time", "phone": phone(), "place_code": gaps[0]},  # 7
        {"name": "己", "kind": "cadre", "phone": phone(), "place_code": GRID, "role": "primary"},
        {"name": "庚", "kind": "micro", "phone": phone(), "place_code": MICRO},  # 9: has one
        {"name": "辛", "kind": "micro", "phone": twice, "place_code": gaps[1]},  # 10
        {"name": "辛", "kind": "cadre", "phone": twice, "place_code": COMMUNITY},  # 11
        {"name": "壬", "kind": "micro", "phone": phone(), "place_code": gaps[1]},  # 12: 2nd
        {
            "name": "癸",
            "kind": "micro",
            "phone": phone(),
            "place_code": COMMUNITY,
            "skills": "飞行",
        },  # 13
        {
            "name": "子",
            "kind": "police",
            "phone": phone(),
            "place_code": COMMUNITY,
            "unit": "NOPE",
        },  # 14
        {
            "name": "丑",
            "kind": "micro",
            "phone": phone(),
            "place_code": COMMUNITY,
            "username": "grid",
        },  # 15: taken
        {"name": "寅", "kind": "micro", "phone": left_phone, "place_code": COMMUNITY},  # 16
        {"name": "卯", "kind": "micro", "phone": phone(), "place_code": gaps[2]},  # 17: good
    ]
    path = _csv(tmp_path, rows)
    before = Worker.objects.count()
    with pytest.raises(ValidationError) as exc:
        roster_import(actor=secretary, path=path, mode="all")
    assert exc.value.code == "import_invalid"
    errors = {(e["row"], e["column"]) for e in exc.value.details}
    assert errors == {
        (2, "name"),
        (3, "kind"),
        (4, "phone"),
        (5, "place_code"),
        (6, "place_code"),
        (7, "place_code"),
        (8, "role"),
        (9, "place_code"),
        (11, "kind"),
        (12, "place_code"),
        (13, "skills"),
        (14, "unit"),
        (15, "username"),
        (16, "phone"),
    }
    reasons = {(e["row"], e["column"]): e["reason"] for e in exc.value.details}
    # a place outside the scope reads like one that does not exist
    assert reasons[(5, "place_code")].split()[:2] == reasons[(6, "place_code")].split()[:2]
    assert "row 10" in reasons[(12, "place_code")]
    assert Worker.objects.count() == before  # nothing written
    # good rows only: the good rows are in, the bad ones in the error file
    error_path = tmp_path / "errors.csv"
    result = roster_import(actor=secretary, path=path, mode="good", error_path=error_path)
    assert (result.created, result.bad_rows) == (2, 14)  # rows 10 and 17
    assert Worker.objects.count() == before + 2
    assert primary_of(gaps[2]) is not None and primary_of(gaps[1]) is not None
    with open(error_path, encoding="utf-8-sig") as fh:
        bad = list(csv.DictReader(fh))
    assert len(bad) == 14 and bad[0]["error"].startswith("name: ")
    assert [b["name"] for b in bad][1:3] == ["甲", "乙"]


def test_phones_typed_into_a_spreadsheet_are_read_as_typed(city, tmp_path):
    from openpyxl import Workbook

    secretary = demo_post("community")
    gap = _gaps(secretary)[0]
    number = phone()
    wb = Workbook()
    ws = wb.active
    ws.append(["姓名", "人员类别", "手机号码", "网格编码"])
    # Excel keeps a typed number as a float (an 18-digit code has to be typed as text: a float
    # holds 15 or so digits)
    ws.append(["周敏", "微网格员", float(number), gap])
    path = tmp_path / "roster.xlsx"
    wb.save(path)
    result = roster_import(actor=secretary, path=path, mode="all")
    assert result.created == 1
    w = _worker(number)
    assert w.assignments.get().place_code == gap


def test_the_import_page_shows_errors_masked_and_gives_the_error_file(city):
    c = signed_in(Client(), "community")
    secretary = demo_post("community")
    gap = _gaps(secretary)[0]
    number = phone()
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["姓名", "人员类别", "手机号码", "网格编码"])
    w.writerow(["吴刚", number, number, gap])  # the phone typed into the kind column too
    w.writerow(["郑红", "micro", phone(), gap])
    upload = SimpleUploadedFile("r.csv", buf.getvalue().encode("utf-8"), content_type="text/csv")
    r = c.post("/workforce/import/", {"mode": "good", "file": upload})
    text = r.content.decode()
    assert r.status_code == 200
    assert number not in text and mask_phone(number) in text
    assert gap in text or r.context["result"]["created"] == 1
    token = r.context["error_token"]
    assert token
    errors = c.get(f"/workforce/import/errors/{token}/")
    assert errors.status_code == 200
    content = b"".join(errors.streaming_content).decode("utf-8-sig")
    assert "kind:" in content and number in content  # the clerk's own file, as given
    # another post (even of the same user) does not get it
    assert (
        signed_in(Client(), "street").get(f"/workforce/import/errors/{token}/").status_code == 404
    )
    # the template
    t = c.get("/workforce/import/template.csv")
    assert t.status_code == 200 and "手机号码" in t.content.decode("utf-8-sig")
    # a grid worker has no import
    assert signed_in(Client(), "grid").get("/workforce/import/").status_code == 404


def test_the_command(city, tmp_path):
    from django.core.management import call_command

    secretary = demo_post("community")
    gap = _gaps(secretary)[0]
    path = _csv(tmp_path, [{"name": "钱多", "kind": "micro", "phone": phone(), "place_code": gap}])
    out = io.StringIO()
    call_command("import_workers", str(path), stdout=out)
    assert "created 1" in out.getvalue() and primary_of(gap) is not None
