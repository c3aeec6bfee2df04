"""The database refuses UPDATE and DELETE on the audit table (append-only, also for raw SQL).

PostgreSQL: a trigger function raising ``restrict_violation`` (Django's IntegrityError) and a
BEFORE UPDATE OR DELETE row trigger. SQLite: two triggers doing ``RAISE(ABORT, …)`` (also an
IntegrityError). TRUNCATE (``flush`` on PostgreSQL) is not blocked: it needs the table owner,
and the hash chain's head notices the loss. Other databases are not supported by wangge.

On SQLite, Django alters a table by rebuilding it, which drops its triggers: a later migration
that alters ``core_auditentry`` must create them again.
"""

from django.db import migrations

TABLE = "core_auditentry"
MESSAGE = "audit log is append-only"

PG_FUNCTION = "core_auditentry_append_only"
PG_TRIGGER = "core_auditentry_append_only"
SQLITE_UPDATE_TRIGGER = "core_auditentry_no_update"
SQLITE_DELETE_TRIGGER = "core_auditentry_no_delete"


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    q = schema_editor.quote_name
    if vendor == "postgresql":
        schema_editor.execute(
            f"""
            CREATE OR REPLACE FUNCTION {q(PG_FUNCTION)}() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{MESSAGE} (% refused on %)', TG_OP, TG_TABLE_NAME
                    USING ERRCODE = 'restrict_violation';
            END;
            $$
            """,
            None,  # no parameters: the "%" placeholders belong to PL/pgSQL
        )
        schema_editor.execute(
            f"CREATE TRIGGER {q(PG_TRIGGER)} BEFORE UPDATE OR DELETE ON {q(TABLE)} "
            f"FOR EACH ROW EXECUTE FUNCTION {q(PG_FUNCTION)}()",
            None,
        )
    elif vendor == "sqlite":
        for name, op in ((SQLITE_UPDATE_TRIGGER, "UPDATE"), (SQLITE_DELETE_TRIGGER, "DELETE")):
            schema_editor.execute(
                f"CREATE TRIGGER {q(name)} BEFORE {op} ON {q(TABLE)} "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
                None,
            )


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    q = schema_editor.quote_name
    if vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {q(PG_TRIGGER)} ON {q(TABLE)}", None)
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {q(PG_FUNCTION)}()", None)
    elif vendor == "sqlite":
        for name in (SQLITE_UPDATE_TRIGGER, SQLITE_DELETE_TRIGGER):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {q(name)}", None)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_triggers, drop_triggers),
    ]
