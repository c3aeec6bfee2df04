"""REST API of the closed loop: report (idempotent), list, detail with timeline, actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, File, Form, Router, Schema
from ninja.files import UploadedFile
from ninja.pagination import PageNumberPagination, paginate

from wangge.core.paging import MappedPage
from wangge.events import selectors, services

router = Router(tags=["events"])


class ErrorOut(Schema):
    error: dict


class ReportIn(Schema):
    category: str = Field(description="Small category code, e.g. 0401")
    title: str
    description: str = ""
    urgency: str = "normal"
    source: str = "patrol"
    lon: float | None = None
    lat: float | None = None
    grid_code: str = ""
    address: str = ""
    external_ref: str = ""
    reporter_name: str = Field("", description="Who reported, when not the account (a caller)")
    key: str = Field("", description="Idempotency key (or the Idempotency-Key header)")


class EventOut(Schema):
    id: int
    number: str
    category: str
    category_name: str
    title: str
    urgency: str
    source: str
    state: str
    level: str
    grid_code: str
    lon: float | None
    lat: float | None
    address: str
    unit: str | None
    reported_at: datetime
    response_due: datetime | None
    handle_due: datetime | None
    overdue: bool
    supervised: bool
    rework_count: int


class LogOut(Schema):
    action: str
    from_state: str
    to_state: str
    post: str | None
    at: datetime
    note: str
    data: dict


class PhotoOut(Schema):
    id: int
    kind: str
    url: str
    thumbnail: str
    taken_at: datetime | None
    lon: float | None
    lat: float | None


class EventDetailOut(EventOut):
    description: str
    timeline: list[LogOut]
    allowed_actions: list[str]
    photos: list[PhotoOut]


class ActionIn(Schema):
    action: str
    note: str = ""
    data: dict[str, Any] = Field(default_factory=dict)


class CategoryOut(Schema):
    code: str
    parent: str | None
    name: str
    name_en: str
    unit_kind: str
    on_spot_allowed: bool
    needs_after_photo: bool


class NoticeOut(Schema):
    id: int
    kind: str
    event_id: int | None
    text: str
    created_at: datetime
    read_at: datetime | None


def _out(e) -> dict:
    return {
        **{k: getattr(e, k) for k in EventOut.model_fields if hasattr(e, k)},
        "category": e.category.code,
        "category_name": e.category.name,
        "unit": e.unit.code if e.unit_id else None,
    }


def _detail(post, e, fresh_log=None, fresh_photos=None) -> dict:
    """The event with its timeline, actions and photos; for an event just reported, from the
    rows the report wrote (``fresh_log``, ``fresh_photos``) instead of reading them back."""
    timeline = selectors.event_timeline(actor=post, event=e) if fresh_log is None else [fresh_log]
    photos = e.photos.all() if fresh_photos is None else fresh_photos
    return {
        **_out(e),
        "description": e.description,
        "timeline": [
            {
                "action": log.action,
                "from_state": log.from_state,
                "to_state": log.to_state,
                "post": str(log.post) if log.post_id else None,
                "at": log.at,
                "note": log.note,
                "data": log.data,
            }
            for log in timeline
        ],
        "allowed_actions": [a.value for a in selectors.event_actions(actor=post, event=e)],
        "photos": [
            {
                "id": p.id,
                "kind": p.kind,
                "url": f"/events/photos/{p.id}/",
                "thumbnail": f"/events/photos/{p.id}/thumb/",
                "taken_at": p.taken_at,
                "lon": p.lon,
                "lat": p.lat,
            }
            for p in photos
        ],
    }


@router.post(
    "",
    response={
        200: EventDetailOut,
        201: EventDetailOut,
        403: ErrorOut,
        409: ErrorOut,
        422: ErrorOut,
    },
    summary="Report an event (idempotent with a key)",
)
def event_report(request, body: ReportIn):
    return _report(request, body, [])


@router.post(
    "/with-photos",
    response={
        200: EventDetailOut,
        201: EventDetailOut,
        403: ErrorOut,
        409: ErrorOut,
        422: ErrorOut,
    },
    summary="Report an event with photos (multipart: the report's fields + up to 9 photos)",
)
def event_report_with_photos(
    request, body: Form[ReportIn], photos: File[list[UploadedFile]] = None
):
    return _report(request, body, photos or [])


def _report(request, body: ReportIn, photos: list) -> tuple[int, dict]:
    e, created = services.event_report(
        actor=request.post,
        source=body.source,
        category=body.category,
        title=body.title,
        description=body.description,
        urgency=body.urgency,
        lon=body.lon,
        lat=body.lat,
        grid_code=body.grid_code,
        address=body.address,
        reporter_name=body.reporter_name,
        external_ref=body.external_ref,
        key=request.headers.get("Idempotency-Key", "") or body.key,
        photos=photos,
        request=request,
    )
    if created:  # everything the answer holds was just written: no need to read it back
        return 201, _detail(request.post, e, e.report_log, e.report_photos)
    return 200, _detail(request.post, selectors.event_get(actor=request.post, event_id=e.pk))


class ActionForm(Schema):
    action: str
    note: str = ""
    data: str = Field("{}", description="The action's data as a JSON object")


@router.post(
    "/{int:event_id}/actions/with-photos",
    response={200: EventDetailOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Take an action with photos (multipart; e.g. handle with the 'after' photo)",
)
def event_action_with_photos(
    request, event_id: int, body: Form[ActionForm], photos: File[list[UploadedFile]] = None
):
    import json

    from wangge.core.errors import ValidationError

    try:
        data = json.loads(body.data or "{}")
        assert isinstance(data, dict)
    except (ValueError, AssertionError):
        raise ValidationError("data must be a JSON object", code="invalid_data") from None
    e = selectors.event_get(actor=request.post, event_id=event_id)
    services.event_transition(
        actor=request.post,
        event=e,
        action=body.action,
        note=body.note,
        data=data,
        photos=photos or [],
        request=request,
    )
    return _detail(request.post, selectors.event_get(actor=request.post, event_id=event_id))


@router.get("", response=list[EventOut], summary="Events in scope, newest first")
@paginate(PageNumberPagination, page_size=50)
def event_list(
    request,
    state: str = "",
    category: str = "",
    grid: str = "",
    overdue: bool = False,
    supervised: bool = False,
    q: str = "",
):
    qs = selectors.event_list(
        actor=request.post,
        filters={
            "state": state,
            "category": category,
            "grid": grid,
            "overdue": overdue,
            "supervised": supervised,
            "q": q,
        },
    )
    return MappedPage(qs, lambda rows: [_out(e) for e in rows])


@router.get("/categories", response=list[CategoryOut], summary="The category taxonomy")
def category_list(request):
    return [
        {
            "code": c.code,
            "parent": c.parent.code if c.parent_id else None,
            "name": c.name,
            "name_en": c.name_en,
            "unit_kind": c.unit_kind,
            "on_spot_allowed": c.on_spot_allowed,
            "needs_after_photo": c.needs_after_photo,
        }
        for c in selectors.category_list(actor=request.post)
    ]


@router.get("/inbox", response=list[NoticeOut], summary="The active post's notices")
@paginate(PageNumberPagination, page_size=50)
def inbox(request, unread: bool = False):
    return selectors.inbox(actor=request.post, unread_only=unread)


@router.get("/{int:event_id}", response={200: EventDetailOut, 404: ErrorOut})
def event_detail(request, event_id: int):
    return _detail(request.post, selectors.event_get(actor=request.post, event_id=event_id))


@router.post(
    "/{int:event_id}/actions",
    response={200: EventDetailOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Take an action (409 with the allowed actions when it is not possible now)",
)
def event_action(request, event_id: int, body: ActionIn):
    e = selectors.event_get(actor=request.post, event_id=event_id)
    services.event_transition(
        actor=request.post,
        event=e,
        action=body.action,
        note=body.note,
        data=body.data,
        request=request,
    )
    return _detail(request.post, selectors.event_get(actor=request.post, event_id=event_id))


class BatchItemIn(Schema):
    category: str = Field(description="Small category code, e.g. 0501")
    title: str
    description: str = ""
    urgency: str = "normal"
    lon: float | None = None
    lat: float | None = None
    grid_code: str = ""
    address: str = ""
    external_ref: str = ""
    key: str = Field("", description="Idempotency key of this item")


class BatchIn(Schema):
    source: str = Field(description="One source for the batch: hotline, sensor, camera …")
    items: list[BatchItemIn] = Field(max_length=1000)


class BatchItemOut(Schema):
    index: int
    status: str = Field(description="created, existing or error")
    id: int | None = None
    number: str | None = None
    code: str | None = None
    message: str | None = None
    field: str | None = None


class BatchOut(Schema):
    created: int
    existing: int
    errors: int
    results: list[BatchItemOut]


@router.post(
    "/batch",
    response={200: BatchOut, 403: ErrorOut, 422: ErrorOut},
    summary="Report up to 1,000 events at once (hotline, device gateways); a result per item",
)
def event_report_batch(request, body: BatchIn):
    from wangge.events.batch import event_report_many

    results = [
        r.as_dict()
        for r in event_report_many(
            actor=request.post,
            source=body.source,
            items=[item.model_dump() for item in body.items],
            request=request,
        )
    ]
    count = {s: sum(r["status"] == s for r in results) for s in ("created", "existing", "error")}
    return {
        "created": count["created"],
        "existing": count["existing"],
        "errors": count["error"],
        "results": results,
    }
