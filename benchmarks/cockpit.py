"""Benchmark: the command cockpit over millions of events — its rollups against the raw events.

    python benchmarks/cockpit.py                     # PostgreSQL (bench_cockpit), 10,000,000 events
    python benchmarks/cockpit.py --db sqlite         # SQLite, 1,000,000 events
    python benchmarks/cockpit.py --db both           # one after the other
    python benchmarks/cockpit.py --smoke             # SQLite, 20,000 events, checks only (CI)
    python benchmarks/cockpit.py --keep              # … and keep the PostgreSQL database
    python benchmarks/cockpit.py --reuse             # measure again on the kept database

A city without residents: the demo's place tree (every district down to grids, 锦江区 down to
micro-grids) and the event taxonomy, and a city commander's account. Then ``--events`` events
written straight into the table (it is a benchmark: COPY on PostgreSQL, ``executemany`` in big
transactions on SQLite) with the cockpit's triggers off: a year of reports in id order, spread
evenly over the grids (into the micro-grids where a grid has them), about 85 % closed (four in
five on time), some rejected or merged, the rest open, some of those overdue or supervised;
the triggers are back on after. The rollups are then counted (timed): by the app's
``rollups_rebuild`` on SQLite and up to 300,000 events on PostgreSQL; above that, where it
would take hours, by a stand-in that does the same inside the database with ``GROUP BY``
(``sql_rebuild``; ``--smoke`` checks that both leave the very same rows), and the app's drain
is timed on 40,000 queued images in the full tables, from which the app's rebuild time is
projected (``--rebuild`` chooses).

Measured through the API with a signed-in test client (server time: the request through the
middleware, the view, the selectors and the serialisation; no network), for the city, a
district, a street, a community and a grid (the grid reads its raw events, by design): every
cockpit data endpoint with Django's cache cleared before each request ("uncached", nothing
queued for the drain) and again from the cache, ``--reps`` times each (fewer, at least 5, where
they take more than ``BUDGET_SECONDS``); p50 and p95 in ms, and the SQL queries of a request.

In the same run, the same figures from the raw event table: the ranking of the districts
(reported, closed and the on-time rate over the last 30 days) and the city's summary (every KPI
of the period and the previous one, and the open events now) by one ``GROUP BY`` over
``events_event`` — with the table's own indexes, then with a covering index made for the
purpose — printed beside the endpoint, with the ratio raw ÷ rollup and whether both give the
same answer. Last, a few events are changed through the ORM: the triggers queue them, the next
read drains them, and the answers must still equal the raw events.

Exits non-zero when an answer is wrong (a request fails, rollups and raw events differ); asserts
nothing about time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PG_BASE = "postgresql://postgres@127.0.0.1:5432"
PG_DB = "bench_cockpit"
GOAL_UNCACHED_MS = 100
GOAL_CACHED_MS = 20
GOAL_RATIO = 10
BUDGET_SECONDS = 20  # per endpoint, level and way: a slow endpoint gets fewer requests (≥ 5)

CITY = "5101"
DISTRICT = "510104"  # 锦江区 (down to micro-grids)
STREET = "510104017"
COMMUNITY = "510104017001"
GRID = "510104017001001"
LEVELS = [("city", CITY), ("district", DISTRICT), ("street", STREET)]
LEVELS += [("community", COMMUNITY), ("grid", GRID)]
ENDPOINTS = [
    ("summary", "summary?period=30d"),
    ("children", "children?period=30d"),
    ("trend", "trend?period=30d"),
    ("mix", "mix?period=30d"),
    ("markers", "markers"),
    ("events", "events?kind=overdue"),
    ("events sup.", "events?kind=supervised"),
    ("feed", "feed"),
    ("feed poll", "feed?after={last}"),
]

failures: list[str] = []


def fail(message: str) -> None:
    failures.append(message)
    print(f"  WRONG: {message}")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


# --- the city ---------------------------------------------------------------------------------
def build_city():
    """Migrate, the demo's places step, the event taxonomy, a city commander's post."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from wangge.accounts.enums import Role
    from wangge.accounts.models import Post
    from wangge.accounts.scope import SYSTEM
    from wangge.accounts.services import post_grant
    from wangge.demo.registry import DemoContext
    from wangge.events.services import categories_install
    from wangge.regions.demo import places

    t = time.perf_counter()
    call_command("migrate", verbosity=0)
    migrated = time.perf_counter() - t
    t = time.perf_counter()
    summary = places(DemoContext(scale="district", seed=1, verbose=False))
    categories_install(actor=SYSTEM)
    user, _ = get_user_model().objects.get_or_create(username="bench-commander")
    post = Post.objects.filter(user=user, is_active=True).first() or post_grant(
        actor=SYSTEM, user=user, role=Role.CITY_COMMANDER, place_code=CITY
    )
    print(
        f"  city built: migrate {migrated:.0f}s, places and categories "
        f"{time.perf_counter() - t:.0f}s — {summary['districts']} districts, "
        f"{summary['streets']} streets, {summary['communities']:,} communities, "
        f"{summary['general grids'] + summary['exclusive grids']:,} grids, "
        f"{summary['micro-grids']:,} micro-grids"
    )
    return post


# --- the events -------------------------------------------------------------------------------
OPEN_MIX = {
    "reported": 0.10,
    "accepted": 0.10,
    "dispatched": 0.25,
    "acknowledged": 0.25,
    "handled": 0.15,
    "suspended": 0.15,
}
SOURCES = {
    "patrol": 0.45,
    "hotline": 0.20,
    "resident": 0.15,
    "camera": 0.08,
    "sensor": 0.05,
    "dispatcher": 0.05,
    "campaign": 0.02,
}


def places_for_events():
    """The grids events fall in: every grid under a community once (uniformly), and inside a
    grid that has micro-grids, one of those. Codes, longitudes, latitudes, and for each grid the
    range of its micro-grids in the arrays."""
    from wangge.regions.models import Grid

    grids = list(
        Grid.objects.filter(level="grid")
        .order_by("code")
        .values_list("id", "code", "centroid_lon", "centroid_lat")
    )
    micros = list(
        Grid.objects.filter(level="micro")
        .order_by("parent_id", "code")
        .values_list("parent_id", "code", "centroid_lon", "centroid_lat")
    )
    first: dict[int, int] = {}
    count: dict[int, int] = {}
    for i, (parent, *_rest) in enumerate(micros):
        first.setdefault(parent, i)
        count[parent] = count.get(parent, 0) + 1
    codes = [g[1] for g in grids] + [m[1] for m in micros]
    lon = np.array([g[2] or 104.06 for g in grids] + [m[2] or 104.06 for m in micros])
    lat = np.array([g[3] or 30.66 for g in grids] + [m[3] or 30.66 for m in micros])
    start = np.array([len(grids) + first.get(g[0], 0) for g in grids])
    n = np.array([count.get(g[0], 0) for g in grids])
    return codes, lon, lat, start, n


