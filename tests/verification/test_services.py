"""Door-to-door verification through the services, acting as the demo city's posts."""

from datetime import date

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wangge.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from wangge.core.models import AuditEntry
from wangge.people import selectors as people_selectors
from wangge.people.crypto import Field, get_keyring
from wangge.people.idcard import make_id_number
from wangge.people.models import House, Resident
from wangge.verification import selectors, services
from wangge.verification.enums import RoundState, TaskOutcome, TaskState
from wangge.verification.models import FieldChange, Task
from wangge.verification.services import MemberCheck, NewMember

pytestmark = pytest.mark.django_db

MICRO = "510104017001001001"  # the demo micro-grid worker's micro-grid
GRID = "510104017001001"  # the demo grid worker's grid
COMMUNITY = "510104017001"


def _other_micro():
    """A micro-grid of the same community outside the demo grid worker's grid."""
    from wangge.regions.models import Grid

    return (
        Grid.objects.filter(code__startswith=COMMUNITY, kind="micro")
        .exclude(code__startswith=GRID)
        .order_by("code")
        .first()
        .code
    )


def _confirm_all(task):
    ids = Resident.objects.filter(house_id=task.house_id, moved_out__isnull=True).values_list(
        "id", flat=True
    )
    return [MemberCheck(i) for i in ids]


def _task_with_members(rnd, n=1):
    for t in rnd.tasks.filter(state=TaskState.PENDING).order_by("id"):
        if Resident.objects.filter(house_id=t.house_id, moved_out__isnull=True).count() >= n:
            return t
    raise AssertionError("no household with enough members")


def test_round_has_one_task_per_household_and_a_retry_creates_nothing(post_of):
    micro = post_of("micro")
    audits = AuditEntry.objects.filter(action="verification.round_create").count()
    rnd = services.round_create(actor=micro, code=MICRO, cycle="2027")
    houses = House.objects.filter(grid_code__startswith=MICRO).count()
    assert houses > 0 and rnd.tasks_total == houses == rnd.tasks.count()
    assert set(rnd.tasks.values_list("house__grid_code", flat=True)) <= {
        c
        for c in House.objects.filter(grid_code__startswith=MICRO).values_list(
            "grid_code", flat=True
        )
    }
    again = services.round_create(actor=micro, code=MICRO, cycle="2027")
    assert again.pk == rnd.pk and Task.objects.filter(round__cycle="2027").count() == houses
    # the enclosing grid cannot have a round of the same cycle: no household twice a cycle
    with pytest.raises(ValidationError) as e:
        services.round_create(actor=post_of("grid"), code=GRID, cycle="2027")
    assert e.value.code == "round_overlaps"
    # another cycle is a new round beside the old one (history)
    later = services.round_create(actor=post_of("grid"), code=GRID, cycle="2028")
    assert later.tasks_total == House.objects.filter(grid_code__startswith=GRID).count()
    assert AuditEntry.objects.filter(action="verification.round_create").count() == audits + 2


def test_round_needs_a_grid_in_scope_and_the_permission(post_of):
    with pytest.raises(ValidationError):
        services.round_create(actor=post_of("community"), code=COMMUNITY, cycle="2027")
    with pytest.raises(NotFound):  # a worker does not see the neighbouring grid
        services.round_create(actor=post_of("grid"), code=_other_micro(), cycle="2027")
    with pytest.raises(PermissionDenied):
        services.round_create(actor=post_of("district"), code=MICRO, cycle="2027")
    with pytest.raises(ValidationError):
        services.round_create(actor=post_of("micro"), code=MICRO, cycle="  ")


