"""The triggers that feed ``EventChange`` from ``events_event`` (SQLite and PostgreSQL).

They fire on every write path — ORM saves, bulk updates, COPY, raw SQL — so the rollups never
miss a change however it was made. An update that leaves every counted column as it was writes
nothing.
"""

from __future__ import annotations

from wangge.cockpit.rollups import IMAGE_COLUMNS

TABLE = "events_event"
CHANGES = "cockpit_eventchange"
_COLS = ", ".join(IMAGE_COLUMNS)


def _values(sign: int, rec: str) -> str:
    return f"({sign}, {rec}.id, " + ", ".join(f"{rec}.{c}" for c in IMAGE_COLUMNS) + ")"


_INSERT = f"INSERT INTO {CHANGES} (sign, event_id, {_COLS}) VALUES "


def sqlite_create() -> list[str]:
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in IMAGE_COLUMNS)
    return [
        f"CREATE TRIGGER cockpit_event_ins AFTER INSERT ON {TABLE} BEGIN "
        f"{_INSERT}{_values(1, 'NEW')}; END",
        f"CREATE TRIGGER cockpit_event_upd AFTER UPDATE ON {TABLE} WHEN {changed} BEGIN "
        f"{_INSERT}{_values(-1, 'OLD')}; {_INSERT}{_values(1, 'NEW')}; END",
        f"CREATE TRIGGER cockpit_event_del AFTER DELETE ON {TABLE} BEGIN "
        f"{_INSERT}{_values(-1, 'OLD')}; END",
    ]


def postgres_create() -> list[str]:
    old = ", ".join(f"OLD.{c}" for c in IMAGE_COLUMNS)
    new = ", ".join(f"NEW.{c}" for c in IMAGE_COLUMNS)
    return [
        "CREATE OR REPLACE FUNCTION cockpit_event_change() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        f"IF TG_OP <> 'INSERT' THEN {_INSERT}{_values(-1, 'OLD')}; END IF; "
        f"IF TG_OP <> 'DELETE' THEN {_INSERT}{_values(1, 'NEW')}; END IF; "
        "RETURN NULL; END $$",
        f"CREATE TRIGGER cockpit_event_insdel AFTER INSERT OR DELETE ON {TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION cockpit_event_change()",
        f"CREATE TRIGGER cockpit_event_upd AFTER UPDATE ON {TABLE} FOR EACH ROW "
        f"WHEN (({old}) IS DISTINCT FROM ({new})) EXECUTE FUNCTION cockpit_event_change()",
    ]


def sqlite_drop() -> list[str]:
    return [f"DROP TRIGGER IF EXISTS cockpit_event_{k}" for k in ("ins", "upd", "del")]


def postgres_drop() -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS cockpit_event_insdel ON {TABLE}",
        f"DROP TRIGGER IF EXISTS cockpit_event_upd ON {TABLE}",
        "DROP FUNCTION IF EXISTS cockpit_event_change()",
    ]


def statements(vendor: str, create: bool) -> list[str]:
    if vendor == "postgresql":
        return postgres_create() if create else postgres_drop()
    if vendor == "sqlite":
        return sqlite_create() if create else sqlite_drop()
    raise NotImplementedError(f"no cockpit triggers for {vendor}")


def install(schema_editor) -> None:
    for sql in statements(schema_editor.connection.vendor, True):
        schema_editor.execute(sql)


def remove(schema_editor) -> None:
    for sql in statements(schema_editor.connection.vendor, False):
        schema_editor.execute(sql)