class Generator:
    """Events as columns (numpy arrays), a chunk at a time, in reported order."""

    def __init__(self, n: int, seed: int = 7):
        from wangge.events.models import Category

        self.n = n
        self.rng = np.random.default_rng(seed)
        self.now = int(time.time()) - 120
        # local (UTC+8) midnight today, as an epoch second
        self.today0 = (self.now + 8 * 3600) // 86400 * 86400 - 8 * 3600
        cats = list(Category.objects.filter(parent__isnull=False).order_by("code"))
        self.cat_ids = np.array([c.pk for c in cats])
        self.cat_names = [c.name for c in cats]
        w = 1.0 / np.arange(1, len(cats) + 1) ** 0.8
        self.cat_p = self.rng.permutation(w / w.sum())
        self.codes, self.lon, self.lat, self.micro_start, self.micro_n = places_for_events()
        self.code_arr = np.array(self.codes)
        # every report time first (sorted: ids grow with time, as in a real table)
        day = self.rng.integers(0, 365, n)
        daytime = self.rng.random(n) < 0.8
        tod = np.where(
            daytime, self.rng.integers(8 * 3600, 20 * 3600, n), self.rng.integers(0, 86400, n)
        )
        rep = self.today0 - day * 86400 + tod
        rep = np.minimum(rep, self.now - self.rng.integers(60, 3600, n))
        self.rep = np.sort(rep)

    def chunks(self, size: int):
        for lo in range(0, self.n, size):
            yield lo, self.chunk(lo, min(self.n, lo + size))

    def chunk(self, lo: int, hi: int) -> dict[str, np.ndarray]:
        r, m, now = self.rng, hi - lo, self.now
        hour, day = 3600, 86400
        rep = self.rep[lo:hi]
        fate = r.random(m)
        rejected = fate < 0.06
        merged = (fate >= 0.06) & (fate < 0.09)
        stuck = (fate >= 0.09) & (fate < 0.13)  # open whatever their age
        g = r.integers(0, len(self.micro_start), m)
        leaf = np.where(
            self.micro_n[g] > 0,
            self.micro_start[g] + (r.random(m) * np.maximum(self.micro_n[g], 1)).astype(int),
            g,
        )
        # answer: mostly within two hours, one in twenty after more than a day
        delay = np.where(
            r.random(m) < 0.05,
            r.integers(25 * hour, 72 * hour, m),
            (r.exponential(1.5 * hour, m)).astype(np.int64) + 60,
        )
        acc = rep + delay
        due = rep + r.integers(2 * day, 10 * day, m)
        on_spot = r.random(m) < 0.2
        on_time = r.random(m) < 0.8
        span = np.maximum(due - acc, hour)
        closed_at = np.where(
            on_spot,
            acc + r.integers(300, 2 * hour, m),
            np.where(
                on_time,
                acc + (span * r.uniform(0.05, 0.98, m)).astype(np.int64),
                due + hour + r.exponential(2 * day, m).astype(np.int64),
            ),
        )
        closed_at = np.maximum(closed_at, acc + 60)
        closing = ~(rejected | merged | stuck)
        still_open = closing & (closed_at > now)  # not done yet: in handling
        closed = closing & ~still_open
        open_ = stuck | still_open
        states = np.array(list(OPEN_MIX))
        open_state = states[
            np.searchsorted(np.cumsum(list(OPEN_MIX.values())), r.random(m) * 0.99999)
        ]
        # the recent ones not closed yet are somewhere in handling, not just reported
        open_state = np.where(
            still_open & np.isin(open_state, ["reported", "suspended"]), "acknowledged", open_state
        )
        state = np.where(
            rejected,
            "rejected",
            np.where(merged, "merged", np.where(closed, "closed", open_state)),
        ).astype(object)
        accepted = ~rejected & ~merged & ~(open_ & (state == "reported"))
        overdue = (closed & (closed_at > due)) | (open_ & (due < now) & (state != "suspended"))
        late_open = open_ & overdue
        supervised = (r.random(m) < 0.01) | (late_open & (r.random(m) < 0.15))
        rework = np.where(
            closed & ~on_spot, (r.random(m) < 0.06).astype(int) + (r.random(m) < 0.01), 0
        )
        src = np.array(list(SOURCES))[
            np.searchsorted(np.cumsum(list(SOURCES.values())), r.random(m) * 0.99999)
        ]
        cat = r.choice(len(self.cat_ids), m, p=self.cat_p)
        spot = closed & on_spot
        past_accept = accepted & np.isin(
            state, ["dispatched", "acknowledged", "handled", "closed", "suspended"]
        )
        handled = (state == "handled") | (closed & ~on_spot)
        return {
            "i": np.arange(lo, hi),
            "cat": cat,
            "source": src,
            "leaf": leaf,
            "lon": self.lon[leaf] + r.uniform(-0.002, 0.002, m),
            "lat": self.lat[leaf] + r.uniform(-0.002, 0.002, m),
            "state": state,
            "urgency": np.where(r.random(m) < 0.05, "urgent", "normal"),
            "reported_at": rep,
            "accepted_at": np.where(accepted, acc, -1),
            "dispatched_at": np.where(past_accept & ~spot, acc + 600, -1),
            "acknowledged_at": np.where(past_accept & ~spot, acc + 1800, -1),
            "handled_at": np.where(
                handled, np.where(closed, closed_at - hour, np.minimum(now, acc + day)), -1
            ),
            "closed_at": np.where(closed, closed_at, -1),
            "response_due": rep + 8 * hour,
            "handle_due": due,
            "overdue": overdue,
            "warned": overdue,
            "closed_on_time": np.where(closed, np.where(closed_at <= due, 1, 0), -1),
            "rework_count": rework,
            "supervised": supervised,
            "on_spot": spot,
            "suspended_from": np.where(state == "suspended", "acknowledged", ""),
        }


TIME_COLS = (
    "reported_at",
    "accepted_at",
    "dispatched_at",
    "acknowledged_at",
    "handled_at",
    "closed_at",
    "response_due",
    "handle_due",
)


def _times(a: np.ndarray, sqlite: bool) -> list:
    """Epoch seconds (−1: none) as the database's text for a UTC time."""
    s = np.datetime_as_string(np.maximum(a, 0).astype("datetime64[s]"), unit="s")
    s = np.char.replace(s, "T", " ") if sqlite else np.char.add(s, "+00")
    out = s.astype(object)
    out[a < 0] = None
    return out.tolist()


def columns(gen: Generator, c: dict, sqlite: bool) -> dict[str, list]:
    """The chunk's values per column of ``events_event`` (text for COPY on PostgreSQL, Python
    values for SQLite; None is NULL)."""
    m = len(c["i"])
    booleans = {k: c[k] for k in ("overdue", "warned", "supervised", "on_spot")}

    def b(a):
        return a.astype(int).tolist() if sqlite else np.where(a, "t", "f").tolist()

    def num(a):
        return a.tolist() if sqlite else a.astype(str).tolist()

    cot = c["closed_on_time"]
    cot_vals = (
        [None if v < 0 else v for v in cot.tolist()]
        if sqlite
        else [None if v < 0 else ("t" if v else "f") for v in cot.tolist()]
    )
    now = datetime.fromtimestamp(gen.now, UTC)
    out = {
        "number": [f"CK{i:010d}" for i in c["i"].tolist()],
        "category_id": num(gen.cat_ids[c["cat"]]),
        "title": [gen.cat_names[k] for k in c["cat"].tolist()],
        "source": c["source"].tolist(),
        "grid_code": gen.code_arr[c["leaf"]].tolist(),
        "lon": num(np.round(c["lon"], 6)),
        "lat": num(np.round(c["lat"], 6)),
        "state": c["state"].tolist(),
        "urgency": c["urgency"].tolist(),
        "closed_on_time": cot_vals,
        "rework_count": num(c["rework_count"]),
        "suspended_from": c["suspended_from"].tolist(),
        "level": ["community"] * m,
        "updated_at": [(now.strftime("%Y-%m-%d %H:%M:%S") if sqlite else now.isoformat())] * m,
    }
    for k, a in booleans.items():
        out[k] = b(a)
    for k in TIME_COLS:
        out[k] = _times(c[k], sqlite)
    return out


