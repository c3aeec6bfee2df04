"""The cockpit's reports: the Excel and CSV exports (figures equal the selectors' and the raw
events, headers in the request's language, codes kept as text, audited, refused without the
permission or outside the scope, 4xx for bad input) and the printable daily brief."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import translation
from openpyxl import load_workbook

from tests.cockpit.conftest import raw_reported
from wangge.cockpit import reports, selectors
from wangge.cockpit.report_views import brief_day
from wangge.core.errors import ValidationError
from wangge.core.models import AuditEntry

pytestmark = pytest.mark.django_db

JINJIANG = "510104"
STREET = "510104017"
COMMUNITY = "510104017001"
GRID = "510104017001001"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


def _sheet(ws) -> tuple[list, list[list]]:
    """The header row and the data rows of a sheet (row 1 is the title)."""
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    return rows[1], rows[2:]


def _xlsx(response):
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == reports.XLSX_TYPE
    assert response["Content-Disposition"].startswith("attachment;")
    return load_workbook(io.BytesIO(response.content))


def _exports() -> int:
    return AuditEntry.objects.filter(action="cockpit.export").count()


# --- the workbook ------------------------------------------------------------------------------
def test_xlsx_all_tables_equal_the_selectors_and_the_raw_events(client_as, post_of):
    c, post = client_as("district"), post_of("district")
    period = selectors.period_parse("30d")
    wb = _xlsx(c.get(f"/cockpit/{JINJIANG}/export.xlsx?table=all&period=30d", **EN))
    assert wb.sheetnames == ["Key figures", "Ranking", "Trend", "Categories and sources"]
    for ws in wb.worksheets:  # the title row: node, period, when it was made
        title = ws["A1"].value
        assert "锦江区" in title and period.start.isoformat() in title and "made" in title

    # key figures: value, previous period, change; reported as in the raw events
    summary = selectors.cockpit_summary(actor=post, code=JINJIANG, period=period)
    head, rows = _sheet(wb["Key figures"])
    assert head == ["Figure", "Value", "Previous period", "Change", "Unit"]
    by_label = {r[0]: r for r in rows}
    assert len(rows) == len(selectors.KPIS)
    for k in selectors.KPIS:
        _label, value, previous, change, _unit = by_label[str(k.label)]
        want = summary["kpis"][k.key]
        assert (value, previous, change) == (want["value"], want["previous"], want["change"])
    reported = by_label["Reported"][1]
    assert reported == raw_reported(JINJIANG, period) > 0
    assert isinstance(reported, int)

    # the ranking: every child with every KPI, numbers as numbers
    children = selectors.cockpit_children(actor=post, code=JINJIANG, period=period)
    head, rows = _sheet(wb["Ranking"])
    assert head[:2] == ["Code", "Name"]
    assert "On-time closure rate (%)" in head and "Median handling time (h)" in head
    assert [r[0] for r in rows] == [ch["code"] for ch in children]
    for row, child in zip(rows, children, strict=True):
        assert row[2:] == [child[k.key] for k in selectors.KPIS]
    assert sum(r[2] for r in rows) == reported
    ws = wb["Ranking"]
    rate_col = head.index("On-time closure rate (%)") + 1
    rated = [ws.cell(row=i, column=rate_col) for i in range(3, ws.max_row + 1)]
    assert any(isinstance(cell.value, float) for cell in rated)
    assert all(cell.number_format == "0.0" for cell in rated if cell.value is not None)

    # the trend: one row per day of the period
    trend = selectors.cockpit_trend(actor=post, code=JINJIANG, period=period)
    head, rows = _sheet(wb["Trend"])
    assert head == ["Date", "Reported", "Closed", "Deadlines missed"]
    assert [r[0].date().isoformat() for r in rows] == trend["days"][-period.days :]
    assert [r[1] for r in rows] == trend["reported"][-period.days :]
    assert [r[3] for r in rows] == trend["overdue"][-period.days :]
    assert sum(r[1] for r in rows) == reported

    # the mix: every category (none folded into "Other") and every source
    head, rows = _sheet(wb["Categories and sources"])
    cats = [r for r in rows if r[0] == "Category"]
    sources = [r for r in rows if r[0] == "Source"]
    assert sum(r[2] for r in cats) == sum(r[2] for r in sources) == reported
    assert abs(sum(r[3] for r in cats) - 100) < 1


@pytest.mark.parametrize(
    ("user", "code", "digits"),
    [
        ("street", STREET, 12),  # communities
        ("community", COMMUNITY, 15),  # grids
        ("community", GRID, 18),  # micro-grids
    ],
)
def test_codes_stay_text_with_every_digit(client_as, post_of, user, code, digits):
    c = client_as(user)
    period = selectors.period_parse("90d")
    children = selectors.cockpit_children(actor=post_of(user), code=code, period=period)
    wb = _xlsx(c.get(f"/cockpit/{code}/export.xlsx?table=children&period=90d", **EN))
    ws = wb.active
    cells = [ws.cell(row=i, column=1) for i in range(3, ws.max_row + 1)]
    assert [x.value for x in cells] == [ch["code"] for ch in children]
    assert all(x.data_type == "s" and x.number_format == "@" for x in cells)
    assert all(len(x.value) == digits and x.value.isdigit() for x in cells)
    r = c.get(f"/cockpit/{code}/export.csv?table=children&period=90d", **EN)
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row[0] for row in rows[2:]] == [ch["code"] for ch in children]


def test_headers_follow_the_request_language(client_as):
    c = client_as("district")
    url = f"/cockpit/{JINJIANG}/export.xlsx?table=all"
    zh, en = _xlsx(c.get(url, **ZH)), _xlsx(c.get(url, **EN))
    with translation.override("zh-hans"):
        expected = reports.children_table([]).columns
    zh_head, _rows = _sheet(zh.worksheets[1])
    assert zh_head == [col.header for col in expected]
    assert zh_head[:2] == ["编码", "名称"]  # already translated: the file is in Chinese
    en_head, _rows = _sheet(en.worksheets[1])
    assert en_head[:2] == ["Code", "Name"]
    r = c.get(f"/cockpit/{JINJIANG}/export.csv?table=children", **ZH)
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[1][:2] == ["编码", "名称"]


def test_source_names_follow_the_request_language_whatever_was_cached(client_as):
    from wangge.events.enums import Source

    c = client_as("district")
    url = f"/cockpit/{JINJIANG}/export.csv?table=mix&period=90d"
    assert c.get(url, **ZH).status_code == 200  # the selector caches its answer in Chinese
    rows = list(csv.reader(io.StringIO(c.get(url, **EN).content.decode("utf-8-sig"))))
    names = {r[1] for r in rows[2:] if r[0] == "Source"}
    assert names and names <= {str(label) for label in Source.labels}


# --- CSV ---------------------------------------------------------------------------------------
def test_csv_has_a_bom_and_parses(client_as, post_of):
    c, post = client_as("street"), post_of("street")
    period = selectors.period_parse("7d")
    r = c.get(f"/cockpit/{STREET}/export.csv?table=children&period=7d", **EN)
    assert r.status_code == 200
    assert r["Content-Type"] == "text/csv; charset=utf-8"
    assert f"cockpit-{STREET}-children-" in r["Content-Disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert "锦官驿街道" in rows[0][0] and period.start.isoformat() in rows[0][0]
    assert rows[1][:2] == ["Code", "Name"]
    children = selectors.cockpit_children(actor=post, code=STREET, period=period)
    assert len(rows) == 2 + len(children)
    col = rows[1].index("Reported")
    assert [int(row[col]) for row in rows[2:]] == [ch["reported"] for ch in children]
    rate = rows[1].index("On-time closure rate (%)")
    assert [row[rate] for row in rows[2:]] == [
        "" if ch["on_time_rate"] is None else str(ch["on_time_rate"]) for ch in children
    ]
    for table in ("kpis", "trend", "mix"):
        r = c.get(f"/cockpit/{STREET}/export.csv?table={table}", **EN)
        assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf"), table
        assert len(list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))) > 2


# --- audit, permission, scope, bad input -------------------------------------------------------
def test_every_export_is_audited(client_as, post_of):
    c, post = client_as("community"), post_of("community")
    before = _exports()
    today = selectors.today()
    start = (today - timedelta(days=9)).isoformat()
    r = c.get(
        f"/cockpit/{COMMUNITY}/export.csv?table=trend&period=custom&start={start}"
        f"&end={today.isoformat()}"
    )
    assert r.status_code == 200
    assert _exports() == before + 1
    row = AuditEntry.objects.filter(action="cockpit.export").latest("id")
    assert (row.object_type, row.object_id, row.post_id) == ("place", COMMUNITY, post.id)
    assert row.details == {
        "table": "trend",
        "format": "csv",
        "period": {"key": "custom", "start": start, "end": today.isoformat()},
        "rows": 10,
    }
    _xlsx(c.get(f"/cockpit/{COMMUNITY}/export.xlsx"))  # table=all by default
    row = AuditEntry.objects.filter(action="cockpit.export").latest("id")
    assert row.details["table"] == "all" and row.details["format"] == "xlsx"
    assert row.details["period"]["key"] == "30d" and row.details["rows"] > 30


def test_view_only_posts_and_other_places_are_refused(client_as):
    before = _exports()
    grid = client_as("grid")
    page = grid.get(f"/cockpit/{GRID}/", **EN)
    assert page.status_code == 200 and "export.xlsx" not in page.content.decode()
    assert grid.get(f"/cockpit/{GRID}/export.xlsx", **EN).status_code == 404
    assert grid.get(f"/cockpit/{GRID}/export.csv?table=children", **EN).status_code == 404
    assert grid.get(f"/cockpit/{GRID}/brief/", **EN).status_code == 404
    street = client_as("street")
    for url in (
        "/cockpit/510105/export.xlsx",
        "/cockpit/510105/brief/",
        f"/cockpit/{JINJIANG}/export.csv",
        "/cockpit/zz/export.csv",
    ):
        assert street.get(url, **EN).status_code == 404, url
    assert _exports() == before
    assert not AuditEntry.objects.filter(action="cockpit.brief").exists()


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("export.xlsx?table=bogus", "Unknown table bogus"),
        ("export.pdf?table=kpis", "Unknown format pdf"),
        ("export.csv?table=all", "A CSV file holds one table"),
        ("export.xlsx?period=weekly", "Unknown period weekly"),
        ("export.csv?table=kpis&period=custom&start=2026-13-01&end=2026-12-01", "YYYY-MM-DD"),
        ("export.csv?table=kpis&period=custom&start=2020-01-01&end=2019-01-01", "start before"),
    ],
)
def test_bad_table_format_or_period_is_a_clear_4xx(client_as, query, words):
    c = client_as("district")
    before = _exports()
    r = c.get(f"/cockpit/{JINJIANG}/{query}", **EN)
    assert r.status_code == 422
    assert r["Content-Type"].startswith("text/html") and "Content-Disposition" not in r
    body = r.content.decode()
    assert 'class="error-box"' in body and words in body
    assert _exports() == before


def test_the_cockpit_page_links_to_the_reports_with_its_period(client_as):
    body = client_as("district").get(f"/cockpit/{JINJIANG}/?period=7d", **EN).content.decode()
    assert f"/cockpit/{JINJIANG}/brief/" in body
    assert f"/cockpit/{JINJIANG}/export.xlsx?table=all&period=7d" in body
    assert f"/cockpit/{JINJIANG}/export.csv?table=children&period=7d" in body


# --- pure parts --------------------------------------------------------------------------------
def test_export_parse_and_safe_text():
    assert reports.export_parse("XLSX", "") == ("xlsx", list(reports.TABLES))
    assert reports.export_parse("csv", "") == ("csv", ["children"])
    assert reports.export_parse("csv", "mix") == ("csv", ["mix"])
    for fmt, table in [("pdf", "kpis"), ("csv", "all"), ("xlsx", "people")]:
        with pytest.raises(ValidationError):
            reports.export_parse(fmt, table)
    assert reports.safe_text("=1+1") == "'=1+1" and reports.safe_text("锦江区") == "锦江区"
    assert reports.sheet_name("a/b:c", ["ab c"]) == "abc"
    assert reports.sheet_name("x", ["x"]) == "x-2"
    assert len(reports.sheet_name("长" * 40)) == 31


def test_a_formula_in_a_name_is_written_as_text():
    t = reports.Table(
        "mix",
        "Mix",
        [reports.Column("Name", "text"), reports.Column("n")],
        [['=HYPERLINK("x")', 3]],
    )
    wb = load_workbook(io.BytesIO(reports.workbook_bytes([t], title="t")))
    cell = wb.active["A3"]
    assert cell.data_type == "s" and cell.value == '\'=HYPERLINK("x")'
    assert wb.active["B3"].value == 3
    text = reports.csv_bytes(t, title="+t").decode("utf-8-sig")
    assert text.splitlines() == ["'+t", "Name,n", '"\'=HYPERLINK(""x"")",3']


def test_brief_day():
    today = selectors.today()
    assert brief_day("", today) == today - timedelta(days=1)
    assert brief_day(today.isoformat(), today) == today
    assert brief_day((today - timedelta(days=365)).isoformat(), today)
    for bad in [
        "tomorrow",
        (today + timedelta(days=1)).isoformat(),
        (today - timedelta(days=366)).isoformat(),
    ]:
        with pytest.raises(ValidationError):
            brief_day(bad, today)


# --- the daily brief ---------------------------------------------------------------------------
def test_brief_renders_for_yesterday_and_a_given_day(client_as, post_of):
    c, post = client_as("district"), post_of("district")
    today = selectors.today()
    yesterday = today - timedelta(days=1)
    r = c.get(f"/cockpit/{JINJIANG}/brief/", **EN)
    assert r.status_code == 200
    body = r.content.decode()
    assert "Daily brief of 锦江区" in body and yesterday.isoformat() in body
    assert "brief.css" in body and "<script>" not in body
    assert "Ranking by on-time closure rate" in body and "Overdue events" in body
    assert "Printed by 锦江区调度员" in body
    # the day's reported figure is the raw events' count
    day = selectors.period_parse("custom", yesterday.isoformat(), yesterday.isoformat())
    s = selectors.cockpit_summary(actor=post, code=JINJIANG, period=day)
    assert s["kpis"]["reported"]["value"] == raw_reported(JINJIANG, day)
    assert r.context["cards"][0]["value"] == s["kpis"]["reported"]["value"]
    # children worst first by on-time closure rate, those without a rate last
    rates = [ch["on_time_rate"] for ch in r.context["children"]]
    known = [x for x in rates if x is not None]
    assert known == sorted(known) and rates == known + [None] * (len(rates) - len(known))
    assert len(r.context["trend"]) == 7 and r.context["trend"][-1][0] == yesterday
    assert len(r.context["event_lists"][0][1]) <= 20
    row = AuditEntry.objects.filter(action="cockpit.brief").latest("id")
    assert (row.object_id, row.details["day"]) == (JINJIANG, yesterday.isoformat())

    given = today - timedelta(days=10)
    r = c.get(f"/cockpit/{STREET}/brief/?day={given.isoformat()}", **EN)
    assert r.status_code == 200 and given.isoformat() in r.content.decode()
    assert r.context["day"] == given
    r = c.get(f"/cockpit/{STREET}/brief/?day={today.isoformat()}", **ZH)
    assert r.status_code == 200 and r.context["next_day"] is None


def test_brief_refuses_future_and_old_days(client_as):
    c = client_as("community")
    before = AuditEntry.objects.filter(action="cockpit.brief").count()
    today = selectors.today()
    for day, words in [
        ((today + timedelta(days=1)).isoformat(), "no brief of"),
        ((today - timedelta(days=400)).isoformat(), "at most a year"),
        ("2026-02-30", "YYYY-MM-DD"),
    ]:
        r = c.get(f"/cockpit/{COMMUNITY}/brief/?day={day}", **EN)
        assert r.status_code == 422, day
        body = r.content.decode()
        assert words in body and 'class="error-box"' in body
        assert 'name="day"' in body  # another day can be chosen at once
    assert AuditEntry.objects.filter(action="cockpit.brief").count() == before
