"""Triggers on events_event that append to cockpit_eventchange (see ``cockpit/triggers.py``),
and the rollups' state row. Existing events are counted by ``wangge cockpit rebuild`` (the
demo and ``wangge migrate`` on a fresh database need nothing: there are no events yet)."""

from django.db import migrations


def forwards(apps, schema_editor):
    from wangge.cockpit import triggers

    triggers.install(schema_editor)
    apps.get_model("cockpit", "RollupState").objects.using(
        schema_editor.connection.alias
    ).get_or_create(pk=1)
    # events already there: queue their images so the first drain counts them
    from wangge.cockpit.rollups import IMAGE_COLUMNS

    cols = ", ".join(IMAGE_COLUMNS)
    schema_editor.execute(
        f"INSERT INTO cockpit_eventchange (sign, event_id, {cols}) "
        f"SELECT 1, id, {cols} FROM events_event"
    )


def backwards(apps, schema_editor):
    from wangge.cockpit import triggers

    triggers.remove(schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("cockpit", "0001_initial"),
        ("events", "0002_eventlog_spot_check_actions"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