def _secondary(cur, table: str, kinds: str = "f") -> tuple[list, list]:
    """(name, definition) of the table's indexes that back no constraint, and of its
    constraints of the ``kinds`` (``f`` foreign keys, ``u`` unique; PostgreSQL)."""
    cur.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
        "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
        [table, table],
    )
    indexes = cur.fetchall()
    cur.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = ANY(%s)",
        [table, list(kinds)],
    )
    return indexes, cur.fetchall()


def _without_indexes(cur, tables: list[str], kinds: str):
    """Drop the tables' secondary indexes and constraints of ``kinds``; a function that makes
    them again (a bulk load's usual way: an index built once is cheaper than millions of
    inserts into it)."""
    dropped = []
    for table in tables:
        indexes, constraints = _secondary(cur, table, kinds)
        for name, definition in constraints:
            cur.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
            dropped.append(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        for name, definition in indexes:
            cur.execute(f"DROP INDEX {name}")
            dropped.append(definition)

    def remake(cursor):
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for sql in dropped:
            cursor.execute(sql)

    return remake


def write_events(gen: Generator, *, chunk: int = 200_000) -> dict[str, float]:
    """Write the generator's events with the cockpit's triggers off (on PostgreSQL, as for any
    bulk load, without the table's secondary indexes and foreign keys, made again after).
    Seconds per phase."""
    from django.db import connection, transaction

    from wangge.cockpit import triggers
    from wangge.events.models import Event

    fields = [f for f in Event._meta.concrete_fields if f.column != "id"]
    cols = [f.column for f in fields]
    defaults = {f.column: f.get_default() for f in fields}
    table = Event._meta.db_table
    sqlite = connection.vendor == "sqlite"
    took = {"generate": 0.0}
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        if sqlite:
            for sql in triggers.sqlite_drop():
                cur.execute(sql)
        else:
            cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            remake = _without_indexes(cur, [table], "f")
    marks = ", ".join(["%s"] * len(cols))
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})"  # noqa: S608
    nul = "\\N"
    fixed = {
        k: nul if v is None else "t" if v is True else "f" if v is False else str(v)
        for k, v in defaults.items()
    }
    try:
        with transaction.atomic(), connection.cursor() as cur, ExitStack() as stack:
            if not sqlite:
                cp = stack.enter_context(
                    cur.cursor.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN")
                )
            for _lo, c in gen.chunks(chunk):
                t = time.perf_counter()
                vals = columns(gen, c, sqlite)
                m = len(c["i"])
                if not sqlite:
                    per_col = [
                        [nul if v is None else v for v in vals[k]] if k in vals else [fixed[k]] * m
                        for k in cols
                    ]
                    text = "\n".join("\t".join(row) for row in zip(*per_col, strict=True))
                    took["generate"] += time.perf_counter() - t
                    cp.write(text + "\n")
                else:
                    per_col = [vals[k] if k in vals else [defaults[k]] * m for k in cols]
                    rows = list(zip(*per_col, strict=True))
                    took["generate"] += time.perf_counter() - t
                    cur.executemany(sql, rows)
        took["write"] = time.perf_counter() - t0 - took["generate"]
        if not sqlite:
            t = time.perf_counter()
            with connection.cursor() as cur:
                remake(cur)
            took["indexes"] = time.perf_counter() - t
    finally:
        with connection.cursor() as cur:
            for sql in (
                triggers.sqlite_create() if sqlite else [f"ALTER TABLE {table} ENABLE TRIGGER USER"]
            ):
                cur.execute(sql)
    return took


def vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("VACUUM ANALYZE events_event")
            cur.execute("VACUUM ANALYZE cockpit_daycount")
            cur.execute("VACUUM ANALYZE cockpit_mixcount")
            cur.execute("VACUUM ANALYZE cockpit_opencount")
        else:
            cur.execute("ANALYZE")


