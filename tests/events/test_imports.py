"""Hotline import: row-by-row validation, both modes, idempotent re-import, CSV and XLSX."""

import csv
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from wangge.accounts.scope import SYSTEM
from wangge.core.errors import PermissionDenied, ValidationError
from wangge.core.models import AuditEntry
from wangge.events.imports import COLUMNS, hotline_import
from wangge.events.models import Event, EventLog
from wangge.regions.models import Grid

pytestmark = pytest.mark.django_db
MICRO = "510104017001001001"
CST = ZoneInfo("Asia/Shanghai")
CHINESE = {
    "work_order": "工单编号",
    "time": "受理时间",
    "category": "分类",
    "title": "标题",
    "description": "诉求内容",
    "address": "地址",
    "lon": "经度",
    "lat": "纬度",
    "grid_code": "网格编码",
    "caller": "来电人",
    "urgency": "紧急程度",
}


def _row(n: int, **kw) -> dict[str, str]:
    row = {
        "work_order": f"12345-2025-{n:05d}",
        "time": "2025-10-09 09:15:00",
        "category": "0902",
        "title": "大件垃圾无人清运",
        "description": "楼下旧沙发放了一周",
        "address": "锦江区水井坊街道1号",
        "lon": "",
        "lat": "",
        "grid_code": MICRO,
        "caller": "李女士",
        "urgency": "一般",
    }
    row.update(kw)
    return row


def _good_rows() -> list[dict[str, str]]:
    g = Grid.objects.get(code=MICRO)
    return [
        _row(1),
        _row(2, category="噪音扰民", title="夜间施工噪音", urgency="紧急", time="2025/10/09 23:40"),
        _row(3, category="Blocked fire lane", lon=str(g.centroid_lon), lat=str(g.centroid_lat)),
        _row(4, category="0601", title="闻到燃气味", urgency="特急", grid_code="", caller=""),
    ]


def _write(path, rows, *, header=CHINESE):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([header.get(c, c) for c in COLUMNS])
        w.writerows([[r.get(c, "") for c in COLUMNS] for r in rows])
    return path


def _fix_fourth(rows):
    g = Grid.objects.get(code=MICRO)
    rows[3].update(lon=str(g.centroid_lon), lat=str(g.centroid_lat))
    return rows


def test_good_file_imports_and_a_second_import_changes_nothing(city, tmp_path):
    path = _write(tmp_path / "orders.csv", _fix_fourth(_good_rows()))
    before = Event.objects.count()
    r = hotline_import(actor=SYSTEM, path=path)
    assert (r.rows, r.created, r.unchanged, r.bad_rows) == (4, 4, 0, 0)
    e = Event.objects.get(external_ref="12345-2025-00002")
    assert (e.source, e.idem_scope, e.idem_key) == ("hotline", "hotline", "12345-2025-00002")
    assert e.category.code == "0703" and e.urgency == "urgent"
    assert {"李女士"} <= set(
        Event.objects.filter(source="hotline").values_list("reporter_name", flat=True)
    )
    assert e.reported_at == datetime(2025, 10, 9, 23, 40, tzinfo=CST)
    assert Event.objects.get(external_ref="12345-2025-00003").category.code == "0501"
    gas = Event.objects.get(external_ref="12345-2025-00004")
    assert gas.urgency == "emergency" and gas.grid_code.startswith(MICRO[:12])
    assert gas.response_due - gas.reported_at == timedelta(minutes=15)  # on the clock
    assert EventLog.objects.filter(event=e, action="report").count() == 1
    snapshot = (Event.objects.count(), EventLog.objects.count())
    audits = AuditEntry.objects.count()
    again = hotline_import(actor=SYSTEM, path=path, mode="good", error_path=tmp_path / "e.csv")
    assert (again.created, again.unchanged, again.bad_rows) == (0, 4, 0)
    assert (Event.objects.count(), EventLog.objects.count()) == snapshot
    assert AuditEntry.objects.count() == audits + 1  # the import's own row, nothing else
    assert Event.objects.count() == before + 4
    assert not (tmp_path / "e.csv").exists()  # no bad rows: no error file


