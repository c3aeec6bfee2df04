"""Plain inserts of many rows at once, for the bulk paths (batch intake, the sweep, audit)."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from django.db import connection


def _allocate_ids(cur, table: str, n: int) -> list[int]:
    """``n`` new primary keys, ascending. PostgreSQL: from the column's sequence; SQLite: after
    the largest ever used (the transaction holds the write lock, so nobody else takes them)."""
    if connection.vendor == "postgresql":
        cur.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, n],
        )
        return sorted(row[0] for row in cur.fetchall())
    cur.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608
    top = cur.fetchone()[0]
    cur.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
    row = cur.fetchone()
    top = max(top, row[0] if row else 0)
    return list(range(top + 1, top + n + 1))


def insert_rows(model, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows (dicts of column values; a column left out takes the field's default) with
    new primary keys, returned in row order: binary COPY on PostgreSQL, executemany on SQLite.
    Runs inside the caller's transaction; the values were validated before."""
    if not rows:
        return []
    table = model._meta.db_table
    fields = [f for f in model._meta.concrete_fields if f.column != "id"]
    defaults = {f.column: f.get_default() for f in fields if f.column not in rows[0]}
    columns = ["id", *(f.column for f in fields)]
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cur:
        ids = _allocate_ids(cur, table, len(rows))
        values = (
            [pk, *(row[c] if c in row else defaults[c] for c in columns[1:])]
            for pk, row in zip(ids, rows, strict=True)
        )
        if connection.vendor == "postgresql":
            pk_type = model._meta.pk.db_type(connection).split("(")[0]  # auth_user's is integer
            types = [pk_type, *(f.db_type(connection).split("(")[0] for f in fields)]
            convert = [None, *(_pg_value(t) for t in types[1:])]
            with cur.cursor.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(types)
                for row in values:
                    cp.write_row([f(v) if f else v for f, v in zip(convert, row, strict=True)])
        else:
            marks = ", ".join(["%s"] * len(columns))
            convert = [None, *(_sqlite_value(f) for f in fields)]
            cur.executemany(
                f"INSERT INTO {table} ({cols}) VALUES ({marks})",  # noqa: S608
                [[f(v) if f else v for f, v in zip(convert, row, strict=True)] for row in values],
            )
    return ids


def _pg_value(db_type: str):
    if db_type == "inet":
        return lambda v: ipaddress.ip_address(v) if v else None
    return None


def _sqlite_value(field):
    if field.get_internal_type() == "JSONField":
        return lambda v: json.dumps(v, cls=field.encoder)
    if field.get_internal_type() == "DateTimeField":
        return lambda v: connection.ops.adapt_datetimefield_value(v)
    return None
