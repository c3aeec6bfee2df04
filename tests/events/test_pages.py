"""The pages of the closed loop, as the demo's people use them: the grid worker's phone page,
the dispatcher's queue, the unit's queue, the event page and the inbox."""

import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from tests.conftest import signed_in
from wangge.accounts.models import Unit
from wangge.accounts.scope import SYSTEM
from wangge.core.models import AuditEntry
from wangge.events import services
from wangge.events.enums import EventAction
from wangge.events.models import Event, Notification
from wangge.regions.models import Grid

pytestmark = pytest.mark.django_db

MICRO = "510104017001001001"
GRID = MICRO[:15]
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture(autouse=True)
def uploads(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "uploads"


def _jpeg(name="photo.jpg", color=(200, 30, 30)):
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buf, "JPEG")
    return SimpleUploadedFile(name, buf.getvalue(), content_type="image/jpeg")


def _report_form(client) -> str:
    page = client.get("/events/m/report/", **EN)
    assert page.status_code == 200
    return re.search(r'name="key" value="([0-9a-f]{32})"', page.content.decode()).group(1)


def _crack(key: str, **extra) -> dict:
    return {
        "key": key,
        "category": "0401",
        "title": "3栋外墙开裂",
        "description": "墙体有一道约两米长的裂缝",
        "urgency": "normal",
        "grid_code": MICRO,
        "address": "水井坊3栋",
        **extra,
    }


def _zj_handler() -> Client:
    """A handler of 住建 (JJ-ZJ): the demo has none, so one is appointed here."""
    from django.contrib.auth import get_user_model

    from wangge.accounts.enums import Role
    from wangge.accounts.services import post_grant

    user = get_user_model().objects.create_user("zj-page-handler", password="x" * 16)
    post_grant(actor=SYSTEM, user=user, role=Role.UNIT_HANDLER, unit=Unit.objects.get(code="JJ-ZJ"))
    return signed_in(Client(), "zj-page-handler")


def _act(client, event, action, **data):
    return client.post(f"/events/{event.pk}/", {"action": action, **data}, **EN)


def test_the_walk_through_from_the_phone_to_closed(client_as):
    micro = client_as("micro")
    key = _report_form(micro)
    sent = micro.post("/events/m/report/", _crack(key, photos=[_jpeg("before.jpg")]), **EN)
    assert sent.status_code == 302 and sent["Location"] == "/events/m/"
    e = Event.objects.get(idem_key=key)
    assert (e.state, e.grid_code, e.category.code, e.source) == (
        "reported",
        MICRO,
        "0401",
        "patrol",
    )
    assert e.photos.filter(kind="before").count() == 1
    mine = micro.get("/events/m/", **EN).content.decode()
    assert f"/events/{e.pk}/" in mine and "Reported as" in mine

    # the community secretary sees it in the queue and accepts it there
    community = client_as("community")
    queue = community.get("/events/queue/", **EN).content.decode()
    assert e.number in queue and 'value="accept"' in queue
    accepted = _act(community, e, "accept", next="/events/queue/")
    assert accepted.status_code == 302 and accepted["Location"] == "/events/queue/"
    e.refresh_from_db()
    assert e.state == "dispatched" and e.unit.code == "JJ-ZJ"  # dispatched automatically

    # 住建 acknowledges and handles it with the "after" photo
    zj = _zj_handler()
    unit_page = zj.get("/events/unit/", **EN).content.decode()
    assert e.number in unit_page and 'value="acknowledge"' in unit_page
    assert _act(zj, e, "acknowledge").status_code == 302
    assert (
        _act(zj, e, "handle", note="已加固修补", photos=[_jpeg("after.jpg", (20, 160, 20))])[
            "Location"
        ]
        == f"/events/{e.pk}/"
    )
    e.refresh_from_db()
    assert e.state == "handled" and e.photos.filter(kind="after").count() == 1

    # the grid worker finds it among the checks and passes it: closed
    grid = client_as("grid")
    checks = grid.get("/events/m/?tab=verify", **EN).content.decode()
    assert e.number in checks and 'value="verify_pass"' in checks
    done = _act(grid, e, "verify_pass", next="/events/m/?tab=verify")
    assert done.status_code == 302 and done["Location"] == "/events/m/?tab=verify"
    e.refresh_from_db()
    assert e.state == "closed" and e.closed_on_time

    # every step on the event page's timeline, in order, and in the audit trail
    steps = ["report", "accept", "dispatch", "acknowledge", "handle", "verify_pass"]
    assert [x.action for x in e.log.all()] == steps
    page = community.get(f"/events/{e.pk}/", **EN)
    assert page.status_code == 200
    html = page.content.decode()
    timeline = html[html.index('class="timeline"') :]
    positions = [timeline.find(f"<b>{EventAction(s).label}</b>") for s in steps]
    assert -1 not in positions and positions == sorted(positions)
    assert "已加固修补" in timeline and "/events/photos/" in html
    assert 'id="event-map"' in html
    audited = AuditEntry.objects.filter(object_id=str(e.pk), action__startswith="events.")
    assert {a.action for a in audited} >= {f"events.{s}" for s in steps}


