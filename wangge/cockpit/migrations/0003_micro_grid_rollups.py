"""The rollups now keep rows for micro-grids too (``rollups.ROLLUP_LENGTHS``): count every event
again. The rollups are emptied and one image of every event is queued in this migration's
transaction; the worker's drain (or the first cockpit read) counts them, exactly as
``wangge cockpit rebuild`` does. On a fresh database there is nothing to count."""

from django.db import migrations

# The image columns as they were when this migration was written (rollups.IMAGE_COLUMNS).
COLUMNS = (
    "grid_code, category_id, source, state, reported_at, accepted_at, closed_at, handle_due, "
    "overdue, closed_on_time, on_spot, rework_count, supervised"
)


def forwards(apps, schema_editor):
    Event = apps.get_model("events", "Event")
    if not Event.objects.using(schema_editor.connection.alias).exists():
        return
    for table in (
        "cockpit_eventchange",
        "cockpit_daycount",
        "cockpit_mixcount",
        "cockpit_opencount",
    ):
        schema_editor.execute(f"DELETE FROM {table}")
    schema_editor.execute(
        f"INSERT INTO cockpit_eventchange (sign, event_id, {COLUMNS}) "
        f"SELECT 1, id, {COLUMNS} FROM events_event"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("cockpit", "0002_event_triggers"),
        ("events", "0003_notification_alarm_kind_and_link"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
