"""The roster and assignment services: registration (phone stored like residents' phones),
the rules of who may be a place's primary worker, and the handover of open work when an
assignment ends — to a successor, or to the community."""

import pytest

from tests.conftest import demo_post
from tests.workforce.conftest import (
    COMMUNITY,
    GRID,
    MICRO,
    OTHER_COMMUNITY,
    phone,
    primary_of,
    register,
)
from wangge.accounts.enums import Role
from wangge.accounts.models import Post
from wangge.accounts.scope import SYSTEM
from wangge.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from wangge.core.masking import mask_phone
from wangge.core.models import AuditEntry
from wangge.people.crypto import Field, get_keyring
from wangge.verification import selectors as vsel
from wangge.verification import services as vsvc
from wangge.verification.enums import RoundState, TaskState
from wangge.verification.models import Round, Task
from wangge.workforce import selectors, services
from wangge.workforce.enums import AssignmentRole, WorkerKind, WorkerStatus
from wangge.workforce.models import Assignment, Handover, Worker

pytestmark = pytest.mark.django_db


@pytest.fixture
def round_place(wf) -> str:
    """A grid of the demo community with an open verification round part-way through (the
    demo's verification step) and a primary worker (the workforce step)."""
    for rnd in Round.objects.filter(
        state=RoundState.OPEN, place_code__startswith=COMMUNITY
    ).order_by("place_code"):
        states = set(rnd.tasks.values_list("state", flat=True))
        if states == {TaskState.PENDING, TaskState.DONE} and primary_of(rnd.place_code):
            return rnd.place_code
    pytest.fail("the demo has no round part-way through")


def kind_for(code: str) -> str:
    return WorkerKind.MICRO if len(code) == 18 else WorkerKind.FULL_TIME


def test_register_stores_the_phone_like_residents_phones(wf):
    number = phone()
    w = services.worker_register(
        actor=demo_post("community"),
        name="张小华",
        kind=WorkerKind.MICRO,
        phone=f"+86 {number[:3]}-{number[3:7]}-{number[7:]}",
        place_code=COMMUNITY,
        skills=["first_aid", "dialect"],
    )
    w.refresh_from_db()
    keys = get_keyring()
    assert number not in w.phone_enc
    assert keys.decrypt(w.phone_enc, field=Field.PHONE) == number
    assert w.phone_index == keys.blind_index(number, field=Field.PHONE)
    assert w.user.username and not w.user.has_usable_password()
    view = selectors.worker_view(actor=demo_post("community"), worker=w)
    assert view.phone == mask_phone(number) and number not in str(view)
    # the audit row holds the phone masked
    row = AuditEntry.objects.filter(action="workforce.register", object_id=str(w.pk)).get()
    assert number not in str(row.details) and row.details["phone"] == mask_phone(number)
    # the same person (phone) is not registered twice
    with pytest.raises(ValidationError) as exc:
        services.worker_register(
            actor=SYSTEM, name="张小华", kind="micro", phone=number, place_code=COMMUNITY
        )
    assert exc.value.code == "duplicate_phone"


def test_a_grid_is_registered_at_its_community_and_only_in_scope(wf):
    w = register(WorkerKind.VOLUNTEER, GRID, actor=demo_post("community"), team="水井坊志愿队")
    assert w.place_code == COMMUNITY and w.team.name == "水井坊志愿队"
    with pytest.raises(NotFound):
        register(WorkerKind.MICRO, OTHER_COMMUNITY, actor=demo_post("community"))
    with pytest.raises(NotFound):  # a place that does not exist: the same answer
        register(WorkerKind.MICRO, COMMUNITY[:9] + "999", actor=demo_post("community"))
    with pytest.raises(PermissionDenied):  # a grid worker keeps no roster
        register(WorkerKind.MICRO, GRID, actor=demo_post("grid"))