def test_a_double_submission_of_the_report_form_makes_one_event(client_as):
    micro = client_as("micro")
    key = _report_form(micro)
    first = micro.post("/events/m/report/", _crack(key), **EN)
    again = micro.post("/events/m/report/", _crack(key), **EN)
    assert first.status_code == again.status_code == 302
    assert Event.objects.filter(idem_key=key).count() == 1
    assert "already received" in micro.get("/events/m/", **EN).content.decode()
    # the same key with other content (the form sent back and edited) is refused, nothing made
    changed = micro.post("/events/m/report/", _crack(key, title="另一件事"), **EN)
    assert changed.status_code == 422
    assert Event.objects.filter(idem_key=key).count() == 1
    new_key = re.search(r'name="key" value="([0-9a-f]{32})"', changed.content.decode()).group(1)
    assert new_key != key  # a fresh key: sending it now reports the other thing


def test_a_refused_report_keeps_what_was_typed(client_as):
    micro = client_as("micro")
    key = _report_form(micro)
    before = Event.objects.count()
    resp = micro.post("/events/m/report/", _crack(key, title="  "), **EN)
    assert resp.status_code == 422 and Event.objects.count() == before
    html = resp.content.decode()
    assert "墙体有一道约两米长的裂缝" in html and "水井坊3栋" in html
    assert f'value="{key}"' in html and '<option value="0401" data-on-spot' in html
    assert re.search(r'<option value="0401"[^>]*selected', html)


def test_a_report_from_a_point_in_another_grid_says_where_it_went(client_as):
    elsewhere = Grid.objects.filter(code__startswith="510104017002", kind="general").first()
    micro = client_as("micro")
    key = _report_form(micro)
    point = {"lon": str(elsewhere.centroid_lon), "lat": str(elsewhere.centroid_lat)}
    sent = micro.post("/events/m/report/", _crack(key, **point), **EN)
    assert sent.status_code == 302
    e = Event.objects.get(idem_key=key)
    assert e.grid_code.startswith(elsewhere.code) and e.lon == elsewhere.centroid_lon
    page = micro.get("/events/m/", **EN).content.decode()
    assert "outside your grid" in page
    # the reporter keeps sight of their own report; the other grid's people handle it
    assert f"/events/{e.pk}/" in page
    assert micro.get(f"/events/{e.pk}/").status_code == 200
    assert client_as("cadre").get(f"/events/{e.pk}/").status_code == 404


def test_resolved_on_the_spot_in_one_step_and_only_where_allowed(client_as):
    micro = client_as("micro")
    key = _report_form(micro)
    data = {
        "key": key,
        "category": "0101",  # street vending: a worker may resolve it on the spot
        "title": "占道摆摊",
        "grid_code": MICRO,
        "on_spot": "1",
        "on_spot_note": "已劝离",
        "photos": [_jpeg("before.jpg")],
        "after_photos": [_jpeg("after.jpg", (10, 120, 10))],
    }
    assert micro.post("/events/m/report/", data, **EN).status_code == 302
    e = Event.objects.get(idem_key=key)
    assert e.state == "closed" and e.on_spot
    assert [x.action for x in e.log.all()] == ["report", "resolve_on_spot"]
    # a category that may not be resolved on the spot: refused, nothing reported
    key2 = _report_form(micro)
    resp = micro.post("/events/m/report/", _crack(key2, on_spot="1"), **EN)
    assert resp.status_code == 422 and not Event.objects.filter(idem_key=key2).exists()
    # the after photo is missing: the report is rolled back with the resolution
    key3 = _report_form(micro)
    resp = micro.post("/events/m/report/", {**data, "key": key3, "after_photos": []}, **EN)
    assert resp.status_code == 422 and not Event.objects.filter(idem_key=key3).exists()


