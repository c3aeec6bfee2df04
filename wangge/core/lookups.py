"""Lookups that write constant values into the SQL on SQLite.

SQLite uses a partial index only when it can prove, while preparing a statement, that the
query's WHERE implies the index's — and a bound parameter proves nothing. So a list of open
events filtered by ``state IN (%s, …)`` and ``overdue = %s`` never used the small partial
indexes made for it (``events.Event.Meta.indexes``) and sorted every open event instead
(≈ 100 ms at a million events, against ≈ 9 ms from the index). These lookups write the values
themselves on SQLite — only plain codes and booleans, checked — in the very form Django writes
the index's condition; elsewhere they are the standard lookups (PostgreSQL plans with the
values it is given).

    Event.objects.filter(state__inline_in=OPEN_STATES, overdue__inline=True)
"""

from __future__ import annotations

import re

from django.db.models import BooleanField, CharField
from django.db.models.lookups import Exact, In

_PLAIN = re.compile(r"[A-Za-z0-9_]+")


@CharField.register_lookup
class InlineIn(In):
    lookup_name = "inline_in"

    def as_sqlite(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = list(dict.fromkeys(str(v) for v in self.rhs))  # Django's order, no repeats
        if not values or not all(_PLAIN.fullmatch(v) for v in values):
            raise ValueError(f"inline_in takes plain codes only: {values!r}")
        return f"{lhs} IN ({', '.join(f"'{v}'" for v in values)})", list(lhs_params)


@BooleanField.register_lookup
class InlineExact(Exact):
    lookup_name = "inline"

    def as_sqlite(self, compiler, connection):
        if not isinstance(self.rhs, bool):
            raise ValueError(f"inline takes True or False: {self.rhs!r}")
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = {int(self.rhs)}", list(lhs_params)