def test_who_may_be_a_places_primary_worker(wf):
    secretary = demo_post("community")
    micro = primary_of(MICRO)
    full = register(WorkerKind.FULL_TIME, COMMUNITY)
    with pytest.raises(ValidationError) as exc:  # a full-time worker works on grids
        services.assignment_start(actor=secretary, worker=full, place_code=MICRO)
    assert exc.value.code == "wrong_level"
    cadre = register(WorkerKind.CADRE, COMMUNITY, origin="区财政局")
    with pytest.raises(ValidationError) as exc:
        services.assignment_start(actor=secretary, worker=cadre, place_code=MICRO, role="primary")
    assert exc.value.code == "not_primary_kind"
    new = register(WorkerKind.MICRO, COMMUNITY)
    with pytest.raises(Conflict) as exc:  # the micro-grid has its worker: hand it over instead
        services.assignment_start(actor=secretary, worker=new, place_code=MICRO)
    assert exc.value.code == "has_primary" and exc.value.details["assignment"] == micro.pk
    helper = services.assignment_start(actor=secretary, worker=cadre, place_code=MICRO)
    assert helper.role == AssignmentRole.HELPER
    assert helper.post.role == Role.SUNK_CADRE and helper.post.place_code == MICRO
    assert helper.post.user_id == cadre.user_id and helper.post.is_active
    # asking again returns the same assignment
    again = services.assignment_start(actor=secretary, worker=cadre, place_code=MICRO)
    assert again.pk == helper.pk
    police = register(WorkerKind.POLICE, COMMUNITY, unit="JJ-GA")
    a = services.assignment_start(actor=secretary, worker=police, place_code=COMMUNITY)
    assert a.role == AssignmentRole.HELPER and a.post.role == Role.LIAISON
    with pytest.raises(NotFound):  # outside the secretary's community
        services.assignment_start(actor=secretary, worker=new, place_code=OTHER_COMMUNITY + "001")


def test_reassignment_hands_the_open_work_to_the_successor(wf, round_place):
    secretary = demo_post("community")
    leaving = primary_of(round_place)
    rnd = Round.objects.get(place_code=round_place, state=RoundState.OPEN)
    pending = set(rnd.tasks.filter(state=TaskState.PENDING).values_list("id", flat=True))
    done = set(rnd.tasks.filter(state=TaskState.DONE).values_list("id", flat=True))
    assert pending and done  # the demo left this round part-way
    old_post = leaving.post
    some = Task.objects.get(pk=min(pending))
    assert vsel.task_get(actor=old_post, task_id=some.pk).pk == some.pk  # the leaver's work now

    successor = register(kind_for(round_place), COMMUNITY, name="李四")
    h = services.assignment_end(
        actor=secretary, assignment=leaving, successor=successor, reason="调岗"
    )

    # the assignment ended, with who, when and why; the history keeps both assignments
    leaving.refresh_from_db()
    assert leaving.ended_at is not None and leaving.ended_by_id == secretary.pk
    assert leaving.end_reason == "调岗"
    history = selectors.assignment_list(actor=secretary, code=round_place)
    assert {leaving.pk, h.to_assignment_id} <= {a.pk for a in history}
    # the open work is listed and went to the successor
    assert set(h.tasks.values_list("id", flat=True)) == pending
    assert h.from_worker_id == leaving.worker_id and h.to_worker_id == successor.pk
    assert h.to_code == ""
    new = h.to_assignment
    assert new.worker_id == successor.pk and new.role == AssignmentRole.PRIMARY
    assert primary_of(round_place).pk == new.pk
    # posts: the leaver's post on the place ended, the successor's is open there
    old_post.refresh_from_db()
    assert not old_post.is_active and old_post.ended_at is not None
    assert h.closed_post_id == old_post.pk and h.opened_post_id == new.post_id
    assert new.post.role == leaving.post.role and new.post.place_code == round_place
    assert new.post.is_active and new.post.user_id == successor.user_id
    # so the successor sees and does the open households, the leaver no longer can
    with pytest.raises((NotFound, PermissionDenied)):  # an ended post may do nothing
        vsel.task_get(actor=old_post, task_id=some.pk)
    assert vsel.task_get(actor=new.post, task_id=some.pk).pk == some.pk
    members = [vsvc.MemberCheck(r.id) for r in vsel.task_members(actor=new.post, task=some)]
    vsvc.household_verify(
        actor=new.post, task=some, members=members, vacant=not members, key="handover-test"
    )
    some.refresh_from_db()
    assert some.state == TaskState.DONE and some.done_by_id == new.post_id
    # the work done before stays the leaver's
    assert not Task.objects.filter(pk__in=done, done_by=new.post).exists()
    # all of it audited
    actions = set(AuditEntry.objects.filter(post_id=secretary.pk).values_list("action", flat=True))
    assert {"workforce.handover", "workforce.assign", "post.end", "post.grant"} <= actions
    # asking again answers with the same handover
    again = services.assignment_end(actor=secretary, assignment=leaving, successor=successor)
    assert again.pk == h.pk