def test_rounds_for_a_community_cover_each_grid_once(post_of):
    secretary = post_of("community")
    services.round_create(actor=post_of("micro"), code=MICRO, cycle="2027")
    made = services.rounds_create_for(actor=secretary, code=COMMUNITY, cycle="2027")
    codes = {r.place_code for r in made}
    assert GRID not in codes  # its micro-grid already has a round of this cycle
    assert codes and all(c.startswith(COMMUNITY) and len(c) == 15 for c in codes)
    again = services.rounds_create_for(actor=secretary, code=COMMUNITY, cycle="2027")
    assert {r.pk for r in again} == {r.pk for r in made}
    houses = House.objects.filter(grid_code__startswith=COMMUNITY).count()
    assert (
        Task.objects.filter(round__cycle="2027").count()
        == houses
        - House.objects.filter(grid_code__startswith=GRID)
        .exclude(grid_code__startswith=MICRO)
        .count()
    )


def test_confirming_a_household_records_no_change(post_of):
    micro = post_of("micro")
    rnd = services.round_create(actor=micro, code=MICRO, cycle="2027")
    task = _task_with_members(rnd)
    done = services.household_verify(actor=micro, task=task, members=_confirm_all(task))
    assert done.state == TaskState.DONE and done.outcome == TaskOutcome.CONFIRMED
    assert done.done_by == micro and not FieldChange.objects.filter(task=task).exists()
    assert AuditEntry.objects.filter(
        action="verification.household", object_id=str(task.pk)
    ).exists()


def test_corrections_are_field_level_masked_and_searchable(post_of):
    micro = post_of("micro")
    rnd = services.round_create(actor=micro, code=MICRO, cycle="2027")
    task = _task_with_members(rnd)
    members = _confirm_all(task)
    r = Resident.objects.get(pk=members[0].resident_id)
    keys = get_keyring()
    old_phone = keys.decrypt(r.phone_enc, field=Field.PHONE) if r.phone_enc else ""
    new_id = make_id_number("510104", date(1948, 5, 6), 31, "female")
    members[0] = MemberCheck(
        r.pk,
        "correct",
        {"name": "李桂芳", "phone": "13988887777", "id_number": new_id, "relation": "head"},
    )
    services.household_verify(actor=micro, task=task, members=members, note="核对户口本")
    task.refresh_from_db()
    assert task.outcome == TaskOutcome.CORRECTED and task.note == "核对户口本"
    changes = {c.field: c for c in FieldChange.objects.filter(task=task)}
    assert {"name", "phone", "id_number"} <= set(changes)
    assert changes["phone"].new_value == "139****7777"
    assert changes["id_number"].new_value == new_id[:6] + "********" + new_id[-4:]
    assert changes["name"].new_value == "李*芳" and changes["name"].old_value.count("*") >= 1
    if old_phone:
        assert changes["phone"].old_value == old_phone[:3] + "****" + old_phone[-4:]
    for c in FieldChange.objects.filter(task=task):
        assert "13988887777" not in c.new_value + c.old_value and new_id not in c.new_value
    r.refresh_from_db()
    assert r.name == "李桂芳" and r.birth_date == date(1948, 5, 6) and r.sex == "female"
    secretary = post_of("community")
    assert list(people_selectors.resident_search(actor=secretary, q=new_id)) == [r]
    assert list(people_selectors.resident_search(actor=secretary, q="13988887777")) == [r]
    entry = AuditEntry.objects.filter(action="people.correct", object_id=str(r.pk)).get()
    assert "13988887777" not in str(entry.details) and new_id not in str(entry.details)


def test_a_bad_value_writes_nothing(post_of):
    micro = post_of("micro")
    rnd = services.round_create(actor=micro, code=MICRO, cycle="2027")
    task = _task_with_members(rnd, 2)
    members = _confirm_all(task)
    first = Resident.objects.get(pk=members[0].resident_id)
    audits = AuditEntry.objects.count()
    members[0] = MemberCheck(first.pk, "correct", {"name": "改了名"})
    good = make_id_number("510104", date(1948, 5, 6), 31, "female")
    bad = good[:-1] + ("1" if good[-1] != "1" else "2")  # wrong check character
    members[1] = MemberCheck(members[1].resident_id, "correct", {"id_number": bad})
    with pytest.raises(ValidationError):
        services.household_verify(actor=micro, task=task, members=members)
    task.refresh_from_db()
    first.refresh_from_db()
    assert task.state == TaskState.PENDING and first.name != "改了名"
    assert not FieldChange.objects.filter(task=task).exists()
    assert AuditEntry.objects.count() == audits