def _bad_rows(tmp_path):
    """Rows 2–5 good, then one row for each kind of mistake (and a changed re-send)."""
    g = Grid.objects.get(code=MICRO)
    future = (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%d %H:%M")
    rows = _fix_fourth(_good_rows()) + [
        _row(10, work_order=""),  # row 6
        _row(11, time="9 Oct 2025"),  # 7
        _row(12, time=future),  # 8
        _row(13, category="0999"),  # 9
        _row(14, category="09"),  # 10: a major category
        _row(15, title=""),  # 11
        _row(16, urgency="十万火急"),  # 12
        _row(17, lon="104.08", lat=""),  # 13
        _row(18, lon="east", lat="30.6"),  # 14
        _row(19, grid_code="510104017001999999"),  # 15: no such grid
        _row(20, grid_code=""),  # 16: no location at all
        _row(21, grid_code="", lon="105.9", lat="32.5"),  # 17: far outside the city
        _row(1),  # 18: the same work order again in the file
        _row(22, caller="张" * 61),  # 19
        _row(23, lon=str(g.centroid_lon), lat="95"),  # 20: latitude out of range
    ]
    return rows


EXPECTED = [
    (6, "work_order"),
    (7, "time"),
    (8, "time"),
    (9, "category"),
    (10, "category"),
    (11, "title"),
    (12, "urgency"),
    (13, "lat"),
    (14, "lon"),
    (15, "grid_code"),
    (16, "grid_code"),
    (17, "lon"),
    (18, "work_order"),
    (19, "caller"),
    (20, "lon"),
]


def test_mode_all_reports_every_bad_row_and_writes_nothing(city, tmp_path):
    path = _write(tmp_path / "orders.csv", _bad_rows(tmp_path))
    before = (Event.objects.count(), EventLog.objects.count())
    with pytest.raises(ValidationError) as exc:
        hotline_import(actor=SYSTEM, path=path, mode="all")
    assert exc.value.code == "import_invalid"
    got = [(e["row"], e["column"]) for e in exc.value.details]
    assert got == EXPECTED
    assert all(e["reason"] for e in exc.value.details)
    assert "major category" in exc.value.details[4]["reason"]
    assert (Event.objects.count(), EventLog.objects.count()) == before
    failed = AuditEntry.objects.filter(action="events.import_hotline").order_by("-id").first()
    assert failed.outcome == "failed" and failed.details["errors"] == len(EXPECTED)


def test_mode_good_writes_good_rows_and_an_error_file_to_fix(city, tmp_path):
    path = _write(tmp_path / "orders.csv", _bad_rows(tmp_path))
    errors = tmp_path / "orders.errors.csv"
    r = hotline_import(actor=SYSTEM, path=path, mode="good", error_path=errors)
    assert (r.rows, r.created, r.bad_rows) == (19, 4, len(EXPECTED))
    assert [(e.row, e.column) for e in r.errors] == EXPECTED
    assert r.error_file == str(errors)
    with open(errors, encoding="utf-8-sig") as fh:
        bad = list(csv.DictReader(fh))
    assert len(bad) == len(EXPECTED) and all(b["error"] for b in bad)
    assert {b["work_order"] for b in bad} >= {"12345-2025-00013", "12345-2025-00019"}
    # the clerk fixes the unknown grid and imports the error file again: only that row is new
    for b in bad:
        if b["work_order"] == "12345-2025-00019":
            b["grid_code"] = MICRO
    fixed = _write(tmp_path / "fixed.csv", bad, header={})
    again = hotline_import(actor=SYSTEM, path=fixed, mode="good", error_path=tmp_path / "e2.csv")
    # (the file's second row of work order 1 is now the same as the one imported: unchanged)
    assert (again.created, again.unchanged, again.bad_rows) == (1, 1, len(EXPECTED) - 2)
    assert Event.objects.filter(external_ref="12345-2025-00019").exists()


def test_the_same_number_with_changed_content_is_a_bad_row(city, tmp_path):
    rows = _fix_fourth(_good_rows())
    hotline_import(actor=SYSTEM, path=_write(tmp_path / "a.csv", rows))
    rows[0]["title"] = "大件垃圾（已改）"
    rows[1]["time"] = "2025-10-10 08:00"
    rows[2]["category"] = "0302"
    path = _write(tmp_path / "b.csv", rows)
    with pytest.raises(ValidationError) as exc:
        hotline_import(actor=SYSTEM, path=path, mode="all")
    assert [(e["row"], e["column"]) for e in exc.value.details] == [
        (2, "work_order"),
        (3, "work_order"),
        (4, "work_order"),
    ]
    assert "another time" in exc.value.details[1]["reason"]
    r = hotline_import(actor=SYSTEM, path=path, mode="good", error_path=tmp_path / "e.csv")
    assert (r.created, r.unchanged, r.bad_rows) == (0, 1, 3)
    assert Event.objects.get(external_ref="12345-2025-00001").title == "大件垃圾无人清运"


def test_xlsx_with_typed_cells(city, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append([CHINESE[c] for c in COLUMNS])
    g = Grid.objects.get(code=MICRO)
    ws.append(
        [
            202510090001,  # a number cell
            datetime(2025, 10, 9, 14, 5),  # a time cell
            "0303",
            "共享单车堆积",
            None,
            "锦江区",
            g.centroid_lon,
            g.centroid_lat,
            None,
            "王先生",
            None,
        ]
    )
    wb.save(tmp_path / "orders.xlsx")
    r = hotline_import(actor=SYSTEM, path=tmp_path / "orders.xlsx")
    assert r.created == 1
    e = Event.objects.get(external_ref="202510090001")
    assert e.reported_at == datetime(2025, 10, 9, 14, 5, tzinfo=CST)
    assert e.urgency == "normal" and e.grid_code.startswith(MICRO[:12])


def test_command_and_permissions(city, tmp_path, post_of, capsys):
    path = _write(tmp_path / "orders.csv", _bad_rows(tmp_path))
    with pytest.raises(CommandError):
        call_command("import_hotline", str(path))
    assert "row 6, work_order" in capsys.readouterr().err
    call_command("import_hotline", str(path), "--mode", "good")
    out = capsys.readouterr().out
    assert "created 4" in out and "orders.errors.csv" in out
    with pytest.raises(PermissionDenied):
        hotline_import(actor=post_of("micro"), path=path)
    with pytest.raises(ValidationError):
        hotline_import(actor=SYSTEM, path=path, mode="some")