def test_an_illegal_action_says_why_and_what_is_allowed(client_as, post_of):
    e, _ = services.event_report(
        actor=post_of("micro"), source="patrol", category="0401", title="墙裂", grid_code=MICRO
    )
    community = client_as("community")
    assert _act(community, e, "accept").status_code == 302
    again = _act(community, e, "accept")  # a second tab still showed the button
    assert again.status_code == 409
    html = again.content.decode()
    assert "is not possible now" in html and "Allowed now:" in html
    assert str(EventAction.ESCALATE.label) in html
    e.refresh_from_db()
    assert e.state == "dispatched"
    # the micro-grid worker may see the event but not accept it
    refused = _act(client_as("micro"), e, "escalate", note="试试")
    assert refused.status_code == 409 and "is not possible now" in refused.content.decode()


def test_an_action_form_keeps_what_was_typed_on_error(client_as, post_of):
    e, _ = services.event_report(
        actor=post_of("micro"), source="patrol", category="0401", title="墙裂", grid_code=MICRO
    )
    services.event_transition(actor=post_of("community"), event=e, action="accept")
    zj = _zj_handler()
    community = client_as("community")
    assert 'id="act-approve_extension"' not in community.get(f"/events/{e.pk}/").content.decode()
    resp = _act(zj, e, "request_extension", hours="16", note="")
    assert resp.status_code == 422
    html = resp.content.decode()
    assert 'id="act-request_extension" open' in html and 'value="16"' in html
    assert "Write a note" in html
    ok = _act(zj, e, "request_extension", hours="16", note="需要等材料")
    assert ok.status_code == 302
    e.refresh_from_db()
    assert e.extension_hours == 16
    page = community.get(f"/events/{e.pk}/").content.decode()
    assert 'id="act-approve_extension"' in page and 'id="act-deny_extension"' in page


def test_dispatch_by_hand_offers_the_rule_candidates_first(client_as, post_of):
    Unit.objects.create(code="JJ-ZJ-2", name="锦江区住建二所", kind="housing", region_code="510104")
    for unit in ("JJ-ZJ", "JJ-ZJ-2"):  # two rules equally specific: the dispatcher picks
        services.dispatch_rule_set(actor=SYSTEM, category="0401", region_code=GRID, unit=unit)
    e, _ = services.event_report(
        actor=post_of("micro"), source="patrol", category="0401", title="墙裂", grid_code=MICRO
    )
    community = client_as("community")
    _act(community, e, "accept")
    e.refresh_from_db()
    assert e.state == "accepted"  # two housing units: the dispatcher picks
    html = community.get(f"/events/{e.pk}/?act=dispatch", **EN).content.decode()
    assert 'id="act-dispatch" open' in html
    rules = html[html.index("By the dispatch rules") : html.index("All units")]
    assert "锦江区住建二所" in rules and "锦江区住房和城乡建设局" in rules
    # all units: those serving the event's place, not other districts' centres
    others = html[html.index("All units") :]
    assert "锦江区社会治理综合服务中心" in others and "青羊区社会治理综合服务中心" not in others
    assert _act(community, e, "dispatch").status_code == 422  # no unit chosen
    unit = Unit.objects.get(code="JJ-ZJ-2")
    assert _act(community, e, "dispatch", unit=str(unit.pk)).status_code == 302
    e.refresh_from_db()
    assert e.state == "dispatched" and e.unit == unit