def test_without_a_successor_the_community_keeps_the_work(wf, round_place):
    secretary = demo_post("community")
    leaving = primary_of(round_place)
    pending = set(
        Task.objects.filter(round__place_code=round_place, state=TaskState.PENDING).values_list(
            "id", flat=True
        )
    )
    h = services.assignment_end(actor=secretary, assignment=leaving, reason="辞职")
    assert h.to_worker is None and h.to_code == COMMUNITY
    assert set(h.tasks.values_list("id", flat=True)) == pending
    assert primary_of(round_place) is None
    # the secretary sees the place's open households; the coverage report shows the gap
    assert vsel.task_get(actor=secretary, task_id=min(pending))
    cov = selectors.coverage(actor=secretary, code=COMMUNITY)
    assert round_place in {g.code for g in cov.gaps}


def test_a_helper_takes_the_place_over(wf, round_place):
    secretary = demo_post("community")
    leaving = primary_of(round_place)
    helper = register(kind_for(round_place), COMMUNITY)
    first = services.assignment_start(
        actor=secretary, worker=helper, place_code=round_place, role="helper"
    )
    h = services.assignment_end(actor=secretary, assignment=leaving, successor=helper)
    first.refresh_from_db()
    assert first.ended_at is not None  # the helper's assignment ended …
    assert h.to_assignment.role == AssignmentRole.PRIMARY  # … and the primary one began
    assert h.to_assignment.post_id == first.post_id  # on the same post


def test_only_the_places_post_ends(wf):
    secretary = demo_post("community")
    w = register(WorkerKind.MICRO, COMMUNITY)
    gaps = [g.code for g in selectors.coverage(actor=secretary, code=COMMUNITY).gaps]
    a1 = services.assignment_start(actor=secretary, worker=w, place_code=gaps[0])
    a2 = services.assignment_start(actor=secretary, worker=w, place_code=gaps[1])
    services.assignment_end(actor=secretary, assignment=a1)
    assert not Post.objects.get(pk=a1.post_id).is_active
    assert Post.objects.get(pk=a2.post_id).is_active


def test_a_worker_who_leaves_hands_every_place_over(wf, round_place):
    secretary = demo_post("community")
    w = register(WorkerKind.MICRO, COMMUNITY)
    gaps = [g.code for g in selectors.coverage(actor=secretary, code=COMMUNITY).gaps][:2]
    for code in gaps:
        services.assignment_start(actor=secretary, worker=w, place_code=code)
    services.worker_status_set(actor=secretary, worker=w, status=WorkerStatus.LEFT, reason="退休")
    w.refresh_from_db()
    assert w.status == WorkerStatus.LEFT
    assert not w.assignments.filter(ended_at__isnull=True).exists()
    assert Handover.objects.filter(from_worker=w, to_code=COMMUNITY).count() == 2
    assert not Post.objects.filter(user=w.user, is_active=True).exists()
    with pytest.raises(ValidationError):  # someone who left is registered again instead
        services.worker_status_set(actor=secretary, worker=w, status=WorkerStatus.ACTIVE)
    # on leave: the places stay, a new place is refused
    other = primary_of(round_place).worker
    services.worker_status_set(actor=secretary, worker=other, status=WorkerStatus.ON_LEAVE)
    assert other.assignments.filter(ended_at__isnull=True).exists()
    with pytest.raises(ValidationError) as exc:
        services.assignment_start(actor=secretary, worker=other, place_code=gaps[0])
    assert exc.value.code == "worker_not_active"


def test_responsible_posts_of_a_micro_grid(wf):
    posts = selectors.responsible_posts(actor=SYSTEM, grid_code=MICRO)
    assert [p.place_code for p in posts] == [MICRO, GRID]
    assert [p.role for p in posts] == [Role.MICRO_GRID_WORKER, Role.GRID_WORKER]
    assert posts[1].user.username == "grid"


def test_update_and_party_organisation(wf):
    secretary = demo_post("community")
    w = register(WorkerKind.CADRE, COMMUNITY, origin="区教育局")
    assert services.worker_update(actor=secretary, worker=w, origin="区教育局") == []
    new_number = phone()
    changed = services.worker_update(
        actor=secretary, worker=w, origin="区商务局", phone=new_number, skills=["legal"]
    )
    assert changed == ["origin", "phone", "skills"]
    w.refresh_from_db()
    assert get_keyring().decrypt(w.phone_enc, field=Field.PHONE) == new_number
    org = services.party_org_save(
        actor=secretary, grid_code=GRID, name="第1网格党支部", secretary=w, members=12
    )
    assert org.secretary_id == w.pk and org.grid_code == GRID
    assert selectors.team(actor=secretary, code=GRID).party_org.pk == org.pk
    outsider = Worker.objects.exclude(place_code__startswith=COMMUNITY[:9]).first()
    with pytest.raises(NotFound):
        services.worker_update(actor=secretary, worker=outsider, name="x")
    assert Assignment.objects.filter(worker=w).count() == 0
