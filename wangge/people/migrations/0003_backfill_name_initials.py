from django.db import migrations


def backfill(apps, schema_editor):
    """Pinyin initials for residents registered before the column existed (batched)."""
    from wangge.people.pinyin import initials

    Resident = apps.get_model("people", "Resident")
    last = 0
    while True:
        rows = list(
            Resident.objects.filter(pk__gt=last, name_initials="")
            .order_by("pk")
            .only("pk", "name")[:5000]
        )
        if not rows:
            break
        last = rows[-1].pk
        for r in rows:
            r.name_initials = initials(r.name)
        Resident.objects.bulk_update(rows, ["name_initials"])


class Migration(migrations.Migration):
    dependencies = [("people", "0002_resident_name_initials")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
