import csv
import itertools
import pickle
import threading
from datetime import date, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from wangge.accounts.scope import SYSTEM
from wangge.core.errors import ValidationError
from wangge.core.models import AuditEntry
from wangge.people import imports
from wangge.people.crypto import CipherSuite, Field, Keyring, get_keyring
from wangge.people.idcard import (
    IdNumberError,
    id_number_parts,
    make_id_number,
    validate_id_number,
)
from wangge.people.imports import COLUMNS, people_export, people_import
from wangge.people.models import Building, Resident
from wangge.people.pinyin import initials

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


# --- the fast paths of the import ----------------------------------------------------------------


@pytest.mark.parametrize("suite", list(CipherSuite))
@pytest.mark.parametrize("field", [Field.ID_NUMBER, Field.PHONE, "other"])
def test_field_crypto_makes_what_the_keyring_makes(suite, field):
    keys = Keyring.generate(suite)
    fast = keys.for_field(field)
    for value in [
        "11010519491231002x",
        " 138 1234 5678 ",
        "+86 13812345678",
        "１３８１２３４",
        "9",
    ]:
        assert fast.blind_index(value) == keys.blind_index(value, field=field)
        token = fast.encrypt(value)
        assert token.startswith(f"{suite}:{keys.active_key_id}:")
        assert keys.decrypt(token, field=field) == value
        assert fast.encrypt(value) != token  # a fresh nonce every time
    with pytest.raises(ValueError):
        fast.blind_index("   ")
    rotated = keys.rotate()
    assert rotated.decrypt(rotated.for_field(field).encrypt("1"), field=field) == "1"
    assert rotated.for_field(field).blind_index("12") == keys.blind_index("12", field=field)
    with pytest.raises(TypeError):
        pickle.dumps(fast)
    assert "key" not in repr(fast).replace("key_", "")


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(alphabet="0123456789Xx １２ ", min_size=14, max_size=20),
        st.builds(
            lambda d, seq, sex: make_id_number("510104", d, seq, sex),
            st.dates(date(1900, 1, 1), date(2020, 12, 31)),
            st.integers(0, 999),
            st.sampled_from(["male", "female"]),
        ),
    )
)
def test_id_number_parts_agrees_with_validate_id_number(s):
    today = date(2024, 6, 1)
    try:
        info = validate_id_number(s, today=today)
    except IdNumberError as exc:
        with pytest.raises(IdNumberError) as fast:
            id_number_parts(s, today=today)
        assert (fast.value.reason, fast.value.message) == (exc.reason, exc.message)
    else:
        assert id_number_parts(s, today=today) == (info.number, info.birth_date, info.sex)


def _many_rows(n, *, start=0):
    """``n`` good rows, two to three residents a house, 7 houses a building."""
    rows = []
    for i in range(start, start + n):
        house = i * 2 // 5
        rows.append(
            _row(
                address=f"锦江区批量路{house // 7}号",
                building="",
                unit=str(house % 2),
                room=f"{house % 7:03d}",
                floor=str(1 + house % 7) if i % 3 else "",
                house_use="",
                registration="",
                relation="",
                moved_in="" if i % 4 else "2020-02-29",
                name=f"批量{i}",
                id_number=make_id_number("510104", date(1950, 1, 1) + timedelta(days=i), 2, "male"),
                phone=f"139{i:08d}" if i % 5 else "",
            )
        )
    return rows


def test_many_batches_with_bad_rows_between(city, tmp_path, monkeypatch):
    """Small batches: houses and buildings shared across batches, bad rows reported with
    their row numbers, in order, the error file in file order; a second run changes nothing."""
    monkeypatch.setattr(imports, "BATCH", 4)
    rows = _many_rows(30)
    bad_at = {3: "no name", 4: "bad phone", 11: "check digit", 12: "bad date", 29: "bad relation"}
    for i, case in sorted(bad_at.items()):
        rows.insert(i, BAD[case][0])
    rows.append(_row(**{**rows[0], "name": "重复"}))  # a duplicate ID of row 2
    path = _write(tmp_path / "p.csv", rows)
    r = people_import(actor=SYSTEM, path=path, mode="good", error_path=tmp_path / "e.csv")
    assert (r.rows, r.created, r.updated, r.unchanged) == (36, 30, 0, 0)
    expected = [(i + 2, BAD[case][1]) for i, case in sorted(bad_at.items())] + [(37, "id_number")]
    assert [(e.row, e.column) for e in r.errors] == expected
    assert "(row 2)" in r.errors[-1].reason
    with open(tmp_path / "e.csv", encoding="utf-8-sig") as fh:
        assert [f["name"] for f in csv.DictReader(fh)] == [
            *(rows[i]["name"] for i in sorted(bad_at)),
            "重复",
        ]
    created = Resident.objects.filter(name__startswith="批量")
    assert created.count() == 30
    assert created.values("house_id").distinct().count() == 12  # 30 × 2 // 5
    assert Building.objects.filter(address__startswith="锦江区批量路").count() == 2
    again = people_import(actor=SYSTEM, path=path, mode="good")
    assert (again.created, again.updated, again.unchanged, again.bad_rows) == (0, 0, 30, 6)


