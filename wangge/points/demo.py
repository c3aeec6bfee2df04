"""Demo: the rule table, a reward catalogue, and the points history of the demo's workers.

The event history (step ``event_history``) goes through the events services, which do not call
the points hooks yet; so this step scores the history from the facts — the recompute with
``apply`` writes every award the facts give (patrol reports accepted, resolutions on the spot,
rejections, households verified), with the caps applied in time order, and writes off what
has expired since.

The history's patrol reports are made by the *grid* workers of the grids (``_Staff.grid_worker``),
never by the demo micro-grid worker ("micro"). So that the walk-through holds — the micro-grid
worker sees the points of the events they reported and redeems a reward, and the street's
board has its workers on it — this step first makes a few patrol reports as "micro" (and two
as the demo grid worker "grid") over the last weeks, through the events services like the
history (reported, accepted by the community secretary, dispatched, handled by the unit,
verified and closed; one resolved on the spot). They carry their own idempotency keys
(``points-demo-<seed>-<n>``), so a re-run finds them.
"""

from __future__ import annotations

import io
from datetime import datetime, time, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from wangge.accounts.enums import Role
from wangge.accounts.models import Post
from wangge.accounts.scope import SYSTEM
from wangge.core.errors import ApplicationError
from wangge.demo.registry import DemoContext, demo_step
from wangge.points import services
from wangge.points.enums import WORKER_ROLES
from wangge.points.models import Balance, Entry, Reward

MICRO = "510104017001001001"
GRID = MICRO[:15]
COMMUNITY = MICRO[:12]

# name, English name, description, cost, stock
REWARDS = [
    ("荣誉证书", "Certificate of honour", "街道颁发的优秀微网格员荣誉证书", 5, 100),
    ("环保购物袋", "Reusable shopping bag", "社区定制帆布袋", 6, 200),
    ("洗衣液一瓶", "Laundry detergent", "2公斤装", 10, 100),
    ("电影票一张", "Cinema ticket", "辖区影院通用", 15, 50),
    ("大米5公斤", "Rice, 5 kg", "社区超市兑换", 20, 50),
    ("健康体检套餐", "Health check-up", "社区卫生服务中心基础体检", 60, 10),
]

# Reports of the demo's own workers: user, micro-grid, days ago, category, title, outcome.
REPORTS = [
    ("micro", MICRO, 41, "0401", "楼道墙体出现裂缝", "closed"),
    ("micro", MICRO, 33, "0202", "路灯不亮", "closed"),
    ("micro", MICRO, 24, "0901", "垃圾桶满溢", "closed"),
    ("micro", MICRO, 16, "0102", "墙面乱张贴小广告", "on_spot"),
    ("micro", MICRO, 9, "0503", "楼道内电动车充电", "closed"),
    ("micro", MICRO, 4, "0301", "人行道地砖松动", "closed"),
    ("grid", GRID + "002", 27, "0303", "共享单车乱停放", "closed"),
    ("grid", GRID + "003", 12, "0202", "路灯闪烁故障", "closed"),
]


@demo_step("points", order=65, description=_("points rules, rewards and the workers' points"))
def points(ctx: DemoContext) -> dict:
    rules = services.points_rules_install(actor=SYSTEM)
    rewards = 0
    with transaction.atomic():
        for name, name_en, description, cost, stock in REWARDS:
            if not Reward.objects.filter(name=name).exists():
                services.reward_create(
                    actor=SYSTEM,
                    name=name,
                    name_en=name_en,
                    description=description,
                    cost=cost,
                    stock=stock,
                )
                rewards += 1
    reports = _worker_reports(ctx)
    report = services.points_recompute(actor=SYSTEM, apply=True)
    micro = Post.objects.filter(user__username="micro", is_active=True).first()
    balance = (
        Balance.objects.filter(pk=micro.user_id).values_list("points", flat=True).first()
        if micro
        else None
    )
    return {
        "rules": rules,
        "rewards": rewards,
        "worker reports": reports,
        "facts": report.facts,
        "entries": Entry.objects.count(),
        "written": report.written,
        "workers with points": Balance.objects.exclude(points=0).count(),
        "micro balance": str(balance or 0),
    }


def _photo() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (160, 120), (120, 150, 130)).save(buf, "JPEG")
    return buf.getvalue()


def _worker_reports(ctx: DemoContext) -> int:
    """Patrol reports of the demo's workers, taken through the closed loop."""
    from wangge.events import services as events
    from wangge.events.enums import EventState

    secretary = (
        Post.objects.filter(role=Role.COMMUNITY_SECRETARY, place_code=COMMUNITY, is_active=True)
        .order_by("id")
        .first()
    )
    verifier = (
        Post.objects.filter(role=Role.GRID_WORKER, place_code=GRID, is_active=True)
        .order_by("id")
        .first()
    )
    tz = timezone.get_current_timezone()
    today = timezone.localdate()
    made = 0
    for i, (username, place, days, category, title, outcome) in enumerate(REPORTS):
        worker = (
            Post.objects.filter(user__username=username, is_active=True, role__in=WORKER_ROLES)
            .order_by("id")
            .first()
        )
        if worker is None or secretary is None:
            continue
        at = datetime.combine(today - timedelta(days=days), time(9, 40), tz)
        try:
            with transaction.atomic():
                e, _created = events.event_report(
                    actor=worker,
                    source="patrol",
                    category=category,
                    title=title,
                    description=f"网格员巡查发现：{title}。",
                    grid_code=place,
                    key=f"points-demo-{ctx.seed}-{i}",
                    at=at,
                )
                step = at
                while e.state not in (EventState.CLOSED, EventState.REJECTED):
                    step += timedelta(minutes=50)
                    nxt = _next(e, outcome, worker, secretary, verifier)
                    if nxt is None:
                        break
                    actor, action, kw = nxt
                    e = events.event_transition(actor=actor, event=e, action=action, at=step, **kw)
            made += 1
        except ApplicationError as exc:
            ctx.log(f"  report {i} by {username}: {exc.message}")
    return made


def _next(e, outcome, reporter, secretary, verifier):
    """The next action of a demo report: (actor, action, keyword arguments) or None."""
    from wangge.events import services as events
    from wangge.events.enums import EventState as S

    photo = {"photos": [_photo()]} if e.category.needs_after_photo else {}
    if e.state == S.REPORTED:
        if outcome == "on_spot":
            return reporter, "resolve_on_spot", {"note": "现场已处理", **photo}
        return secretary, "accept", {}
    if e.state == S.ACCEPTED:
        units = events.dispatch_candidates(e)
        return (secretary, "dispatch", {"data": {"unit": units[0].pk}}) if units else None
    handler = (
        Post.objects.filter(role=Role.UNIT_HANDLER, unit_id=e.unit_id, is_active=True)
        .order_by("id")
        .first()
    )
    if e.state == S.DISPATCHED:
        return (handler, "acknowledge", {}) if handler else None
    if e.state == S.ACKNOWLEDGED:
        return (handler, "handle", {"note": "已处理完毕", **photo}) if handler else None
    if e.state == S.HANDLED:
        return (verifier or reporter), "verify_pass", {}
    return None
