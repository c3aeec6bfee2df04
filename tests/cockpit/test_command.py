"""``wangge cockpit rebuild|drain|check`` and the worker's periodic drain."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from wangge.cockpit.models import DayCount
from wangge.core.management.commands.worker import periodic_jobs

pytestmark = pytest.mark.django_db


def test_rebuild_drain_check_and_a_damaged_rollup_is_reported(city):
    out = StringIO()
    call_command("cockpit", "rebuild", stdout=out)
    assert "events:" in out.getvalue()
    call_command("cockpit", "drain", stdout=out)
    call_command("cockpit", "check", stdout=out)
    assert "differences: 0" in out.getvalue()
    row = DayCount.objects.filter(code="5101").order_by("day").last()
    DayCount.objects.filter(pk=row.pk).update(reported=row.reported + 5)
    with pytest.raises(CommandError):
        call_command("cockpit", "check", stdout=StringIO())
    call_command("cockpit", "rebuild", stdout=StringIO())
    call_command("cockpit", "check", stdout=StringIO())


def test_the_worker_drains_the_rollups():
    assert "drain_rollups" in {getattr(j, "name", "") for j in periodic_jobs()}
