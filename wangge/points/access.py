"""Who may do what with points: one table, by role (like ``accounts/rules.py``, which it
follows; the permissions live here because they concern this app alone).

- Workers (grid and micro-grid workers, sunk cadres, volunteers) see their own points and
  redeem them, and see the ranking boards of their scope.
- Dispatchers (community secretary up to the city commander) see the ranking boards and the
  workers' ledgers of their scope.
- The system administrator keeps the rule table and the reward catalogue (master data).

What a post sees follows from its data scope (``accounts.scope``); outside it is "not found".
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from wangge.accounts.enums import Role
from wangge.accounts.scope import SYSTEM
from wangge.core.errors import PermissionDenied
from wangge.points.enums import WORKER_ROLES


class PointsPerm(models.TextChoices):
    OWN = "points.own", gettext_lazy("See own points and redeem rewards")
    RANKINGS = "points.rankings", gettext_lazy("See the ranking boards of the scope")
    WORKERS = "points.workers", gettext_lazy("See the points ledgers of the scope's workers")
    CATALOGUE = "points.catalogue", gettext_lazy("See the rule table and the reward catalogue")
    EDIT = "points.edit", gettext_lazy("Edit the rule table and the reward catalogue")


_WORKER = frozenset({PointsPerm.OWN, PointsPerm.RANKINGS, PointsPerm.CATALOGUE})
_MANAGER = frozenset({PointsPerm.RANKINGS, PointsPerm.WORKERS, PointsPerm.CATALOGUE})

POINTS_RULES: dict[str, frozenset[PointsPerm]] = {
    **{role: _WORKER for role in WORKER_ROLES},
    Role.COMMUNITY_SECRETARY: _MANAGER,
    Role.STREET_DISPATCHER: _MANAGER,
    Role.DISTRICT_DISPATCHER: _MANAGER,
    Role.CITY_COMMANDER: _MANAGER,
    Role.SYSTEM_ADMIN: frozenset({PointsPerm.CATALOGUE, PointsPerm.EDIT}),
}


def points_perms(post) -> frozenset[PointsPerm]:
    if post is SYSTEM:
        return frozenset(PointsPerm)
    if post is None or not getattr(post, "is_active", False):
        return frozenset()
    return POINTS_RULES.get(post.role, frozenset())


def may(post, perm: PointsPerm) -> bool:
    return perm in points_perms(post)


def require(post, perm: PointsPerm) -> None:
    if not may(post, perm):
        raise PermissionDenied(_("Your post may not do this."))


def is_worker_post(post) -> bool:
    """A post whose user earns points (and has a user to earn them)."""
    return (
        post is not None
        and post is not SYSTEM
        and getattr(post, "role", None) in WORKER_ROLES
        and getattr(post, "user_id", None) is not None
    )
