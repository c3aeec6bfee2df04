"""Pages of the points system: my points (a worker's phone page), a worker's ledger (for the
dispatchers of the scope), the ranking boards, the rule table and the reward catalogue with
redemption. Same rule as ``api.py``: parse, call a service or a selector, render; what is out
of the post's scope answers 404."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from wangge.accounts.scope import scope_for
from wangge.core.errors import ApplicationError
from wangge.points import access, selectors, services
from wangge.points.access import PointsPerm
from wangge.points.enums import WORKER_ROLES, Period
from wangge.regions import codes as C

PAGE_SIZE = 30


def _layout(post) -> str:
    """Workers read these pages on their phones; everyone else on the desktop layout."""
    field = post is not None and post.role in WORKER_ROLES and bool(post.place_code)
    return "phone.html" if field else "base.html"


def _or_404(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ApplicationError as exc:
        if exc.status in (403, 404):
            raise Http404 from None
        raise


def _ctx(request, **extra) -> dict:
    post = request.post
    return {
        "layout": _layout(post),
        "may": {p.name.lower(): access.may(post, p) for p in PointsPerm},
        **extra,
    }


def home(request):
    """The points page a post starts at: its own points, else the boards, else the rules."""
    post = request.post
    if access.may(post, PointsPerm.OWN):
        return redirect("points:mine")
    if access.may(post, PointsPerm.RANKINGS):
        return redirect("points:rankings")
    if access.may(post, PointsPerm.CATALOGUE):
        return redirect("points:rules")
    raise Http404


def _ledger(request, user_id=None) -> dict:
    post = request.post
    summary = _or_404(selectors.points_summary, actor=post, user_id=user_id)
    qs = _or_404(selectors.entry_list, actor=post, user_id=user_id)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return {
        "s": summary,
        "page": page,
        "rows": selectors.entry_views(actor=post, entries=list(page)),
    }


def mine(request):
    """My points: the balance, what expires soon, and the ledger with what each line was for."""
    _or_404(access.require, request.post, PointsPerm.OWN)
    return render(request, "points/mine.html", _ctx(request, own=True, **_ledger(request)))


def worker(request, user_id: int):
    """A worker's points, for the dispatchers of their scope (their own for a worker)."""
    return render(
        request, "points/mine.html", _ctx(request, own=False, **_ledger(request, user_id))
    )


