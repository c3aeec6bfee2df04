"""REST API of the points system: my points and ledger, the workers' ledgers of the scope, the
ranking boards, the rule table, the reward catalogue and redemption."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from ninja import Field, Router, Schema
from ninja.pagination import PageNumberPagination, paginate

from wangge.core.paging import MappedPage
from wangge.points import selectors, services

router = Router(tags=["points"])


class ErrorOut(Schema):
    error: dict


class SummaryOut(Schema):
    user_id: int
    name: str
    balance: Decimal = Field(description="Points now (expiries due counted)")
    earned_month: Decimal
    earned_year: Decimal
    expiring: Decimal = Field(description="Points that expire within 30 days")
    expiring_on: datetime | None


class EntryOut(Schema):
    id: int
    at: datetime
    fact_kind: str
    fact_id: int
    label: str = Field(description="What the entry is for")
    detail: str
    points: Decimal
    rule_points: Decimal
    capped: str = Field(description="daily / monthly: past a cap, so it counts 0")
    expires_at: datetime | None
    scope_code: str
    event_id: int | None = Field(description="The event, when the caller may see it")


class RankRowOut(Schema):
    rank: int
    user_id: int
    name: str
    points: Decimal


class RankingOut(Schema):
    code: str
    name: str
    period: str
    key: str
    start: datetime
    end: datetime
    total: int
    rows: list[RankRowOut]
    mine: RankRowOut | None


class RuleOut(Schema):
    action: str
    name: str
    name_en: str
    points: Decimal
    daily_cap: Decimal | None
    monthly_cap: Decimal | None
    valid_months: int | None
    is_active: bool


class RuleIn(Schema):
    name: str | None = None
    name_en: str | None = None
    points: Decimal | None = None
    daily_cap: Decimal | None = Field(None, description="Empty for no cap")
    monthly_cap: Decimal | None = Field(None, description="Empty for no cap")
    valid_months: int | None = Field(None, description="Empty (or 0) for never")
    is_active: bool | None = None


class RuleCreateIn(RuleIn):
    action: str


class RewardOut(Schema):
    id: int
    name: str
    name_en: str
    description: str
    cost: Decimal
    stock: int
    is_active: bool


class RewardIn(Schema):
    name: str
    name_en: str = ""
    description: str = ""
    cost: Decimal
    stock: int
    is_active: bool = True


class RewardPatch(Schema):
    name: str | None = None
    name_en: str | None = None
    description: str | None = None
    cost: Decimal | None = None
    stock: int | None = None
    is_active: bool | None = None


class RedeemIn(Schema):
    key: str = Field(
        "",
        description="Idempotency key (or the Idempotency-Key header): a retry returns the "
        "first redemption and redeems nothing",
    )


class RedemptionOut(Schema):
    id: int
    reward_id: int
    reward: str
    cost: Decimal
    at: datetime
    created: bool = True


def _entries(post):
    def fn(entries):
        return [
            {
                "id": v.e.pk,
                "at": v.e.at,
                "fact_kind": v.e.fact_kind,
                "fact_id": v.e.fact_id,
                "label": v.label,
                "detail": v.detail,
                "points": v.e.points,
                "rule_points": v.e.base_points,
                "capped": v.e.capped,
                "expires_at": v.e.expires_at,
                "scope_code": v.e.scope_code,
                "event_id": v.event_id,
            }
            for v in selectors.entry_views(actor=post, entries=entries)
        ]

    return fn


def _summary(s) -> dict:
    return {k: getattr(s, k) for k in SummaryOut.model_fields}


def _rule(r) -> dict:
    return {k: getattr(r, k) for k in RuleOut.model_fields}


def _reward(r) -> dict:
    return {k: getattr(r, k) for k in RewardOut.model_fields}


def _redemption(r, created=True) -> dict:
    return {
        "id": r.pk,
        "reward_id": r.reward_id,
        "reward": r.reward.name,
        "cost": r.cost,
        "at": r.at,
        "created": created,
    }


@router.get("/me", response={200: SummaryOut, 403: ErrorOut}, summary="My points")
def my_points(request):
    return _summary(selectors.points_summary(actor=request.post))


@router.get("/me/entries", response=list[EntryOut], summary="My ledger, newest first")
@paginate(PageNumberPagination, page_size=50)
def my_entries(request, kind: str = ""):
    qs = selectors.entry_list(actor=request.post, kind=kind)
    return MappedPage(qs, _entries(request.post))


@router.get(
    "/workers/{user_id}",
    response={200: SummaryOut, 404: ErrorOut},
    summary="A worker of my scope: points",
)
def worker_points(request, user_id: int):
    return _summary(selectors.points_summary(actor=request.post, user_id=user_id))


@router.get(
    "/workers/{user_id}/entries",
    response={200: list[EntryOut], 404: ErrorOut},
    summary="A worker of my scope: ledger, newest first",
)
@paginate(PageNumberPagination, page_size=50)
def worker_entries(request, user_id: int, kind: str = ""):
    qs = selectors.entry_list(actor=request.post, user_id=user_id, kind=kind)
    return MappedPage(qs, _entries(request.post))


@router.get(
    "/rankings",
    response={200: RankingOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="A ranking board: the workers of a place by points earned in a month or year",
    description="period=month with when=YYYY-MM, or period=year with when=YYYY (now if "
    "empty); code: a place of the caller's scope (its own place if empty).",
)
def rankings(
    request,
    code: str = "",
    period: str = "month",
    when: str = "",
    limit: int = 50,
    offset: int = 0,
):
    board = selectors.ranking(
        actor=request.post,
        code=code,
        period=period,
        when=when,
        limit=max(1, min(limit, 500)),
        offset=max(0, offset),
    )
    return {
        **{k: getattr(board, k) for k in RankingOut.model_fields if k not in ("rows", "mine")},
        "rows": [vars(r) for r in board.rows],
        "mine": vars(board.mine) if board.mine else None,
    }


@router.get("/rules", response={200: list[RuleOut], 403: ErrorOut}, summary="The rule table")
def rule_list(request):
    return [_rule(r) for r in selectors.rule_list(actor=request.post)]


@router.post(
    "/rules",
    response={200: RuleOut, 403: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Add a rule (system administrator)",
)
def rule_create(request, body: RuleCreateIn):
    values = body.dict(exclude_unset=True)
    action = values.pop("action")
    return _rule(services.rule_create(actor=request.post, action=action, **values))


@router.patch(
    "/rules/{action}",
    response={200: RuleOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Change a rule (system administrator); unset fields stay as they are",
)
def rule_update(request, action: str, body: RuleIn):
    rule = selectors.rule_get(actor=request.post, action=action)
    changes = body.dict(exclude_unset=True)
    return _rule(services.rule_update(actor=request.post, rule=rule, **changes))


@router.get(
    "/rewards", response={200: list[RewardOut], 403: ErrorOut}, summary="The reward catalogue"
)
def reward_list(request, inactive: bool = False):
    return [
        _reward(r) for r in selectors.reward_list(actor=request.post, include_inactive=inactive)
    ]


@router.post(
    "/rewards",
    response={200: RewardOut, 403: ErrorOut, 422: ErrorOut},
    summary="Add a reward (system administrator)",
)
def reward_create(request, body: RewardIn):
    return _reward(services.reward_create(actor=request.post, **body.dict()))


@router.patch(
    "/rewards/{reward_id}",
    response={200: RewardOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Change a reward, restock it or withdraw it (system administrator)",
)
def reward_update(request, reward_id: int, body: RewardPatch):
    reward = selectors.reward_get(actor=request.post, reward_id=reward_id)
    changes = body.dict(exclude_unset=True)
    return _reward(services.reward_update(actor=request.post, reward=reward, **changes))


@router.post(
    "/rewards/{reward_id}/redeem",
    response={200: RedemptionOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Redeem a reward for its points (idempotent with a key)",
)
def reward_redeem(request, reward_id: int, body: RedeemIn):
    reward = selectors.reward_get(actor=request.post, reward_id=reward_id)
    r, created = services.reward_redeem(
        actor=request.post,
        reward=reward,
        key=request.headers.get("Idempotency-Key", "") or body.key,
        request=request,
    )
    return _redemption(r, created)


@router.get("/redemptions", response=list[RedemptionOut], summary="My redemptions, newest first")
@paginate(PageNumberPagination, page_size=50)
def redemption_list(request):
    return MappedPage(
        selectors.redemption_list(actor=request.post),
        lambda rows: [_redemption(r) for r in rows],
    )
