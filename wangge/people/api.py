"""REST API of person–house data: search, detail (masked), unmask (audited), export (CSV,
masked unless asked for with a reason; audited)."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from ninja import Router, Schema
from ninja.pagination import PageNumberPagination, paginate

from wangge.core.paging import MappedPage
from wangge.people import selectors, services
from wangge.people.imports import people_export
from wangge.regions.codes import normalize

router = Router(tags=["people"])


class ResidentOut(Schema):
    id: int
    name: str
    sex: str
    birth_year: int | None
    id_number: str
    phone: str
    registration: str
    relation: str
    grid_code: str
    address: str
    care_level: str
    visit_every_days: int | None
    tags: list[str]


class ResidentDetailOut(ResidentOut):
    household: list[ResidentOut]
    care_history: list[dict]


class UnmaskIn(Schema):
    field: str
    reason: str
    ref: str = ""


class UnmaskOut(Schema):
    field: str
    value: str


class ErrorOut(Schema):
    error: dict


def _out(v) -> dict:
    return {k: getattr(v, k) for k in ResidentOut.model_fields}


@router.get("/residents", response=list[ResidentOut], summary="Residents in scope (masked)")
@paginate(PageNumberPagination, page_size=50)
def resident_list(request, q: str = "", care_level: str = "", tag: str = "", grid: str = ""):
    post = request.post
    if q:
        qs = selectors.resident_search(actor=post, q=q)
    else:
        qs = selectors.resident_list(
            actor=post, filters={"care_level": care_level, "tag": tag, "grid": grid}
        )
    return MappedPage(
        qs, lambda rows: [_out(v) for v in selectors.resident_views(actor=post, residents=rows)]
    )


@router.get(
    "/residents/{resident_id}",
    response={200: ResidentDetailOut, 404: ErrorOut},
    summary="One resident, the household and the care history (masked)",
)
def resident_detail(request, resident_id: int):
    post = request.post
    r = selectors.resident_get(actor=post, resident_id=resident_id)
    view = selectors.resident_view(actor=post, resident=r)
    return {
        **_out(view),
        "household": [_out(m) for m in selectors.household(actor=post, resident=r)],
        "care_history": [
            {"level": a.level, "reason": a.reason, "at": a.assessed_at.isoformat()}
            for a in selectors.care_history(actor=post, resident=r)
        ],
    }


@router.post(
    "/residents/{resident_id}/unmask",
    response={200: UnmaskOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="The full value of one field, for a stated reason (audited)",
)
def resident_unmask(request, resident_id: int, body: UnmaskIn):
    r = selectors.resident_get(actor=request.post, resident_id=resident_id)
    value = services.resident_unmask(
        actor=request.post,
        resident=r,
        field=body.field,
        reason=body.reason,
        ref=body.ref,
        request=request,
    )
    return {"field": body.field, "value": value}


class ExportIn(Schema):
    code: str = ""
    reason: str


_CSV = {"responses": {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}}


def _csv(request, *, code: str, unmasked: bool, reason: str = "") -> StreamingHttpResponse:
    lines = people_export(
        actor=request.post, code=code, unmasked=unmasked, reason=reason, request=request
    )
    resp = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    name = f"residents-{normalize(code) or 'scope'}{'-unmasked' if unmasked else ''}.csv"
    resp["Content-Disposition"] = f'attachment; filename="{name}"'
    resp["Cache-Control"] = "no-store"
    return resp


@router.get(
    "/export",
    response={403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Residents under a place as CSV, masked, children under 14 left out (audited)",
    openapi_extra=_CSV,
)
def export_masked(request, code: str = ""):
    """``code`` defaults to the post's own place."""
    return _csv(request, code=code, unmasked=False)


@router.post(
    "/export",
    response={403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Residents under a place as CSV with full ID numbers and phones, for a stated "
    "reason (people.unmask; audited, refusals too)",
    openapi_extra=_CSV,
)
def export_unmasked(request, body: ExportIn):
    return _csv(request, code=body.code, unmasked=True, reason=body.reason)
