"""Device import: check (preview) writes nothing, errors per row, all-or-nothing, good rows,
idempotent re-import, houses by address, keys once; the page and the command."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from tests.perception.conftest import house_in
from wangge.accounts.demo import COMMUNITY
from wangge.accounts.scope import SYSTEM
from wangge.core.errors import ValidationError
from wangge.perception.imports import devices_import
from wangge.perception.models import Device
from wangge.perception.services import device_key

pytestmark = pytest.mark.django_db
HEADER = "device_id,type,house_id,address,house_unit,room,location,heartbeat_seconds,unit\n"


def write(tmp_path, text, name="devices.csv"):
    p = tmp_path / name
    p.write_text(HEADER + text, encoding="utf-8")
    return p


def good_rows():
    h1, h2 = house_in(offset=0), house_in(offset=1)
    return (
        f"IMP-1,gas,{h1.pk},,,,kitchen,300,\n"
        f"IMP-2,烟感,,{h2.building.address},{h2.unit},{h2.room},hall,,\n"
    )


def test_check_writes_nothing_and_reports_each_row(city, tmp_path):
    bad = good_rows() + "IMP-1,gas,1,,,,,,\nIMP 3,toaster,,,,,,5,NOPE\n"
    r = devices_import(actor=SYSTEM, path=write(tmp_path, bad), mode="check")
    assert (
        r.rows == 4 and r.bad_rows == 2 and not Device.objects.filter(device_id__startswith="IMP")
    )
    errs = {(e.row, e.column) for e in r.errors}
    assert (4, "device_id") in errs  # twice in the file
    assert {(5, "device_id"), (5, "type"), (5, "heartbeat_seconds"), (5, "unit")} <= errs
    with pytest.raises(ValidationError):
        devices_import(actor=SYSTEM, path=write(tmp_path, bad), mode="all")
    assert not Device.objects.filter(device_id__startswith="IMP").exists()


def test_import_is_idempotent_and_gives_keys_once(city, tmp_path):
    path = write(tmp_path, good_rows())
    r = devices_import(actor=SYSTEM, path=path, mode="all")
    assert (r.created, r.updated, r.unchanged) == (2, 0, 0)
    d1, d2 = Device.objects.get(device_id="IMP-1"), Device.objects.get(device_id="IMP-2")
    assert (d1.type, d1.heartbeat_seconds, d1.location) == ("gas", 300, "kitchen")
    assert d2.type == "smoke" and d2.house_id == house_in(offset=1).pk
    assert dict(r.keys) == {"IMP-1": device_key(d1), "IMP-2": device_key(d2)}
    again = devices_import(actor=SYSTEM, path=path, mode="all")
    assert (again.created, again.updated, again.unchanged, again.keys) == (0, 0, 2, [])
    moved = write(tmp_path, f"IMP-1,gas,{house_in(offset=2).pk},,,,,,\n", "moved.csv")
    with pytest.raises(ValidationError):
        devices_import(actor=SYSTEM, path=moved, mode="all")
    changed = write(tmp_path, "IMP-1,gas,,,,,pantry,,\n", "changed.csv")
    assert devices_import(actor=SYSTEM, path=changed, mode="all").updated == 1


def test_good_mode_writes_good_rows_and_an_error_file(city, tmp_path):
    path = write(tmp_path, good_rows() + "IMP-9,gas,999999999,,,,,,\n")
    err = tmp_path / "errors.csv"
    r = devices_import(actor=SYSTEM, path=path, mode="good", error_path=err)
    assert r.created == 2 and r.bad_rows == 1 and r.error_file == str(err)
    assert "no such house" in err.read_text(encoding="utf-8-sig")


def test_scope_of_the_importer(city, tmp_path, post_of):
    far = house_in(COMMUNITY + "002")
    street_rows = f"IMP-F,gas,{far.pk},,,,,,\n"
    r = devices_import(actor=post_of("community"), path=write(tmp_path, street_rows), mode="check")
    assert r.bad_rows == 0  # the community covers its own grids …
    other = house_in("510104018")
    r = devices_import(
        actor=post_of("community"),
        path=write(tmp_path, f"IMP-O,gas,{other.pk},,,,,,\n"),
        mode="check",
    )
    assert r.bad_rows == 1 and r.errors[0].column == "house_id"  # … not another street's


def test_command_writes_keys(city, tmp_path):
    path = write(tmp_path, good_rows())
    keys = tmp_path / "keys.csv"
    call_command("import_devices", str(path), "--keys", str(keys))
    assert oct(keys.stat().st_mode & 0o777) == "0o600"
    assert "IMP-1," in keys.read_text(encoding="utf-8")


def test_import_page(city, client_as, tmp_path):
    c = client_as("community")
    assert c.get("/sensing/devices/import/").status_code == 200
    path = write(tmp_path, good_rows())
    with open(path, "rb") as fh:
        r = c.post(
            "/sensing/devices/import/", {"mode": "all", "file": fh}, HTTP_ACCEPT_LANGUAGE="en"
        )
    assert r.status_code == 200 and b"2 new" in r.content
    assert device_key(Device.objects.get(device_id="IMP-1")).encode() in r.content
    assert client_as("micro").get("/sensing/devices/import/").status_code == 404
