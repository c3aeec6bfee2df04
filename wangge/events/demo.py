"""Demo: the event taxonomy, the handling units of the demo district and dispatch rules
(step ``events``); the units' handlers and 90 days of event history (step ``event_history``).

The history is played through the real services, in time order, as the people of the demo
would have done it: reports (``event_report(at=…)``) by grid workers on patrol, by the 12345
hotline, residents, sensors and AI cameras; acceptance by the community secretary (automatic
dispatch where a rule is unambiguous), acknowledgement and handling with an "after" photo by
the unit's handler, verification on site by the grid worker, and on the way returns, requests
for more time, supervision, suspensions, rework, manual escalation (吹哨报到), rejections,
merged duplicates and resolutions on the spot. The deadline sweep runs every two hours of
simulated time, so overdue events are flagged — and escalated where the category says so —
exactly when they would have been. Events still being worked on at the end stay open.

Volume: ``EVENTS_PER_DAY_PER_300K`` reports a day per 300,000 residents of the district
(≈ 540 over 90 days, ≈ 2,600 actions, at the default 300,000; at least ``MIN_EVENTS`` when the
district has any residents, so a small test city still shows every outcome; none without
residents), and ≈ 290 more in the other districts. A real district of that size takes ≈ 700 a
day (Chengdu: ≈ 50,000 a day for 21 million people); the demo keeps less than 1 % of that
because every step goes through the services (≈ 20 ms of CPU a transition on SQLite, its log,
audit row and notices included), and the history should take about a minute to build. Mixes
(all documented below): categories weighted by source, sources (patrol most), hours of the day
by source (daytime peaks), fewer patrol reports on rest days of the working calendar, and
outcomes by share (most closed on time); a fifth of the district's reports fall in the demo
accounts' community (水井坊社区) and three tenths anywhere in its street, so their queues show
work in progress. The other districts add about three fifths of the history (``ELSEWHERE_SHARE``, at
least ``MIN_PER_DISTRICT`` each), spread by population, at random points of their grids (they
have no buildings): each gets its own propensity to handle on time and an event stuck open past
its deadline, so the city's map shows every district with events and a range of on-time rates.
Each other district has one handling unit (its social-governance centre), which takes what no
rule sends elsewhere.

Re-running is safe: every generated report carries an idempotency key (``demo-<seed>-<n>``, the
hotline's work-order number for hotline reports), so a report already made is found, not made
again, and each event continues from the state it is in; each simulated day commits as one
transaction. Handlers get accounts with passwords in ``demo-accounts.txt``; the other staff the
history needs where the demo has no post yet (community secretaries, street and district
dispatchers, the other districts' unit handlers, and the grid workers of the districts that the
workforce step staffs) get posts on users without a password; in the other districts what
patrols find comes in through the system, and the community verifies.
"""

from __future__ import annotations

import heapq
import io
import logging
import os
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import numpy as np
import shapely
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from wangge.accounts.enums import Role, UnitKind
from wangge.accounts.models import Post, Unit
from wangge.accounts.scope import SYSTEM
from wangge.accounts.services import post_grant
from wangge.core import workcal
from wangge.core.errors import ApplicationError
from wangge.demo.registry import DemoContext, demo_step
from wangge.events import services
from wangge.events.enums import FINAL_STATES, EventAction, EventState, HandlingLevel
from wangge.events.models import Category, Event, EventLog, Notification
from wangge.events.workflow import DISPATCHER_ROLE, handling_code
from wangge.regions.enums import GridKind, Level
from wangge.regions.synth import detailed_districts

# The units of 锦江区 (the urban-management unit JJ-CG comes with the demo accounts).
UNITS = [
    ("JJ-ZJ", "锦江区住房和城乡建设局", UnitKind.HOUSING, "510104"),
    ("JJ-XF", "锦江区消防救援大队", UnitKind.FIRE, "510104"),
    ("JJ-MZ", "锦江区民政局", UnitKind.CIVIL_AFFAIRS, "510104"),
    ("JJ-GA", "成都市公安局锦江区分局", UnitKind.POLICE, "510104"),
    ("JJ-YJ", "锦江区应急管理局", UnitKind.EMERGENCY, "510104"),
    ("JJ-WJ", "锦江区卫生健康局", UnitKind.HEALTH, "510104"),
    ("JJ-WY-017", "锦官驿街道物业服务中心", UnitKind.PROPERTY, "510104017"),
    ("JJ-QT", "锦江区社会治理综合服务中心", UnitKind.OTHER, "510104"),
]
DISTRICT = "510104"
# Shares of the demo district's reports that fall in the demo accounts' community and anywhere
# in their street (the community included); the others fall anywhere in the district.
LOCAL_SHARES = (("510104017001", 0.2), ("510104017", 0.3))
# The other districts (built down to communities, one grid each) add reports of their own,
# this share of the whole history, at least MIN_PER_DISTRICT each.
ELSEWHERE_SHARE = 0.6
MIN_PER_DISTRICT = 2
# Each other district's chance that an event handled on time or late is handled on time (the
# demo district's is that of OUTCOMES), so the city map shows a range of on-time rates.
ON_TIME_RANGE = (0.6, 0.97)
FALLBACK_UNIT = "JJ-QT"  # where a dispatcher sends what no rule covers


def fallback_unit_code(district: str) -> str:
    """The unit a district's dispatchers send what no rule covers: the demo district's, or the
    one social-governance centre each other district gets."""
    return FALLBACK_UNIT if district == DISTRICT else f"{district}-QT"


@demo_step("events", order=50, description=_("event categories, units and dispatch rules"))
def events(ctx: DemoContext) -> dict:
    from wangge.regions.models import Region

    n = services.categories_install(actor=SYSTEM)
    others = (
        Region.objects.filter(level=Level.DISTRICT, children__isnull=False)
        .exclude(code=DISTRICT)
        .distinct()
        .order_by("code")
    )
    with transaction.atomic():
        for code, name, kind, region in UNITS:
            Unit.objects.update_or_create(
                code=code, defaults={"name": name, "kind": kind, "region_code": region}
            )
        for d in others:  # the other districts' history needs somewhere to send its events
            Unit.objects.update_or_create(
                code=fallback_unit_code(d.code),
                defaults={
                    "name": f"{d.name}社会治理综合服务中心",
                    "kind": UnitKind.OTHER,
                    "region_code": d.code,
                },
            )
    return {"categories": n, "units": Unit.objects.count()}


