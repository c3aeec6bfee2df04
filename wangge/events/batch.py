"""Batch intake: many reports in one call (hotline imports, device gateways).

``event_report_many(actor=…, items=[…], source=…)`` answers every item as ``event_report``
would answer it on its own — *created*, *existing* (the same key with the same payload: the
first event) or an *error* with its code, message and field — but writes the new events in one
transaction with a handful of statements instead of a dozen queries an event:

1. validate every item (urgency, category, title) and build the payload ``event_report`` hashes
   for idempotency;
2. claim the keys (as ``event_report`` does, so a single report and a batch with the same key
   never both create), look the claimed keys up in one query, and settle keys repeated inside
   the batch the way consecutive calls would;
3. locate every point with one ``locate_many`` call and check the grids in one query;
4. compute the response deadlines (once per distinct limit, urgency and time);
5. insert the events, their ``report`` log rows, the dispatchers' "new work" notices and the
   audit rows, each table in one statement (binary COPY on PostgreSQL), in one transaction.

The rows are the rows ``event_report`` writes (``tests/events/test_batch.py`` compares them
field by field); the audit rows are appended to the hash chain under the chain's lock, exactly
as ``audit.record`` appends them one by one. Photos are not taken in a batch.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from wangge.accounts.models import Post
from wangge.core import audit, bulk
from wangge.core.errors import ApplicationError, ValidationError
from wangge.events import services
from wangge.events import workflow as W
from wangge.events.enums import EventAction, EventState, HandlingLevel, Notice, Source, Urgency
from wangge.events.models import Category, Event, EventLog, Notification
from wangge.regions import codes as C
from wangge.regions.models import Grid

MAX_ITEMS = 1_000
ITEM_FIELDS = frozenset(
    {
        "category",
        "title",
        "description",
        "urgency",
        "lon",
        "lat",
        "grid_code",
        "address",
        "reporter_name",
        "external_ref",
        "key",
        "at",
    }
)


@dataclass
class ItemResult:
    """The answer for one item: ``status`` is ``created``, ``existing`` or ``error``."""

    index: int
    status: str
    id: int | None = None
    number: str = ""
    code: str = ""
    message: str = ""
    field: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.status == "error":
            out.update(code=self.code, message=self.message, field=self.field or None)
        else:
            out.update(id=self.id, number=self.number)
        return out


@dataclass
class _Item:
    """An item that passed the checks that need no database: what ``_create`` needs."""

    index: int
    category: Category
    payload: dict[str, Any]
    key: str
    hash: str
    at: datetime | None
    grid_code: str = ""
    lon: float | None = None
    lat: float | None = None


def _error(index: int, exc: ApplicationError) -> ItemResult:
    fields = (exc.details or {}).get("fields") if isinstance(exc.details, dict) else None
    return ItemResult(
        index,
        "error",
        code=exc.code,
        message=str(exc.message),
        field=next(iter(fields), "") if fields else "",
    )


def event_report_many(
    *, actor, items: list[dict[str, Any]], source: str, request=None
) -> list[ItemResult]:
    """Report up to ``MAX_ITEMS`` events at once; one result per item, in order. A bad item
    never stops the others; an unknown source, too many items or a post that may not report
    refuse the whole batch."""
    source = services._choice(Source, source, "source")
    if len(items) > MAX_ITEMS:
        raise ValidationError(
            _("At most %(n)d events a batch.") % {"n": MAX_ITEMS}, code="too_many_items"
        )
    services.report_check(actor, source)
    results: list[ItemResult | None] = [None] * len(items)
    ready = _validated(items, source, results)
    scope_key = services._idem_scope(actor, source)
    claimed: list[str] = []
    try:
        with transaction.atomic():
            ready = _settle_keys(ready, scope_key, results, claimed)
            ready = _located(ready, results)
            if ready:
                _create(actor, ready, scope_key, results, request)
    finally:
        _release(scope_key, claimed)
    return [r for r in results if r is not None]


# --- 1. checks without the database -------------------------------------------------------
def _validated(items, source: Source, results: list) -> list[_Item]:
    cats = {
        c.code: c
        for c in Category.objects.filter(is_active=True, parent__isnull=False).select_related(
            "parent"
        )
    }
    out = []
    for i, item in enumerate(items):
        try:
            out.append(_check(i, item, source, cats))
        except ApplicationError as exc:
            results[i] = _error(i, exc)
    return out


def _check(i: int, item: dict, source: Source, cats: dict[str, Category]) -> _Item:
    """The checks ``event_report`` makes before it looks at the key, in the same order and
    with the same messages; the payload it hashes."""
    if not isinstance(item, dict) or set(item) - ITEM_FIELDS:
        unknown = sorted(set(item) - ITEM_FIELDS) if isinstance(item, dict) else []
        raise ValidationError(
            _("Unknown fields: %(fields)s.") % {"fields": ", ".join(unknown) or "-"},
            code="invalid_item",
        )
    urgency = services._choice(Urgency, item.get("urgency", Urgency.NORMAL), "urgency")
    cat = cats.get((item.get("category") or "").strip())
    if cat is None:
        raise ValidationError(
            _("Choose a small category (小类)."),
            code="invalid_category",
            details={"fields": {"category": _("unknown category")}},
        )
    title = (item.get("title") or "").strip()
    if not title:
        raise ValidationError(
            _("A title is required."),
            code="title_required",
            details={"fields": {"title": _("required")}},
        )
    payload = {
        "photos": [],
        "source": source.value,
        "category": cat.code,
        "title": title,
        "description": item.get("description") or "",
        "urgency": urgency.value,
        "lon": item.get("lon"),
        "lat": item.get("lat"),
        "grid_code": item.get("grid_code") or "",
        "address": item.get("address") or "",
        "external_ref": item.get("external_ref") or "",
    }
    if (item.get("reporter_name") or "").strip():  # as the single path: only when given
        payload["reporter_name"] = str(item["reporter_name"]).strip()
    key = (item.get("key") or "").strip()[:100]
    at = item.get("at")
    if at is not None and not (isinstance(at, datetime) and timezone.is_aware(at)):
        raise ValidationError(_("The time of a report must be a datetime with its zone."))
    return _Item(
        index=i,
        category=cat,
        payload=payload,
        key=key,
        hash=services._payload_hash(payload) if key else "",
        at=at,
    )


def _select(sql: str, params: list, values: list) -> list[tuple]:
    """Rows of ``sql`` (one ``{in}`` where ``values`` go): one array parameter on PostgreSQL
    (psycopg binds on the client and parses a query of thousands of placeholders slowly),
    chunks of placeholders on SQLite."""
    if not values:
        return []
    out: list[tuple] = []
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(sql.format(in_="= ANY(%s)"), [*params, list(values)])
            return cur.fetchall()
        for start in range(0, len(values), 500):
            chunk = list(values[start : start + 500])
            cur.execute(sql.format(in_=f"IN ({', '.join(['%s'] * len(chunk))})"), params + chunk)
            out += cur.fetchall()
    return out


# --- 2. keys --------------------------------------------------------------------------------
def _claim(scope_key: str, keys: list[str]) -> set[str]:
    """Claim the keys for this transaction as ``event_report`` claims one (the same advisory
    lock on PostgreSQL, the same in-process set on SQLite); the keys another request holds."""
    if not keys:
        return set()
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(
                "SELECT k FROM unnest(%s::text[]) AS k "
                "WHERE NOT pg_try_advisory_xact_lock(hashtextextended(%s || k, 0))",
                [keys, scope_key],
            )
            return {row[0] for row in cur.fetchall()}
    busy = set()
    for k in keys:
        if not services._try_claim(scope_key, k):
            busy.add(k)
    return busy


def _release(scope_key: str, keys: list[str]) -> None:
    for k in keys:
        services._release(scope_key, k)


def _settle_keys(ready: list[_Item], scope_key: str, results: list, claimed: list) -> list:
    """Answer the items whose key is taken: by an event in the database (existing, or refused
    when the payload differs), by another request in flight (409), or by an earlier item of
    this batch (settled once that item's fate is known, in ``_located``)."""
    keys = list(dict.fromkeys(it.key for it in ready if it.key))
    busy = _claim(scope_key, keys)
    if connection.vendor != "postgresql":
        claimed.extend(k for k in keys if k not in busy)
    # NOT (idem_key = ''): the condition of the partial unique index, so that it is used
    found = {
        key: (pk, number, digest)
        for pk, number, key, digest in _select(
            f"SELECT id, number, idem_key, idem_hash FROM {Event._meta.db_table} "
            "WHERE idem_scope = %s AND idem_key {in_} AND NOT (idem_key = '')",
            [scope_key],
            keys,
        )
    }
    out = []
    for it in ready:
        if it.key in busy:
            results[it.index] = _error(
                it.index,
                ApplicationError(
                    _("A request with this key is still being processed; try again shortly."),
                    code="in_flight",
                ),
            )
        elif it.key in found:
            pk, number, digest = found[it.key]
            results[it.index] = _existing_or_reused(it, pk, number, digest)
        else:
            out.append(it)
    return out


def _existing_or_reused(it: _Item, pk: int, number: str, digest: str) -> ItemResult:
    if digest != it.hash:
        return _error(
            it.index,
            ValidationError(
                _("This key was already used for a different report."), code="key_reused"
            ),
        )
    return ItemResult(it.index, "existing", id=pk, number=number)


# --- 3. places ------------------------------------------------------------------------------
def _located(ready: list[_Item], results: list) -> list[_Item]:
    """The grid of every item as ``services._locate`` finds it (the point by the locator, else
    the grid chosen by hand); items that cannot be placed get its errors. Then the keys
    repeated inside the batch: the first item that can be created creates, later ones with
    the same payload are answered with it (existing), with another payload refused."""
    from wangge.regions.locator import get_locator

    with_point: list[_Item] = []
    for it in ready:
        lon, lat = it.payload["lon"], it.payload["lat"]
        it.grid_code = it.payload["grid_code"]
        if lon is not None and lat is not None:
            try:
                it.lon, it.lat = float(lon), float(lat)
            except (TypeError, ValueError):
                results[it.index] = _error(
                    it.index,
                    ValidationError(_("The location is not a number."), code="invalid_point"),
                )
                continue
            with_point.append(it)
        else:
            it.lon, it.lat = lon, lat
    failed: set[int] = {it.index for it in ready if results[it.index] is not None}
    if with_point:
        loc = get_locator()
        lons = np.array([it.lon for it in with_point], dtype=np.float64)
        lats = np.array([it.lat for it in with_point], dtype=np.float64)
        try:
            codes = loc.locate_many(lons, lats).tolist()
        except ValidationError:  # a bad point among them: ask one by one, for the reasons
            codes = []
            for it in with_point:
                try:
                    hit = loc.locate(it.lon, it.lat)
                    codes.append(hit.code if hit else None)
                except ValidationError as exc:
                    results[it.index] = _error(it.index, exc)
                    failed.add(it.index)
                    codes.append(None)
        for it, code in zip(with_point, codes, strict=True):
            if it.index in failed:
                continue
            if code is None:
                if not it.grid_code:
                    results[it.index] = _error(
                        it.index,
                        ValidationError(
                            _("The point is not inside any grid; choose the grid by hand."),
                            code="outside_grids",
                            details={"fields": {"lon": _("outside every grid")}},
                        ),
                    )
                    failed.add(it.index)
            else:
                it.grid_code = code
    candidates = [it for it in ready if it.index not in failed]
    for it in candidates:
        it.grid_code = C.normalize(it.grid_code or "")
    wanted = list({it.grid_code for it in candidates if it.grid_code})
    known = {
        row[0]
        for row in _select(f"SELECT code FROM {Grid._meta.db_table} WHERE code {{in_}}", [], wanted)
    }
    out: list[_Item] = []
    first: dict[str, _Item] = {}
    for it in candidates:
        if not it.grid_code:
            results[it.index] = _error(
                it.index,
                ValidationError(
                    _("Give the location or choose the grid."),
                    code="location_required",
                    details={"fields": {"grid_code": _("required")}},
                ),
            )
        elif it.grid_code not in known:
            results[it.index] = _error(
                it.index,
                ValidationError(
                    _("No grid has the code %(code)s.") % {"code": it.grid_code},
                    code="unknown_grid",
                    details={"fields": {"grid_code": _("unknown grid")}},
                ),
            )
        elif it.key and it.key in first:
            results[it.index] = it  # settled after the first is written (it has no id yet)
        else:
            if it.key:
                first[it.key] = it
            out.append(it)
    for i, r in enumerate(results):
        if isinstance(r, _Item):
            results[i] = ("repeat", first[r.key], r)
    return out


# --- 4. and 5. deadlines and rows -----------------------------------------------------------
def _create(actor, ready: list[_Item], scope_key: str, results: list, request) -> None:
    now = timezone.now()
    post = actor if isinstance(actor, Post) else None
    numbers = _numbers([it.at or now for it in ready])
    due_cache: dict[tuple, datetime] = {}
    event_rows, events = [], []
    for it, number in zip(ready, numbers, strict=True):
        at = it.at or now
        p = it.payload
        resp_h, _handle_h = it.category.limits(p["urgency"])
        k = (at, resp_h, p["urgency"])
        due = due_cache.get(k)
        if due is None:
            due = due_cache[k] = services.deadline_after(at, resp_h, p["urgency"])
        events.append((it, number, at))
        event_rows.append(
            {
                "number": number,
                "category_id": it.category.pk,
                "title": p["title"][:120],
                "description": p["description"],
                "urgency": p["urgency"],
                "source": p["source"],
                "grid_code": it.grid_code,
                "lon": it.lon,
                "lat": it.lat,
                "address": p["address"][:200],
                "reporter_id": post.pk if post else None,
                "reporter_name": services._reporter_name(actor, p.get("reporter_name", "")),
                "external_ref": p["external_ref"][:60],
                "idem_scope": scope_key if it.key else "",
                "idem_key": it.key,
                "idem_hash": it.hash,
                "state": EventState.REPORTED.value,
                "level": HandlingLevel.COMMUNITY.value,
                "reported_at": at,
                "response_due": due,
                "updated_at": now,
            }
        )
    ids = bulk.insert_rows(Event, event_rows)
    for (it, number, _at), pk in zip(events, ids, strict=True):
        results[it.index] = ItemResult(it.index, "created", id=pk, number=number)
    for i, r in enumerate(results):
        if isinstance(r, tuple):
            _tag, first, it = r
            done = results[first.index]
            results[i] = _existing_or_reused(it, done.id, done.number, first.hash)
    bulk.insert_rows(
        EventLog,
        [
            {
                "event_id": pk,
                "action": EventAction.REPORT.value,
                "from_state": "",
                "to_state": EventState.REPORTED.value,
                "post_id": post.pk if post else None,
                "at": at,
                "note": "",
                "data": {"source": it.payload["source"]},
            }
            for (it, _n, at), pk in zip(events, ids, strict=True)
        ],
    )
    bulk.insert_rows(Notification, _notices(events, ids, now))
    audit.record_many(
        actor=actor,
        action="events.report",
        object_type=Event._meta.label_lower,
        objects=[
            (pk, {"number": number, "category": it.category.code, "grid": it.grid_code})
            for (it, number, _at), pk in zip(events, ids, strict=True)
        ],
        request=request,
    )


def _numbers(times: list[datetime]) -> list[str]:
    """Event numbers as ``event_report`` makes them, none repeated in the batch or taken."""
    numbers = [services._number(t) for t in times]
    while True:
        taken = {
            row[0]
            for row in _select(
                f"SELECT number FROM {Event._meta.db_table} WHERE number {{in_}}", [], numbers
            )
        }
        seen: set[str] = set()
        again = False
        for i, n in enumerate(numbers):
            if n in taken or n in seen:
                numbers[i] = services._number(times[i])
                again = True
            seen.add(numbers[i])
        if not again:
            return numbers


def _notices(events, ids, now) -> list[dict]:
    """The "new event" notice of ``event_report`` for the dispatchers of each event's place
    (the community's, where a new event is handled), in the order ``dispatcher_posts`` gives."""
    role = W.DISPATCHER_ROLE[HandlingLevel.COMMUNITY]
    places = {W.handling_code(it.grid_code, HandlingLevel.COMMUNITY) for it, _n, _a in events}
    posts: dict[str, list[int]] = defaultdict(list)
    for pk, place in (
        Post.objects.filter(role=role, is_active=True, place_code__in=places)
        .order_by("user_id", "id")
        .values_list("id", "place_code")
    ):
        posts[place].append(pk)
    template = _("New event %(n)s: %(t)s")
    rows = []
    for (it, number, _at), pk in zip(events, ids, strict=True):
        text = (template % {"n": number, "t": it.payload["title"][:120]})[:300]
        for post_id in posts.get(W.handling_code(it.grid_code, HandlingLevel.COMMUNITY), ()):
            rows.append(
                {
                    "post_id": post_id,
                    "kind": Notice.NEW_WORK.value,
                    "event_id": pk,
                    "text": text,
                    "created_at": now,
                    "read_at": None,
                    "delivered_at": None,
                    "attempts": 0,
                }
            )
    return rows
