"""Demo: the event taxonomy, the handling units of the demo district and dispatch rules.

(The 90 days of event history the issue asks for is not generated yet.)
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from wangge.accounts.enums import UnitKind
from wangge.accounts.models import Unit
from wangge.accounts.scope import SYSTEM
from wangge.demo.registry import DemoContext, demo_step
from wangge.events.services import categories_install

# The units of 锦江区 (the urban-management unit JJ-CG comes with the demo accounts).
UNITS = [
    ("JJ-ZJ", "锦江区住房和城乡建设局", UnitKind.HOUSING, "510104"),
    ("JJ-XF", "锦江区消防救援大队", UnitKind.FIRE, "510104"),
    ("JJ-MZ", "锦江区民政局", UnitKind.CIVIL_AFFAIRS, "510104"),
    ("JJ-GA", "成都市公安局锦江区分局", UnitKind.POLICE, "510104"),
    ("JJ-YJ", "锦江区应急管理局", UnitKind.EMERGENCY, "510104"),
    ("JJ-WJ", "锦江区卫生健康局", UnitKind.HEALTH, "510104"),
    ("JJ-WY-017", "锦官驿街道物业服务中心", UnitKind.PROPERTY, "510104017"),
    ("JJ-QT", "锦江区社会治理综合服务中心", UnitKind.OTHER, "510104"),
]


@demo_step("events", order=50, description=_("event categories, units and dispatch rules"))
def events(ctx: DemoContext) -> dict:
    n = categories_install(actor=SYSTEM)
    with transaction.atomic():
        for code, name, kind, region in UNITS:
            Unit.objects.update_or_create(
                code=code, defaults={"name": name, "kind": kind, "region_code": region}
            )
    return {"categories": n, "units": Unit.objects.count()}
