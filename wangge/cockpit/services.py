"""The cockpit's only writes: its rollups (``models.py``), fed from the event change log.

``rollups_drain`` counts what the triggers queued; the worker runs it every few seconds and a
cockpit read runs it first when something is queued, so figures are live. ``rollups_rebuild``
starts the rollups again from the raw events; ``rollups_check`` compares them with the raw
events without writing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from wangge.cockpit.models import (
    DAY_COUNTERS,
    OPEN_COUNTERS,
    DayCount,
    EventChange,
    MixCount,
    OpenCount,
    RollupState,
)
from wangge.cockpit.rollups import IMAGE_COLUMNS, Deltas, image_from_row
from wangge.core import audit
from wangge.core.http import is_busy

DRAIN_BATCH = 5_000
# What a cockpit read counts itself before answering (a few ms); a larger backlog (a bulk import,
# a rebuild) is the worker's, and the read answers from the figures counted so far.
INLINE_DRAIN = 2_000
_CHUNK = 500  # rows per INSERT … ON CONFLICT statement (SQLite)
_PG_CHUNK = 50_000  # rows per statement as arrays (PostgreSQL)


def _upsert(model, keys: tuple[str, ...], counters: tuple[str, ...], rows: list[tuple]):
    """Add ``counters`` to the rows of ``model``'s table with ``keys``, creating missing ones:
    ``INSERT … ON CONFLICT … DO UPDATE SET c = c + excluded.c`` on both engines. PostgreSQL
    gets every row in one statement as one array a column (``unnest``: the driver sends a few
    arrays instead of parsing thousands of placeholders); SQLite a chunk of VALUES at a time.
    The keys of ``rows`` are distinct (a statement may not update a row twice)."""
    if not rows:
        return
    table = model._meta.db_table
    cols = keys + counters
    conflict = ", ".join(k for k in keys if k != "parent")
    sets = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in counters)
    head = f"INSERT INTO {table} ({', '.join(cols)}) "
    tail = f" ON CONFLICT ({conflict}) DO UPDATE SET {sets}"
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            fields = {f.column: f for f in model._meta.concrete_fields}
            types = [fields[c].db_type(connection).split("(")[0] + "[]" for c in cols]
            arrays = ", ".join(f"%s::{t}" for t in types)
            for i in range(0, len(rows), _PG_CHUNK):
                chunk = rows[i : i + _PG_CHUNK]
                cur.execute(
                    head + f"SELECT * FROM unnest({arrays})" + tail,
                    [list(column) for column in zip(*chunk, strict=True)],
                )
            return
        one = "(" + ", ".join(["%s"] * len(cols)) + ")"
        for i in range(0, len(rows), _CHUNK):
            chunk = rows[i : i + _CHUNK]
            cur.execute(
                head + "VALUES " + ", ".join([one] * len(chunk)) + tail,
                [v for row in chunk for v in row],
            )


def _apply(deltas: Deltas) -> bool:
    """Write summed deltas into the rollup tables; False when they all cancelled out."""
    day, mix, opn = deltas.nonzero()
    if not (day or mix or opn):
        return False
    adapt = connection.ops.adapt_datefield_value
    parents = deltas.parents
    _upsert(
        DayCount,
        ("code", "parent", "day"),
        DAY_COUNTERS,
        [
            (code, parents[code], adapt(d), *(row.get(c, 0) for c in DAY_COUNTERS))
            for (code, d), row in sorted(day.items())
        ],
    )
    _upsert(
        MixCount,
        ("code", "day", "category_id", "source"),
        ("reported",),
        [(code, adapt(d), cat, src, n) for (code, d, cat, src), n in sorted(mix.items())],
    )
    _upsert(
        OpenCount,
        ("code", "parent", "state"),
        OPEN_COUNTERS,
        [
            (code, parents[code], state, *(row.get(c, 0) for c in OPEN_COUNTERS))
            for (code, state), row in sorted(opn.items())
        ],
    )
    return True


def _bump(**extra) -> None:
    RollupState.objects.update_or_create(pk=1, defaults={})
    RollupState.objects.filter(pk=1).update(version=F("version") + 1, **extra)


def pending() -> bool:
    return EventChange.objects.exists()


def rollups_drain(*, batch: int = DRAIN_BATCH, limit: int | None = None) -> int:
    """Count queued event changes into the rollups, a batch a transaction; returns how many
    images were counted. Safe beside other drains: each takes rows the others have not locked
    (PostgreSQL ``SKIP LOCKED``; SQLite runs one writer at a time)."""
    done = 0
    while limit is None or done < limit:
        n = batch if limit is None else min(batch, limit - done)
        with transaction.atomic():
            qs = EventChange.objects.order_by("id")
            if connection.features.has_select_for_update_skip_locked:
                qs = qs.select_for_update(skip_locked=True)
            rows = list(qs.values_list("id", "sign", *IMAGE_COLUMNS)[:n])
            if not rows:
                break
            deltas = Deltas()
            for r in rows:
                deltas.add(image_from_row(r[2:]), r[1])
            changed = _apply(deltas)
            EventChange.objects.filter(id__in=[r[0] for r in rows]).delete()
            if changed:
                _bump()
        done += len(rows)
        if len(rows) < n:
            break
    return done


def drained_version() -> int:
    """Count what is queued, then the rollups' version (the key of every cached answer). One
    query when nothing is queued (the version and whether anything is, together)."""
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT (SELECT version FROM {RollupState._meta.db_table} WHERE id = 1), "
            f"EXISTS (SELECT 1 FROM {EventChange._meta.db_table})"
        )
        current, queued = cur.fetchone()
    if not queued:
        return current or 0
    try:
        rollups_drain(limit=INLINE_DRAIN)
    except DatabaseError as exc:
        # another writer holds the database: the figures as counted so far (the worker and
        # the next read count the rest)
        if not is_busy(exc):
            raise
    return version()


def version() -> int:
    return RollupState.objects.filter(pk=1).values_list("version", flat=True).first() or 0


def state() -> RollupState:
    return RollupState.objects.filter(pk=1).first() or RollupState(pk=1)


def rollups_rebuild(
    *, actor, progress: Callable[[int, int], None] | None = None, batch: int = 20_000
) -> dict[str, int]:
    """Empty the rollups and count every event again from its row.

    The change log is replaced by one image of every event in a short transaction that holds
    event writes back (PostgreSQL: ``LOCK … IN SHARE MODE``) so no change is counted twice or
    lost; the images are then drained in batches while the platform runs on. Until the drain
    finishes the cockpit shows partial figures.
    """
    from wangge.events.models import Event

    table = Event._meta.db_table
    cols = ", ".join(IMAGE_COLUMNS)
    with transaction.atomic():
        with connection.cursor() as cur:
            if connection.vendor == "postgresql":
                cur.execute(f"LOCK TABLE {table} IN SHARE MODE")
            for model in (EventChange, DayCount, MixCount, OpenCount):
                cur.execute(f"DELETE FROM {model._meta.db_table}")
            cur.execute(
                f"INSERT INTO {EventChange._meta.db_table} (sign, event_id, {cols}) "
                f"SELECT 1, id, {cols} FROM {table}"
            )
            total = EventChange.objects.count()
        _bump(rebuilt_at=timezone.now())
    done = 0
    while True:
        n = rollups_drain(batch=batch, limit=batch * 10)
        done += n
        if progress:
            progress(done, total)
        if n < batch * 10:
            break
    out = {
        "events": total,
        "day_rows": DayCount.objects.count(),
        "mix_rows": MixCount.objects.count(),
        "open_rows": OpenCount.objects.count(),
    }
    audit.record(actor=actor, action="cockpit.rebuild", object_type="cockpit", details=out)
    return out


def event_images(qs=None, *, chunk: int = 20_000) -> Iterator:
    """Images of events (all, or those of ``qs``) read in primary-key order, a chunk at a time."""
    from wangge.events.models import Event

    base = (qs if qs is not None else Event.objects.all()).order_by("pk")
    last = 0
    while True:
        rows = list(base.filter(pk__gt=last).values_list("pk", *IMAGE_COLUMNS)[:chunk])
        if not rows:
            return
        for r in rows:
            yield image_from_row(r[1:])
        last = rows[-1][0]


@dataclass
class CheckResult:
    events: int = 0
    pending: int = 0
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def rollups_check(*, limit: int = 20) -> CheckResult:
    """Compare the rollups with the raw events (after draining what is queued); lists up to
    ``limit`` differing rows. Reads every event: minutes at city scale."""
    rollups_drain()
    raw = Deltas()
    result = CheckResult()
    for img in event_images():
        raw.add(img)
        result.events += 1
    day, mix, opn = raw.nonzero()
    result.pending = EventChange.objects.count()

    def compare(name, expected: dict, actual: dict) -> None:
        for k in sorted(set(expected) | set(actual), key=str):
            if expected.get(k, {}) != actual.get(k, {}) and len(result.mismatches) < limit:
                result.mismatches.append(
                    f"{name} {k}: events {expected.get(k, {})} ≠ rollup {actual.get(k, {})}"
                )

    have_day = {
        (r["code"], r["day"]): {c: r[c] for c in DAY_COUNTERS if r[c]}
        for r in DayCount.objects.values("code", "day", *DAY_COUNTERS)
    }
    compare("day", day, {k: v for k, v in have_day.items() if v})
    have_mix = {
        (r[0], r[1], r[2], r[3]): r[4]
        for r in MixCount.objects.values_list("code", "day", "category_id", "source", "reported")
        if r[4]
    }
    for k in sorted(set(mix) | set(have_mix), key=str):
        if mix.get(k, 0) != have_mix.get(k, 0) and len(result.mismatches) < limit:
            result.mismatches.append(f"mix {k}: events {mix.get(k, 0)} ≠ rollup {have_mix.get(k)}")
    have_open = {
        (r["code"], r["state"]): {c: r[c] for c in OPEN_COUNTERS if r[c]}
        for r in OpenCount.objects.values("code", "state", *OPEN_COUNTERS)
    }
    compare("open", opn, {k: v for k, v in have_open.items() if v})
    return result