# --- the units' handlers ------------------------------------------------------------------------
# username, display name, unit (JJ-CG's handler is the demo account "handler")
HANDLERS = [
    ("handler-zj", "锦江区住建局处置人员", "JJ-ZJ"),
    ("handler-xf", "锦江区消防救援大队处置人员", "JJ-XF"),
    ("handler-mz", "锦江区民政局处置人员", "JJ-MZ"),
    ("handler-ga", "锦江区公安分局处置人员", "JJ-GA"),
    ("handler-yj", "锦江区应急管理局处置人员", "JJ-YJ"),
    ("handler-wj", "锦江区卫健局处置人员", "JJ-WJ"),
    ("handler-wy", "锦官驿街道物业服务中心处置人员", "JJ-WY-017"),
    ("handler-qt", "锦江区社会治理综合服务中心处置人员", "JJ-QT"),
]


def _handlers(ctx: DemoContext) -> int:
    """An account with a password for each unit's handler, added to the demo accounts."""
    from wangge.accounts.demo import ACCOUNTS_FILE

    User = get_user_model()
    lines = []
    with transaction.atomic():
        for username, name, unit_code in HANDLERS:
            unit = Unit.objects.get(code=unit_code)
            user, _created = User.objects.get_or_create(username=username)
            user.first_name = name
            password = ""
            if ctx.data_dir is not None:  # a password only where it is written down
                password = secrets.token_urlsafe(12)
                user.set_password(password)
            else:
                user.set_unusable_password()
            user.save()
            if not Post.objects.filter(user=user, role=Role.UNIT_HANDLER, is_active=True).exists():
                post_grant(actor=SYSTEM, user=user, role=Role.UNIT_HANDLER, unit=unit)
            lines.append(f"{username}\t{password}\t{Role.UNIT_HANDLER.label}\t{unit_code}\t")
    if ctx.data_dir is not None:
        ctx.accounts += lines
        path = ctx.data_dir / ACCOUNTS_FILE
        mine = {line.split("\t", 1)[0] for line in lines}
        kept = []
        if path.exists():
            kept = [
                line
                for line in path.read_text(encoding="utf-8").splitlines()
                if line.split("\t", 1)[0] not in mine
            ]
        if not kept:
            kept = ["# user\tpassword\trole\tplace or unit\ttwo-factor key (RFC 6238)"]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(kept + lines) + "\n")
    return len(lines)


# --- the mixes ----------------------------------------------------------------------------------
HISTORY_DAYS = 90
EVENTS_PER_DAY_PER_300K = 6
MIN_EVENTS = 60
SWEEP_HOURS = 2

# source: share of all reports, factor on rest days, weight of each hour 0–23
_DAY = [0, 0, 0, 0, 0, 0, 1, 3, 8, 10, 10, 8, 4, 5, 8, 10, 9, 7, 3, 1, 0, 0, 0, 0]
_CALLS = [1, 0, 0, 0, 0, 0, 1, 3, 6, 9, 10, 9, 6, 6, 8, 9, 8, 7, 6, 6, 5, 4, 3, 2]
_EVENING = [1, 1, 0, 0, 0, 0, 1, 3, 5, 6, 6, 5, 4, 4, 5, 5, 5, 6, 7, 8, 8, 6, 4, 2]
_ROUND = [3, 2, 2, 2, 2, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 4, 4, 3]
_RUSH = [2, 1, 1, 1, 1, 1, 3, 8, 9, 5, 4, 4, 5, 4, 4, 5, 6, 9, 8, 5, 4, 3, 3, 2]
SOURCES: dict[str, tuple[float, float, list[int]]] = {
    "patrol": (0.52, 0.35, _DAY),
    "hotline": (0.18, 0.80, _CALLS),
    "resident": (0.11, 1.15, _EVENING),
    "camera": (0.08, 1.00, _RUSH),
    "sensor": (0.05, 1.00, _ROUND),
    "dispatcher": (0.04, 0.30, _DAY),
    "campaign": (0.02, 0.10, _DAY),
}
# categories by source (relative weights)
_STREET = {
    "0101": 8,
    "0102": 4,
    "0103": 7,
    "0104": 2,
    "0201": 3,
    "0202": 5,
    "0203": 2,
    "0301": 4,
    "0302": 9,
    "0303": 6,
    "0401": 3,
    "0402": 2,
    "0403": 1,
    "0404": 1,
    "0501": 4,
    "0502": 2,
    "0503": 3,
    "0602": 1,
    "0701": 3,
    "0702": 1,
    "0703": 2,
    "0801": 1,
    "0802": 1,
    "0803": 1,
    "0901": 10,
    "0902": 6,
    "0903": 2,
    "1001": 1,
    "1002": 2,
    "1101": 1,
    "1102": 3,
    "1103": 1,
    "9901": 2,
}
_CALLERS = {
    "0101": 3,
    "0202": 3,
    "0301": 2,
    "0302": 5,
    "0401": 4,
    "0402": 3,
    "0404": 2,
    "0501": 2,
    "0601": 2,
    "0602": 2,
    "0701": 6,
    "0702": 2,
    "0703": 9,
    "0802": 3,
    "0803": 1,
    "0901": 5,
    "0902": 5,
    "0903": 4,
    "1001": 2,
    "1101": 4,
    "1102": 4,
    "1103": 6,
    "1201": 1,
    "1202": 1,
    "9901": 4,
}
CATEGORIES_BY_SOURCE: dict[str, dict[str, int]] = {
    "patrol": _STREET,
    "dispatcher": _STREET,
    "campaign": {"0102": 3, "0103": 3, "0501": 4, "0503": 4, "0901": 3, "0302": 2},
    "hotline": _CALLERS,
    "resident": _CALLERS,
    "camera": {"0101": 4, "0103": 3, "0302": 8, "0303": 4, "0501": 6, "0901": 3},
    "sensor": {"0601": 3, "0801": 4, "0503": 3, "1101": 3, "0903": 2, "1201": 1},
}
URGENT_SHARE = 0.12  # of reports not urgent by nature
ALWAYS_URGENT = {"0601": "emergency", "1201": "emergency", "0801": "urgent", "0201": "urgent"}

# outcome: share of all reports
OUTCOMES: dict[str, float] = {
    "on_time": 0.62,
    "on_spot": 0.08,
    "late": 0.07,  # handled after the deadline (auto-escalating categories get escalated)
    "rework": 0.05,  # verification fails once, then passes
    "escalate": 0.03,  # the community escalates it to the street (吹哨报到)
    "return": 0.02,  # the unit returns it as not its business, another unit handles it
    "extension": 0.02,  # the unit asks for more time and mostly gets it
    "supervise": 0.02,  # the street supervises (督办) a slow event
    "suspend": 0.01,  # a long-term problem, suspended until a review date
    "stuck": 0.02,  # the unit never finishes: still open, overdue
    "reject": 0.03,  # not valid, or not for the platform
    "duplicate": 0.03,  # a second report of an open event: merged (else rejected)
}

