"""Batch intake: the same answers and the same rows as ``event_report``, item by item."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from wangge.accounts.scope import SYSTEM
from wangge.core import audit
from wangge.core.errors import PermissionDenied, ValidationError
from wangge.core.models import AuditEntry
from wangge.events import services
from wangge.events.batch import MAX_ITEMS, event_report_many
from wangge.events.models import Event, EventLog, Notification
from wangge.regions.models import Grid

pytestmark = pytest.mark.django_db
MICRO = "510104017001001001"
CST = ZoneInfo("Asia/Shanghai")
AT = datetime(2025, 9, 30, 16, 30, tzinfo=CST)  # a Tuesday afternoon before the holiday

EVENT_FIELDS = [
    f.attname
    for f in Event._meta.concrete_fields
    if f.attname not in ("id", "number", "idem_key", "updated_at")
]


def _items(prefix: str) -> list[dict]:
    g = Grid.objects.get(code=MICRO)
    other = Grid.objects.filter(code__startswith="510104", kind="micro").exclude(
        code__startswith="510104017001"
    )[0]
    return [
        {"category": "0401", "title": "墙体开裂", "grid_code": MICRO, "key": f"{prefix}-1"},
        {
            "category": "0501",
            "title": " 消防通道堵塞 ",
            "description": "三辆车",
            "urgency": "urgent",
            "lon": g.centroid_lon,
            "lat": g.centroid_lat,
            "address": "水井坊街1号",
            "external_ref": "X-77",
            "key": f"{prefix}-2",
        },
        {"category": "0601", "title": "燃气味", "urgency": "emergency", "grid_code": MICRO},
        {
            "category": "0902",
            "title": "大件垃圾",
            "lon": other.centroid_lon,
            "lat": other.centroid_lat,
            "grid_code": MICRO,  # the point wins over the grid chosen by hand
            "key": f"{prefix}-4",
        },
    ]


def _single(actor, source, items):
    return [services.event_report(actor=actor, source=source, at=AT, **item)[0] for item in items]


def _rows(events):
    """Every row the reports wrote, with the parts that must differ (ids, numbers, keys,
    write times) taken out or replaced by the event's position."""
    ids = [e.pk for e in events]
    numbers = {e.number: f"#{i}" for i, e in enumerate(events)}
    pos = {pk: i for i, pk in enumerate(ids)}

    def renumber(text):
        for n, p in numbers.items():
            text = text.replace(n, p)
        return text

    evs = [
        {f: getattr(e, f) for f in EVENT_FIELDS}
        for e in sorted(Event.objects.filter(pk__in=ids), key=lambda e: pos[e.pk])
    ]
    logs = sorted(
        (pos[r.event_id], r.action, r.from_state, r.to_state, r.post_id, r.at, r.note, r.data)
        for r in EventLog.objects.filter(event_id__in=ids)
    )
    notes = sorted(
        (pos[n.event_id], n.post_id, n.kind, renumber(n.text), n.read_at, n.delivered_at)
        for n in Notification.objects.filter(event_id__in=ids)
    )
    audits = sorted(
        (
            pos[int(a.object_id)],
            a.user_id,
            a.username,
            a.post_id,
            a.role,
            a.action,
            a.object_type,
            renumber(str(sorted(a.details.items()))),
            a.ip,
            a.user_agent,
            a.outcome,
        )
        for a in AuditEntry.objects.filter(
            object_type="events.event", object_id__in=[str(i) for i in ids]
        )
    )
    return evs, logs, notes, audits


@pytest.mark.parametrize("source,who", [("patrol", "micro"), ("hotline", None)])
def test_batch_writes_exactly_what_the_single_path_writes(post_of, source, who):
    actor = post_of(who) if who else SYSTEM
    single = _single(actor, source, _items("s"))
    results = event_report_many(
        actor=actor, source=source, items=[{**i, "at": AT} for i in _items("b")]
    )
    assert [r.status for r in results] == ["created"] * 4
    batch = list(Event.objects.filter(pk__in=[r.id for r in results]).order_by("id"))
    assert [e.number for e in batch] == [r.number for r in results]
    s_rows, b_rows = _rows(single), _rows(batch)
    assert b_rows[0] == s_rows[0]  # events, field by field (payload hashes too)
    assert b_rows[1] == s_rows[1]  # the "report" log rows
    assert b_rows[2] == s_rows[2] and b_rows[2]  # the dispatchers' notices
    assert b_rows[3] == s_rows[3] and len(b_rows[3]) == 4  # the audit rows
    assert batch[3].grid_code != MICRO and batch[1].title == "消防通道堵塞"
    assert audit.verify().ok  # the chain holds, batch rows included


def test_keys_are_shared_with_the_single_path_and_settled_in_order(post_of):
    micro = post_of("micro")
    first, _ = services.event_report(
        actor=micro, source="patrol", category="0303", title="单车堆积", grid_code=MICRO, key="k1"
    )
    same = {"category": "0303", "title": "单车堆积", "grid_code": MICRO}
    results = event_report_many(
        actor=micro,
        source="patrol",
        items=[
            {**same, "key": "k1"},  # the single path's event
            {**same, "title": "另一件事", "key": "k1"},  # the key with another payload
            {**same, "key": "k2"},  # new
            {**same, "key": "k2"},  # repeated in the batch: the one just made
            {**same, "title": "别的", "key": "k2"},  # repeated with another payload
            {**same, "key": "k3", "grid_code": "999"},  # fails: the next k3 creates
            {**same, "key": "k3"},
        ],
    )
    assert [(r.status, r.code) for r in results] == [
        ("existing", ""),
        ("error", "key_reused"),
        ("created", ""),
        ("existing", ""),
        ("error", "key_reused"),
        ("error", "unknown_grid"),
        ("created", ""),
    ]
    assert results[0].id == first.pk and results[3].id == results[2].id
    assert Event.objects.filter(idem_key__in=["k1", "k2", "k3"]).count() == 3
    # and the other way round: the single path finds the batch's event
    again, created = services.event_report(
        actor=micro,
        source="patrol",
        grid_code=MICRO,
        key="k2",
        **{"category": "0303"} | {"title": "单车堆积"},
    )
    assert not created and again.pk == results[2].id
    assert event_report_many(actor=micro, source="patrol", items=[{**same, "key": "k2"}])[
        0
    ].status == ("existing")