def test_written_values(city, tmp_path):
    """What the fast path writes: the same as the service and the keyring would."""
    from wangge.regions.models import Grid

    rows = _many_rows(5)
    rows[1]["lon"], rows[1]["lat"] = "104.1", "30.6"
    rows[2]["address"] = "锦江区写入路1号"
    rows[3]["name"] = "单雄信测"
    path = _write(tmp_path / "p.csv", rows)
    assert people_import(actor=SYSTEM, path=path).created == 5
    keys = get_keyring()
    for row in rows:
        res = Resident.objects.select_related("house__building").get(name=row["name"])
        info = validate_id_number(row["id_number"])
        assert (res.sex, res.birth_date) == (info.sex, info.birth_date)
        assert keys.decrypt(res.id_number_enc, field=Field.ID_NUMBER) == info.number
        assert res.id_number_index == keys.blind_index(info.number, field=Field.ID_NUMBER)
        if row["phone"]:
            assert keys.decrypt(res.phone_enc, field=Field.PHONE) == row["phone"]
            assert res.phone_index == keys.blind_index(row["phone"], field=Field.PHONE)
        else:
            assert res.phone_enc == res.phone_index == ""
        assert (res.registration, res.relation) == ("household", "head")
        assert res.moved_in == (date(2020, 2, 29) if row["moved_in"] else None)
        assert res.grid_code == res.house.grid_code == GRID and res.care_level == ""
        assert res.created_at == res.updated_at and res.created_at is not None
        assert res.name_initials == initials(row["name"])
    assert Resident.objects.get(name="单雄信测").name_initials == "sxxc"  # 单 read as a surname
    first = Resident.objects.select_related("house__building").get(name=rows[0]["name"])
    assert first.house.floor == 1 and first.house.use == "self_occupied"  # rows[0] has no floor
    assert first.house.building.name == rows[0]["address"][-10:]
    grid = Grid.objects.get(code=GRID)
    b = first.house.building
    assert (b.lon, b.lat) == (grid.centroid_lon, grid.centroid_lat)
    other = Resident.objects.get(name=rows[2]["name"]).house.building
    assert other.address == "锦江区写入路1号"


def test_awkward_text_round_trips(city, tmp_path):
    """Quotes, backslashes, commas, braces and tabs in addresses, units, rooms and names: written
    as given, and found again on the next import (the lookups quote them)."""
    odd = [
        _row(
            address='锦江区"引号"路{1},2号\\后',
            unit="A\\1",
            room='1"0,1',
            name="名\t字\\x",
            id_number=make_id_number("510104", date(1961, 1, 1), 7, "male"),
        ),
        _row(
            address="锦江区NULL路 ",
            unit="",
            room="NULL",
            name="空 格",
            id_number=make_id_number("510104", date(1962, 1, 1), 7, "female"),
        ),
    ]
    path = _write(tmp_path / "p.csv", odd)
    assert people_import(actor=SYSTEM, path=path).created == 2
    res = Resident.objects.select_related("house__building").get(name="名\t字\\x")
    assert (res.house.building.address, res.house.unit, res.house.room) == (
        '锦江区"引号"路{1},2号\\后',
        "A\\1",
        '1"0,1',
    )
    again = people_import(actor=SYSTEM, path=path)
    assert (again.created, again.unchanged) == (0, 2)


