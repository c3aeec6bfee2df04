"""Writes of assignments: a worker onto a place, and off it with the open work handed over.

Every general (and exclusive) grid has one primary full-time worker and every micro-grid one
primary micro-grid worker; others join as helpers (cadres, volunteers, liaisons, a second
worker). An assignment brings the worker's post on the place (``accounts.Post``, the role
following the kind of worker), so what the worker sees follows the assignment.

Ending an assignment is a handover, written in the same transaction: the assignment is closed
(when, by whom, why), the worker's post on that place ends (unless another open assignment of
theirs still uses it), and the open work goes on — verification tasks are held by the place
(whoever holds its post does them), so with a successor named the successor is assigned in the
same role and gets the post, and without one the work rests with the community (its secretary
sees the place, and the coverage report shows the gap). The handover row lists the open tasks
of the place's rounds at that moment.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.models import Post
from wangge.accounts.rules import require, rule
from wangge.accounts.scope import scope_for
from wangge.accounts.services import post_close, post_open
from wangge.core import audit
from wangge.core.errors import Conflict, ValidationError
from wangge.regions import codes as C
from wangge.verification.enums import RoundState, TaskState
from wangge.verification.models import Task
from wangge.workforce.enums import (
    POST_ROLE,
    PRIMARY_LEVEL,
    AssignmentRole,
    WorkerKind,
    WorkerStatus,
)
from wangge.workforce.models import Assignment, Handover, Worker
from wangge.workforce.services.workers import check_place, check_worker


def _post(actor):
    return actor if getattr(actor, "pk", None) else None


def assignment_role_for(kind: str, code: str, role: str | None = None) -> AssignmentRole:
    """The role a worker of ``kind`` takes on the place ``code`` (``role`` when given: checked),
    or ``ValidationError`` when the kind does not work on such a place."""
    kind = WorkerKind(kind)
    level = C.level_of(code)
    levels = rule(POST_ROLE[kind]).levels
    if level not in levels:
        raise ValidationError(
            _("A %(kind)s works on a place of level %(levels)s; %(code)s is a %(level)s.")
            % {
                "kind": kind.label,
                "levels": ", ".join(str(lv.label) for lv in levels),
                "code": code,
                "level": level.label,
            },
            code="wrong_level",
            details={"fields": {"place_code": _("not a place for this kind of worker")}},
        )
    primary_here = PRIMARY_LEVEL.get(kind) == level
    if not role:
        return AssignmentRole.PRIMARY if primary_here else AssignmentRole.HELPER
    try:
        role = AssignmentRole(role)
    except ValueError:
        raise ValidationError(
            _("Unknown role %(role)s.") % {"role": role},
            details={"fields": {"role": _("unknown role")}},
        ) from None
    if role == AssignmentRole.PRIMARY and not primary_here:
        raise ValidationError(
            _(
                "The primary worker of a grid is a full-time grid worker, of a micro-grid a "
                "micro-grid worker; a %(kind)s joins as a helper."
            )
            % {"kind": kind.label},
            code="not_primary_kind",
            details={"fields": {"role": _("a helper here")}},
        )
    return role


def _post_on(actor, worker: Worker, code: str) -> Post:
    """The worker's active post on the place for their kind, opened if there is none."""
    role = POST_ROLE[WorkerKind(worker.kind)]
    post = (
        Post.objects.filter(user_id=worker.user_id, role=role, place_code=code, is_active=True)
        .order_by("id")
        .first()
    )
    return post or post_open(actor=actor, user=worker.user, role=role, place_code=code)


def _current_primary(code: str) -> Assignment | None:
    return (
        Assignment.objects.select_for_update()
        .select_related("worker")
        .filter(place_code=code, role=AssignmentRole.PRIMARY, ended_at__isnull=True)
        .first()
    )