def test_every_member_must_be_answered_and_belong_to_the_household(post_of):
    micro = post_of("micro")
    rnd = services.round_create(actor=micro, code=MICRO, cycle="2027")
    task = _task_with_members(rnd, 2)
    members = _confirm_all(task)
    with pytest.raises(ValidationError) as e:
        services.household_verify(actor=micro, task=task, members=members[1:])
    assert e.value.code == "members_unanswered"
    stranger = Resident.objects.exclude(house_id=task.house_id).filter(grid_code=task.grid_code)
    with pytest.raises(ValidationError) as e:
        services.household_verify(
            actor=micro, task=task, members=members + [MemberCheck(stranger.first().pk)]
        )
    assert e.value.code == "not_a_member"


def test_vacant_house_moves_everyone_out(post_of):
    micro = post_of("micro")
    rnd = services.round_create(actor=micro, code=MICRO, cycle="2027")
    task = _task_with_members(rnd, 2)
    ids = [m.resident_id for m in _confirm_all(task)]
    services.household_verify(actor=micro, task=task, members=[], vacant=True)
    task.refresh_from_db()
    house = House.objects.get(pk=task.house_id)
    assert task.outcome == TaskOutcome.VACANT and house.use == "vacant" and house.head_id is None
    assert not Resident.objects.filter(pk__in=ids, moved_out__isnull=True).exists()
    kinds = sorted(FieldChange.objects.filter(task=task).values_list("kind", flat=True))
    assert kinds == ["house"] + ["moved_out"] * len(ids)
    # moved-out residents leave the lists but keep their record
    assert not people_selectors.resident_list(actor=micro).filter(pk__in=ids).exists()
    assert Resident.objects.filter(pk__in=ids).count() == len(ids)


def test_move_out_and_new_member(post_of):
    micro = post_of("micro")
    rnd = services.round_create(actor=micro, code=MICRO, cycle="2027")
    task = _task_with_members(rnd, 2)
    members = _confirm_all(task)
    gone = members[1].resident_id
    members[1] = MemberCheck(gone, "moved_out")
    baby = make_id_number("510104", date(2025, 2, 3), 11, "male")
    services.household_verify(
        actor=micro,
        task=task,
        members=members,
        new_members=[NewMember(name="张小宝", id_number=baby, relation="grandchild")],
    )
    assert Resident.objects.get(pk=gone).moved_out is not None
    new = Resident.objects.get(house_id=task.house_id, name="张小宝")
    assert new.relation == "grandchild" and new.birth_date == date(2025, 2, 3)
    added = FieldChange.objects.get(task=task, kind="added")
    assert added.resident == new and added.new_value == "张*宝"


def test_new_member_already_on_record_moves_in_and_duplicates_are_refused(post_of):
    micro = post_of("micro")
    rnd = services.round_create(actor=micro, code=MICRO, cycle="2027")
    t1 = _task_with_members(rnd, 1)
    someone = (
        Resident.objects.filter(grid_code__startswith=MICRO, moved_out__isnull=True)
        .exclude(house_id=t1.house_id)
        .exclude(id_number_enc="")
        .first()
    )
    idn = get_keyring().decrypt(someone.id_number_enc, field=Field.ID_NUMBER)
    services.household_verify(
        actor=micro,
        task=t1,
        members=_confirm_all(t1),
        new_members=[NewMember(name=someone.name, id_number=idn, relation="relative")],
    )
    someone.refresh_from_db()
    assert someone.house_id == t1.house_id and someone.moved_out is None
    assert Resident.objects.filter(id_number_index=someone.id_number_index).count() == 1
    t2 = _task_with_members(rnd, 1)
    member = (
        Resident.objects.filter(house_id=t2.house_id, moved_out__isnull=True)
        .exclude(id_number_enc="")
        .first()
    )
    if member is not None:
        idn2 = get_keyring().decrypt(member.id_number_enc, field=Field.ID_NUMBER)
        with pytest.raises(ValidationError) as e:
            services.household_verify(
                actor=micro,
                task=t2,
                members=_confirm_all(t2),
                new_members=[NewMember(name="某人", id_number=idn2)],
            )
        assert e.value.code == "already_member"