def test_errors_from_the_thread_are_in_the_callers_language(city, tmp_path):
    rows = [*_good_rows(), _row(name="重复")]
    path = _write(tmp_path / "p.csv", rows)
    with translation.override("zh-hans"):
        r = people_import(actor=SYSTEM, path=path, mode="good")
        expected = translation.gettext("duplicate ID number in the file (row %(row)d)")
    assert r.errors[0].reason == expected % {"row": 2} and "重复" in r.errors[0].reason


def _prepare_threads():
    return [t for t in threading.enumerate() if t.name == "people-import-prepare"]


def test_a_failing_write_stops_the_thread_and_keeps_earlier_batches(city, tmp_path, monkeypatch):
    monkeypatch.setattr(imports, "BATCH", 3)
    calls = []
    real = imports._write

    def write(rows, result, ctx):
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        real(rows, result, ctx)

    monkeypatch.setattr(imports, "_write", write)
    path = _write(tmp_path / "p.csv", _many_rows(40))
    with pytest.raises(RuntimeError, match="disk full"):
        people_import(actor=SYSTEM, path=path, mode="good")
    assert not _prepare_threads()
    assert Resident.objects.filter(name__startswith="批量").count() == 3


def test_a_failing_read_is_raised_in_the_caller(city, tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(",".join(COLUMNS).encode() + b"\n" + b"\xff\xfe bad utf-8\n")
    with pytest.raises(UnicodeDecodeError):
        people_import(actor=SYSTEM, path=path, mode="good")
    assert not _prepare_threads()


def test_background_iteration_is_ordered_and_bounded():
    produced = []

    def endless():
        for i in itertools.count():
            produced.append(i)
            yield i

    items = imports._in_background(endless(), ahead=2)
    assert [next(items) for _ in range(5)] == [0, 1, 2, 3, 4]
    items.close()
    assert not _prepare_threads()
    assert len(produced) <= 5 + 2 + 1  # what was taken, the queue, one in the producer's hand

    def failing():
        yield 1
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        list(imports._in_background(failing(), ahead=1))
    assert not _prepare_threads()


def test_all_or_nothing_over_many_batches_writes_nothing(city, tmp_path, monkeypatch):
    monkeypatch.setattr(imports, "BATCH", 4)
    rows = _many_rows(20)
    rows.append(BAD["bad phone"][0])
    path = _write(tmp_path / "p.csv", rows)
    with pytest.raises(ValidationError) as exc:
        people_import(actor=SYSTEM, path=path, mode="all")
    assert [(d["row"], d["column"]) for d in exc.value.details] == [(22, "phone")]
    assert not Resident.objects.filter(name__startswith="批量").exists()
    assert people_import(actor=SYSTEM, path=_write(tmp_path / "ok.csv", rows[:20])).created == 20


def test_rows_without_id_number_and_changes(city, tmp_path):
    rows = _many_rows(3)
    rows.append(_row(id_number="", phone="", name="无证"))
    path = _write(tmp_path / "p.csv", rows)
    r = people_import(actor=SYSTEM, path=path)
    assert r.created == 4
    nobody = Resident.objects.get(name="无证")
    assert (nobody.id_number_enc, nobody.id_number_index, nobody.sex, nobody.birth_date) == (
        "",
        "",
        "",
        None,
    )
    changed = [dict(x) for x in rows[:3]]
    changed[0]["room"] = "909"
    changed[1]["name"] = "改名"  # rows[1] and rows[2] have phones, rows[0] none
    changed[2]["phone"] = ""
    stored = {x.name: x for x in Resident.objects.filter(name__startswith="批量")}
    r2 = people_import(actor=SYSTEM, path=_write(tmp_path / "c.csv", changed))
    assert (r2.created, r2.updated, r2.unchanged) == (0, 3, 0)
    moved = Resident.objects.select_related("house").get(name=changed[0]["name"])
    assert moved.house.room == "909" and moved.house_id != stored[changed[0]["name"]].house_id
    renamed = Resident.objects.get(name="改名")
    assert renamed.name_initials == "gm"
    assert renamed.phone_enc == stored[rows[1]["name"]].phone_enc != ""  # kept, not re-encrypted
    no_phone = Resident.objects.get(name=changed[2]["name"])
    assert no_phone.phone_enc == no_phone.phone_index == ""
    # as bulk_update did: updated_at left as it was
    assert moved.updated_at == stored[rows[0]["name"]].updated_at
    assert renamed.updated_at == stored[rows[1]["name"]].updated_at
    assert no_phone.updated_at == stored[rows[2]["name"]].updated_at