# --- the rollups ---------------------------------------------------------------------------
def sql_rebuild() -> dict[str, int]:
    """The rollups counted again inside the database, by ``GROUP BY`` — the benchmark's stand-in
    for ``rollups_rebuild`` where that takes hours (see ``drain_sample``). The same rows: the
    grids' and micro-grids' day and open rows from the events, the community's mix rows from the
    events, each level above summed from the one below (every event sits in a grid or a
    micro-grid). ``--smoke`` checks that it leaves exactly the tables ``rollups_rebuild`` leaves."""
    from django.conf import settings
    from django.db import connection, transaction
    from django.db.models import F
    from django.utils import timezone

    from wangge.cockpit.models import DAY_COUNTERS, OPEN_COUNTERS, EventChange, RollupState

    pg = connection.vendor == "postgresql"
    offset = timezone.now().astimezone(timezone.get_default_timezone()).utcoffset()
    if pg:
        day = f"(({{}}) AT TIME ZONE '{settings.TIME_ZONE}')::date"
    else:  # the city's zone keeps one offset all year (Asia/Shanghai)
        day = f"date({{}}, '+{int(offset.total_seconds() // 3600)} hours')"
    defs = counter_sql(connection.vendor, secs="secs_")
    anchors = {  # the condition that makes a row on that day (the first counter of the day)
        "reported_at": "TRUE",
        "accepted_at": defs["accepted"][1],
        "closed_at": defs["closed"][1],
        defs["due"][0]: defs["due"][1],
    }
    # the handling time once a row, not once a bucket (OFFSET 0: not merged into the query)
    events = (
        f"(SELECT *, {SECONDS_SQL[connection.vendor]} AS secs_ FROM events_event "
        f"{'' if pg else 'LIMIT -1 '}OFFSET 0) AS e"
    )
    parts = []
    for col, anchor in anchors.items():
        sums = [
            (
                f"SUM(CASE WHEN {cond} THEN {value} ELSE 0 END)"
                + ("" if k == "handle_seconds" or not pg else "::int")  # sums of int are faster
                if c == col
                else "0"
            )
            for k, (c, cond, value) in ((k, defs[k]) for k in DAY_COUNTERS)
        ]
        parts.append(
            f"SELECT {{code}} AS code, {day.format(col)} AS day, "
            + ", ".join(f"{x} AS {k}" for x, k in zip(sums, DAY_COUNTERS, strict=True))
            + f" FROM {events} WHERE {col} IS NOT NULL AND {anchor} {{only}} GROUP BY 1, 2"
        )
    counters = ", ".join(DAY_COUNTERS)
    summed = ", ".join(f"SUM({k})" for k in DAY_COUNTERS)
    opened = ", ".join(OPEN_COUNTERS)
    open_states = "'reported', 'accepted', 'dispatched', 'acknowledged', 'handled', 'suspended'"
    took = {}
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM events_event WHERE length(grid_code) < 15")
        if cur.fetchone()[0]:
            raise SystemExit("events above the grids: the stand-in rebuild does not cover them")
        rollups = ["cockpit_daycount", "cockpit_mixcount", "cockpit_opencount"]
        for table in ["cockpit_eventchange", *rollups]:
            cur.execute(f"DELETE FROM {table}")  # noqa: S608
        remake = lambda _cur: None  # noqa: E731
        if pg:
            cur.execute("SET LOCAL work_mem = '512MB'")
            remake = _without_indexes(cur, rollups, "u")
        t = time.perf_counter()
        # the grids' rows from every event, the micro-grids' from the events in one
        for code, parent, only in (
            ("substr(grid_code, 1, 15)", 12, ""),
            ("grid_code", 15, "AND length(grid_code) = 18"),
        ):
            union = " UNION ALL ".join(parts).replace("{code}", code).replace("{only}", only)
            cur.execute(
                f"INSERT INTO cockpit_daycount (code, parent, day, {counters}) "  # noqa: S608
                f"SELECT code, substr(code, 1, {parent}), day, {summed} FROM ("
                + union
                + ") AS d GROUP BY code, day",
                [],  # with parameters: the SQL's "%%" is read as "%" on both engines
            )
        cur.execute(
            "INSERT INTO cockpit_mixcount (code, day, category_id, source, reported) "
            f"SELECT substr(grid_code, 1, 12), {day.format('reported_at')}, category_id, source, "
            "COUNT(*) FROM events_event GROUP BY 1, 2, 3, 4",
            [],
        )
        for code, parent, only in (
            ("substr(grid_code, 1, 15)", 12, ""),
            ("grid_code", 15, "AND length(grid_code) = 18"),
        ):
            cur.execute(
                f"INSERT INTO cockpit_opencount (code, parent, state, {opened}) "  # noqa: S608
                f"SELECT {code}, substr(grid_code, 1, {parent}), state, COUNT(*), "
                "SUM(CASE WHEN overdue THEN 1 ELSE 0 END), "
                "SUM(CASE WHEN supervised THEN 1 ELSE 0 END) "
                f"FROM events_event WHERE state IN ({open_states}) {only} GROUP BY 1, 2, 3"
            )
        for table in rollups:
            cur.execute(f"ANALYZE {table}")
        took["from the events"] = time.perf_counter() - t
        t = time.perf_counter()
        for below, n, up in ((15, 12, 9), (12, 9, 6), (9, 6, 4), (6, 4, 0)):
            parent = f"substr(code, 1, {up})" if up else "''"
            cur.execute(
                f"INSERT INTO cockpit_daycount (code, parent, day, {counters}) "  # noqa: S608
                f"SELECT substr(code, 1, {n}), {parent}, day, {summed} FROM cockpit_daycount "
                f"WHERE length(code) = {below} GROUP BY 1, 2, 3"
            )
            cur.execute(
                f"INSERT INTO cockpit_opencount (code, parent, state, {opened}) "  # noqa: S608
                f"SELECT substr(code, 1, {n}), {parent}, state, "
                + ", ".join(f"SUM({k})" for k in OPEN_COUNTERS)
                + f" FROM cockpit_opencount WHERE length(code) = {below} GROUP BY 1, 2, 3"
            )
            if below < 15:
                cur.execute(
                    "INSERT INTO cockpit_mixcount (code, day, category_id, source, reported) "
                    f"SELECT substr(code, 1, {n}), day, category_id, source, SUM(reported) "
                    f"FROM cockpit_mixcount WHERE length(code) = {below} GROUP BY 1, 2, 3, 4"
                )
        took["levels above"] = time.perf_counter() - t
        t = time.perf_counter()
        remake(cur)
        if pg:
            took["indexes"] = time.perf_counter() - t
        EventChange.objects.all().delete()
        RollupState.objects.update_or_create(pk=1, defaults={})
        RollupState.objects.filter(pk=1).update(version=F("version") + 1, rebuilt_at=timezone.now())
    return took


def snapshot() -> dict[str, set]:
    """Every rollup row (without its id)."""
    from wangge.cockpit.models import DayCount, MixCount, OpenCount

    out = {}
    for model in (DayCount, MixCount, OpenCount):
        names = [f.attname for f in model._meta.concrete_fields if f.attname != "id"]
        out[model.__name__] = {
            tuple(str(v) for v in row) for row in model.objects.values_list(*names).iterator()
        }
    return out


def drain_sample(k: int) -> tuple[int, float]:
    """Queue the images of ``k`` events with sign −1 and then again with +1 (net nothing) and
    time ``rollups_drain`` counting them into the full tables, in the rebuild's batches: the
    rate of the app's drain, and so of its ``rollups_rebuild``, at this size."""
    from django.db import connection

    from wangge.cockpit import services
    from wangge.cockpit.rollups import IMAGE_COLUMNS

    cols = ", ".join(IMAGE_COLUMNS)
    with connection.cursor() as cur:
        for sign in (-1, 1):
            cur.execute(
                f"INSERT INTO cockpit_eventchange (sign, event_id, {cols}) "  # noqa: S608
                f"SELECT {sign}, id, {cols} FROM events_event WHERE id IN "
                "(SELECT id FROM events_event ORDER BY id DESC LIMIT %s) ORDER BY id",
                [k],
            )
    t = time.perf_counter()
    n = services.rollups_drain(batch=20_000)
    return n, time.perf_counter() - t


# --- the raw figures --------------------------------------------------------------------------
def _bounds(p) -> tuple:
    from django.db import connection
    from django.utils import timezone

    lo = timezone.make_aware(datetime.combine(p.start, dtime.min))
    hi = timezone.make_aware(datetime.combine(p.end + timedelta(days=1), dtime.min))
    adapt = connection.ops.adapt_datetimefield_value
    return adapt(lo), adapt(hi)


SECONDS_SQL = {  # an event's handling time in whole seconds
    "postgresql": "floor(extract(epoch FROM closed_at - reported_at))::bigint",
    "sqlite": "(CAST(strftime('%%s', closed_at) AS INTEGER) - "
    "CAST(strftime('%%s', reported_at) AS INTEGER))",
}