@transaction.atomic
def assignment_start(
    *, actor, worker: Worker, place_code: str, role: str | None = None
) -> Assignment:
    """Put a worker on a place of the actor's scope, as its primary worker or a helper (by
    default: primary where the kind is the place's primary kind). A place that already has a
    primary worker is handed over (``assignment_end`` with a successor), not given a second
    one. Asking again for an assignment that is already open returns it."""
    require(actor, Perm.WORKFORCE_MANAGE)
    code = check_place(actor, place_code)
    check_worker(actor, worker)
    worker = Worker.objects.select_for_update().select_related("user").get(pk=worker.pk)
    if worker.status != WorkerStatus.ACTIVE:
        raise ValidationError(
            _("%(name)s is %(status)s: only an active worker is assigned.")
            % {"name": worker.name, "status": WorkerStatus(worker.status).label},
            code="worker_not_active",
        )
    role = assignment_role_for(worker.kind, code, role)
    open_here = worker.assignments.filter(place_code=code, ended_at__isnull=True).first()
    if open_here is not None:
        if open_here.role == role:
            return open_here
        raise Conflict(
            _("%(name)s is already assigned to this place as %(role)s.")
            % {"name": worker.name, "role": AssignmentRole(open_here.role).label},
            code="already_assigned",
            details={"assignment": open_here.pk},
        )
    if role == AssignmentRole.PRIMARY:
        current = _current_primary(code)
        if current is not None:
            raise Conflict(
                _(
                    "This place already has a primary worker (%(name)s): hand it over to the "
                    "new worker instead."
                )
                % {"name": current.worker.name},
                code="has_primary",
                details={"assignment": current.pk},
            )
    post = _post_on(actor, worker, code)
    try:
        with transaction.atomic():
            a = Assignment.objects.create(
                worker=worker,
                place_code=code,
                role=role,
                post=post,
                started_at=timezone.now(),
                started_by=_post(actor),
            )
    except IntegrityError:  # another request took the place meanwhile
        raise Conflict(
            _("This place already has a primary worker: hand it over instead."),
            code="has_primary",
        ) from None
    audit.record(
        actor=actor,
        action="workforce.assign",
        obj=a,
        details={"worker": worker.pk, "place": code, "role": role.value, "post": post.pk},
    )
    return a


def open_tasks(code: str):
    """The open work of a place: households still to visit in the open verification rounds
    made for exactly this place."""
    return Task.objects.filter(
        round__place_code=code, round__state=RoundState.OPEN, state=TaskState.PENDING
    )


@transaction.atomic
def assignment_end(
    *, actor, assignment: Assignment, successor: Worker | None = None, reason: str = ""
) -> Handover:
    """End an assignment and hand its open work over, to ``successor`` (assigned in the same
    role, with the post that brings) or else to the community. See the module docstring.
    Asking again for an assignment already ended returns its handover."""
    require(actor, Perm.WORKFORCE_MANAGE)
    scope_for(actor).check(assignment.place_code)
    a = (
        Assignment.objects.select_for_update(of=("self",))
        .select_related("worker__user", "post")
        .get(pk=assignment.pk)
    )
    if a.ended_at is not None:
        done = Handover.objects.filter(assignment=a).first()
        if done is not None and done.to_worker_id == (successor.pk if successor else None):
            return done
        raise Conflict(
            _("This assignment has already ended."),
            code="already_ended",
            details={"handover": done.pk if done else None},
        )
    if successor is not None:
        if successor.pk == a.worker_id:
            raise ValidationError(
                _("The successor is the worker who leaves the place."), code="same_worker"
            )
        check_worker(actor, successor)
    now = timezone.now()
    a.ended_at = now
    a.ended_by = _post(actor)
    a.end_reason = (reason or "").strip()[:200]
    a.save(update_fields=["ended_at", "ended_by", "end_reason"])
    closed_post = None
    if (
        a.post_id
        and a.post.is_active
        and not Assignment.objects.filter(post_id=a.post_id, ended_at__isnull=True).exists()
    ):
        closed_post = post_close(actor=actor, post=a.post)
    tasks = (
        list(open_tasks(a.place_code).values_list("id", flat=True))
        if a.role == AssignmentRole.PRIMARY
        else []
    )
    to_assignment = None
    if successor is not None:
        # a helper of the place who takes it over: the helper's assignment ends, the new one
        # starts (the history shows both)
        helping = successor.assignments.filter(place_code=a.place_code, ended_at__isnull=True)
        if a.role == AssignmentRole.PRIMARY:
            for h in helping.filter(role=AssignmentRole.HELPER):
                h.ended_at, h.ended_by = now, _post(actor)
                h.end_reason = str(_("took the place over"))[:200]
                h.save(update_fields=["ended_at", "ended_by", "end_reason"])
        to_assignment = assignment_start(
            actor=actor, worker=successor, place_code=a.place_code, role=a.role
        )
    handover = Handover.objects.create(
        assignment=a,
        place_code=a.place_code,
        from_worker=a.worker,
        to_worker=successor,
        to_assignment=to_assignment,
        to_code="" if successor is not None else a.place_code[:12],
        closed_post=closed_post,
        opened_post=to_assignment.post if to_assignment else None,
        at=now,
        by=_post(actor),
    )
    handover.tasks.set(tasks)
    audit.record(
        actor=actor,
        action="workforce.handover",
        obj=handover,
        details={
            "assignment": a.pk,
            "place": a.place_code,
            "from_worker": a.worker_id,
            "to_worker": successor.pk if successor else None,
            "to_place": handover.to_code,
            "open_tasks": len(tasks),
            "closed_post": closed_post.pk if closed_post else None,
            "reason": a.end_reason,
        },
    )
    return handover