def test_bulk_accept_reports_each_event(client_as, post_of):
    micro = post_of("micro")
    a, _ = services.event_report(
        actor=micro, source="patrol", category="0303", title="单车堆积", grid_code=MICRO
    )
    b, _ = services.event_report(
        actor=micro, source="patrol", category="0401", title="墙裂", grid_code=MICRO
    )
    c, _ = services.event_report(
        actor=micro, source="patrol", category="0401", title="又一处墙裂", grid_code=MICRO
    )
    services.event_transition(actor=post_of("community"), event=c, action="accept")
    other_grid = Grid.objects.filter(code__startswith="510104017002").first()
    foreign, _ = services.event_report(
        actor=SYSTEM,
        source="dispatcher",
        category="0401",
        title="别的社区",
        grid_code=other_grid.code,
    )
    community = client_as("community")
    ids = [a.pk, b.pk, c.pk, foreign.pk]
    resp = community.post("/events/queue/?state=all", {"action": "accept", "ids": ids}, **EN)
    assert resp.status_code == 302 and resp["Location"] == "/events/queue/?state=all"
    html = community.get(resp["Location"], **EN).content.decode()
    results = html[html.index("What the bulk action did") : html.index('id="bulk"')]
    rows = re.findall(r'<tr class="(done|refused)">(.*?)</tr>', results, re.S)
    by_number = {n: cls for cls, body in rows for n in re.findall(r"E\d{8}[0-9A-F]{12}", body)}
    assert by_number[a.number] == "done" and by_number[b.number] == "done"
    assert by_number[c.number] == "refused"
    assert foreign.number not in results and "No such event." in results
    assert len(rows) == 4
    for x in (a, b, foreign):
        x.refresh_from_db()
    assert a.state == b.state == "dispatched" and foreign.state == "reported"
    # the results are shown once
    assert "What the bulk action did" not in community.get("/events/queue/", **EN).content.decode()


def test_bulk_escalate_needs_the_note_and_keeps_the_selection(client_as, post_of):
    e, _ = services.event_report(
        actor=post_of("micro"), source="patrol", category="0401", title="墙裂", grid_code=MICRO
    )
    community = client_as("community")
    resp = community.post("/events/queue/", {"action": "escalate", "ids": [e.pk]}, **EN)
    assert resp.status_code == 422
    html = resp.content.decode()
    assert "Write a note" in html
    assert re.search(rf'name="ids" value="{e.pk}" form="bulk" checked', html)
    ok = community.post(
        "/events/queue/", {"action": "escalate", "ids": [e.pk], "note": "需要街道协调"}, **EN
    )
    assert ok.status_code == 302
    e.refresh_from_db()
    assert e.level == "street" and e.state == "accepted"
    results = community.get(ok["Location"], **EN).content.decode()
    assert "now handled at the Street level" in results
    # now it is the street's: in the street dispatcher's queue, no longer the community's
    assert e.number in client_as("street").get("/events/queue/", **EN).content.decode()
    assert e.number not in community.get("/events/queue/", **EN).content.decode()
    below = community.get("/events/queue/?held=below", **EN).content.decode()
    assert e.number in below


def test_queue_filters_and_deadline_colours(client_as, post_of):
    micro = post_of("micro")
    e, _ = services.event_report(
        actor=micro, source="patrol", category="0303", title="单车堆积待处理", grid_code=MICRO
    )
    services.event_transition(actor=post_of("community"), event=e, action="accept")
    services.event_transition(actor=post_of("street"), event=e, action="supervise", note="请加快")
    e.refresh_from_db()
    services.deadlines_sweep(now=e.handle_due + __import__("datetime").timedelta(minutes=5))
    community = client_as("community")
    html = community.get("/events/queue/?supervised=1&state=all", **EN).content.decode()
    assert e.number in html and "supervised" in html
    row = re.search(rf'<tr class="([^"]*)">\s*<td class="pick"><input[^>]*value="{e.pk}"', html)
    assert row is not None and row.group(1) == "tone-overdue supervised"
    none = community.get("/events/queue/?category=01&state=all", **EN).content.decode()
    assert e.number not in none
    assert community.get("/events/queue/?state=nonsense", **EN).status_code == 200