def counter_sql(vendor: str, secs: str = "") -> dict[str, tuple[str, str, str]]:
    """Every day counter of ``rollups.contributions`` as SQL: (the column whose day it counts
    on, the condition, the value). ``secs``: a column holding ``SECONDS_SQL``, if there is one."""
    from wangge.cockpit.rollups import BUCKET_HOURS

    secs = secs or SECONDS_SQL[vendor]
    if vendor == "postgresql":
        within_day = "accepted_at - reported_at <= interval '24 hours'"
        greatest = "greatest"
    else:
        epoch = "CAST(strftime('%%s', {}) AS INTEGER)"
        within_day = f"{epoch.format('accepted_at')} - {epoch.format('reported_at')} <= 86400"
        greatest = "max"
    valid = "state NOT IN ('rejected', 'merged')"
    closed = "state = 'closed' AND closed_at IS NOT NULL"
    # a closed event counts on the day it closed, an open overdue one on its deadline's day
    due_at = "CASE WHEN state = 'closed' THEN closed_at ELSE handle_due END"
    due = (
        "state NOT IN ('rejected', 'merged', 'suspended') AND (state = 'closed' OR overdue) "
        f"AND {due_at} IS NOT NULL"
    )
    out = {
        "reported": ("reported_at", "TRUE", "1"),
        "valid": ("reported_at", valid, "1"),
        "responded_24h": (
            "reported_at",
            f"{valid} AND accepted_at IS NOT NULL AND {within_day}",
            "1",
        ),
        "cohort_closed": ("reported_at", f"{valid} AND state = 'closed'", "1"),
        "accepted": ("accepted_at", "accepted_at IS NOT NULL", "1"),
        "closed": ("closed_at", closed, "1"),
        "closed_on_time": ("closed_at", f"{closed} AND closed_on_time", "1"),
        "on_spot": ("closed_at", f"{closed} AND on_spot", "1"),
        "verified": ("closed_at", f"{closed} AND NOT on_spot", "1"),
        "rework": ("closed_at", closed, "rework_count"),
        "handle_seconds": ("closed_at", closed, f"{greatest}(0, {secs})"),
        "due": (due_at, due, "1"),
        "due_on_time": (due_at, f"{due} AND state = 'closed' AND closed_on_time", "1"),
    }
    lower = None
    for i, hours in enumerate((*BUCKET_HOURS, None)):
        cond = [closed]
        if lower is not None:
            cond.append(f"{secs} > {lower * 3600}")
        if hours is not None:
            cond.append(f"{secs} <= {hours * 3600}")
        out[f"h{i}"] = ("closed_at", " AND ".join(cond), "1")
        lower = hours
    return out


def raw_counters(periods, counters, *, group: int | None, prefix: str = CITY):
    """Counters summed over the raw events by one scan of ``events_event`` (grouped by the
    first ``group`` digits of the grid code, or not): {(group code, period index): {counter: n}}
    and the SQL."""
    from django.db import connection

    defs = counter_sql(connection.vendor)
    exprs, params = [], []
    for pi, p in enumerate(periods):
        lo, hi = _bounds(p)
        for name in counters:
            col, cond, value = defs[name]
            exprs.append(
                f"SUM(CASE WHEN {col} >= %s AND {col} < %s AND {cond} THEN {value} ELSE 0 END)"
                f" AS p{pi}_{name}"
            )
            params += [lo, hi]
    key = f"substr(grid_code, 1, {group})" if group else "'all'"
    sql = (
        f"SELECT {key} AS node, {', '.join(exprs)} FROM events_event "  # noqa: S608
        f"WHERE grid_code >= %s AND grid_code < %s GROUP BY 1"
    )
    params += [prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)]
    with connection.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    out = {}
    for row in rows:
        node, values = row[0], row[1:]
        for pi in range(len(periods)):
            chunk = values[pi * len(counters) : (pi + 1) * len(counters)]
            out[(node, pi)] = {k: int(v or 0) for k, v in zip(counters, chunk, strict=True)}
    return out, sql


def raw_open(prefix: str = CITY) -> dict[str, dict[str, int]]:
    """Open events now by state, with how many are overdue or supervised."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT state, COUNT(*), SUM(CASE WHEN overdue THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN supervised THEN 1 ELSE 0 END) FROM events_event "
            "WHERE state IN ('reported', 'accepted', 'dispatched', 'acknowledged', 'handled', "
            "'suspended') AND grid_code >= %s AND grid_code < %s GROUP BY state",
            [prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)],
        )
        return {
            s: {"open": int(n), "overdue": int(o or 0), "supervised": int(v or 0)}
            for s, n, o, v in cur.fetchall()
        }


RANKING = ("reported", "closed", "due", "due_on_time")


def raw_ranking(period):
    """The districts' reported, closed and on-time rate over the period, from the raw events."""
    from wangge.cockpit.selectors import kpi_values

    got, _sql = raw_counters([period], RANKING, group=6)
    return {
        node: {
            "reported": c["reported"],
            "closed": c["closed"],
            "on_time_rate": kpi_values(c, None)["on_time_rate"],
        }
        for (node, _pi), c in got.items()
        if c["reported"] or c["closed"]  # as the ranking compared (rows with something)
    }


def raw_reported(period):
    """The simplest raw figure: reports per district over the period (the reported_at index)."""
    from django.db import connection

    lo, hi = _bounds(period)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT substr(grid_code, 1, 6), COUNT(*) FROM events_event "
            "WHERE reported_at >= %s AND reported_at < %s GROUP BY 1",
            [lo, hi],
        )
        return {k: int(n) for k, n in cur.fetchall()}


def raw_summary(period):
    """The city summary's KPIs (the period and the previous one) and open events by state."""
    from wangge.cockpit.models import DAY_COUNTERS
    from wangge.cockpit.selectors import kpi_values

    got, _sql = raw_counters([period, period.previous()], DAY_COUNTERS, group=None)
    now = got.get(("all", 0), {})
    before = got.get(("all", 1), {})
    by_state = raw_open()
    opn = {k: sum(s[k] for s in by_state.values()) for k in ("open", "overdue", "supervised")}
    vals, prev = kpi_values(now, opn), kpi_values(before, None)
    return {
        "kpis": {k: (vals.get(k), prev.get(k)) for k in vals},
        "open_by_state": {s: v["open"] for s, v in by_state.items() if v["open"]},
    }


def fixed(p) -> str:
    """The query string of the period as fixed dates (the same days on both sides of a
    comparison, even across midnight)."""
    return f"period=custom&start={p.start}&end={p.end}"


def api_summary(answer: dict) -> dict:
    return {
        "kpis": {k: (v["value"], v["previous"]) for k, v in answer["kpis"].items()},
        "open_by_state": answer["open_by_state"],
    }


def api_ranking(rows: list[dict]) -> dict:
    return {
        r["code"]: {k: r[k] for k in ("reported", "closed", "on_time_rate")}
        for r in rows
        if r["reported"] or r["closed"]
    }


def timed(fn, reps: int) -> tuple[float, object]:
    """The median seconds of ``reps`` calls (after one warm-up call) and the answer."""
    answer = fn()
    secs = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        secs.append(time.perf_counter() - t)
    return float(np.median(secs)), answer


