"""Who may do what: the whole rule set of roles, in one table.

Each role says where its post sits (the levels of the place tree, or a unit), what it may do
(permissions) and whether it must use two-factor authentication. The *data scope* that follows
from a post (which subtree it sees) is computed in ``scope.py`` from this table and the post's
place; nothing else in the code decides either.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm, Role
from wangge.core.errors import PermissionDenied
from wangge.regions.enums import Level


@dataclass(frozen=True)
class RoleRule:
    levels: tuple[str, ...]  # levels of the node the post sits on; () = no place
    in_unit: bool  # the post is held in a handling unit
    perms: frozenset[Perm]
    whole_city: bool = False  # sees every place regardless of the post's node
    two_factor: bool = False


_VIEW = frozenset({Perm.PLACES_VIEW, Perm.TOKENS_OWN, Perm.PEOPLE_VIEW})
# Grid workers keep the person–house data and look after vulnerable people.
_FIELD = _VIEW | {Perm.PEOPLE_UNMASK, Perm.PEOPLE_SENSITIVE, Perm.PEOPLE_EDIT}
_MICRO = _VIEW | {Perm.PEOPLE_UNMASK, Perm.PEOPLE_EDIT}
# Dispatchers above the community see masked data and unmask for an event; they do not need
# to know who is disabled or ill.
_DISPATCH = _VIEW | {Perm.PEOPLE_UNMASK}
_SECRETARY = _FIELD | {Perm.PEOPLE_APPROVE_CHILD}
_HELPER = _VIEW
# The grid workforce: the levels that staff grids (community, street, district) keep the roster
# and assign workers; everyone who works in a grid checks in and out of duty.
_ROSTER = frozenset({Perm.WORKFORCE_VIEW, Perm.WORKFORCE_MANAGE})
_ON_DUTY = frozenset({Perm.WORKFORCE_VIEW, Perm.DUTY_CHECKIN})
# The cockpit: every level of the tree sees its own live picture; the levels that report upward
# (community and above) export its tables and print the daily brief.
_COCKPIT = frozenset({Perm.COCKPIT_VIEW})
_COCKPIT_REPORTS = _COCKPIT | {Perm.COCKPIT_EXPORT}
# Smart sensing: the grid's people receive and handle the alarms of their homes; the community
# (the duty post alarms escalate to) and the levels above also register devices and cameras;
# the system administrator keeps the city's response plans (预案) and registers devices anywhere.
_ALARMS = frozenset({Perm.SENSING_VIEW, Perm.ALARMS_HANDLE})
_SENSING = _ALARMS | {Perm.SENSING_MANAGE}

ROLE_RULES: dict[Role, RoleRule] = {
    Role.CITY_COMMANDER: RoleRule(
        (Level.CITY,), False, _DISPATCH | _COCKPIT_REPORTS | _ALARMS | {Perm.WORKFORCE_VIEW}
    ),
    Role.DISTRICT_DISPATCHER: RoleRule(
        (Level.DISTRICT,), False, _DISPATCH | _ROSTER | _COCKPIT_REPORTS | _SENSING
    ),
    Role.STREET_DISPATCHER: RoleRule(
        (Level.STREET,), False, _DISPATCH | _ROSTER | _COCKPIT_REPORTS | _SENSING
    ),
    Role.COMMUNITY_SECRETARY: RoleRule(
        (Level.COMMUNITY,), False, _SECRETARY | _ROSTER | _COCKPIT_REPORTS | _SENSING
    ),
    Role.GRID_WORKER: RoleRule((Level.GRID,), False, _FIELD | _ON_DUTY | _COCKPIT | _ALARMS),
    Role.MICRO_GRID_WORKER: RoleRule((Level.MICRO,), False, _MICRO | _ON_DUTY | _COCKPIT | _ALARMS),
    Role.SUNK_CADRE: RoleRule((Level.GRID, Level.MICRO), False, _HELPER | _ON_DUTY),
    Role.VOLUNTEER: RoleRule(
        (Level.GRID, Level.MICRO), False, frozenset({Perm.PLACES_VIEW, Perm.DUTY_CHECKIN})
    ),
    # Police, emergency-management and veterans-affairs staff taking part in a community or grid:
    # they see the places and the grid's team, not the person–house data.
    Role.LIAISON: RoleRule(
        (Level.COMMUNITY, Level.GRID, Level.MICRO),
        False,
        frozenset({Perm.PLACES_VIEW, Perm.TOKENS_OWN}) | _ON_DUTY,
    ),
    # A handler sees the places of the subtree its unit serves (or the post narrows).
    Role.UNIT_HANDLER: RoleRule(
        (Level.CITY, Level.DISTRICT, Level.STREET, Level.COMMUNITY),
        True,
        frozenset({Perm.PLACES_VIEW, Perm.TOKENS_OWN}),
    ),
    # 三员分立: master data without personal data / posts and permissions / the audit trail.
    Role.SYSTEM_ADMIN: RoleRule(
        (),
        False,
        frozenset({Perm.PLACES_VIEW, Perm.PLACES_IMPORT, Perm.USERS_MANAGE, Perm.SENSING_MANAGE}),
        whole_city=True,
        two_factor=True,
    ),
    Role.SECURITY_ADMIN: RoleRule(
        (),
        False,
        frozenset({Perm.PLACES_VIEW, Perm.POSTS_MANAGE, Perm.ACCOUNTS_UNLOCK}),
        whole_city=True,
        two_factor=True,
    ),
    Role.AUDIT_ADMIN: RoleRule(
        (), False, frozenset({Perm.AUDIT_VIEW, Perm.AUDIT_EXPORT}), two_factor=True
    ),
    Role.RESIDENT: RoleRule((), False, frozenset()),
}


def rule(role: str) -> RoleRule:
    return ROLE_RULES[Role(role)]


def has_perm(post, perm: Perm) -> bool:
    """Whether the post's role grants ``perm``. No post (or an ended one), no permission; the
    platform itself (``scope.SYSTEM``) may do anything."""
    if post is None:
        return False
    if post.role == "system":
        return True
    return post.is_active and perm in rule(post.role).perms


def require(post, perm: Perm) -> None:
    """Refuse (403) unless the acting post's role grants ``perm``."""
    if not has_perm(post, perm):
        raise PermissionDenied(_("Your post may not do this."))
