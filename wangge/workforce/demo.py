"""Demo step: the grid workforce of the detailed districts, in the seed's proportions.

Per district (one transaction each; a district already staffed is skipped, so an interrupted
run resumes): about one full-time worker per general or exclusive grid and one micro-grid worker
per micro-grid (a few places left vacant, and in the demo community three micro-grids without a
worker and two new micro-grid workers not yet placed — the walk-through: the community secretary
sees the gaps in the coverage report and assigns one), sunk party cadres ≈ 7 % of the grid
workers (most placed in a grid, the rest waiting: 进网入格), about 20 volunteers per general
grid in a volunteer team of their community, a police and a veterans-affairs liaison per
community and an emergency-management liaison per street; a party organisation per general
grid; a share of the workers on duty now, and a week of duty with patrol routes for the workers
of the demo grid (one check-in far from the grid, flagged).

The demo accounts become workers of their places (``grid``, ``micro``, ``cadre``,
``volunteer``), and the grid workers' accounts the events history made are reused. Everything
is written in bulk: users without a password, encrypted phones, one post per assignment.
"""

from __future__ import annotations

import math
import secrets
from collections import defaultdict
from datetime import timedelta
from typing import NamedTuple

import numpy as np
import shapely
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from wangge.accounts.enums import Role
from wangge.accounts.models import Post, Unit
from wangge.accounts.scope import SYSTEM
from wangge.core import audit
from wangge.core.bulk import insert_rows
from wangge.demo.registry import DemoContext, demo_step
from wangge.people.crypto import Field, get_keyring
from wangge.people.demo import GIVEN, PHONE_PREFIXES, SURNAMES
from wangge.regions.geometry import from_geojson_text
from wangge.regions.models import Grid, Region
from wangge.regions.synth import detailed_districts, sample_points
from wangge.workforce.enums import (
    POST_ROLE,
    AssignmentRole,
    Skill,
    WorkerKind,
    WorkerStatus,
)
from wangge.workforce.models import (
    Assignment,
    DutySession,
    PartyOrganisation,
    PatrolBatch,
    PatrolPoint,
    VolunteerTeam,
    Worker,
)

DEMO_COMMUNITY = "510104017001"
DEMO_GRID = DEMO_COMMUNITY + "001"
DEMO_MICRO = DEMO_GRID + "001"
DEMO_GAPS = 3  # micro-grids of the demo community left without a worker
DEMO_RESERVE = 2  # new micro-grid workers of the demo community, not yet placed
VACANT_SHARE = 0.01  # places elsewhere whose worker position is vacant
CADRE_SHARE = 0.07  # sunk cadres per grid worker (seed: 10,000+ of 147,000)
CADRE_PLACED = 0.85
VOLUNTEERS_PER_GRID = 20
ON_DUTY_SHARE = 0.3  # full-time workers on duty at the time of the build (micro: half that)
HISTORY_DAYS = 7
# bodies that send cadres into the grids (下沉单位)
BODIES = [
    "区委组织部",
    "区财政局",
    "区教育局",
    "区住建局",
    "区卫健局",
    "区民政局",
    "区市场监管局",
    "区生态环境局",
    "区商务局",
    "区文旅局",
    "区司法局",
    "区人社局",
]
DEMO_USERS = {  # demo account → (kind, place)
    "grid": (WorkerKind.FULL_TIME, DEMO_GRID),
    "micro": (WorkerKind.MICRO, DEMO_MICRO),
    "cadre": (WorkerKind.CADRE, DEMO_COMMUNITY + "002"),
    "volunteer": (WorkerKind.VOLUNTEER, DEMO_COMMUNITY + "003"),
}


@demo_step(
    "workforce",
    order=60,
    description=_("grid workers, cadres, volunteers and liaisons, their grids and duty"),
)
def workforce(ctx: DemoContext) -> dict:
    keys = get_keyring()
    phones = _Phones(ctx, keys.for_field(Field.PHONE))
    totals: dict[str, int] = defaultdict(int)
    for district in detailed_districts(ctx.scale):
        if not Grid.objects.filter(code__startswith=district.code).exists():
            continue
        if Worker.objects.filter(place_code__startswith=district.code).exists():
            continue  # staffed by an earlier run
        with transaction.atomic():
            counts = _District(ctx, district.code, phones).build()
            audit.record(
                actor=SYSTEM,
                action="workforce.demo",
                object_type="workforce.worker",
                object_id=district.code,
                details=counts,
            )
        for k, v in counts.items():
            totals[k] += v
    return dict(totals)


