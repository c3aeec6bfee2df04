"""REST API of person–house data: search, detail (masked), unmask (audited)."""

from __future__ import annotations

from ninja import Router, Schema
from ninja.pagination import PageNumberPagination, paginate

from wangge.people import selectors, services

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
    return _Masked(post, qs)


class _Masked:
    """A lazily masked page: only the residents on the requested page are decrypted."""

    def __init__(self, post, qs):
        self.post, self.qs = post, qs

    def count(self) -> int:
        return self.qs.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, item):
        rows = self.qs[item]
        return [_out(v) for v in selectors.resident_views(actor=self.post, residents=rows)]


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