def plan_line(sql_kind: str) -> str:
    """The scan the raw ranking query uses (EXPLAIN, first scan line)."""
    from django.db import connection

    from wangge.cockpit.selectors import period_parse

    p = period_parse("30d")
    if sql_kind == "ranking":
        _got, sql = raw_counters([p], RANKING, group=6)
        lo, hi = _bounds(p)
        params = [lo, hi] * len(RANKING) + [CITY, "5102"]
    else:
        lo, hi = _bounds(p)
        sql = (
            "SELECT substr(grid_code, 1, 6), COUNT(*) FROM events_event "
            "WHERE reported_at >= %s AND reported_at < %s GROUP BY 1"
        )
        params = [lo, hi]
    with connection.cursor() as cur:
        cur.execute(
            ("EXPLAIN " if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN ") + sql,
            params,
        )
        lines = [" ".join(str(x) for x in r) for r in cur.fetchall()]
    scans = [ln.strip(" ->") for ln in lines if "scan" in ln.lower() or "search" in ln.lower()]
    return (scans or lines or ["?"])[0][:110]


# --- the endpoints ----------------------------------------------------------------------------
def signed_in(post):
    from django.test import Client

    from wangge.accounts.middleware import SESSION_2FA, SESSION_POST

    client = Client()
    client.force_login(post.user)
    session = client.session
    session[SESSION_POST] = post.id
    session[SESSION_2FA] = True
    session.save()
    return client


def get(client, url: str):
    r = client.get(url)
    if r.status_code != 200:
        fail(f"GET {url}: {r.status_code} {r.content[:200]!r}")
        return None
    return r.json()


def measure(client, reps: int) -> dict[tuple[str, str], tuple[list[float], list[float]]]:
    """Server time (ms) of every endpoint at every level, uncached and cached, and the SQL
    queries one request runs each way."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from wangge.cockpit import services
    from wangge.events.models import Event
    from wangge.regions import codes as C

    if services.pending():
        fail("the change log is not empty before measuring")
    results = {}
    sizes = {
        code: Event.objects.filter(**C.prefix_filter(code, "grid_code")).count()
        for _level, code in LEVELS
    }
    print(
        "  nodes: "
        + ", ".join(f"{level} {code} ({sizes[code]:,} events)" for level, code in LEVELS)
        + "; nothing queued for the drain"
    )
    print(
        f"  {'level':<10} {'endpoint':<12} {'uncached p50':>12} {'p95':>7}  "
        f"{'cached p50':>10} {'p95':>7}  {'queries':>7}   (ms; {reps} requests each way, fewer "
        f"— at least 5 — where they take over {BUDGET_SECONDS}s; SQL queries of one request)"
    )
    for level, code in LEVELS:
        last = get(client, f"/api/cockpit/{code}/feed") or {"last_id": 0}
        for name, path in ENDPOINTS:
            url = f"/api/cockpit/{code}/" + path.format(last=last["last_id"])
            uncached, cached = [], []
            t0 = time.perf_counter()
            for i in range(reps):
                if i >= 5 and time.perf_counter() - t0 > BUDGET_SECONDS:
                    break  # a slow one: fewer requests, the count is printed
                cache.clear()
                t = time.perf_counter()
                r = client.get(url)
                uncached.append((time.perf_counter() - t) * 1000)
                if r.status_code != 200:
                    fail(f"GET {url}: {r.status_code} {r.content[:200]!r}")
                    break
            if r.status_code != 200:
                continue
            client.get(url)
            t0 = time.perf_counter()
            for i in range(reps):
                if i >= 5 and time.perf_counter() - t0 > BUDGET_SECONDS:
                    break
                t = time.perf_counter()
                r = client.get(url)
                cached.append((time.perf_counter() - t) * 1000)
            queries = []
            for clear in (True, False):
                if clear:
                    cache.clear()
                with CaptureQueriesContext(connection) as q:
                    client.get(url)
                queries.append(len(q.captured_queries))
            results[(level, name)] = (uncached, cached)
            u95, c95 = pct(uncached, 0.95), pct(cached, 0.95)
            flag = []
            if u95 > GOAL_UNCACHED_MS:
                flag.append("uncached over goal")
            if c95 > GOAL_CACHED_MS:
                flag.append("cached over goal")
            print(
                f"  {level + ' ' + code if level == 'city' else level:<10} {name:<12} "
                f"{pct(uncached, 0.5):>12.1f} {u95:>7.1f}  {pct(cached, 0.5):>10.1f} "
                f"{c95:>7.1f}  {queries[0]:>3}/{queries[1]:<3}  {', '.join(flag)}"
                + (
                    f" ({len(uncached)}/{len(cached)} requests)"
                    if min(len(uncached), len(cached)) < reps
                    else ""
                )
            )
    return results


def compare(client, reps: int, results) -> None:
    """The ranking and the summary from the raw events beside the endpoints' answers."""
    from django.core.cache import cache

    from wangge.cockpit.selectors import period_parse

    p = period_parse("30d")
    cache.clear()
    api_rank = api_ranking(get(client, f"/api/cockpit/{CITY}/children?{fixed(p)}") or [])
    cache.clear()
    answer = get(client, f"/api/cockpit/{CITY}/summary?{fixed(p)}")
    api_sum = api_summary(answer or {"kpis": {}, "open_by_state": {}})
    rollup_rank = pct(results[("city", "children")][0], 0.5) / 1000
    rollup_sum = pct(results[("city", "summary")][0], 0.5) / 1000
    ratios = []

    def line(label, raw_secs, rollup_secs, same, what, goal=True):
        ratio = raw_secs / rollup_secs
        if goal:
            ratios.append(ratio)
        print(
            f"    {label:<44} {raw_secs * 1000:>8.0f} ms  ÷ {rollup_secs * 1000:>5.1f} ms = "
            f"{ratio:>6.1f}×  answers {'EQUAL' if same else 'DIFFER'} ({what})"
        )
        if not same:
            fail(f"{label}: raw and rollup answers differ ({what})")

    print(
        f"  raw events vs rollups, the last 30 days ({p.start} … {p.end}); raw: median of "
        f"{reps} runs after a warm-up; rollup: the endpoint's uncached p50 (whole request)"
    )
    print(f"    plan of the raw ranking: {plan_line('ranking')}")
    secs, got = timed(lambda: raw_ranking(p), reps)
    line(
        "districts ranking, raw GROUP BY (table indexes)",
        secs,
        rollup_rank,
        got == api_rank,
        "reported, closed, on-time rate of 20 districts",
    )
    if got != api_rank:
        for k in sorted(set(got) | set(api_rank)):
            if got.get(k) != api_rank.get(k):
                print(f"      {k}: raw {got.get(k)} rollup {api_rank.get(k)}")
    secs, got = timed(lambda: raw_summary(p), reps)
    line(
        "city summary, raw GROUP BY (table indexes)",
        secs,
        rollup_sum,
        got == api_sum,
        f"{len(got['kpis'])} KPIs × this and previous period, open by state",
    )
    if got != api_sum:
        for k in got["kpis"]:
            if got["kpis"][k] != api_sum["kpis"].get(k):
                print(f"      {k}: raw {got['kpis'][k]} rollup {api_sum['kpis'].get(k)}")
        print(f"      open: raw {got['open_by_state']} rollup {api_sum['open_by_state']}")
    print(f"    plan of the raw reports per district: {plan_line('reported')}")
    secs, got = timed(lambda: raw_reported(p), reps)
    api_rep = {k: v["reported"] for k, v in api_rank.items() if v["reported"]}
    line(
        "reports per district only, raw (reported_at)",
        secs,
        rollup_rank,
        got == api_rep,
        "the simplest raw figure, not the KPI",
        goal=False,
    )
    covering(reps, p, rollup_rank, rollup_sum, api_rank, api_sum, line)
    print(
        f"  goal: raw ÷ rollup ≥ {GOAL_RATIO}× for the same KPI — lowest here {min(ratios):.1f}× "
        f"({'met' if min(ratios) >= GOAL_RATIO else 'NOT met'})"
    )


def covering(reps, p, rollup_rank, rollup_sum, api_rank, api_sum, line) -> None:
    """The raw figures again with an index that covers every column they read (made here and
    dropped after)."""
    from django.db import connection

    cols = (
        "grid_code, state, reported_at, accepted_at, closed_at, handle_due, overdue, "
        "closed_on_time, on_spot, rework_count, supervised"
    )
    t = time.perf_counter()
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SET maintenance_work_mem = '512MB'")
            cur.execute(
                "CREATE INDEX bench_cockpit_cover ON events_event (grid_code) INCLUDE "
                "(state, reported_at, accepted_at, closed_at, handle_due, overdue, "
                "closed_on_time, on_spot, rework_count, supervised)"
            )
            cur.execute("VACUUM ANALYZE events_event")
        else:
            cur.execute(f"CREATE INDEX bench_cockpit_cover ON events_event ({cols})")
            cur.execute("ANALYZE")
    print(f"    covering index on ({cols}) made in {time.perf_counter() - t:.0f}s")
    try:
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:  # the planner prefers the table for a full scan
                cur.execute("SET enable_seqscan = off")
                cur.execute("SET enable_bitmapscan = off")
        print(f"    plan of the raw ranking: {plan_line('ranking')}")
        secs, got = timed(lambda: raw_ranking(p), reps)
        line(
            "districts ranking, raw GROUP BY (covering)",
            secs,
            rollup_rank,
            got == api_rank,
            "reported, closed, on-time rate",
        )
        secs, got = timed(lambda: raw_summary(p), reps)
        line(
            "city summary, raw GROUP BY (covering)",
            secs,
            rollup_sum,
            got == api_sum,
            "every KPI, open by state",
        )
    finally:
        with connection.cursor() as cur:
            if connection.vendor == "postgresql":
                cur.execute("RESET enable_seqscan")
                cur.execute("RESET enable_bitmapscan")
            cur.execute("DROP INDEX bench_cockpit_cover")


def live_changes(client) -> None:
    """Change events through the ORM (the triggers queue them); the next read drains them and
    the answers still equal the raw events."""
    from django.core.cache import cache
    from django.db.models import F
    from django.utils import timezone

    from wangge.cockpit import services
    from wangge.cockpit.models import EventChange
    from wangge.cockpit.selectors import period_parse
    from wangge.events.models import Event

    now = timezone.now().replace(microsecond=0)
    ids = list(
        Event.objects.filter(state__in=["acknowledged", "handled"], grid_code__startswith="5101")
        .order_by("-id")
        .values_list("id", flat=True)[:50]
    )
    closed = Event.objects.filter(id__in=ids[:40]).update(
        state="closed", closed_at=now, handled_at=now, closed_on_time=True, on_spot=False
    )
    rejected = Event.objects.filter(id__in=ids[40:]).update(state="rejected")
    Event.objects.filter(id__in=ids[:5]).update(rework_count=F("rework_count") + 1)
    queued = EventChange.objects.count()
    if queued == 0:
        fail("the triggers queued nothing for changed events")
    cache.clear()
    p = period_parse("30d")
    t = time.perf_counter()
    answer = get(client, f"/api/cockpit/{CITY}/summary?{fixed(p)}")
    secs = time.perf_counter() - t
    same = answer is not None and api_summary(answer) == raw_summary(p)
    rank = api_ranking(get(client, f"/api/cockpit/{CITY}/children?{fixed(p)}") or [])
    same = same and rank == raw_ranking(p)
    print(
        f"  {closed} events closed, {rejected} rejected, 5 sent back through the ORM: {queued} "
        f"images queued by the triggers, drained by the next read ({secs * 1000:.0f} ms); "
        f"answers and raw events {'EQUAL' if same else 'DIFFER'}"
    )
    if not same:
        fail("after live changes the rollups and the raw events differ")
    if services.pending():
        fail("the change log is not empty after a read")


# --- a run ------------------------------------------------------------------------------------
def rebuild(mode: str, n: int, smoke: bool) -> None:
    """Count the events into the rollups: the app's ``rollups_rebuild`` (``app``), the stand-in
    (``sql``) or both, checked to leave the same rows; then the drain's rate at this size."""
    from wangge.accounts.scope import SYSTEM
    from wangge.cockpit import services
    from wangge.cockpit.models import DayCount, MixCount, OpenCount

    app_rows = None
    if mode in ("app", "both"):
        t = time.perf_counter()
        out = services.rollups_rebuild(actor=SYSTEM)
        secs = time.perf_counter() - t
        print(
            f"  rollups_rebuild (the app's): {secs:.0f}s = {out['events'] / secs:,.0f} events/s "
            f"— {out['day_rows']:,} day rows, {out['mix_rows']:,} mix rows, "
            f"{out['open_rows']:,} open rows"
        )
        if mode == "both":
            app_rows = snapshot()
    if mode in ("sql", "both"):
        t = time.perf_counter()
        took = sql_rebuild()
        secs = time.perf_counter() - t
        print(
            f"  rollups rebuilt by GROUP BY in the database (the benchmark's stand-in): "
            f"{secs:.0f}s = {n / secs:,.0f} events/s ("
            + ", ".join(f"{k} {v:.0f}s" for k, v in took.items())
            + f") — {DayCount.objects.count():,} day rows, {MixCount.objects.count():,} mix "
            f"rows, {OpenCount.objects.count():,} open rows"
        )
    if app_rows is not None:
        same = snapshot() == app_rows
        print(
            f"  stand-in and rollups_rebuild leave {'the SAME rows' if same else 'DIFFERENT rows'}"
        )
        if not same:
            fail("the stand-in rebuild differs from rollups_rebuild")
    vacuum()
    k = 1_000 if smoke else 20_000
    done, secs = drain_sample(k)
    rate = done / secs
    print(
        f"  rollups_drain at this size: {done:,} images queued (−1 then +1 of the newest "
        f"{k:,} events: net nothing) drained in {secs:.1f}s = {rate:,.0f} images/s; "
        f"rollups_rebuild of {n:,} events ≈ {n / rate / 60:,.0f} min at that rate"
    )
    if services.pending():
        fail("the drain left images queued")


def reuse_city():
    """The kept database (``--keep``): migrated to this checkout, its commander's post; the
    rollups counted again by the stand-in when a migration queued more than a drain's worth."""
    from django.core.management import call_command

    from wangge.accounts.models import Post
    from wangge.cockpit.models import EventChange
    from wangge.events.models import Event

    call_command("migrate", verbosity=0)
    post = Post.objects.filter(user__username="bench-commander", is_active=True).first()
    if post is None or not Event.objects.exists():
        raise SystemExit("nothing to reuse: run with --keep first")
    queued = EventChange.objects.count()
    if queued > 100_000:
        t = time.perf_counter()
        sql_rebuild()
        print(
            f"  {queued:,} images queued by a migration: counted again by the stand-in in "
            f"{time.perf_counter() - t:.0f}s"
        )
    print(f"  reusing the kept database: {Event.objects.count():,} events")
    return post


def run(n: int, reps: int, *, smoke: bool, check: bool, mode: str, reuse: bool = False) -> None:
    import django

    django.setup()
    from wangge.cockpit import services

    if reuse:
        post = reuse_city()
    else:
        post = generate(n, mode, smoke)
    if check:
        t = time.perf_counter()
        result = services.rollups_check()
        print(
            f"  rollups_check over {result.events:,} events: "
            f"{'no difference' if result.ok else result.mismatches[:3]} "
            f"({time.perf_counter() - t:.0f}s)"
        )
        if not result.ok:
            fail("rollups_check found differences")
    measure_all(post, reps, smoke)


def generate(n: int, mode: str, smoke: bool):
    """The city, ``n`` events, their rollups; the commander's post."""
    from django.db import connection
    from django.db.models import Count

    from wangge.events.models import Event

    vendor = connection.vendor
    post = build_city()
    t = time.perf_counter()
    gen = Generator(n)
    took = write_events(gen)
    total = time.perf_counter() - t
    took["generate"] += total - sum(took.values())
    print(
        f"  {n:,} events generated and written in {total:.0f}s = {n / total:,.0f} rows/s "
        f"(cockpit triggers off): generating in Python {took['generate']:.0f}s, "
        + (
            f"COPY {took['write']:.0f}s = {n / took['write']:,.0f} rows/s, secondary indexes "
            f"and foreign keys made again {took['indexes']:.0f}s"
            if vendor == "postgresql"
            else f"executemany {took['write']:.0f}s = {n / took['write']:,.0f} rows/s"
        )
    )
    t = time.perf_counter()
    vacuum()
    print(
        f"  {'VACUUM ANALYZE' if vendor == 'postgresql' else 'ANALYZE'}: "
        f"{time.perf_counter() - t:.0f}s"
    )
    states = dict(Event.objects.values_list("state").annotate(n=Count("id")))
    total = sum(states.values())
    on_time = Event.objects.filter(state="closed", closed_on_time=True).count()
    open_n = total - sum(states.get(s, 0) for s in ("closed", "rejected", "merged"))
    overdue = Event.objects.filter(overdue=True).exclude(state__in=["closed", "rejected", "merged"])
    print(
        "  states: "
        + ", ".join(f"{k} {v / total:.1%}" for k, v in sorted(states.items(), key=lambda x: -x[1]))
        + f"; closed on time {on_time / max(1, states.get('closed', 0)):.1%}; "
        f"open {open_n:,} of which overdue {overdue.count():,}"
    )
    rebuild(mode, n, smoke)
    return post


def measure_all(post, reps: int, smoke: bool) -> None:
    from django.core.cache import cache

    from wangge.core.process import settle

    client = signed_in(post)
    for _name, path in ENDPOINTS:  # every module and template loaded, as in a server that ran
        client.get(f"/api/cockpit/{CITY}/" + path.format(last=0))
    cache.clear()
    print(f"  settled as a server process is (wangge.wsgi): {settle():,} objects set aside")
    results = measure(client, reps)
    if failures:
        return
    worst_u = max((pct(u, 0.95), k) for k, (u, _c) in results.items())
    worst_c = max((pct(c, 0.95), k) for k, (_u, c) in results.items())
    over_u = [f"{lv}/{ep}" for (lv, ep), (u, _c) in results.items() if pct(u, 0.95) > 100]
    over_c = [f"{lv}/{ep}" for (lv, ep), (_u, c) in results.items() if pct(c, 0.95) > 20]
    print(
        f"  goal p95 ≤ {GOAL_UNCACHED_MS} ms uncached: worst {worst_u[0]:.1f} ms "
        f"({'/'.join(worst_u[1])}); over: {', '.join(over_u) or 'none'}"
    )
    print(
        f"  goal p95 ≤ {GOAL_CACHED_MS} ms cached: worst {worst_c[0]:.1f} ms "
        f"({'/'.join(worst_c[1])}); over: {', '.join(over_c) or 'none'}"
    )
    compare(client, 2 if smoke else 3, results)
    live_changes(client)


def child_env(db_url: str | None, data_dir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "WANGGE_DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "wangge.settings",
    }
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)  # Django's local-memory cache: cached reads cost no network
    if db_url:
        env["DATABASE_URL"] = db_url
    return env