class _W(NamedTuple):
    """A worker just written: what the later parts of the step need of it."""

    pk: int
    kind: str
    user_id: int


class _Phones:
    """Unique synthetic mobile numbers, encrypted and indexed."""

    def __init__(self, ctx: DemoContext, crypto) -> None:
        self.rng = ctx.rng("workforce", "phones")
        self.crypto = crypto
        self.used = set(
            Worker.objects.exclude(phone_index="").values_list("phone_index", flat=True)
        )

    def next(self) -> tuple[str, str]:
        while True:
            prefix = PHONE_PREFIXES[int(self.rng.integers(len(PHONE_PREFIXES)))]
            number = f"{prefix}{int(self.rng.integers(10**8)):08d}"
            index = self.crypto.blind_index(number)
            if index not in self.used:
                self.used.add(index)
                return self.crypto.encrypt(number), index


class _District:
    def __init__(self, ctx: DemoContext, code: str, phones: _Phones) -> None:
        self.ctx = ctx
        self.code = code
        self.rng = ctx.rng("workforce", code)
        self.phones = phones
        self.now = timezone.now()
        self.User = get_user_model()
        self.workers: list[dict] = []  # specs, in order
        self.counts: dict[str, int] = defaultdict(int)

    # -- people ---------------------------------------------------------------------------
    def name(self) -> str:
        r = self.rng
        given = "".join(GIVEN[int(i)] for i in r.integers(0, len(GIVEN), int(r.integers(1, 3))))
        return SURNAMES[int(r.integers(len(SURNAMES)))] + given

    def add(self, kind: str, home: str, places: list[str], **extra) -> dict:
        """A worker to make: kind, where registered, the places (the first is primary where the
        kind is the place's primary kind)."""
        spec = {"kind": kind, "home": home, "places": places, "user": None, **extra}
        self.workers.append(spec)
        return spec

    def build(self) -> dict[str, int]:
        grids = list(
            Grid.objects.filter(code__startswith=self.code)
            .exclude(kind="micro")
            .order_by("code")
            .values_list("code", "name", "kind")
        )
        micros = list(
            Grid.objects.filter(code__startswith=self.code, kind="micro")
            .order_by("code")
            .values_list("code", flat=True)
        )
        communities = list(
            Region.objects.filter(code__startswith=self.code, level="community")
            .order_by("code")
            .values_list("code", "name")
        )
        streets = sorted({c[:9] for c, _n in communities})
        reuse = self._existing_users()
        r = self.rng
        # full-time workers, one per grid (a few positions vacant)
        for code, _name, _kind in grids:
            if code[:12] != DEMO_COMMUNITY and r.random() < VACANT_SHARE and code not in reuse:
                continue
            self.add(WorkerKind.FULL_TIME, code[:12], [code], user=reuse.get(code))
        # micro-grid workers: one per micro-grid; gaps in the demo community; a few workers
        # keep a second (or third: overloaded) micro-grid of their grid
        demo_micros = [m for m in micros if m.startswith(DEMO_COMMUNITY) and m != DEMO_MICRO]
        gaps = set()
        if demo_micros:
            picks = r.choice(len(demo_micros), size=min(DEMO_GAPS, len(demo_micros)), replace=False)
            gaps = {demo_micros[int(i)] for i in picks}
        by_grid: dict[str, list[str]] = defaultdict(list)
        for m in micros:
            by_grid[m[:15]].append(m)
        overloaded_done = False
        for grid_code, ms in by_grid.items():
            todo = [m for m in ms if m not in gaps]
            demo_here = grid_code.startswith(DEMO_COMMUNITY)
            while todo:
                m = todo.pop(0)
                if not demo_here and m not in reuse and r.random() < VACANT_SHARE:
                    continue
                places = [m]
                if not demo_here and len(todo) >= 2 and r.random() < 0.02:
                    take = 2 if not overloaded_done else 1
                    places += todo[:take]
                    todo = todo[take:]
                    overloaded_done = overloaded_done or take == 2
                self.add(WorkerKind.MICRO, m[:12], places, user=reuse.get(m))
        n_grid_workers = len(self.workers)
        if any(c == DEMO_COMMUNITY for c, _n in communities):
            for _ in range(DEMO_RESERVE):
                self.add(WorkerKind.MICRO, DEMO_COMMUNITY, [])
        # sunk cadres: placed in a general grid as helpers, or waiting in a community
        general = [c for c, _n, k in grids if k == "general"]
        cadres = max(1, round(CADRE_SHARE * n_grid_workers))
        demo_cadre = DEMO_USERS["cadre"][1]
        for i in range(cadres):
            origin = BODIES[int(r.integers(len(BODIES)))]
            if i == 0 and demo_cadre in general:
                self.add(WorkerKind.CADRE, demo_cadre[:12], [demo_cadre], origin=origin)
                continue
            if r.random() < CADRE_PLACED and general:
                g = general[int(r.integers(len(general)))]
                self.add(WorkerKind.CADRE, g[:12], [g], origin=origin)
            else:
                home = communities[int(r.integers(len(communities)))][0]
                if i == 1 and any(c == DEMO_COMMUNITY for c, _n in communities):
                    home = DEMO_COMMUNITY  # the demo community has one cadre waiting
                self.add(WorkerKind.CADRE, home, [], origin=origin)
        # volunteers: about 20 per general grid, in their community's team
        teams = {
            c: VolunteerTeam.objects.get_or_create(place_code=c, name=f"{n}志愿服务队")[0]
            for c, n in communities
        }
        for g in general:
            for _ in range(int(r.poisson(VOLUNTEERS_PER_GRID))):
                self.add(WorkerKind.VOLUNTEER, g[:12], [g], team=teams.get(g[:12]))
        # liaisons
        units = {u.kind: u for u in Unit.objects.filter(region_code__in=["", self.code])}
        for c, _n in communities:
            self.add(WorkerKind.POLICE, c, [c], unit=units.get("police"))
            self.add(WorkerKind.VETERANS, c, [c])
        for s in streets:
            first = next(c for c, _n in communities if c.startswith(s))
            self.add(WorkerKind.EMERGENCY, s, [first], unit=units.get("emergency"))
        self._demo_accounts()
        self._write()
        self._party_orgs(general)
        self._duty(grids)
        return dict(self.counts)

    def _existing_users(self) -> dict[str, int]:
        """Grid and micro-grid workers' accounts already made (events history, demo accounts):
        place → user id."""
        out = {}
        for place, user_id in (
            Post.objects.filter(
                is_active=True,
                role__in=[Role.GRID_WORKER, Role.MICRO_GRID_WORKER],
                place_code__startswith=self.code,
            )
            .exclude(user__worker__isnull=False)
            .order_by("-id")
            .values_list("place_code", "user_id")
        ):
            out[place] = user_id
        # an account is one worker: a user holding posts on several places keeps the first
        seen: set[int] = set()
        for place in sorted(out):
            if out[place] in seen:
                del out[place]
            else:
                seen.add(out[place])
        return out

    def _demo_accounts(self) -> None:
        """The demo accounts as the workers of their places (cadre and volunteer too)."""
        users = dict(
            self.User.objects.filter(username__in=DEMO_USERS, worker__isnull=True).values_list(
                "username", "id"
            )
        )
        for username, (kind, place) in DEMO_USERS.items():
            if username not in users or not place.startswith(self.code):
                continue
            spec = next(
                (s for s in self.workers if s["kind"] == kind and s["places"][:1] == [place]),
                None,
            )
            if spec is None:
                spec = self.add(kind, place[:12], [place])
            spec["user"] = users[username]

    # -- writing -----------------------------------------------------------------------------
    def _write(self) -> None:
        """Users, workers, posts and assignments, each table in one bulk insert (plain rows:
        model instances cost more than the database does here)."""
        r = self.rng
        skills = list(Skill.values)
        now = self.now
        new_users = []
        for spec in self.workers:
            spec["name"] = self.name()
            if spec["user"] is None:
                new_users.append(spec)
                spec["username"] = f"w{self.code}-{len(new_users):06d}"
        ids = insert_rows(
            self.User,
            [
                {
                    "username": spec["username"],
                    "first_name": spec["name"],
                    # unusable until the security administrator sets a password
                    "password": "!" + secrets.token_urlsafe(30),
                    "date_joined": now,
                }
                for spec in new_users
            ],
        )
        for spec, pk in zip(new_users, ids, strict=True):
            spec["user"] = pk
        rows = []
        for spec in self.workers:
            enc, index = self.phones.next()
            n_skills = int(r.integers(0, 3))
            team, unit = spec.get("team"), spec.get("unit")
            rows.append(
                {
                    "user_id": spec["user"],
                    "name": spec["name"],
                    "kind": str(spec["kind"]),
                    "status": WorkerStatus.ACTIVE.value,
                    "place_code": spec["home"],
                    "phone_enc": enc,
                    "phone_index": index,
                    "skills": sorted(
                        {skills[int(i)] for i in r.integers(0, len(skills), n_skills)}
                    ),
                    "origin": spec.get("origin", ""),
                    "team_id": team.pk if team else None,
                    "unit_id": unit.pk if unit else None,
                    "status_changed_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            self.counts[str(spec["kind"])] += 1
        workers = [
            _W(pk, str(spec["kind"]), spec["user"])
            for spec, pk in zip(self.workers, insert_rows(Worker, rows), strict=True)
        ]
        # posts: the user's own on the place where there is one, else a new one
        existing = {
            (u, role, place): pk
            for pk, u, role, place in Post.objects.filter(
                is_active=True, user_id__in=[w.user_id for w in workers]
            ).values_list("pk", "user_id", "role", "place_code")
        }
        wanted = []
        for spec, w in zip(self.workers, workers, strict=True):
            role = POST_ROLE[WorkerKind(spec["kind"])].value
            for place in spec["places"]:
                if (w.user_id, role, place) not in existing:
                    existing[(w.user_id, role, place)] = None
                    wanted.append(
                        {
                            "user_id": w.user_id,
                            "role": role,
                            "place_code": place,
                            "unit_id": None,
                            "is_active": True,
                            "created_at": now,
                            "ended_at": None,
                        }
                    )
        for row, pk in zip(wanted, insert_rows(Post, wanted), strict=True):
            existing[(row["user_id"], row["role"], row["place_code"])] = pk
        assignments = []
        started = now - timedelta(days=400)
        for spec, w in zip(self.workers, workers, strict=True):
            kind = WorkerKind(spec["kind"])
            role = POST_ROLE[kind].value
            for i, place in enumerate(spec["places"]):
                # the first place of a full-time worker, every micro-grid of a micro-grid worker
                primary = (i == 0 and kind == WorkerKind.FULL_TIME) or (
                    kind == WorkerKind.MICRO and len(place) == 18
                )
                assignments.append(
                    {
                        "worker_id": w.pk,
                        "place_code": place,
                        "role": (
                            AssignmentRole.PRIMARY if primary else AssignmentRole.HELPER
                        ).value,
                        "post_id": existing[(w.user_id, role, place)],
                        "started_at": started + timedelta(days=int(r.integers(0, 380))),
                        "started_by_id": None,
                        "ended_at": None,
                        "ended_by_id": None,
                        "end_reason": "",
                    }
                )
        insert_rows(Assignment, assignments)
        self.counts["assignments"] = len(assignments)
        self.counts["posts"] = len(wanted)
        self.by_place: dict[str, list[_W]] = defaultdict(list)
        for spec, w in zip(self.workers, workers, strict=True):
            for place in spec["places"]:
                self.by_place[place].append(w)

    def _party_orgs(self, general: list[str]) -> None:
        r = self.rng
        names = dict(Grid.objects.filter(code__in=general).values_list("code", "name"))
        orgs = []
        for g in general:
            here = self.by_place.get(g, [])
            secretary = next((w for w in here if w.kind == WorkerKind.CADRE), None) or next(
                (w for w in here if w.kind == WorkerKind.FULL_TIME), None
            )
            orgs.append(
                PartyOrganisation(
                    grid_code=g,
                    name=f"{names.get(g, g)}党支部",
                    secretary_id=secretary.pk if secretary else None,
                    members=int(r.integers(5, 40)),
                )
            )
        PartyOrganisation.objects.bulk_create(orgs, batch_size=2000, ignore_conflicts=True)
        self.counts["party organisations"] = len(orgs)

    def _duty(self, grids) -> None:
        """Some workers on duty now; a week of duty with routes for the demo grid's workers."""
        r = self.rng
        open_now: list[DutySession] = []
        on_duty: set[int] = set()
        demo_users = set(
            self.User.objects.filter(username__in=["grid", "micro"]).values_list("id", flat=True)
        )
        for place, workers in self.by_place.items():
            if len(place) < 15:
                continue
            for w in workers:
                if w.user_id in demo_users or w.kind not in (
                    WorkerKind.FULL_TIME,
                    WorkerKind.MICRO,
                ):
                    continue
                share = ON_DUTY_SHARE if w.kind == WorkerKind.FULL_TIME else ON_DUTY_SHARE / 2
                if w.pk in on_duty or r.random() >= share:
                    continue  # one open session per worker
                on_duty.add(w.pk)
                open_now.append(
                    DutySession(
                        worker_id=w.pk,
                        place_code=place,
                        started_at=self.now - timedelta(minutes=int(r.integers(5, 360))),
                        start_distance_m=0.0,
                    )
                )
        DutySession.objects.bulk_create(open_now, batch_size=2000)
        self.counts["on duty now"] = len(open_now)
        self._history()

    def _history(self) -> None:
        places = [DEMO_GRID] + [
            p for p in self.by_place if p.startswith(DEMO_GRID) and len(p) == 18
        ]
        if not any(p.startswith(self.code) for p in places):
            return
        r = self.ctx.rng("workforce", "history")
        geoms = {
            code: from_geojson_text(text)
            for code, text in Grid.objects.filter(code__in=places).values_list("code", "geometry")
            if text
        }
        posts = {
            (a.worker_id, a.place_code): a.post_id
            for a in Assignment.objects.filter(place_code__in=places, ended_at__isnull=True)
        }
        today = timezone.localtime(self.now).replace(hour=0, minute=0, second=0, microsecond=0)
        n_sessions = n_points = 0
        far_done = False
        for place in places:
            geom = geoms.get(place)
            if geom is None:
                continue
            for w in self.by_place.get(place, []):
                if w.kind not in (WorkerKind.FULL_TIME, WorkerKind.MICRO):
                    continue
                for day in range(HISTORY_DAYS, 0, -1):
                    if r.random() < 0.25:
                        continue  # a day off
                    start = (
                        today
                        - timedelta(days=day)
                        + timedelta(hours=8, minutes=int(r.integers(0, 90)))
                    )
                    hours = float(r.uniform(2.5, 6))
                    route = _route(geom, int(r.integers(20, 40)), r)
                    first, last = route[0], route[-1]
                    far = not far_done and place == DEMO_GRID
                    if far:  # checked in from home, 1.2 km away: allowed, flagged
                        first = (first[0] + 0.012, first[1] + 0.004)
                        far_done = True
                    dist = round(
                        1000.0 * _outside_km(geom, first[0], first[1]),
                        1,
                    )
                    s = DutySession.objects.create(
                        worker_id=w.pk,
                        post_id=posts.get((w.pk, place)),
                        place_code=place,
                        started_at=start,
                        start_lon=first[0],
                        start_lat=first[1],
                        start_accuracy=15.0,
                        start_distance_m=dist,
                        start_far=dist > 300,
                        ended_at=start + timedelta(hours=hours),
                        end_lon=last[0],
                        end_lat=last[1],
                        end_accuracy=12.0,
                        end_distance_m=0.0,
                        points=len(route),
                    )
                    batch = PatrolBatch.objects.create(
                        session=s, key=f"demo-{s.pk}", payload_hash="demo", points=len(route)
                    )
                    step = hours * 3600 / max(1, len(route) - 1)
                    PatrolPoint.objects.bulk_create(
                        PatrolPoint(
                            session=s,
                            batch=batch,
                            at=start + timedelta(seconds=i * step),
                            lon=x,
                            lat=y,
                            accuracy=10.0,
                        )
                        for i, (x, y) in enumerate(route)
                    )
                    n_sessions += 1
                    n_points += len(route)
        self.counts["duty sessions (history)"] = n_sessions
        self.counts["patrol points"] = n_points


def _route(geom, n: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    """A walk through the place: points inside it, each next one the nearest not yet visited."""
    pts = sample_points(geom, n, rng)
    left = list(range(1, len(pts)))
    order = [0]
    while left:
        here = pts[order[-1]]
        nearest = min(left, key=lambda i: float(((pts[i] - here) ** 2).sum()))
        left.remove(nearest)
        order.append(nearest)
    return [(round(float(pts[i][0]), 6), round(float(pts[i][1]), 6)) for i in order]


def _outside_km(geom, lon: float, lat: float) -> float:
    from wangge.regions.geometry import distance_outside_km

    if shapely.contains_xy(geom, lon, lat):
        return 0.0
    d = distance_outside_km(geom, lon, lat)
    return d if math.isfinite(d) else 0.0
