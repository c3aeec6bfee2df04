import csv
from datetime import date

import pytest
from django.core.management import CommandError, call_command

from wangge.accounts.scope import SYSTEM
from wangge.core.errors import ValidationError
from wangge.core.models import AuditEntry
from wangge.people.idcard import make_id_number
from wangge.people.imports import COLUMNS, people_export, people_import
from wangge.people.models import Building, Resident

pytestmark = pytest.mark.django_db
GRID = "510104017001001001"


def _row(**kw):
    row = {
        "grid_code": GRID,
        "address": "锦江区锦官驿街道测试路1号1栋",
        "building": "1栋",
        "unit": "1",
        "floor": "3",
        "room": "301",
        "house_use": "出租",
        "name": "赵测试",
        "id_number": make_id_number("510104", date(1980, 5, 6), 21, "male"),
        "phone": "13911112222",
        "registration": "户籍人口",
        "relation": "户主",
        "moved_in": "2015-06-01",
        "lon": "",
        "lat": "",
    }
    row.update(kw)
    return row


def _write(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return path


def _good_rows():
    return [
        _row(),
        _row(
            name="钱测试",
            relation="配偶",
            phone="13911113333",
            id_number=make_id_number("510104", date(1982, 1, 2), 22, "female"),
        ),
        _row(
            address="锦江区锦官驿街道测试路1号2栋",
            room="101",
            name="孙测试",
            id_number=make_id_number("510122", date(1990, 7, 8), 23, "male"),
            phone="",
        ),
    ]


BAD = {
    "check digit": (_row(id_number="510104198005060210"), "id_number"),
    "unknown grid": (
        _row(
            grid_code="510104999999999999",
            id_number=make_id_number("510104", date(1970, 1, 1), 1, "male"),
        ),
        "grid_code",
    ),
    "no name": (
        _row(name="", id_number=make_id_number("510104", date(1971, 1, 1), 1, "male")),
        "name",
    ),
    "bad date": (
        _row(
            moved_in="2015/13/01", id_number=make_id_number("510104", date(1972, 1, 1), 1, "male")
        ),
        "moved_in",
    ),
    "bad relation": (
        _row(relation="邻居", id_number=make_id_number("510104", date(1973, 1, 1), 1, "male")),
        "relation",
    ),
    "bad phone": (
        _row(phone="12", id_number=make_id_number("510104", date(1974, 1, 1), 1, "male")),
        "phone",
    ),
}


def test_good_file_imports_and_reimport_changes_nothing(city, tmp_path):
    path = _write(tmp_path / "p.csv", _good_rows())
    r = people_import(actor=SYSTEM, path=path)
    assert (r.created, r.updated, r.unchanged, len(r.errors)) == (3, 0, 0, 0)
    assert Building.objects.filter(address__startswith="锦江区锦官驿街道测试路").count() == 2
    again = people_import(actor=SYSTEM, path=path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    rows = _good_rows()
    rows[0]["phone"] = "13900000000"
    changed = people_import(actor=SYSTEM, path=_write(tmp_path / "p2.csv", rows))
    assert (changed.created, changed.updated, changed.unchanged) == (0, 1, 2)


@pytest.mark.parametrize("case", sorted(BAD))
def test_all_or_nothing_writes_nothing(city, tmp_path, case):
    bad, column = BAD[case]
    path = _write(tmp_path / "p.csv", [*_good_rows(), bad])
    before = Resident.objects.count()
    with pytest.raises(ValidationError) as exc:
        people_import(actor=SYSTEM, path=path, mode="all")
    assert exc.value.details[0]["row"] == 5 and exc.value.details[0]["column"] == column
    assert Resident.objects.count() == before
    assert bad["id_number"] not in str(exc.value.details)  # no number in the error text


def test_good_rows_mode_writes_an_error_file(city, tmp_path):
    rows = [
        *_good_rows(),
        *(b for b, _c in BAD.values()),
        _row(id_number=_good_rows()[0]["id_number"], name="重复"),
    ]
    path = _write(tmp_path / "p.csv", rows)
    r = people_import(actor=SYSTEM, path=path, mode="good", error_path=tmp_path / "err.csv")
    assert r.created == 3 and r.bad_rows == len({e.row for e in r.errors}) == len(BAD) + 1
    with open(tmp_path / "err.csv", encoding="utf-8-sig") as fh:
        fixed = list(csv.DictReader(fh))
    assert len(fixed) == len(BAD) + 1 and all(f["error"] for f in fixed)
    assert any("duplicate ID number" in f["error"] for f in fixed)
    assert AuditEntry.objects.filter(action="people.import").exists()


def test_out_of_scope_rows_are_refused(city, tmp_path, post_of):
    path = _write(tmp_path / "p.csv", _good_rows())
    r = people_import(actor=post_of("micro"), path=path, mode="good")  # micro-grid 001 only
    assert r.created == 3
    other = _write(tmp_path / "o.csv", [_row(grid_code="510104017001001002")])
    with pytest.raises(ValidationError):
        people_import(actor=post_of("micro"), path=other, mode="all")


def test_xlsx_import(city, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["网格编码", "地址", "房号", "姓名", "身份证号码", "电话"])
    ws.append(
        [
            GRID,
            "锦江区锦官驿街道测试路9号1栋",
            "101",
            "周表格",
            make_id_number("510104", date(1960, 2, 3), 5, "female"),
            "13611112222",
        ]
    )
    wb.save(tmp_path / "p.xlsx")
    assert people_import(actor=SYSTEM, path=tmp_path / "p.xlsx").created == 1


def test_export_is_masked_without_children_and_audited(city, post_of):
    lines = list(people_export(actor=post_of("community"), code="510104017001"))
    text = "".join(lines)
    assert lines[0].lstrip("\ufeff").startswith("grid_code,")
    assert "********" in text and "****" in text
    births = list(
        Resident.objects.filter(grid_code__startswith="510104017001").values_list(
            "birth_date", flat=True
        )
    )
    children = sum(1 for b in births if b and b.year > date.today().year - 13)
    assert len(lines) - 1 <= len(births) - children
    assert AuditEntry.objects.filter(action="export.people", object_id="510104017001").exists()


def test_import_command(city, tmp_path, capsys):
    path = _write(tmp_path / "p.csv", [*_good_rows(), BAD["no name"][0]])
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_people", str(path))
    call_command("import_people", str(path), "--mode", "good")
    out = capsys.readouterr().out
    assert "created 3" in out and "p.errors.csv" in out
