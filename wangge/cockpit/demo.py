"""The demo city's last step: count everything the steps before queued for the cockpit's
rollups, so the first cockpit opened shows the whole history at once (a cockpit read counts
only a few thousand queued changes itself; the worker counts the rest within a tick)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from wangge.demo.registry import DemoContext, demo_step


@demo_step("rollups", order=99, description=_("the cockpit's figures counted"))
def rollups(ctx: DemoContext) -> dict:
    from wangge.cockpit.models import DayCount
    from wangge.cockpit.services import rollups_drain

    counted = rollups_drain()
    return {"changes counted": counted, "day rows": DayCount.objects.count()}
