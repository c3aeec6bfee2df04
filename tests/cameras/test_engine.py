"""The rule engine's pure part: presence in a polygon and a zone's occupancy over time."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wangge.cameras import engine
from wangge.cameras.engine import Rule, ZoneRun, anchor, in_polygon, polygon_of, step

LANE = polygon_of([[0.2, 0.5], [0.8, 0.5], [0.8, 0.9], [0.2, 0.9]])
T = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def test_the_anchor_is_the_bottom_centre():
    assert anchor([0.4, 0.1, 0.6, 0.7]) == pytest.approx((0.5, 0.7))


def test_a_box_counts_where_it_stands_not_where_it_reaches():
    # a tall lorry whose top reaches into the lane but which stands above it
    assert not in_polygon(LANE, anchor([0.4, 0.1, 0.6, 0.45]))
    # a car standing in the lane whose roof sticks out above it
    assert in_polygon(LANE, anchor([0.4, 0.3, 0.6, 0.7]))
    # standing right on the border counts
    assert in_polygon(LANE, anchor([0.1, 0.6, 0.3, 0.9]))


def test_concave_zones():
    ell = polygon_of([[0, 0], [1, 0], [1, 0.2], [0.2, 0.2], [0.2, 1], [0, 1]])
    assert in_polygon(ell, (0.5, 0.1)) and in_polygon(ell, (0.1, 0.5))
    assert not in_polygon(ell, (0.5, 0.5))


class _Z:
    def __init__(self, **kw):
        self.kind = kw.get("kind", "vehicle_in_fire_lane")
        self.classes = kw.get("classes", ["car", "truck"])
        self.min_confidence = kw.get("min_confidence", 0.5)
        self.min_count = kw.get("min_count", 1)
        self.polygon = [[0.2, 0.5], [0.8, 0.5], [0.8, 0.9], [0.2, 0.9]]


def obj(cls="car", conf=0.9, box=(0.4, 0.55, 0.6, 0.8)):
    return {"class": cls, "confidence": conf, "box": list(box)}


def test_rule_classes_confidence_and_count():
    r = Rule.of(_Z())
    assert r.present([obj()])
    assert r.present([obj("Truck")])  # class names compare without case
    assert not r.present([obj("person")])
    assert not r.present([obj(conf=0.3)])
    assert not r.present([obj(box=(0.4, 0.1, 0.6, 0.3))])
    assert r.present([obj("object")])  # the built-in analyser's generic object
    crowd = Rule.of(_Z(kind="crowd", classes=["person"], min_count=3))
    people = [obj("person", box=(0.3 + i / 10, 0.6, 0.35 + i / 10, 0.8)) for i in range(3)]
    assert crowd.present(people) and not crowd.present(people[:2])
    assert not crowd.present([obj("object")] * 5)  # a crowd is people, not blobs


@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_presence_is_exactly_the_anchor_in_the_polygon(a, b, c, d):
    x1, x2, y1, y2 = min(a, b), max(a, b), min(c, d), max(c, d)
    r = Rule.of(_Z())
    x, y = (x1 + x2) / 2, y2
    inside = 0.2 <= x <= 0.8 and 0.5 <= y <= 0.9
    assert r.present([obj(box=(x1, y1, x2, y2))]) == inside


def run_frames(frames, *, dwell=10, clear=5, gap=15):
    run, steps = ZoneRun(), []
    for minute, present in frames:
        s = step(
            run,
            T + minute * M,
            present,
            dwell=dwell * M,
            clear=clear * M,
            max_gap=gap * M,
        )
        run = s.run
        steps.append(s)
    return run, steps


def test_dwell_is_reached_after_ten_minutes_of_presence():
    run, steps = run_frames([(m, True) for m in range(12)])
    assert [s.dwell_reached for s in steps] == [False] * 10 + [True, True]
    assert run.presence_since == T


def test_short_gaps_do_not_break_presence_and_a_long_clear_ends_it():
    frames = [(m, True) for m in range(5)] + [(m, False) for m in range(5, 9)]
    frames += [(m, True) for m in range(9, 12)]
    run, steps = run_frames(frames)
    assert run.presence_since == T and steps[-1].dwell_reached  # 4 clear minutes < 5
    run, steps = run_frames([(m, True) for m in range(5)] + [(m, False) for m in range(5, 11)])
    assert [s.ended for s in steps].index(True) == 10  # clear since minute 5, for 5 minutes
    assert run.presence_since is None
    assert engine.clear_after(run, T) == 5 * M


def test_missing_frames_are_unknown_not_clear():
    # present 0-8, then the camera is silent for 20 minutes, then present again
    frames = [(m, True) for m in range(9)] + [(29, True), (30, True)]
    run, steps = run_frames(frames)
    assert run.presence_since == T + 29 * M and not steps[-1].dwell_reached
    # clear, then silence: the silence does not count as clear
    run, _ = run_frames([(0, True), (1, False), (30, False)])
    assert engine.clear_after(run, T) == timedelta(0)


def test_a_frame_older_than_the_last_changes_nothing():
    run, _ = run_frames([(0, True), (5, True)])
    s = step(run, T + 2 * M, False, dwell=10 * M, clear=5 * M, max_gap=15 * M)
    assert s.stale and s.run == run


def test_clear_after_counts_only_frames_after_the_handling():
    run, _ = run_frames([(0, True), (1, False), (20, False)], gap=60)
    assert engine.clear_after(run, T + 18 * M) == 2 * M
    assert engine.clear_after(run, T + 30 * M) is None
    run, _ = run_frames([(0, True), (1, False), (2, True)])
    assert engine.clear_after(run, T) is None  # occupied at the last frame
