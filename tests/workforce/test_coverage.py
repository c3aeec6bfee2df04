"""The coverage report's arithmetic against a brute-force count: random changes to the roster
(places vacated and filled, helpers, cadres registered, placed and gone, check-ins, sessions
forgotten open) made through the services, then every figure of the report — for a street,
a community and a grid, in total and per child — compared with counting the rows in Python."""

from collections import defaultdict
from datetime import timedelta

import pytest
from django.conf import settings as dj_settings
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.workforce.conftest import COMMUNITY, GRID, primary_of, register
from wangge.accounts.scope import SYSTEM
from wangge.regions import codes as C
from wangge.regions.models import Grid
from wangge.workforce import selectors, services
from wangge.workforce.enums import AssignmentRole, WorkerKind, WorkerStatus
from wangge.workforce.models import Assignment, DutySession, Worker

pytestmark = pytest.mark.django_db

NODES = [COMMUNITY[:9], COMMUNITY, GRID]

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("vacate"), st.integers(0, 999)),
        st.tuples(st.just("fill"), st.integers(0, 999)),
        st.tuples(st.just("help"), st.integers(0, 999), st.integers(0, 999)),
        st.tuples(st.just("cadre"), st.integers(0, 999), st.booleans()),
        st.tuples(st.just("cadre_gone"), st.integers(0, 999)),
        st.tuples(st.just("duty"), st.integers(0, 999)),
        st.tuples(st.just("forgotten"), st.integers(0, 999)),
    ),
    max_size=14,
)


def _apply(op, places: list[str]) -> None:
    kind, n = op[0], op[1]
    place = places[n % len(places)]
    primary_kind = WorkerKind.MICRO if len(place) == 18 else WorkerKind.FULL_TIME
    if kind == "vacate":
        a = primary_of(place)
        if a is not None:
            services.assignment_end(actor=SYSTEM, assignment=a)
    elif kind == "fill":
        if primary_of(place) is None:
            w = register(primary_kind, place[:12])
            services.assignment_start(actor=SYSTEM, worker=w, place_code=place)
    elif kind == "help":
        # the primary worker of one place helps at another place of the same level
        a = primary_of(place)
        others = [p for p in places if len(p) == len(place) and p != place]
        if a is not None and others:
            target = others[op[2] % len(others)]
            if not a.worker.assignments.filter(place_code=target, ended_at__isnull=True).exists():
                services.assignment_start(
                    actor=SYSTEM, worker=a.worker, place_code=target, role="helper"
                )
    elif kind == "cadre":
        w = register(WorkerKind.CADRE, place[:12], origin="区财政局")
        if op[2]:
            grid = place[:15]
            services.assignment_start(actor=SYSTEM, worker=w, place_code=grid)
    elif kind == "cadre_gone":
        cadres = list(
            Worker.objects.filter(kind=WorkerKind.CADRE, place_code__startswith=COMMUNITY[:9])
            .exclude(status=WorkerStatus.LEFT)
            .order_by("id")
        )
        if cadres:
            services.worker_status_set(
                actor=SYSTEM, worker=cadres[n % len(cadres)], status=WorkerStatus.LEFT
            )
    elif kind == "duty":
        a = primary_of(place)
        if (
            a is not None
            and not DutySession.objects.filter(worker=a.worker, ended_at__isnull=True).exists()
        ):
            services.duty_check_in(actor=a.post, key=f"cov-{n}-{a.pk}")
    elif kind == "forgotten":
        open_now = list(DutySession.objects.filter(ended_at__isnull=True).order_by("id"))
        if open_now:
            s = open_now[n % len(open_now)]
            DutySession.objects.filter(pk=s.pk).update(
                started_at=timezone.now() - timedelta(hours=dj_settings.WANGGE_DUTY_MAX_HOURS + 1)
            )


