"""The import page: upload checks (content, size), both modes, the result and its error table
(numbers masked), the error file for the uploader only, the template."""

import csv
import io
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.conftest import signed_in
from wangge.core.masking import mask_phone
from wangge.core.models import AuditEntry
from wangge.people import views
from wangge.people.idcard import make_id_number
from wangge.people.imports import COLUMNS, HEADER_ALIASES
from wangge.people.models import Resident

pytestmark = pytest.mark.django_db
GRID = "510104017001001001"


def _client(username: str = "community") -> Client:
    """Signed in, pages in English (the default language of pages is Chinese)."""
    return signed_in(Client(headers={"accept-language": "en"}), username)


def _row(n: int, **kw) -> dict:
    row = {
        "grid_code": GRID,
        "address": "锦江区锦官驿街道上传路8号1栋",
        "building": "1栋",
        "unit": "1",
        "floor": "2",
        "room": f"20{n}",
        "house_use": "",
        "name": f"上传{n}",
        "id_number": make_id_number("510104", date(1960 + n, 3, 4), 300 + 2 * n, "male"),
        "phone": f"1391234{n:04d}",
        "registration": "",
        "relation": "",
        "moved_in": "",
        "lon": "",
        "lat": "",
    }
    row.update(kw)
    return row


def _csv(rows, *, header=None, encoding="utf-8") -> SimpleUploadedFile:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header or COLUMNS)
    for r in rows:
        w.writerow([r.get(c, "") for c in COLUMNS])
    # the name says nothing: the content decides
    return SimpleUploadedFile("residents.txt", buf.getvalue().encode(encoding))


def _upload(client, f, mode="all"):
    return client.post("/people/import/", {"file": f, "mode": mode})


def _upload_dir() -> Path:
    return Path(settings.DATA_DIR) / "uploads" / "people-imports"


def _stored_uploads() -> list[Path]:
    d = _upload_dir()
    return [p for p in d.iterdir() if not p.name.endswith(".errors.csv")] if d.exists() else []


def _ids(rows) -> list[str]:
    return [r["id_number"] for r in rows]


def _imported(rows) -> int:
    names = [r["name"] for r in rows]
    return Resident.objects.filter(grid_code=GRID, name__in=names).count()


# bad rows: (row, what the error table names)
def _bad_rows():
    return [
        (_row(7, name=""), "name"),
        (_row(8, grid_code="510104999999999999"), "grid_code"),
        (_row(9, relation="13987654321"), "relation"),  # a phone in the wrong column
    ]


def test_only_posts_that_edit_people_see_the_page(city):
    page = _client("community").get("/people/import/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in html and 'value="all" checked' in html
    for zh, code in HEADER_ALIASES.items():  # every column explained in both languages
        assert zh in html and code in html
    for username in ("street", "cadre", "volunteer", "sysadmin", "resident"):
        assert _client(username).get("/people/import/").status_code == 404
        assert _upload(_client(username), _csv([_row(1)])).status_code == 404
    assert _imported([_row(1)]) == 0


def test_good_file(city):
    rows = [_row(1), _row(2), _row(3)]
    resp = _upload(_client(), _csv(rows))
    html = resp.content.decode()
    assert resp.status_code == 200 and "Imported" in html
    assert _imported(rows) == 3
    assert "/people/import/errors/" not in html
    again = _upload(_client(), _csv(rows)).content.decode()
    assert _imported(rows) == 3 and "unchanged" in again
    assert not _stored_uploads()  # the clerk's file is not kept
    assert AuditEntry.objects.filter(action="people.import", outcome="ok").exists()


def test_xlsx_file(city):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["网格编码", "地址", "房号", "姓名", "身份证号码"])
    r = _row(4)
    ws.append([r["grid_code"], r["address"], r["room"], r["name"], r["id_number"]])
    buf = io.BytesIO()
    wb.save(buf)
    resp = _upload(_client(), SimpleUploadedFile("whatever.csv", buf.getvalue()))
    assert resp.status_code == 200 and _imported([r]) == 1


def test_bad_rows_all_or_nothing(city):
    good = [_row(1), _row(2)]
    bad = _bad_rows()
    resp = _upload(_client(), _csv([*good, *(b for b, _c in bad)]), mode="all")
    html = resp.content.decode()
    assert "nothing was imported" in html and _imported(good) == 0
    for n, (_bad, column) in enumerate(bad, start=len(good) + 2):
        assert f'<td class="num">{n}</td><td class="code">{column}</td>' in html
    assert "unknown grid 510104999999999999" in html  # a place code stays readable
    assert "13987654321" not in html and mask_phone("13987654321") in html
    for idn in _ids([*good, *(b for b, _c in bad)]):
        assert idn not in html
    assert 'value="all" checked' in html  # the choice is kept
    assert "/people/import/errors/" not in html
    assert not _stored_uploads()