def rankings(request):
    """The ranking board of a place of the scope for a month or a year, with its children."""
    from wangge.regions.selectors import place_children, place_get

    post = request.post
    period = request.GET.get("period", Period.MONTH)
    when = request.GET.get("when", "")
    code = C.normalize(request.GET.get("code", "") or "")
    try:
        page_no = max(1, int(request.GET.get("page") or 1))
    except ValueError:
        page_no = 1
    try:
        board = _or_404(
            selectors.ranking,
            actor=post,
            code=code,
            period=period,
            when=when,
            limit=PAGE_SIZE,
            offset=(page_no - 1) * PAGE_SIZE,
        )
    except ApplicationError as exc:  # a period that is not one: this period instead
        messages.error(request, exc.message)
        board = _or_404(selectors.ranking, actor=post, code=code, limit=PAGE_SIZE)
    place = place_get(actor=post, code=board.code)
    children = [] if len(place.code) >= 18 else place_children(actor=post, place=place)
    parent = C.parent_code(board.code)
    pages = max(1, (board.total + PAGE_SIZE - 1) // PAGE_SIZE)
    prev, nxt = _neighbours(board.period, board.key)
    return render(
        request,
        "points/rankings.html",
        _ctx(
            request,
            board=board,
            children=children[:60],
            up=parent if parent and scope_for(post).covers(parent) else "",
            periods=Period.choices,
            prev=prev,
            next=nxt,
            page_no=min(page_no, pages),
            pages=pages,
            may_workers=access.may(post, PointsPerm.WORKERS),
        ),
    )


def _neighbours(period: str, key: str) -> tuple[str, str]:
    """The periods before and after (none after the current one)."""
    today = timezone.localdate()
    if period == Period.YEAR:
        y = int(key)
        return f"{y - 1:04d}", (f"{y + 1:04d}" if y < today.year else "")
    y, m = (int(x) for x in key.split("-"))
    prev = f"{y - 1:04d}-12" if m == 1 else f"{y:04d}-{m - 1:02d}"
    nxt = f"{y + 1:04d}-01" if m == 12 else f"{y:04d}-{m + 1:02d}"
    return prev, (nxt if (y, m) < (today.year, today.month) else "")


def rules(request):
    """The rule table; the system administrator edits it here (or in the admin)."""
    post = request.post
    if request.method == "POST":
        _or_404(access.require, post, PointsPerm.EDIT)
        form = request.POST
        fields = ("name", "name_en", "points", "daily_cap", "monthly_cap", "valid_months")
        values = {f: form[f] for f in fields if f in form}
        if "is_active" in form:  # a hidden 0 before the checkbox: the last value wins
            values["is_active"] = form.get("is_active") == "1"
        try:
            if form.get("op") == "create":
                rule = services.rule_create(actor=post, action=form.get("action", ""), **values)
                messages.success(request, _("Rule %(a)s added.") % {"a": rule.action})
            else:
                rule = _or_404(selectors.rule_get, actor=post, action=form.get("action", ""))
                services.rule_update(actor=post, rule=rule, **values)
                messages.success(request, _("Rule %(a)s saved.") % {"a": rule.action})
            return redirect("points:rules")
        except ApplicationError as exc:
            if exc.status == 404:
                raise Http404 from None
            messages.error(request, exc.message)
    qs = _or_404(selectors.rule_list, actor=post)
    return render(
        request,
        "points/rules.html",
        _ctx(request, rules=list(qs), form=request.POST if request.method == "POST" else {}),
    )


def rewards(request):
    """The reward catalogue: redeem (workers), add, change, restock or withdraw (the system
    administrator); a worker's own redemptions below."""
    post = request.post
    edit = access.may(post, PointsPerm.EDIT)
    if request.method == "POST":
        _or_404(access.require, post, PointsPerm.EDIT)
        form = request.POST
        fields = ("name", "name_en", "description", "cost", "stock")
        values = {f: form[f] for f in fields if f in form}
        if "is_active" in form:  # a hidden 0 before the checkbox: the last value wins
            values["is_active"] = form.get("is_active") == "1"
        try:
            if form.get("op") == "create":
                services.reward_create(
                    actor=post, **{"name": "", "cost": "", "stock": "", **values}
                )
                messages.success(request, _("Reward added."))
            else:
                reward = _or_404(selectors.reward_get, actor=post, reward_id=form.get("id"))
                services.reward_update(actor=post, reward=reward, **values)
                messages.success(request, _("Reward saved."))
            return redirect("points:rewards")
        except ApplicationError as exc:
            if exc.status == 404:
                raise Http404 from None
            messages.error(request, exc.message)
    items = _or_404(selectors.reward_list, actor=post, include_inactive=edit)
    own = access.may(post, PointsPerm.OWN)
    return render(
        request,
        "points/rewards.html",
        _ctx(
            request,
            items=list(items),
            summary=selectors.points_summary(actor=post) if own else None,
            redemptions=list(selectors.redemption_list(actor=post)[:20]) if own else [],
            key=uuid.uuid4().hex,
            form=request.POST if request.method == "POST" else {},
        ),
    )


@require_POST
def redeem(request, reward_id: int):
    """Redeem one reward (the form carries an idempotency key: a double tap redeems once)."""
    post = request.post
    reward = _or_404(selectors.reward_get, actor=post, reward_id=reward_id)
    try:
        r, created = services.reward_redeem(
            actor=post, reward=reward, key=request.POST.get("key", ""), request=request
        )
        if created:
            messages.success(
                request,
                _("Redeemed %(name)s for %(cost)s points.") % {"name": reward.name, "cost": r.cost},
            )
        else:
            messages.info(request, _("This redemption was already made."))
    except ApplicationError as exc:
        if exc.status in (403, 404):
            raise Http404 from None
        messages.error(request, exc.message)
    return redirect("points:rewards")
