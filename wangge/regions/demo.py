"""Demo step: the place tree of Chengdu (see ``synth.py`` for what is real and what is not)."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from wangge.accounts.scope import SYSTEM
from wangge.demo.registry import DemoContext, demo_step
from wangge.regions import synth
from wangge.regions.enums import Level
from wangge.regions.models import Grid, Region
from wangge.regions.services import places_bulk_create, zones_save


@demo_step(
    "places",
    order=10,
    description=_("districts, streets, communities, grids, micro-grids"),
)
def places(ctx: DemoContext) -> dict:
    with transaction.atomic():
        places_bulk_create(actor=SYSTEM, specs=synth.city_specs() + synth.district_specs())
    # Every district: the detailed ones down to micro-grids, the others down to communities with
    # one grid each (at the default scale: 锦江区 in detail, the rest of the city as a skeleton).
    detailed = {d.code for d in synth.detailed_districts(ctx.scale)}
    todo = synth.districts()
    progress = ctx.progress("communities", len(synth.communities()))

    def counted(specs):
        for spec in specs:
            if spec.level == Level.COMMUNITY:
                progress.advance()
            yield spec

    for district in todo:
        # One transaction a district: an interrupted run leaves whole districts, and the next
        # run skips those already there (the random streams are per district, so the result
        # is the same as an uninterrupted run).
        if Region.objects.filter(parent__code=district.code).exists():
            progress.advance(
                sum(1 for c in synth.communities() if c.parent_code[:6] == district.code)
            )
            continue
        specs = synth.district_tree(district, ctx.rng, detail=district.code in detailed)
        with transaction.atomic():
            places_bulk_create(actor=SYSTEM, specs=counted(specs))
    progress.finish()
    with transaction.atomic():
        zones_save(actor=SYSTEM, zones=synth.zones())
    kinds = {k: Grid.objects.filter(kind=k).count() for k in ("general", "micro", "exclusive")}
    return {
        "districts": Region.objects.filter(level="district").count(),
        "districts down to micro-grids": len(detailed),
        "streets": Region.objects.filter(level="street").count(),
        "communities": Region.objects.filter(level="community").count(),
        "general grids": kinds["general"],
        "micro-grids": kinds["micro"],
        "exclusive grids": kinds["exclusive"],
    }
