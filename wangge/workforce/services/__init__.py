"""Writes of the grid workforce, one module per entity; every service is importable from here."""

from wangge.workforce.services.assignments import (
    assignment_end,
    assignment_role_for,
    assignment_start,
    open_tasks,
)
from wangge.workforce.services.duty import duty_check_in, duty_check_out, patrol_record
from wangge.workforce.services.workers import (
    party_org_save,
    worker_register,
    worker_status_set,
    worker_update,
)

__all__ = [
    "assignment_end",
    "assignment_role_for",
    "assignment_start",
    "duty_check_in",
    "duty_check_out",
    "open_tasks",
    "party_org_save",
    "patrol_record",
    "worker_register",
    "worker_status_set",
    "worker_update",
]