def test_each_bad_item_gets_its_own_error_and_the_good_ones_are_written(post_of):
    g = Grid.objects.get(code=MICRO)
    good = {"category": "0303", "title": "单车堆积", "grid_code": MICRO}
    lon, lat = _outside_every_grid()
    items = [
        good,
        {**good, "category": "03"},  # a major category
        {**good, "category": "nope"},
        {**good, "title": "  "},
        {**good, "urgency": "soon"},
        {**good, "lon": "east", "lat": "north"},
        {**good, "grid_code": "510104017001999999"},
        {**good, "grid_code": ""},
        {**good, "grid_code": "", "lon": 104.0, "lat": 35.0},  # far outside the city
        {**good, "grid_code": "", "lon": lon, "lat": lat},  # in the city, in no grid
        {**good, "colour": "red"},
        {**good, "lon": g.centroid_lon, "lat": g.centroid_lat},
    ]
    results = event_report_many(actor=post_of("micro"), source="patrol", items=items)
    assert [(r.status, r.code, r.field) for r in results] == [
        ("created", "", ""),
        ("error", "invalid_category", "category"),
        ("error", "invalid_category", "category"),
        ("error", "title_required", "title"),
        ("error", "invalid_urgency", "urgency"),
        ("error", "invalid_point", ""),
        ("error", "unknown_grid", "grid_code"),
        ("error", "location_required", "grid_code"),
        ("error", "outside_city", ""),
        ("error", "outside_grids", "lon"),
        ("error", "invalid_item", ""),
        ("created", "", ""),
    ]
    assert all(r.message for r in results if r.status == "error")
    # each error is the one the single path raises for the same input
    for item, r in zip(items[1:10], results[1:10], strict=True):
        with pytest.raises(ValidationError) as exc:
            services.event_report(actor=post_of("micro"), source="patrol", **item)
        assert exc.value.code == r.code


def _outside_every_grid() -> tuple[float, float]:
    """A point of another district whose grid is taken away (grids cover every district at this
    scale; the row goes with the test's transaction, the locator is rebuilt)."""
    import shapely

    from wangge.regions import locator
    from wangge.regions.models import Grid, Region

    geom = shapely.from_geojson(Region.objects.get(code="510107").geometry)
    p = geom.representative_point()
    Grid.objects.filter(code=locator.get_locator().locate(p.x, p.y).code).delete()
    locator.reset()
    return p.x, p.y


def test_whole_batch_refusals(post_of):
    good = {"category": "0303", "title": "单车堆积", "grid_code": MICRO}
    with pytest.raises(ValidationError) as exc:
        event_report_many(actor=SYSTEM, source="sensor", items=[good] * (MAX_ITEMS + 1))
    assert exc.value.code == "too_many_items"
    with pytest.raises(ValidationError):
        event_report_many(actor=SYSTEM, source="rumour", items=[good])
    with pytest.raises(PermissionDenied):
        event_report_many(actor=post_of("resident"), source="patrol", items=[good])
    before = Event.objects.count()
    assert event_report_many(actor=SYSTEM, source="sensor", items=[]) == []
    assert Event.objects.count() == before


def test_a_key_in_flight_elsewhere_answers_in_flight(post_of):
    micro = post_of("micro")
    scope = f"post:{micro.pk}"
    item = {"category": "0303", "title": "单车堆积", "grid_code": MICRO, "key": "busy"}
    if connection.vendor == "postgresql":
        import psycopg

        s = connection.settings_dict
        other = psycopg.connect(
            host=s["HOST"], port=s["PORT"], user=s["USER"], dbname=s["NAME"], autocommit=True
        )
        other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [scope + "busy"])
        try:
            r = event_report_many(actor=micro, source="patrol", items=[item])[0]
        finally:
            other.close()
    else:
        assert services._try_claim(scope, "busy")
        try:
            r = event_report_many(actor=micro, source="patrol", items=[item])[0]
        finally:
            services._release(scope, "busy")
    assert (r.status, r.code) == ("error", "in_flight")
    assert not Event.objects.filter(idem_key="busy").exists()
    assert event_report_many(actor=micro, source="patrol", items=[item])[0].status == "created"


def test_api_batch_answers_per_item_and_limits_the_size(client_as):
    c = client_as("micro")
    good = {"category": "0303", "title": "单车堆积", "grid_code": MICRO}
    items = [{**good, "key": f"api-{i}"} for i in range(150)] + [{**good, "category": "x"}]
    r = c.post(
        "/api/events/batch",
        {"source": "patrol", "items": items},
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["created"], body["existing"], body["errors"]) == (150, 0, 1)
    assert body["results"][-1]["code"] == "invalid_category"
    again = c.post(
        "/api/events/batch",
        {"source": "patrol", "items": items[:3]},
        content_type="application/json",
    ).json()
    assert again["existing"] == 3 and again["results"][0]["id"] == body["results"][0]["id"]
    too_many = c.post(
        "/api/events/batch",
        {"source": "patrol", "items": [good] * 1001},
        content_type="application/json",
    )
    assert too_many.status_code == 422
    assert too_many.json()["error"]["code"] == "validation_error"