TITLES: dict[str, list[str]] = {
    "0101": ["人行道占道经营", "流动摊贩占道"],
    "0102": ["墙面乱张贴小广告", "电杆乱涂画"],
    "0103": ["商铺店外堆放杂物", "门店货物占用人行道"],
    "0104": ["违规设置户外广告牌"],
    "0201": ["井盖缺失", "井盖破损松动"],
    "0202": ["路灯不亮", "路灯闪烁故障"],
    "0203": ["健身器材损坏"],
    "0301": ["路面坑洼破损", "人行道地砖松动"],
    "0302": ["机动车乱停占道", "车辆违停堵路"],
    "0303": ["共享单车堆积", "共享单车乱停放"],
    "0401": ["房屋外墙开裂", "楼道墙体出现裂缝"],
    "0402": ["楼顶违法搭建", "私自扩建"],
    "0403": ["老旧房屋存在安全隐患"],
    "0404": ["阳台花盆有坠落风险", "外墙瓷砖松动"],
    "0501": ["消防通道被车辆堵塞", "消防通道堆放杂物"],
    "0502": ["消火栓损坏", "灭火器过期"],
    "0503": ["楼道内电动车充电", "飞线充电"],
    "0601": ["闻到燃气味", "燃气泄漏报警"],
    "0602": ["燃气管道锈蚀"],
    "0701": ["邻里漏水纠纷", "邻里噪音纠纷"],
    "0702": ["小区门禁损坏存在治安隐患"],
    "0703": ["夜间施工噪音扰民", "广场舞噪音扰民"],
    "0801": ["独居老人门磁长时间未开启", "独居老人联系不上"],
    "0802": ["困难家庭申请救助"],
    "0803": ["困境儿童需要关爱帮扶"],
    "0901": ["垃圾堆积未清运", "垃圾桶满溢"],
    "0902": ["大件垃圾无人清运", "废旧家具堆放"],
    "0903": ["污水井外溢", "化粪池冒水"],
    "1001": ["行道树倒伏", "树枝断裂悬挂"],
    "1002": ["绿地被踩踏毁损"],
    "1101": ["电梯故障困人", "电梯停运"],
    "1102": ["小区环境脏乱"],
    "1103": ["物业服务纠纷"],
    "1201": ["突发事件"],
    "1202": ["公共卫生事件"],
    "9901": ["其他问题"],
}
SOURCE_WORDING = {
    "patrol": "网格员巡查发现：",
    "hotline": "市民来电反映：",
    "resident": "居民上报：",
    "camera": "AI摄像头识别：",
    "sensor": "感知设备告警：",
    "dispatcher": "调度员录入：",
    "campaign": "专项行动排查：",
}


def _after_photos(n: int = 6) -> list[bytes]:
    """A few small JPEGs standing for the handlers' "after" photos (stored once each)."""
    from PIL import Image

    out = []
    for i in range(n):
        buf = io.BytesIO()
        Image.new("RGB", (160, 120), (90 + 20 * i, 140, 110 + 15 * i)).save(buf, "JPEG")
        out.append(buf.getvalue())
    return out


# --- the plan -----------------------------------------------------------------------------------
@dataclass
class _Plan:
    n: int
    at: datetime
    source: str
    category: str
    urgency: str
    outcome: str
    lon: float
    lat: float
    grid_code: str
    address: str
    title: str
    key: str = ""
    dlon: float = 0.0
    dlat: float = 0.0
    base: int | None = None  # the earlier report a duplicate repeats
    event_id: int | None = None
    floor: datetime | None = None  # no action of this event before this time
    entered: datetime | None = None  # when it came into its present state
    version: int = 0
    done: set = field(default_factory=set)  # one-off actions already taken


def _stratified(total: int, shares: dict[str, float], rng) -> list[str]:
    """Outcomes in the given shares (largest remainders; every outcome at least once when
    there are enough reports), shuffled."""
    raw = {k: total * v for k, v in shares.items()}
    counts = {k: int(v) for k, v in raw.items()}
    if total >= 3 * len(shares):
        counts = {k: max(1, c) for k, c in counts.items()}
    rest = total - sum(counts.values())
    for k in sorted(raw, key=lambda k: raw[k] - int(raw[k]), reverse=True):
        if rest <= 0:
            break
        counts[k] += 1
        rest -= 1
    while rest < 0:  # the minimums overshot: take from the largest
        k = max(counts, key=counts.get)
        counts[k] -= 1
        rest += 1
    out = [k for k, c in counts.items() for _i in range(c)]
    rng.shuffle(out)
    return out