def _expected(node: str) -> dict:
    """Every figure of the report for ``node``, counted in Python from plain rows."""
    n = next((k for k in sorted(C.LENGTH_LEVELS) if k > len(node)), None)
    places = [
        (code, level)
        for code, level in Grid.objects.values_list("code", "level")
        if code.startswith(node)
    ]
    open_rows = list(
        Assignment.objects.filter(ended_at__isnull=True).values_list(
            "worker_id", "place_code", "role", "started_at", "id"
        )
    )
    primaries = {p for _w, p, role, _s, _i in open_rows if role == AssignmentRole.PRIMARY}
    by_worker = defaultdict(list)
    for w, p, _role, started, pk in open_rows:
        by_worker[w].append((started, pk, p))
    rows: dict = defaultdict(
        lambda: [0] * 7
    )  # grids, without, micros, without, cadres, placed, duty
    total = [0] * 7
    for code, level in places:
        i = 0 if level == "grid" else 2
        for r in [total] + ([rows[code[:n]]] if n and len(code) >= n else []):
            r[i] += 1
            r[i + 1] += code not in primaries
    unplaced = set()
    for pk, home in (
        Worker.objects.filter(kind=WorkerKind.CADRE)
        .exclude(status=WorkerStatus.LEFT)
        .values_list("pk", "place_code")
    ):
        mine = sorted(by_worker.get(pk, []))
        here = [p for _s, _i, p in mine if p.startswith(node)]
        if not (here or (not mine and home.startswith(node))):
            continue
        where = here[0] if here else home
        for r in [total] + ([rows[where[:n]]] if n and len(where) >= n else []):
            r[4] += 1
            r[5] += bool(mine)
        if not mine:
            unplaced.add(pk)
    since = timezone.now() - timedelta(hours=dj_settings.WANGGE_DUTY_MAX_HOURS)
    for place, started in DutySession.objects.filter(ended_at__isnull=True).values_list(
        "place_code", "started_at"
    ):
        if place.startswith(node) and started >= since:
            for r in [total] + ([rows[place[:n]]] if n and len(place) >= n else []):
                r[6] += 1
    kinds = dict(Worker.objects.values_list("pk", "kind"))
    limits = dj_settings.WANGGE_WORKER_MAX_LOAD
    overloaded = {
        w: len(lst)
        for w, lst in by_worker.items()
        if any(p.startswith(node) for _s, _i, p in lst) and len(lst) > limits[kinds[w]]
    }
    return {
        "total": total,
        "rows": {c: r for c, r in rows.items() if any(r)},
        "gaps": sorted(c for c, _l in places if c not in primaries),
        "unplaced": unplaced,
        "overloaded": overloaded,
    }


def _actual(node: str) -> dict:
    cov = selectors.coverage(actor=SYSTEM, code=node)

    def figures(r):
        return [
            r.grids,
            r.grids_without,
            r.micros,
            r.micros_without,
            r.cadres,
            r.cadres_placed,
            r.on_duty,
        ]

    rows = {r.code: figures(r) for r in cov.children}
    return {
        "total": figures(cov.total),
        "rows": {c: r for c, r in rows.items() if any(r)},
        "gaps": [g.code for g in cov.gaps],
        "unplaced": {w.pk for w in cov.unplaced},
        "overloaded": {o.worker.pk: o.load for o in cov.overloaded},
    }


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPS)
def test_the_report_counts_what_is_there(city, ops):
    places = list(
        Grid.objects.filter(code__startswith=COMMUNITY)
        .order_by("code")
        .values_list("code", flat=True)
    )
    sid = transaction.savepoint_create()
    try:
        for op in ops:
            _apply(op, places)
        for node in NODES:
            assert _actual(node) == _expected(node), (node, ops)
    finally:
        transaction.savepoint_rollback(sid)


def test_a_load_limit_is_a_setting(city, settings):
    micro = primary_of(GRID + "001")
    extra = [
        g.code for g in selectors.coverage(actor=SYSTEM, code=COMMUNITY).gaps if len(g.code) == 18
    ]
    services.assignment_start(actor=SYSTEM, worker=micro.worker, place_code=extra[0])
    assert micro.worker.pk not in {
        o.worker.pk for o in selectors.coverage(actor=SYSTEM, code=GRID).overloaded
    }
    settings.WANGGE_WORKER_MAX_LOAD = {**settings.WANGGE_WORKER_MAX_LOAD, "micro": 1}
    over = {
        o.worker.pk: (o.load, o.limit)
        for o in selectors.coverage(actor=SYSTEM, code=GRID).overloaded
    }
    assert over[micro.worker.pk] == (2, 1)
