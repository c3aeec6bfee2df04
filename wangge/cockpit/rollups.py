"""What one event counts for: the pure function behind every rollup and every raw figure.

``contributions(row)`` maps the image of an event row (the columns ``EventChange`` keeps) to the
counters it adds, per node and day. The drain adds them with the image's sign; the raw path
(grids, the rebuild check, the tests) sums them over event rows. Nothing else decides what a
figure means, so the rollups and the raw events cannot disagree about it.

Per event:
- on the day it was reported: ``reported``; ``valid`` unless rejected or merged; of those,
  ``cohort_closed`` when it is closed now and ``responded_24h`` when it was accepted within 24 h;
- on the day it was accepted: ``accepted``;
- on the day it was closed (state closed): ``closed``, ``closed_on_time``, ``on_spot``,
  ``verified`` (closed through verification, not on the spot), ``rework`` (times sent back),
  ``handle_seconds`` and one of the duration buckets ``h0``…``h11`` (for the median);
- ``due`` (应结案) on the day it closed, or, open and overdue (not suspended), on the day its
  deadline passed; ``due_on_time`` (按期结案) on the day it closed, when on time. So a period's
  on-time closure rate is: of what was closed in it or fell overdue in it, the share closed in
  time;
- now, while open: ``open`` by state, with ``overdue`` and ``supervised``.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.conf import settings

from wangge.events.enums import OPEN_STATES, EventState
from wangge.regions import codes as C

# The columns of an event image, in this order everywhere (the triggers, the rebuild, the raw
# path read exactly these).
IMAGE_COLUMNS = (
    "grid_code",
    "category_id",
    "source",
    "state",
    "reported_at",
    "accepted_at",
    "closed_at",
    "handle_due",
    "overdue",
    "closed_on_time",
    "on_spot",
    "rework_count",
    "supervised",
)
# Rollup rows exist for nodes of every code length: city, district, street, community, grid and
# micro-grid (each also counted as its parent's child). The category/source mix is kept down to
# the community; a grid's mix is counted from its few events.
ALL_LENGTHS = (4, 6, 9, 12, 15, 18)
ROLLUP_LENGTHS = ALL_LENGTHS
MIX_LENGTHS = (4, 6, 9, 12)
# Upper bounds (hours) of the handling-time buckets h0 … h10; h11 is everything longer.
BUCKET_HOURS = (1, 2, 4, 8, 16, 24, 48, 96, 168, 336, 720)
_OPEN = frozenset(str(s) for s in OPEN_STATES)
_NOT_VALID = frozenset({EventState.REJECTED.value, EventState.MERGED.value})
_DAY = timedelta(hours=24)
_TZ = ZoneInfo(settings.TIME_ZONE)


@dataclass(frozen=True, slots=True)
class Image:
    grid_code: str
    category_id: int
    source: str
    state: str
    reported_at: datetime
    accepted_at: datetime | None
    closed_at: datetime | None
    handle_due: datetime | None
    overdue: bool
    closed_on_time: bool | None
    on_spot: bool
    rework_count: int
    supervised: bool


def local_day(dt: datetime) -> date:
    """The calendar day in the city's time zone (a day's figures run midnight to midnight)."""
    return dt.astimezone(_TZ).date()


def bucket(seconds: float) -> str:
    return f"h{bisect.bisect_left(BUCKET_HOURS, seconds / 3600)}"


@lru_cache(maxsize=300_000)
def node_codes(grid_code: str) -> tuple[tuple[str, str], ...]:
    """(node, its parent) for every node an event in ``grid_code`` counts in (cached: the
    drain asks for every image, and a city has fewer than 300,000 grids and micro-grids)."""
    out = []
    for n in ALL_LENGTHS:
        if len(grid_code) >= n:
            code = grid_code[:n]
            out.append((code, C.parent_code(code) or ""))
    return tuple(out)


def day_counters(img: Image) -> dict[date, dict[str, int]]:
    """The day counters of one event (not yet spread over its nodes)."""
    days: dict[date, dict[str, int]] = defaultdict(dict)
    rep = days[local_day(img.reported_at)]
    rep["reported"] = 1
    state = img.state
    closed = state == EventState.CLOSED.value
    if state not in _NOT_VALID:
        rep["valid"] = 1
        if closed:
            rep["cohort_closed"] = 1
        if img.accepted_at is not None and img.accepted_at - img.reported_at <= _DAY:
            rep["responded_24h"] = 1
    if img.accepted_at is not None:
        acc = days[local_day(img.accepted_at)]
        acc["accepted"] = acc.get("accepted", 0) + 1
    if closed and img.closed_at is not None:
        c = days[local_day(img.closed_at)]
        seconds = max(0, int((img.closed_at - img.reported_at).total_seconds()))
        c["closed"] = c.get("closed", 0) + 1
        c["closed_on_time"] = c.get("closed_on_time", 0) + (img.closed_on_time is True)
        c["on_spot"] = c.get("on_spot", 0) + bool(img.on_spot)
        c["verified"] = c.get("verified", 0) + (not img.on_spot)
        c["rework"] = c.get("rework", 0) + img.rework_count
        c["handle_seconds"] = c.get("handle_seconds", 0) + seconds
        b = bucket(seconds)
        c[b] = c.get(b, 0) + 1
    if state not in _NOT_VALID and state != EventState.SUSPENDED.value:
        if closed or img.overdue:
            at = img.closed_at if closed else img.handle_due
            if at is not None:
                d = days[local_day(at)]
                d["due"] = d.get("due", 0) + 1
                if closed and img.closed_on_time is True:
                    d["due_on_time"] = d.get("due_on_time", 0) + 1
    return days


def open_counters(img: Image) -> dict[str, int] | None:
    if img.state not in _OPEN:
        return None
    return {"open": 1, "overdue": int(bool(img.overdue)), "supervised": int(bool(img.supervised))}


class Deltas:
    """Counter deltas summed over many images, keyed as the rollup tables are."""

    def __init__(
        self, lengths: Iterable[int] = ROLLUP_LENGTHS, mix_lengths: Iterable[int] = MIX_LENGTHS
    ):
        self.lengths = tuple(lengths)
        self.mix_lengths = tuple(mix_lengths)
        self.day: dict[tuple[str, date], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.mix: dict[tuple[str, date, int, str], int] = defaultdict(int)
        self.open: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.parents: dict[str, str] = {}

    def add(self, img: Image, sign: int = 1) -> None:
        nodes = [(c, p) for c, p in node_codes(img.grid_code) if len(c) in self.lengths]
        for code, parent in nodes:
            self.parents[code] = parent
        days = day_counters(img)
        for d, counters in days.items():
            for code, _parent in nodes:
                row = self.day[(code, d)]
                for k, v in counters.items():
                    row[k] += sign * v
        rep = local_day(img.reported_at)
        oc = open_counters(img)
        for code, _parent in nodes:
            if len(code) in self.mix_lengths:
                self.mix[(code, rep, img.category_id, img.source)] += sign
            if oc:
                row = self.open[(code, img.state)]
                for k, v in oc.items():
                    row[k] += sign * v

    def nonzero(self):
        """The deltas without the entries that cancelled out (an update that changed nothing
        a rollup counts leaves nothing to write)."""
        day = {
            k: {c: v for c, v in row.items() if v}
            for k, row in self.day.items()
            if any(row.values())
        }
        mix = {k: v for k, v in self.mix.items() if v}
        opn = {
            k: {c: v for c, v in row.items() if v}
            for k, row in self.open.items()
            if any(row.values())
        }
        return day, mix, opn


def image_from_row(row) -> Image:
    """An ``Image`` from a tuple/list in ``IMAGE_COLUMNS`` order (SQLite hands booleans back as
    integers and datetimes as aware datetimes through Django's converters)."""
    (g, cat, src, st, rep, acc, clo, due, ovd, cot, spot, rw, sup) = row
    return Image(
        g,
        int(cat),
        src,
        st,
        rep,
        acc,
        clo,
        due,
        bool(ovd),
        None if cot is None else bool(cot),
        bool(spot),
        int(rw or 0),
        bool(sup),
    )