def _weighted(rng, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _anchor(ctx: DemoContext) -> date:
    """The last day of the history: today, or the day an interrupted run started from (its
    keys say which), so that a run resumed on a later day continues the same history."""
    key = (
        Event.objects.filter(idem_key__startswith=f"demo-{ctx.seed}-")
        .values_list("idem_key", flat=True)
        .first()
    )
    if key:
        return datetime.strptime(key.split("-")[2], "%Y%m%d").date()
    return timezone.localdate()


def on_time_propensity(ctx: DemoContext, district: str) -> float:
    """Another district's share of on-time among its events handled on time or late."""
    return float(ctx.rng("event_history", "on_time", district).uniform(*ON_TIME_RANGE))


def _elsewhere() -> dict[str, list[tuple[str, str, str]]]:
    """The general grids outside the demo district, by district: (code, polygon, address)."""
    from wangge.regions.models import Grid, Region

    names = dict(
        Region.objects.filter(level__in=(Level.STREET, Level.COMMUNITY))
        .exclude(code__startswith=DISTRICT)
        .values_list("code", "name")
    )
    out: dict[str, list[tuple[str, str, str]]] = {}
    for code, polygon in (
        Grid.objects.filter(kind=GridKind.GENERAL)
        .exclude(code__startswith=DISTRICT)
        .order_by("code")
        .values_list("code", "geometry")
    ):
        address = names.get(code[:9], "") + names.get(code[:12], "")
        out.setdefault(code[:6], []).append((code, polygon, address))
    return out


def _spread(n: int, districts: list[str], rng) -> dict[str, int]:
    """``n`` reports over the districts, by population, at least ``MIN_PER_DISTRICT`` each."""
    from wangge.regions.synth import districts as all_districts

    if not districts:
        return {}
    population = {d.code: d.population for d in all_districts()}
    w = np.array([population.get(c, 1) for c in districts], dtype=float)
    extra = rng.multinomial(max(0, n - MIN_PER_DISTRICT * len(districts)), w / w.sum())
    return {c: MIN_PER_DISTRICT + int(k) for c, k in zip(districts, extra, strict=True)}


def _pool(pools: list, everywhere: list, draw: float) -> list:
    """The buildings a report falls among: the first pool whose cumulative share holds
    ``draw``, else the whole district."""
    for pool, share in pools:
        if draw < share:
            return pool
        draw -= share
    return everywhere


def _cells(rng, last_day: date, total: int) -> list[tuple[date, str, int]]:
    """How many of ``total`` reports each (day, source) gets, by the source's share and the
    day's kind."""
    days = [last_day - timedelta(days=HISTORY_DAYS - 1 - d) for d in range(HISTORY_DAYS)]
    cells, weights = [], []
    for d in days:
        rest = not workcal.is_workday(d)
        for s, (share, rest_factor, _hours) in SOURCES.items():
            w = share * (rest_factor if rest else 1.0)
            cells.append((d, s))
            weights.append(w)
    p = np.array(weights) / sum(weights)
    per_cell = rng.multinomial(total, p)
    return [(d, s, int(k)) for (d, s), k in zip(cells, per_cell, strict=True)]


def _draft(rng, cells: list[tuple[date, str, int]], where) -> list[_Plan]:
    """The reports of the cells, each at an hour of its source and a category, where
    ``where(rng, i)`` puts the i-th: ``(lon, lat, grid, address, near a building)``."""
    tz = timezone.get_current_timezone()
    plans: list[_Plan] = []
    for d, s, k in cells:
        hours = np.array(SOURCES[s][2], dtype=float)
        for _i in range(k):
            h = int(rng.choice(24, p=hours / hours.sum()))
            at = datetime.combine(d, time(h, int(rng.integers(0, 60))), tz)
            lon, lat, grid, address, building = where(rng, len(plans))
            cat = _weighted(rng, CATEGORIES_BY_SOURCE[s])
            plans.append(
                _Plan(
                    n=0,
                    at=at,
                    source=s,
                    category=cat,
                    urgency="normal",
                    outcome="on_time",
                    lon=lon,
                    lat=lat,
                    # ≈ 12 m around a building; a point drawn in a grid stays where it is
                    dlon=float(rng.normal(0, 0.00012)) if building else 0.0,
                    dlat=float(rng.normal(0, 0.0001)) if building else 0.0,
                    grid_code=grid,
                    address=address,
                    title="",
                )
            )
    plans.sort(key=lambda p: p.at)
    return plans


def _finish(ctx: DemoContext, plans: list[_Plan], first: int, rng, last_day: date) -> None:
    """Number the plans (from ``first``: their index in the whole history), key them, and
    settle what follows from their outcomes (set before): on-the-spot resolutions are patrols,
    a duplicate repeats a recent report of its district (else it is rejected), urgency and
    title."""
    on_spot_cats = set(
        Category.objects.filter(on_spot_allowed=True, parent__isnull=False).values_list(
            "code", flat=True
        )
    )
    for j, plan in enumerate(plans):
        i = first + j
        plan.n = i
        outcome = plan.outcome
        plan.key = f"demo-{ctx.seed}-{last_day:%Y%m%d}-{i}"
        if outcome == "on_spot":  # at the building itself: the reporter's own grid
            plan.source = "patrol"
            plan.dlon = plan.dlat = 0.0
            plan.category = _weighted(rng, {c: w for c, w in _STREET.items() if c in on_spot_cats})
        elif outcome == "duplicate":
            earlier = [
                q
                for q in plans[:j]
                if q.outcome not in ("duplicate", "reject", "on_spot")
                and q.grid_code[:6] == plan.grid_code[:6]
            ]
            # a recent report of the district, else its latest (a small history may have none
            # within three days: the duplicate repeats an older report still)
            recent = [q for q in earlier if plan.at - q.at <= timedelta(hours=72)] or earlier[-1:]
            if recent:
                base = recent[int(rng.integers(len(recent)))]
                plan.base = base.n
                plan.category = base.category
                plan.lon, plan.lat = base.lon, base.lat
                plan.grid_code, plan.address = base.grid_code, base.address
                plan.source = "hotline" if rng.random() < 0.5 else "resident"
            else:
                plan.outcome = "reject"
        if plan.source == "hotline":  # the work-order number is the key
            plan.key = f"12345-{last_day:%y%m%d}{i:05d}"
        plan.urgency = ALWAYS_URGENT.get(plan.category) or (
            "urgent" if rng.random() < URGENT_SHARE else "normal"
        )
        titles = TITLES.get(plan.category, ["问题"])
        plan.title = titles[int(rng.integers(len(titles)))]


def _plans(ctx: DemoContext, total: int, last_day: date) -> list[_Plan]:
    """Every report of the history: when, from which source, what, where and how it is to end,
    and its idempotency key; first the demo district's ``total`` in time order, then the other
    districts' in time order. Depends only on the seed, the last day and the place tree (reports
    later than now on the last day are left for a later run).

    The two parts draw from random streams of their own: the demo district's history is the
    same whether the other districts have any."""
    home = _district_plans(ctx, total, last_day)
    return home + _elsewhere_plans(ctx, total, last_day, first=len(home))


def _district_plans(ctx: DemoContext, total: int, last_day: date) -> list[_Plan]:
    """The demo district's reports, among its buildings."""
    from wangge.people.models import Building

    rng = ctx.rng("event_history", "plan")
    cells = _cells(rng, last_day, total)
    buildings = list(
        Building.objects.filter(grid_code__startswith=DISTRICT)
        .order_by("id")
        .values_list("lon", "lat", "grid_code", "address")
    )
    # Where the demo accounts work gets a share of the history of its own, so their queues,
    # inboxes, rankings and cockpits show work in progress (spread over the whole district,
    # a community would see about five events in 90 days).
    pools = [
        ([b for b in buildings if b[2].startswith(prefix)] or buildings, share)
        for prefix, share in LOCAL_SHARES
    ]
    outcomes = _stratified(total, OUTCOMES, rng)

    def where(rng, _i):
        pool = _pool(pools, buildings, float(rng.random()))
        return (*pool[int(rng.integers(len(pool)))], True)

    plans = _draft(rng, cells, where)
    for plan, outcome in zip(plans, outcomes, strict=True):
        plan.outcome = outcome
    _settled_early(plans, last_day)
    _finish(ctx, plans, 0, rng, last_day)
    return plans


def _settled_early(plans: list[_Plan], last_day: date, days: int = 3) -> None:
    """A rare outcome (one a small history has once or twice) drawn for a report of the last
    days trades places with an ordinary one from before: the report may lie later than now, or
    be too new to have come to it, and the history would miss it (plans in time order)."""
    counts: dict[str, int] = {}
    for p in plans:
        counts[p.outcome] = counts.get(p.outcome, 0) + 1
    cut = last_day - timedelta(days=days)
    ordinary = [p for p in plans if p.at.date() < cut and p.outcome == "on_time"]
    for p in plans:
        if p.at.date() >= cut and p.outcome != "on_time" and counts[p.outcome] <= 2 and ordinary:
            q = ordinary.pop()
            p.outcome, q.outcome = q.outcome, p.outcome


def _elsewhere_plans(ctx: DemoContext, total: int, last_day: date, first: int) -> list[_Plan]:
    """The other districts' reports: as many as make ``ELSEWHERE_SHARE`` of the history with
    the demo district's ``total`` (at least ``MIN_PER_DISTRICT`` each), spread by population,
    each at a random point of a grid of its district; outcomes by district (``on_spot`` only
    where the workforce step builds grid workers)."""
    from wangge.regions.synth import sample_points

    grids = _elsewhere()
    if not grids:
        return []
    rng = ctx.rng("event_history", "elsewhere")
    n = round(total * ELSEWHERE_SHARE / (1 - ELSEWHERE_SHARE))
    districts = [code for code, k in _spread(n, sorted(grids), rng).items() for _i in range(k)]
    rng.shuffle(districts)
    cells = _cells(rng, last_day, len(districts))

    def where(rng, i):
        choices = grids[districts[i]]
        grid, polygon, address = choices[int(rng.integers(len(choices)))]
        x, y = sample_points(shapely.from_geojson(polygon), 1, rng)[0]
        return float(x), float(y), grid, address, False

    plans = _draft(rng, cells, where)
    staffed = {d.code for d in detailed_districts(ctx.scale)}  # where grid workers are
    by_district: dict[str, list[_Plan]] = {}
    for plan in plans:
        by_district.setdefault(plan.grid_code[:6], []).append(plan)
    for code, group in sorted(by_district.items()):
        outcomes = _district_outcomes(ctx, code, len(group), rng, workers=code in staffed)
        for plan, outcome in zip(group, outcomes, strict=True):
            plan.outcome = outcome
    _finish(ctx, plans, first, rng, last_day)
    return plans


def _district_outcomes(ctx: DemoContext, district: str, n: int, rng, *, workers: bool) -> list[str]:
    """The outcomes of an other district's ``n`` reports (in time order): the declared shares,
    with on-time against late by the district's propensity; the earliest report is stuck when
    the shares give none (every district has an open, overdue event). Without grid workers (a
    district built as a skeleton) nothing is resolved on the spot: those reports are handled
    like the others."""
    shares = dict(OUTCOMES)
    if not workers:
        shares["on_time"] += shares.pop("on_spot")
    handled = shares["on_time"] + shares["late"]
    p = on_time_propensity(ctx, district)
    shares["on_time"], shares["late"] = handled * p, handled * (1 - p)
    out = _stratified(n, shares, rng)
    if out and "stuck" not in out:
        out[0] = "stuck"
    return out


# --- the people who act -------------------------------------------------------------------------
class _Staff:
    """The posts the history acts through: those of the demo where they exist, else a post on
    a user without a password (not an account anyone signs in with). Grid workers get such a
    post only in ``staffed`` districts (the workforce step makes them workers there); elsewhere
    the gateway (the system) reports what patrols find and the community verifies."""

    def __init__(self, staffed: set[str]) -> None:
        self.staffed = staffed
        self.cache: dict[tuple[str, str], Post | None] = {}
        self.created = 0
        self.names: dict[str, str] | None = None

    def _name(self, code: str) -> str:
        if self.names is None:
            from wangge.regions.models import Grid, Region

            self.names = dict(
                Region.objects.filter(code__startswith=DISTRICT[:4]).values_list("code", "name")
            )
            self.names.update(
                Grid.objects.filter(kind=GridKind.GENERAL).values_list("code", "name")
            )
        return self.names.get(code, code)

    def post(
        self, role: str, place: str = "", unit: Unit | None = None, create: bool = True
    ) -> Post | None:
        k = (role, place or (unit.code if unit else ""))
        if k in self.cache:
            return self.cache[k]
        qs = Post.objects.select_related("user", "unit").filter(role=role, is_active=True)
        qs = qs.filter(unit=unit) if unit is not None else qs.filter(place_code=place)
        post = qs.order_by("id").first()
        if post is None and create and (place or unit is not None):
            post = self._create(role, place, unit)
        self.cache[k] = post
        return post

    def _create(self, role: str, place: str, unit: Unit | None = None) -> Post:
        suffix = {
            Role.COMMUNITY_SECRETARY: "书记",
            Role.STREET_DISPATCHER: "调度员",
            Role.DISTRICT_DISPATCHER: "调度员",
            Role.CITY_COMMANDER: "值班长",
            Role.GRID_WORKER: "专职网格员",
            Role.UNIT_HANDLER: "处置人员",
        }[Role(role)]
        user, _created = get_user_model().objects.get_or_create(
            username=f"staff-{Role(role).value.split('_')[0]}-{unit.code if unit else place}"
        )
        if _created:
            user.first_name = ((unit.name if unit else self._name(place)) + suffix)[:150]
            user.set_unusable_password()
            user.save()
        self.created += 1
        if unit is not None:
            return post_grant(actor=SYSTEM, user=user, role=role, unit=unit)
        return post_grant(actor=SYSTEM, user=user, role=role, place_code=place)

    def dispatcher(self, e: Event) -> Post | None:
        return self.post(
            DISPATCHER_ROLE[HandlingLevel(e.level)], handling_code(e.grid_code, e.level)
        )

    def superior(self, e: Event) -> Post | None:
        if e.level != HandlingLevel.COMMUNITY:
            return None
        return self.post(Role.STREET_DISPATCHER, handling_code(e.grid_code, HandlingLevel.STREET))

    def grid_worker(self, grid_code: str) -> Post | None:
        return self.post(Role.GRID_WORKER, grid_code[:15], create=grid_code[:6] in self.staffed)

    def handler(self, unit: Unit) -> Post | None:
        return self.post(Role.UNIT_HANDLER, unit=unit)


# --- playing the history ------------------------------------------------------------------------
@demo_step(
    "event_history",
    order=55,
    description=_("the units' handlers and 90 days of events through the real services"),
)
def event_history(ctx: DemoContext) -> dict:
    from wangge.people.models import Resident

    handlers = _handlers(ctx)
    residents = Resident.objects.filter(grid_code__startswith=DISTRICT).count()
    if not residents:
        return {"handlers": handlers, "events": 0}
    total = max(MIN_EVENTS, round(HISTORY_DAYS * EVENTS_PER_DAY_PER_300K * residents / 300_000))
    end = timezone.now().replace(second=0, microsecond=0)
    history = _History(ctx, _plans(ctx, total, _anchor(ctx)), end)
    history.play()
    return {"handlers": handlers, **history.summary()}


# rows the sweep writes without changing the state
_SWEEP_ONLY = (EventAction.WARN, EventAction.OVERDUE)


class _History:
    """Every report and every later action in one time-ordered queue, with the deadline sweep
    every ``SWEEP_HOURS``. Each event's next step is decided from the state it is in when its
    time comes (the sweep may have escalated it meanwhile)."""

    def __init__(self, ctx: DemoContext, plans: list[_Plan], end: datetime) -> None:
        self.ctx = ctx
        self.plans = plans
        self.end = end
        self.staff = _Staff({d.code for d in detailed_districts(ctx.scale)})
        self.units = {u.code: u for u in Unit.objects.filter(is_active=True)}
        self.photos = _after_photos()
        self.queue: list[tuple[datetime, int, int, int]] = []  # (time, seq, plan, version)
        self.seq = 0
        self.by_event: dict[int, _Plan] = {}
        self.errors: Counter = Counter()
        self.actions = 0
        self.sweeps = 0
        self.dues: list[tuple[datetime, int]] = []  # (warning or deadline, event id)
        self.due_of: dict[int, tuple] = {}
        self.last_sweep: datetime | None = None
        self.epoch = end
        self.clock = min((p.at for p in plans), default=end)  # the time played so far

    # -- the queue -----------------------------------------------------------------------
    def schedule(self, plan: _Plan, at: datetime) -> None:
        if plan.floor is not None and at <= plan.floor:
            at = plan.floor + timedelta(minutes=1)
        if at > self.end:
            return  # after the end of the history: the event stays as it is now
        plan.version += 1
        self.seq += 1
        heapq.heappush(self.queue, (at, self.seq, plan.n, plan.version))

    def play(self) -> None:
        start = min((p.at for p in self.plans), default=self.end)
        for plan in self.plans:
            if plan.at > self.end:
                continue  # later today: not yet reported
            self.seq += 1
            heapq.heappush(self.queue, (plan.at, self.seq, plan.n, -1))  # -1: the report
        tz = timezone.get_current_timezone()
        day = timezone.localtime(start).date()
        self.epoch = datetime.combine(day, time(), tz)
        progress = self.ctx.progress("days", (timezone.localtime(self.end).date() - day).days + 1)
        while True:
            day_end = datetime.combine(day + timedelta(days=1), time(), tz)
            with transaction.atomic():
                while self.queue and self.queue[0][0] < day_end:
                    at, _seq, n, version = heapq.heappop(self.queue)
                    self.sweep_until(at)
                    self.clock = max(self.clock, at)
                    plan = self.plans[n]
                    if version == -1:
                        self.report(plan)
                    elif version == plan.version:
                        self.step(plan, at)
                self.sweep_until(min(day_end, self.end))
            progress.advance()
            if day_end >= self.end and not self.queue:
                break
            day += timedelta(days=1)
        progress.finish()
        with transaction.atomic():
            services.deadlines_sweep(now=self.end)
            self.settle_notices()

    # -- the sweep -----------------------------------------------------------------------
    def note_due(self, e: Event) -> None:
        """Remember when the sweep next has work on this event: its warning and its deadline,
        while a unit holds it."""
        active = e.state in (EventState.DISPATCHED, EventState.ACKNOWLEDGED)
        moments = (e.warn_at if not e.warned else None, e.handle_due if not e.overdue else None)
        self.due_of[e.pk] = moments if active else (None, None)
        for t in self.due_of[e.pk]:
            if t is not None:
                heapq.heappush(self.dues, (t, e.pk))

    def sweep_until(self, at: datetime) -> None:
        """Run the sweep at every tick (each ``SWEEP_HOURS`` from midnight of the first day)
        up to ``at`` at which some warning or deadline has come since the last run: what the
        periodic sweep does, without the runs in which nothing is due (they change nothing)."""
        step = timedelta(hours=SWEEP_HOURS)
        while self.dues:
            due, event_id = self.dues[0]
            # the first tick after the moment, and never before what was already played (a
            # deadline that had passed when an action reopened the event is seen next tick)
            since = max(due, self.clock)
            tick = self.epoch + step * ((since - self.epoch) // step + 1)
            if tick > at:
                return
            heapq.heappop(self.dues)
            if due not in self.due_of.get(event_id, ()) or tick == self.last_sweep:
                continue  # handled, moved or already swept
            self.last_sweep = tick
            self.sweep(tick)

    def sweep(self, at: datetime) -> None:
        counts = services.deadlines_sweep(now=at)
        self.sweeps += 1
        if counts["escalated"]:
            for event_id in EventLog.objects.filter(
                action=EventAction.ESCALATE, post__isnull=True, at=at
            ).values_list("event_id", flat=True):
                plan = self.by_event.get(event_id)
                self.due_of[event_id] = (None, None)
                if plan is not None:
                    plan.floor = plan.entered = at
                    self.schedule_next(plan, None)

    # -- one event -----------------------------------------------------------------------
    def rng(self, plan: _Plan, *keys):
        return self.ctx.rng("event_history", plan.n, *keys)

    def later(self, plan: _Plan, at: datetime, low: float, high: float, *keys) -> datetime:
        """``at`` plus a random delay of ``low``–``high`` hours: working hours, but clock
        hours for emergencies."""
        hours = float(self.rng(plan, "delay", at.timestamp(), *keys).uniform(low, high))
        if plan.urgency == "emergency":
            return workcal.add_clock_time(at, hours=hours / 4)
        return workcal.add_working_time(at, hours=hours)

    def report(self, plan: _Plan) -> None:
        from wangge.regions.locator import locate

        lon, lat = round(plan.lon + plan.dlon, 6), round(plan.lat + plan.dlat, 6)
        hit = locate(lon, lat)  # the grid the report will land in: its worker is on patrol
        reporter = self.reporter(plan, hit.code if hit else plan.grid_code)
        try:
            e, created = services.event_report(
                actor=reporter,
                source=plan.source,
                category=plan.category,
                title=plan.title,
                description=f"{SOURCE_WORDING[plan.source]}{plan.address}附近{plan.title}。",
                urgency=plan.urgency,
                lon=lon,
                lat=lat,
                grid_code=plan.grid_code,
                address=plan.address,
                external_ref=plan.key if plan.source == "hotline" else "",
                key=plan.key,
                at=plan.at,
            )
        except ApplicationError as exc:
            self.errors[exc.code] += 1
            return
        plan.event_id = e.pk
        self.by_event[e.pk] = plan
        if created:
            self.actions += 1
            plan.floor = plan.entered = plan.at
        else:  # a re-run: carry on from where the event is
            times = list(e.log.order_by("-at", "-id").values_list("at", "action")[:50])
            plan.floor = times[0][0]
            plan.entered = next(t for t, a in times if a not in _SWEEP_ONLY)
            self.note_due(e)
        self.schedule_next(plan, e)

    def reporter(self, plan: _Plan, grid_code: str):
        if plan.source in ("patrol", "campaign"):
            return self.staff.grid_worker(grid_code) or SYSTEM
        if plan.source == "dispatcher":
            return self.staff.post(Role.COMMUNITY_SECRETARY, grid_code[:12]) or SYSTEM
        return SYSTEM  # hotline, resident portal, sensors and cameras come in through gateways

    def act(self, plan: _Plan, e: Event, actor, action: str, at: datetime, **kw) -> Event | None:
        if actor is None:
            self.errors["no_post"] += 1
            return None
        try:
            e = services.event_transition(actor=actor, event=e, action=action, at=at, **kw)
        except ApplicationError as exc:
            self.errors[f"{action}:{exc.code}"] += 1
            self.ctx.log(f"  event {plan.n}: {action} refused: {exc.message}")
            return None
        self.actions += 1
        plan.floor = plan.entered = at
        plan.done.add(action)
        self.note_due(e)
        return e

    def did(self, plan: _Plan, e: Event, action: str) -> bool:
        """Whether the event already went through ``action`` (in this run, or before it)."""
        if action in plan.done:
            return True
        if e.log.filter(action=action).exists():
            plan.done.add(action)
            return True
        return False

    # When the next step of an event comes, from the state it is in, the time it came into it
    # (``plan.entered``) and its deadlines: the same answer in a first run and in a re-run.
    def planned(self, plan: _Plan, e: Event) -> datetime | None:
        A, S = EventAction, EventState
        t = plan.entered
        if e.state == S.REPORTED:
            if plan.outcome == "on_spot":
                return plan.at + timedelta(minutes=20)
            return self.later(plan, t, *((0.1, 1) if plan.urgency != "normal" else (0.3, 6)))
        if e.state == S.ACCEPTED:
            return self.later(plan, t, 0.5, 6, "dispatch")
        if e.state == S.DISPATCHED:
            if e.extension_hours:
                return self.later(plan, t, 1, 6, "decide")
            return self.later(plan, t, 0.2, 3, "ack")
        if e.state == S.ACKNOWLEDGED:
            if plan.outcome == "stuck":
                return None  # the unit never finishes it
            if plan.outcome == "suspend" and not self.did(plan, e, A.SUSPEND):
                return self.later(plan, t, 2, 8, "suspend")
            if plan.outcome == "supervise" and not self.did(plan, e, A.SUPERVISE):
                return max(self.at_share(plan, e, 0.6), t)
            return self.at_share(plan, e, self.handling_share(plan, e))
        if e.state == S.HANDLED:
            return self.later(plan, t, 1, 8, "verify")
        if e.state == S.SUSPENDED:
            return datetime.combine(e.review_date, time(9, 30), timezone.get_current_timezone())
        return None  # final

    def schedule_next(self, plan: _Plan, e: Event | None) -> None:
        if e is None:
            e = Event.objects.select_related("category", "unit").get(pk=plan.event_id)
        t = self.planned(plan, e)
        if t is not None:
            self.schedule(plan, t)

    def step(self, plan: _Plan, at: datetime) -> None:
        """Take the next step of the event at ``at`` and schedule the one after."""
        e = Event.objects.select_related("category", "unit").get(pk=plan.event_id)
        t = self.planned(plan, e)
        if t is None:
            return
        if at < t - timedelta(minutes=1):  # woken early (the state moved on meanwhile)
            self.schedule(plan, t)
            return
        after = getattr(self, f"_{e.state}")(plan, e, at)
        if after is not None:
            self.schedule_next(plan, after)

    def _reported(self, plan: _Plan, e: Event, at: datetime) -> Event | None:
        A = EventAction
        dispatcher = self.staff.dispatcher(e)
        if plan.outcome == "on_spot":
            reporter = self.staff.grid_worker(e.grid_code)
            photos = [self.photo(plan)]
            return self.act(
                plan, e, reporter, A.RESOLVE_ON_SPOT, at, note="现场已处理", photos=photos
            )
        if plan.outcome == "reject":
            reason = "out_of_scope" if self.rng(plan, "reason").random() < 0.4 else "invalid"
            note = "不属于平台受理范围" if reason == "out_of_scope" else "经核实情况不存在"
            return self.act(plan, e, dispatcher, A.REJECT, at, note=note, data={"reason": reason})
        if plan.outcome == "duplicate":
            base = self.plans[plan.base] if plan.base is not None else None
            target = Event.objects.filter(pk=base.event_id).first() if base else None
            same_place = target is not None and target.grid_code[:12] == e.grid_code[:12]
            if same_place and target.state not in (EventState.MERGED, EventState.REJECTED):
                data = {"target": target.pk}
                return self.act(plan, e, dispatcher, A.MERGE, at, note="重复上报", data=data)
            data = {"reason": "duplicate"}
            return self.act(plan, e, dispatcher, A.REJECT, at, note="重复上报", data=data)
        if plan.outcome == "escalate" and not self.did(plan, e, A.ESCALATE):
            return self.act(plan, e, dispatcher, A.ESCALATE, at, note="涉及多个部门，请街道协调")
        return self.act(plan, e, dispatcher, A.ACCEPT, at)

    def _accepted(self, plan: _Plan, e: Event, at: datetime) -> Event | None:
        units = services.dispatch_candidates(e)
        returned = set(e.log.filter(action=EventAction.RETURN).values_list("data__unit", flat=True))
        choice = next((u for u in units if u.code not in returned), None)
        if choice is None:
            code = fallback_unit_code(e.grid_code[:6])
            choice = self.units.get(code) or self.units[FALLBACK_UNIT]
        dispatcher = self.staff.dispatcher(e)
        return self.act(plan, e, dispatcher, EventAction.DISPATCH, at, data={"unit": choice.pk})

    def _dispatched(self, plan: _Plan, e: Event, at: datetime) -> Event | None:
        A = EventAction
        handler = self.staff.handler(e.unit)
        if e.extension_hours:
            dispatcher = self.staff.dispatcher(e)
            if self.rng(plan, "extension").random() < 0.8:
                return self.act(plan, e, dispatcher, A.APPROVE_EXTENSION, at)
            return self.act(plan, e, dispatcher, A.DENY_EXTENSION, at, note="请按原时限办理")
        if plan.outcome == "return" and not self.did(plan, e, A.RETURN):
            return self.act(plan, e, handler, A.RETURN, at, note="不属于本单位职责，请重新派遣")
        if plan.outcome == "extension" and not self.did(plan, e, A.REQUEST_EXTENSION):
            data = {"hours": 24}
            return self.act(
                plan, e, handler, A.REQUEST_EXTENSION, at, note="需协调施工队", data=data
            )
        return self.act(plan, e, handler, A.ACKNOWLEDGE, at)

    def handling_share(self, plan: _Plan, e: Event) -> float:
        """How much of the handling time the unit uses (more than all of it when late)."""
        r = self.rng(plan, "share", e.rework_count, e.escalations)
        if e.rework_count:
            return float(r.uniform(0.05, 0.3))
        if plan.outcome == "late" and not e.escalations:
            return float(r.uniform(1.1, 1.8))
        if plan.outcome == "supervise":
            return float(r.uniform(0.85, 1.2))
        return float(r.beta(2, 5) * 0.8)

    def at_share(self, plan: _Plan, e: Event, share: float) -> datetime:
        start, due = e.dispatched_at, e.handle_due
        if due is None or start is None:
            return self.later(plan, plan.entered, 4, 16, "handle")
        if plan.urgency == "emergency":
            return start + (due - start) * share
        span = workcal.working_time_between(start, due).total_seconds() / 3600
        return workcal.add_working_time(start, hours=max(span * share, 0.1))

    def _acknowledged(self, plan: _Plan, e: Event, at: datetime) -> Event | None:
        A = EventAction
        if plan.outcome == "suspend" and not self.did(plan, e, A.SUSPEND):
            days = int(self.rng(plan, "review").integers(20, 60))
            review = timezone.localtime(at).date() + timedelta(days=days)
            return self.act(
                plan,
                e,
                self.staff.dispatcher(e),
                A.SUSPEND,
                at,
                note="需待汛期后施工，暂缓办理",
                data={"review_date": review.isoformat()},
            )
        if plan.outcome == "supervise" and not self.did(plan, e, A.SUPERVISE):
            superior = self.staff.superior(e)
            e = self.act(plan, e, superior, A.SUPERVISE, at, note="群众反映强烈，请加快办理")
            if e is not None:
                plan.entered = e.acknowledged_at  # supervision does not restart the clock
            return e
        return self.act(
            plan,
            e,
            self.staff.handler(e.unit),
            A.HANDLE,
            at,
            note="已到现场处置完毕",
            photos=[self.photo(plan)],
        )

    def _handled(self, plan: _Plan, e: Event, at: datetime) -> Event | None:
        A = EventAction
        checker = self.staff.grid_worker(e.grid_code) or self.staff.dispatcher(e)
        if plan.outcome == "rework" and not e.rework_count:
            return self.act(plan, e, checker, A.VERIFY_FAIL, at, note="现场复核未整改到位")
        return self.act(plan, e, checker, A.VERIFY_PASS, at)

    def _suspended(self, plan: _Plan, e: Event, at: datetime) -> Event | None:
        return self.act(plan, e, self.staff.dispatcher(e), EventAction.RESUME, at)

    def photo(self, plan: _Plan) -> bytes:
        return self.photos[plan.n % len(self.photos)]

    # -- the end -------------------------------------------------------------------------
    def settle_notices(self) -> None:
        """The notices of the past were delivered then, and those of finished events read."""
        from wangge.events.notify import notifications_deliver

        done = Notification.objects.filter(
            read_at__isnull=True, event__state__in=FINAL_STATES
        ).values_list("post_id", "id")
        by_post: dict[int, list[int]] = {}
        for post_id, notice_id in done:
            by_post.setdefault(post_id, []).append(notice_id)
        for post in Post.objects.filter(pk__in=by_post):
            services.notifications_read(actor=post, ids=by_post[post.pk])
        quiet = logging.getLogger("wangge.notify")
        level = quiet.level
        quiet.setLevel(logging.WARNING)
        try:
            notifications_deliver()
        finally:
            quiet.setLevel(level)

    def summary(self) -> dict:
        ids = [p.event_id for p in self.plans if p.event_id]
        qs = Event.objects.filter(pk__in=ids)
        closed = qs.filter(state=EventState.CLOSED)
        n_closed = closed.count()
        overdue = set(
            EventLog.objects.filter(event_id__in=ids, action=EventAction.OVERDUE).values_list(
                "event_id", flat=True
            )
        )
        out = {
            "until": timezone.localtime(self.end).isoformat(),
            "events": qs.count(),
            "actions": self.actions,
            "closed": n_closed,
            "closed on time %": round(
                100 * closed.filter(closed_on_time=True).count() / max(n_closed, 1), 1
            ),
            "resolved on the spot": qs.filter(on_spot=True).count(),
            "ever overdue": len(overdue),
            "districts with events": len({c[:6] for c in qs.values_list("grid_code", flat=True)}),
            "escalated": qs.filter(escalations__gt=0).count(),
            "reworked": qs.filter(rework_count__gt=0).count(),
            "supervised": qs.filter(supervised=True).count(),
            "rejected": qs.filter(state=EventState.REJECTED).count(),
            "merged": qs.filter(state=EventState.MERGED).count(),
            "suspended": qs.filter(state=EventState.SUSPENDED).count(),
            "still open": qs.exclude(state__in=FINAL_STATES).count(),
            "open and overdue": qs.filter(overdue=True).exclude(state__in=FINAL_STATES).count(),
            "staff posts created": self.staff.created,
            "sweeps": self.sweeps,
            "errors": sum(self.errors.values()),
        }
        if self.errors:
            self.ctx.log(f"  refused: {dict(self.errors)}")
        by_source = Counter(qs.values_list("source", flat=True))
        out["by source"] = ", ".join(f"{k} {v}" for k, v in by_source.most_common())
        return out