def test_retry_with_the_same_key_writes_nothing_and_another_submission_conflicts(post_of):
    micro = post_of("micro")
    rnd = services.round_create(actor=micro, code=MICRO, cycle="2027")
    task = _task_with_members(rnd, 1)
    members = _confirm_all(task)
    members[0] = MemberCheck(members[0].resident_id, "correct", {"phone": "13700001111"})
    services.household_verify(actor=micro, task=task, members=members, key="k-1")
    n = FieldChange.objects.count()
    audits = AuditEntry.objects.count()
    again = services.household_verify(actor=micro, task=task, members=members, key="k-1")
    assert again.pk == task.pk and FieldChange.objects.count() == n
    assert AuditEntry.objects.count() == audits
    with pytest.raises(Conflict) as e:
        services.household_verify(actor=micro, task=task, members=members, key="k-2")
    assert e.value.status == 409 and e.value.code == "already_verified"


def test_tasks_are_scoped(post_of):
    rnd = services.round_create(actor=post_of("community"), code=_other_micro(), cycle="2027")
    task = rnd.tasks.first()
    with pytest.raises(NotFound):
        selectors.task_get(actor=post_of("grid"), task_id=task.pk)
    with pytest.raises(NotFound):
        services.household_verify(actor=post_of("micro"), task=task, members=[])
    with pytest.raises(PermissionDenied):  # a street dispatcher sees, but does not verify
        services.household_verify(actor=post_of("street"), task=task, members=[])
    assert selectors.task_get(actor=post_of("street"), task_id=task.pk) == task


def test_closing_needs_a_note_while_households_are_pending_and_last_task_closes(post_of):
    micro = post_of("micro")
    rnd = services.round_create(actor=micro, code=MICRO, cycle="2027")
    with pytest.raises(ValidationError):
        services.round_close(actor=micro, rnd=rnd)
    tasks = list(rnd.tasks.order_by("id"))
    for t in tasks:
        services.household_verify(actor=micro, task=t, members=_confirm_all(t))
    rnd.refresh_from_db()
    assert rnd.state == RoundState.CLOSED and rnd.closed_by == micro
    with pytest.raises(Conflict):  # a closed round takes no more visits
        t = Task.objects.filter(round=rnd).first()
        t.state = TaskState.PENDING
        t.save()
        services.household_verify(actor=micro, task=t, members=_confirm_all(t))
    other = services.round_create(actor=micro, code=MICRO, cycle="2028")
    closed = services.round_close(actor=micro, rnd=other, note="停电，改期入户")
    assert closed.state == RoundState.CLOSED and closed.close_note == "停电，改期入户"
    history = list(selectors.round_list(actor=micro, filters={"code": MICRO}))
    assert [r.cycle for r in history][:2] == ["2028", "2027"]


def _independent_coverage(code, cycle):
    """Coverage counted the slow way, one house at a time."""
    houses = [h for h in House.objects.all() if h.grid_code.startswith(code)]
    done = {
        t.house_id
        for t in Task.objects.filter(round__cycle=cycle, state=TaskState.DONE)
        if t.grid_code.startswith(code)
    }
    return len(houses), len(done)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(picks=st.lists(st.integers(min_value=0, max_value=10_000), max_size=25))
