"""The data scope of a post: computed here and nowhere else.

A post sees the subtree of the place tree under its node (a code prefix), or the subtree its
unit serves, or the whole city (system and security administrators: master data only), or
nothing (audit administrator, resident). Every selector takes the acting post and filters
through ``Scope``; an object outside it is "not found", never "forbidden".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.rules import rule
from wangge.core.errors import NotFound
from wangge.regions import codes as C


@dataclass(frozen=True)
class Scope:
    prefixes: tuple[str, ...] = ()
    unit_id: int | None = None
    unmask: bool = False

    @property
    def root(self) -> str | None:
        """The node a page opens at: the post's own place."""
        return self.prefixes[0] if self.prefixes else None

    def covers(self, code: str) -> bool:
        return any(code.startswith(p) for p in self.prefixes)

    def q(self, field: str = "code") -> Q:
        """A filter matching rows whose ``field`` lies in the scope (nothing if empty)."""
        if not self.prefixes:
            return Q(pk__in=[])
        return reduce(or_, (Q(**C.prefix_filter(p, field)) for p in self.prefixes))

    def filter(self, qs: QuerySet, field: str = "code") -> QuerySet:
        if not self.prefixes:
            return qs.none()
        return qs.filter(self.q(field))

    def check(self, code: str) -> None:
        """``NotFound`` unless ``code`` lies in the scope."""
        if not self.covers(code):
            raise NotFound(_("No place has the code %(code)s.") % {"code": code})


NOTHING = Scope()
EVERYTHING = Scope(("",))


class _System:
    """The platform itself acting (commands, imports, the demo build): sees every place but
    unmasks nothing. Never a request's actor."""

    role = "system"
    id = None
    user = None
    unit_id = None
    is_active = True

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM = _System()


def scope_for(post) -> Scope:
    """The scope of an (active) post; no post or an ended one sees nothing."""
    if post is SYSTEM:
        return EVERYTHING
    if post is None or not post.is_active:
        return NOTHING
    r = rule(post.role)
    unmask = Perm.PEOPLE_UNMASK in r.perms
    if Perm.PLACES_VIEW not in r.perms:
        return Scope((), post.unit_id, False)
    if r.whole_city:
        return Scope((C.CITY_CODE,), None, unmask)
    if r.in_unit:
        unit_code = post.unit.region_code if post.unit_id else ""
        # the narrower of the unit's area and the post's own limit
        codes = [c for c in (unit_code, post.place_code) if c]
        prefix = max(codes, key=len) if codes else C.CITY_CODE
        if codes and not all(prefix.startswith(c) for c in codes):
            return Scope((), post.unit_id, False)  # disjoint limits: sees nothing
        return Scope((prefix,), post.unit_id, unmask)
    return Scope((post.place_code,), None, unmask) if post.place_code else NOTHING