def test_scope_out_of_reach_is_404(client_as, post_of):
    e, _ = services.event_report(
        actor=post_of("micro"), source="patrol", category="0401", title="墙裂", grid_code=MICRO
    )
    services.event_transition(actor=post_of("community"), event=e, action="accept")  # → 住建
    for who in ("cadre", "volunteer", "handler"):  # other grids; the 城管 unit
        c = client_as(who)
        assert c.get(f"/events/{e.pk}/", **EN).status_code == 404, who
        assert _act(c, e, "acknowledge").status_code == 404, who
    assert client_as("community").get(f"/events/{e.pk}/", **EN).status_code == 200
    # pages by role
    for who, url in (
        ("cadre", "/events/queue/"),
        ("handler", "/events/queue/"),
        ("micro", "/events/queue/"),
        ("community", "/events/unit/"),
        ("community", "/events/m/"),
        ("handler", "/events/m/report/"),
        ("resident", "/events/queue/"),
    ):
        assert client_as(who).get(url, **EN).status_code == 404, (who, url)
    assert client_as("cadre").get("/events/m/", **EN).status_code == 200
    assert client_as("handler").get("/events/unit/", **EN).status_code == 200
    assert e.number not in client_as("handler").get("/events/unit/", **EN).content.decode()
    for who, target in (("micro", "/events/m/"), ("street", "/events/queue/")):
        assert client_as(who).get("/events/", **EN)["Location"] == target


def test_inbox_unread_first_count_in_the_top_bar_and_mark_read(client_as, post_of):
    secretary = post_of("community")
    services.notifications_read(actor=secretary)
    for title in ("墙裂通知一", "墙裂通知二"):
        services.event_report(
            actor=post_of("micro"), source="patrol", category="0401", title=title, grid_code=MICRO
        )
    community = client_as("community")
    page = community.get("/events/inbox/", **EN).content.decode()
    assert (
        '<a class="inbox-link" href="/events/inbox/" title="Inbox">Inbox <b class="count">2</b>'
        in page
    )
    newest = Notification.objects.filter(post=secretary).order_by("-id").first()
    assert "墙裂通知二" in newest.text
    community.post("/events/inbox/", {"ids": [newest.pk]}, **EN)
    newest.refresh_from_db()
    assert newest.read_at is not None
    page = community.get("/events/inbox/", **EN).content.decode()
    assert page.index("墙裂通知一") < page.index("墙裂通知二")  # unread first
    assert 'class="count">1</b>' in page
    only = community.get("/events/inbox/?show=unread", **EN).content.decode()
    assert "墙裂通知一" in only and "墙裂通知二" not in only
    community.post("/events/inbox/", {"all": "1"}, **EN)
    assert not Notification.objects.filter(post=secretary, read_at__isnull=True).exists()
    assert 'class="count">' not in community.get("/events/inbox/", **EN).content.decode()


def test_the_spot_check_page_shows_a_steady_sample_until_checked(client_as, post_of):
    import math

    from wangge.events import selectors

    micro, secretary = post_of("micro"), post_of("community")
    before = selectors.spot_check_summary(actor=secretary)["resolved"]
    for i in range(12):
        e, _ = services.event_report(
            actor=micro, source="patrol", category="9901", title=f"楼道杂物 {i}", grid_code=MICRO
        )
        services.event_transition(actor=micro, event=e, action="resolve_on_spot")
    total = before + 12
    community = client_as("community")
    html = community.get("/events/spot-checks/", **EN).content.decode()
    shown = [e for e in Event.objects.filter(on_spot=True) if e.number in html]
    assert len(shown) == math.ceil(total / 10) >= 2  # one in ten, rounded up
    assert f"{total} resolved on the spot" in html
    again = community.get("/events/spot-checks/", **EN).content.decode()
    assert [e for e in Event.objects.filter(on_spot=True) if e.number in again] == shown
    assert _act(community, shown[0], "spot_check_pass").status_code == 302
    html = community.get("/events/spot-checks/", **EN).content.decode()
    assert shown[0].number not in html and shown[1].number in html
    assert "1 checks passed" in html
    # the queue links to it; a grid worker has no such page
    assert "/events/spot-checks/" in community.get("/events/queue/", **EN).content.decode()
    assert client_as("micro").get("/events/spot-checks/", **EN).status_code in (403, 404)


def test_a_busy_database_answers_the_report_form_with_503_and_nothing_saved(client_as, monkeypatch):
    from django.db import OperationalError

    micro = client_as("micro")
    key = _report_form(micro)

    def locked(*a, **kw):
        raise OperationalError("database is locked")

    monkeypatch.setattr(services, "_report_once", locked)
    r = micro.post("/events/m/report/", _crack(key), **EN)
    assert r.status_code == 503 and r["Retry-After"] == "1"
    assert "nothing was saved" in r.content.decode()
    assert not Event.objects.filter(idem_key=key).exists()