def one(
    vendor: str,
    n: int,
    reps: int,
    *,
    smoke: bool,
    check: bool,
    mode: str | None,
    keep: bool = False,
    reuse: bool = False,
) -> int:
    """One database's run, in a process of its own (Django is set up once a process)."""
    tmp = Path(tempfile.mkdtemp(prefix="wangge-cockpit-bench-"))
    pg = vendor == "postgresql"
    try:
        if pg and not reuse:
            import psycopg

            with psycopg.connect(f"{PG_BASE}/postgres", autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
                conn.execute(f"CREATE DATABASE {PG_DB}")
        env = child_env(f"{PG_BASE}/{PG_DB}" if pg else None, tmp)
        if not mode:  # the app's rebuild where it takes minutes, else the stand-in
            mode = "both" if smoke else "app" if not pg or n <= 300_000 else "sql"
        args = [sys.executable, __file__, "--inner", "--events", str(n), "--reps", str(reps)]
        args += ["--rebuild", mode]
        if smoke:
            args.append("--smoke")
        if check:
            args.append("--check")
        if reuse:
            args.append("--reuse")
        return subprocess.run(args, env=env, cwd=ROOT).returncode
    finally:
        if pg and not (keep or reuse):
            import psycopg

            with psycopg.connect(f"{PG_BASE}/postgres", autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=["postgresql", "sqlite", "both"], default="postgresql")
    ap.add_argument("--events", type=int, help="10,000,000 on PostgreSQL, 1,000,000 on SQLite")
    ap.add_argument("--reps", type=int, default=30, help="requests per endpoint and level")
    ap.add_argument("--check", action="store_true", help="also rollups_check (minutes at scale)")
    ap.add_argument("--smoke", action="store_true", help="20,000 events on SQLite, checks")
    ap.add_argument(
        "--rebuild",
        choices=["app", "sql", "both"],
        help="count the events with the app's rollups_rebuild, the stand-in or both (default: "
        "the app's on SQLite and up to 300,000 events on PostgreSQL, else the stand-in; both "
        "in --smoke)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the PostgreSQL database for --reuse")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="PostgreSQL: measure again on the database a --keep run left (migrated first)",
    )
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        sys.path.insert(0, str(ROOT))
        t = time.perf_counter()
        run(
            args.events,
            args.reps,
            smoke=args.smoke,
            check=args.check or args.smoke,
            mode=args.rebuild,
            reuse=args.reuse,
        )
        print(f"  run took {time.perf_counter() - t:.0f}s")
        if failures:
            print(f"FAILED: {len(failures)} wrong answers")
            sys.exit(1)
        return
    if args.smoke:
        n = args.events or 20_000
        print(f"cockpit benchmark — {n:,} events, SQLite (smoke)")
        sys.exit(one("sqlite", n, min(args.reps, 3), smoke=True, check=True, mode=args.rebuild))
    rc = 0
    for vendor in ("postgresql", "sqlite") if args.db == "both" else (args.db,):
        n = args.events or (10_000_000 if vendor == "postgresql" else 1_000_000)
        print(
            f"cockpit benchmark — {n:,} events, {vendor}, {os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        if args.reuse and vendor != "postgresql":
            continue
        rc = rc or one(
            vendor,
            n,
            args.reps,
            smoke=False,
            check=args.check,
            mode=args.rebuild,
            keep=args.keep,
            reuse=args.reuse,
        )
    sys.exit(rc)


if __name__ == "__main__":
    main()