def test_coverage_arithmetic(post_of, picks):
    secretary = post_of("community")
    with transaction.atomic():
        rounds = services.rounds_create_for(actor=secretary, code=COMMUNITY, cycle="C1")
        tasks = list(Task.objects.filter(round__in=rounds).order_by("id"))
        chosen = {tasks[p % len(tasks)].pk for p in picks}
        for t in Task.objects.filter(pk__in=chosen):
            services.household_verify(actor=secretary, task=t, members=_confirm_all(t))
        cov = selectors.coverage(actor=secretary, code=COMMUNITY, cycle="C1")
        total, done = _independent_coverage(COMMUNITY, "C1")
        assert (cov.total.households, cov.total.verified) == (total, done) == (total, len(chosen))
        assert cov.total.in_rounds == len(tasks)
        assert cov.total.percent == (round(100.0 * done / total, 1) if total else 0.0)
        # children are the grids of the community and add up to it
        assert all(len(r.code) == 15 and r.code.startswith(COMMUNITY) for r in cov.children)
        assert sum(r.households for r in cov.children) == cov.total.households
        assert sum(r.verified for r in cov.children) == cov.total.verified
        for r in cov.children:
            assert (r.households, r.verified) == _independent_coverage(r.code, "C1")
        # the street above sees the same verified count; its other communities have none
        street = selectors.coverage(actor=post_of("street"), code=COMMUNITY[:9], cycle="C1")
        assert street.total.verified == done
        mine = [r for r in street.children if r.code == COMMUNITY][0]
        assert (mine.households, mine.verified) == (total, done)
        transaction.set_rollback(True)


def test_coverage_is_scoped_and_per_cycle(post_of):
    micro = post_of("micro")
    rnd = services.round_create(actor=micro, code=MICRO, cycle="2027")
    t = rnd.tasks.first()
    services.household_verify(actor=micro, task=t, members=_confirm_all(t))
    services.round_create(actor=micro, code=MICRO, cycle="2028")
    assert selectors.coverage(actor=micro, code=MICRO, cycle="2027").total.verified == 1
    newest = selectors.coverage(actor=micro, code=MICRO)
    assert newest.cycle == "2028" and newest.total.verified == 0
    assert newest.cycles[:2] == ["2028", "2027"]
    with pytest.raises(NotFound):
        selectors.coverage(actor=post_of("micro"), code=_other_micro())


def test_discrepancy_report_lists_changes_under_a_node(post_of):
    micro = post_of("micro")
    rnd = services.round_create(actor=micro, code=MICRO, cycle="2027")
    task = _task_with_members(rnd, 2)
    members = _confirm_all(task)
    members[0] = MemberCheck(members[0].resident_id, "correct", {"registration": "floating"})
    members[1] = MemberCheck(members[1].resident_id, "moved_out")
    services.household_verify(actor=micro, task=task, members=members, house_use="rented")
    summary = selectors.change_summary(actor=post_of("community"), code=COMMUNITY, cycle="2027")
    as_dict = {(k, f): n for k, f, n in summary}
    assert as_dict[("moved_out", "moved_out")] == 1
    assert ("corrected", "registration") in as_dict or Resident.objects.get(
        pk=members[0].resident_id
    ).registration == "floating"
    listed = selectors.change_list(actor=post_of("street"), code=COMMUNITY[:9], cycle="2027")
    assert listed.count() == FieldChange.objects.filter(task=task).count()
    assert not selectors.change_list(actor=micro, code=MICRO, cycle="1999").exists()
    with pytest.raises(NotFound):
        selectors.change_list(actor=post_of("grid"), code=_other_micro())


def test_a_place_without_households_gets_no_round(post_of):
    from wangge.regions.models import Grid

    empty = [
        g
        for g in Grid.objects.filter(code__startswith=COMMUNITY).values_list("code", flat=True)
        if not House.objects.filter(grid_code__startswith=g).exists()
    ]
    assert empty, "the demo community has exclusive grids without households"
    with pytest.raises(ValidationError) as e:
        services.round_create(actor=post_of("community"), code=empty[0], cycle="2029")
    assert e.value.code == "no_households"
    made = services.rounds_create_for(actor=post_of("community"), code=COMMUNITY, cycle="2029")
    assert made and empty[0] not in {r.place_code for r in made}
    assert all(r.tasks_total > 0 for r in made)