def test_bad_rows_good_mode_and_the_error_file(city):
    good = [_row(1), _row(2)]
    bad = _bad_rows()
    c = _client()
    html = _upload(c, _csv([*good, *(b for b, _c in bad)]), mode="good").content.decode()
    assert _imported(good) == 2 and 'value="good" checked' in html
    assert "13987654321" not in html and mask_phone("13987654321") in html
    for idn in _ids(good):
        assert idn not in html
    link = html.split('href="/people/import/errors/', 1)[1].split('"', 1)[0]
    url = f"/people/import/errors/{link}"
    resp = c.get(url)
    assert resp.status_code == 200 and resp["Cache-Control"] == "no-store"
    assert "attachment" in resp["Content-Disposition"]
    body = b"".join(resp.streaming_content).decode("utf-8-sig")
    fixed = list(csv.DictReader(io.StringIO(body)))
    # the bad rows as the clerk gave them (full numbers: the file goes back to that clerk)
    assert _ids(fixed) == _ids(b for b, _c in bad)
    assert "13987654321" in body and all(r["error"] for r in fixed)
    assert AuditEntry.objects.filter(action="people.import_errors").exists()
    # the file is for the post that uploaded it, in its session
    assert _client("grid").get(url).status_code == 404
    assert _client("community").get(url).status_code == 404  # same user, another session
    assert c.get("/people/import/errors/made-up/").status_code == 404


def test_error_file_is_only_for_the_post_that_uploaded_it(city, post_of):
    from wangge.accounts.enums import Role
    from wangge.accounts.middleware import SESSION_POST
    from wangge.accounts.scope import SYSTEM
    from wangge.accounts.services import post_grant

    secretary = post_of("community")
    other = post_grant(
        actor=SYSTEM, user=secretary.user, role=Role.MICRO_GRID_WORKER, place_code=GRID
    )
    c = _client()
    html = _upload(c, _csv([_row(1), _bad_rows()[0][0]]), mode="good").content.decode()
    url = "/people/import/errors/" + html.split('href="/people/import/errors/', 1)[1].split('"')[0]
    session = c.session
    session[SESSION_POST] = other.pk  # the same user, acting through another post
    session.save()
    assert c.get(url).status_code == 404
    session[SESSION_POST] = secretary.pk
    session.save()
    assert c.get(url).status_code == 200


@pytest.mark.parametrize(
    "content, message",
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\n", "neither CSV nor XLSX"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "neither CSV nor XLSX"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "old Excel file"),
        (b"PK\x03\x04not really a zip", "neither CSV nor XLSX"),
        ("网格编码,地址,房号,姓名\n".encode("gbk"), "not in UTF-8"),
        (b"<html><body>hello</body></html>\n", "missing"),
        (b"", "empty"),
    ],
)
def test_files_that_are_not_an_import_are_refused(city, content, message):
    resp = _upload(_client(), SimpleUploadedFile("residents.csv", content))
    html = resp.content.decode()
    assert resp.status_code == 200 and message in html
    assert 'class="error-box"' in html and "Imported" not in html
    assert not _stored_uploads()


def test_a_zip_that_is_not_a_workbook_is_refused(city):
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("hello.txt", "hello")
    resp = _upload(_client(), SimpleUploadedFile("residents.xlsx", buf.getvalue()))
    assert "neither CSV nor XLSX" in resp.content.decode()


def test_too_large_files_are_refused_unstored(city, monkeypatch):
    monkeypatch.setattr(views, "MAX_UPLOAD_BYTES", 2000)
    rows = [_row(n % 10, room=f"{n}") for n in range(40)]
    resp = _upload(_client(), _csv(rows))
    assert "larger than" in resp.content.decode() and _imported(rows) == 0
    monkeypatch.setattr(views, "MAX_UPLOAD_BYTES", 0)  # refused from its length, unread
    resp = _upload(_client(), SimpleUploadedFile("big.csv", b"x" * (1024 * 1024 + 10)))
    assert "larger than" in resp.content.decode()
    assert not _stored_uploads()


def test_the_upload_is_csrf_protected(city):
    c = signed_in(Client(enforce_csrf_checks=True), "community")
    assert _upload(c, _csv([_row(1)])).status_code == 403
    assert _imported([_row(1)]) == 0


def test_template_in_both_languages_imports_as_nothing(city):
    zh = signed_in(Client(headers={"accept-language": "zh-hans"}), "community")
    text = zh.get("/people/import/template.csv").content.decode("utf-8-sig")
    assert text.strip().split(",")[:4] == ["网格编码", "地址", "楼栋", "单元"]
    en = _client().get("/people/import/template.csv").content.decode("utf-8-sig")
    assert en.strip().split(",") == COLUMNS
    resp = _upload(_client(), SimpleUploadedFile("t.csv", text.encode("utf-8-sig")))
    assert "Imported" in resp.content.decode()
    assert _client("street").get("/people/import/template.csv").status_code == 404
