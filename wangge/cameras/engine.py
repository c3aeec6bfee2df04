"""The rule engine's pure part: what counts as presence in a zone, and a zone's occupancy over
time. No database, no clock: ``detections.py`` feeds it frames and acts on what it answers.

Presence. An object counts for a zone when its class is one of the rule's classes (or the
built-in analyser's generic ``object``, except for crowds), its confidence is at least the
rule's minimum and the bottom-centre of its box — where a vehicle, a pile or a person touches
the ground — lies inside the zone's polygon. The zone is occupied in a frame when at least
``min_count`` objects count (1 for vehicles and garbage, N people for a crowd).

Occupancy over time (``step``). Frames come in time order. A run of presence starts at the
first occupied frame; clear frames shorter than the clear window do not break it (a car hidden
by a passing bus is still parked). The run ends once frames have shown the zone clear for the
clear window. A gap with no frames longer than ``max_gap`` is *unknown*, not clear: the runs
start again at the next frame (a camera that stops posting neither opens nor closes anything).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import shapely

from wangge.cameras.enums import GENERIC_CLASS, ZoneKind


# --- geometry -------------------------------------------------------------------------------------
def polygon_of(points: Sequence[Sequence[float]]) -> shapely.Polygon:
    return shapely.Polygon([(float(x), float(y)) for x, y in points])


def anchor(box: Sequence[float]) -> tuple[float, float]:
    """The bottom-centre of a box ``[x1, y1, x2, y2]`` (y grows downwards)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return (x1 + x2) / 2, max(y1, y2)


def in_polygon(polygon: shapely.Polygon, point: tuple[float, float]) -> bool:
    """Inside or on the border (a box standing on the zone's edge counts)."""
    return bool(polygon.covers(shapely.Point(point)))


@dataclass(frozen=True)
class Rule:
    kind: str
    classes: frozenset[str]
    min_confidence: float
    min_count: int
    polygon: shapely.Polygon

    @classmethod
    def of(cls, zone) -> Rule:
        return cls(
            kind=zone.kind,
            classes=frozenset(c.lower() for c in zone.classes),
            min_confidence=float(zone.min_confidence),
            min_count=max(1, int(zone.min_count)),
            polygon=polygon_of(zone.polygon),
        )

    def counts(self, obj: dict) -> bool:
        cls = str(obj.get("class", "")).lower()
        if cls not in self.classes and not (cls == GENERIC_CLASS and self.kind != ZoneKind.CROWD):
            return False
        if float(obj.get("confidence", 0)) < self.min_confidence:
            return False
        return in_polygon(self.polygon, anchor(obj["box"]))

    def present(self, objects: Iterable[dict]) -> bool:
        n = 0
        for obj in objects:
            if self.counts(obj):
                n += 1
                if n >= self.min_count:
                    return True
        return False


# --- occupancy over time --------------------------------------------------------------------------
@dataclass(frozen=True)
class ZoneRun:
    """A zone's running state. ``presence_since``: the start of the current run of presence
    (None: no run); ``last_present_at``: its last occupied frame; ``clear_since``: the first of
    the clear frames since then (None while the last frame was occupied); ``last_frame_at``:
    the last frame evaluated."""

    presence_since: datetime | None = None
    last_present_at: datetime | None = None
    clear_since: datetime | None = None
    last_frame_at: datetime | None = None

    @classmethod
    def of(cls, zone) -> ZoneRun:
        return cls(zone.presence_since, zone.last_present_at, zone.clear_since, zone.last_frame_at)


@dataclass(frozen=True)
class Step:
    run: ZoneRun
    present: bool
    dwell_reached: bool = False  # an occupied frame with the run at least ``dwell`` long
    ended: bool = False  # this frame ended a run: clear for the whole clear window
    stale: bool = False  # older than the last frame evaluated: ignored


def step(
    run: ZoneRun,
    at: datetime,
    present: bool,
    *,
    dwell: timedelta,
    clear: timedelta,
    max_gap: timedelta,
) -> Step:
    if run.last_frame_at is not None and at < run.last_frame_at:
        return Step(run, present, stale=True)
    if run.last_frame_at is not None and at - run.last_frame_at > max_gap:
        run = ZoneRun()  # nothing known about the gap: start again
    if present:
        since = run.presence_since or at
        run = ZoneRun(since, at, None, at)
        return Step(run, True, dwell_reached=at - since >= dwell)
    clear_since = run.clear_since or at
    run = replace(run, clear_since=clear_since, last_frame_at=at)
    if run.presence_since is not None and at - clear_since >= clear:
        return Step(replace(run, presence_since=None), False, ended=True)
    return Step(run, False)


def clear_after(run: ZoneRun, since: datetime) -> timedelta | None:
    """How long the frames have shown the zone clear after ``since`` (None while the last frame
    was occupied or nothing is known)."""
    if run.clear_since is None or run.last_frame_at is None:
        return None
    start = max(run.clear_since, since)
    return run.last_frame_at - start if run.last_frame_at >= start else None
