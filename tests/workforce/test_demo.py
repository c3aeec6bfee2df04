"""The demo's workforce: the seed's proportions, the demo accounts as the workers of their
places, and the walk-through — the community secretary sees which micro-grids lack a worker in
the coverage report and assigns one from the page."""

import re

import pytest
from django.test import Client

from tests.conftest import SEED, demo_post, signed_in
from tests.workforce.conftest import COMMUNITY, GRID, MICRO, primary_of
from wangge.accounts.enums import Role
from wangge.accounts.models import Post
from wangge.core.models import AuditEntry
from wangge.demo.registry import DemoContext
from wangge.regions.models import Grid
from wangge.workforce.demo import DEMO_GAPS, DEMO_RESERVE, workforce
from wangge.workforce.enums import AssignmentRole, WorkerKind
from wangge.workforce.models import (
    Assignment,
    DutySession,
    PartyOrganisation,
    PatrolPoint,
    Worker,
)

pytestmark = pytest.mark.django_db


def test_the_demo_has_the_seeds_proportions(city):
    general = Grid.objects.filter(code__startswith="510104", kind="general").count()
    grids = Grid.objects.filter(code__startswith="510104").exclude(kind="micro").count()
    micros = Grid.objects.filter(code__startswith="510104", kind="micro").count()
    kinds = {k: Worker.objects.filter(kind=k).count() for k in WorkerKind.values}
    # about one full-time worker per grid, one micro-grid worker per micro-grid
    primary = Assignment.objects.filter(ended_at__isnull=True, role=AssignmentRole.PRIMARY)
    staffed_grids = primary.filter(place_code__regex=r"^\d{15}$").count()
    staffed_micros = primary.filter(place_code__regex=r"^\d{18}$").count()
    assert 0.95 * grids <= kinds["full_time"] <= grids
    assert 0.95 * grids <= staffed_grids < grids or staffed_grids == grids
    assert 0.95 * micros <= staffed_micros < micros
    assert 0.9 * micros <= kinds["micro"] <= micros
    # cadres about 7 % of the grid workers, most of them placed
    grid_workers = kinds["full_time"] + kinds["micro"]
    assert 0.05 <= kinds["cadre"] / grid_workers <= 0.09
    placed = (
        Assignment.objects.filter(ended_at__isnull=True, worker__kind=WorkerKind.CADRE)
        .values("worker")
        .distinct()
        .count()
    )
    assert 0.7 <= placed / kinds["cadre"] < 1
    # about 20 volunteers per general grid
    assert 17 <= kinds["volunteer"] / general <= 23
    assert kinds["police"] and kinds["veterans"] and kinds["emergency"]
    assert PartyOrganisation.objects.count() == general
    # the demo community: three micro-grids without a worker, two workers waiting for one
    community_micros = [g for g in Grid.objects.filter(code__startswith=COMMUNITY, kind="micro")]
    gaps = [g for g in community_micros if primary_of(g.code) is None]
    assert len(gaps) == DEMO_GAPS
    waiting = Worker.objects.filter(
        kind=WorkerKind.MICRO, place_code=COMMUNITY, assignments__isnull=True
    )
    assert waiting.count() == DEMO_RESERVE
    # someone is on duty, and the demo grid's week of duty has routes and one far check-in
    assert DutySession.objects.filter(ended_at__isnull=True).exists()
    history = DutySession.objects.filter(place_code__startswith=GRID, ended_at__isnull=False)
    assert history.filter(start_far=True).count() == 1
    assert PatrolPoint.objects.filter(session__in=history).count() > 100


def test_the_demo_accounts_are_the_workers_of_their_places(city):
    def assignment(username):
        w = Worker.objects.get(user__username=username)
        return w, w.assignments.get(ended_at__isnull=True)

    w, a = assignment("grid")
    assert w.kind == WorkerKind.FULL_TIME and a.place_code == GRID and a.role == "primary"
    assert a.post == demo_post("grid")  # the demo account's own post
    w, a = assignment("micro")
    assert w.kind == WorkerKind.MICRO and a.place_code == MICRO and a.role == "primary"
    assert a.post == demo_post("micro")
    w, a = assignment("cadre")
    assert w.kind == WorkerKind.CADRE and a.role == "helper" and a.post == demo_post("cadre")
    w, a = assignment("volunteer")
    assert (
        w.kind == WorkerKind.VOLUNTEER and a.role == "helper" and a.post == demo_post("volunteer")
    )
    # the grid workers' accounts of the events history are workers too
    staff = Post.objects.filter(user__username__startswith="staff-grid-", is_active=True)
    assert staff.exists()
    assert not staff.exclude(user__worker__isnull=False).exists()
    # every open assignment has its active post on the place
    for a in Assignment.objects.filter(ended_at__isnull=True).select_related("post")[:2000]:
        assert a.post.is_active and a.post.place_code == a.place_code


def test_running_the_step_again_changes_nothing(city):
    before = (Worker.objects.count(), Assignment.objects.count(), Post.objects.count())
    workforce(DemoContext(seed=SEED, verbose=False))
    assert (Worker.objects.count(), Assignment.objects.count(), Post.objects.count()) == before


def test_walkthrough_the_secretary_assigns_a_worker_to_a_micro_grid_lacking_one(city):
    c = signed_in(Client(), "community")
    page = c.get("/workforce/coverage/")
    assert page.status_code == 200
    html = page.content.decode()
    gaps = [g for g in page.context["cov"].gaps if len(g.code) == 18]
    assert len(gaps) == DEMO_GAPS
    for g in gaps:  # each gap is listed by name, with a form to assign a worker
        assert g.name in html and f'value="{g.code}"' in html
    # the candidates offered are the community's micro-grid workers, those waiting first
    first_gap, candidates = page.context["gap_rows"][0]
    waiting = set(
        Worker.objects.filter(
            kind=WorkerKind.MICRO, place_code=COMMUNITY, assignments__isnull=True
        ).values_list("pk", flat=True)
    )
    assert {v.id for v in candidates[: len(waiting)]} == waiting
    chosen = candidates[0]
    assert re.search(rf'<option value="{chosen.id}">', html)

    r = c.post(
        "/workforce/assign/",
        {"code": first_gap.code, "worker": chosen.id, "next": "/workforce/coverage/"},
        follow=True,
    )
    assert r.status_code == 200
    assert r.redirect_chain[-1][0] == "/workforce/coverage/"
    assert chosen.name in " ".join(str(m) for m in r.context["messages"])
    # the report has one gap less; the worker holds the micro-grid and its post
    assert len([g for g in r.context["cov"].gaps if len(g.code) == 18]) == DEMO_GAPS - 1
    a = primary_of(first_gap.code)
    assert a.worker_id == chosen.id and a.started_by == demo_post("community")
    assert a.post.role == Role.MICRO_GRID_WORKER and a.post.is_active
    assert a.post.place_code == first_gap.code
    assert AuditEntry.objects.filter(action="workforce.assign", object_id=str(a.pk)).exists()
    # the team page of the micro-grid shows its new worker
    team = c.get(f"/workforce/places/{first_gap.code}/")
    assert chosen.name in team.content.decode()
    # and the new worker can check in there at once
    w = Worker.objects.get(pk=chosen.id)
    from wangge.workforce import services

    s, created = services.duty_check_in(actor=a.post, key="first-day")
    assert created and s.worker_id == w.pk and s.place_code == first_gap.code
