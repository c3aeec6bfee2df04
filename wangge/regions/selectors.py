"""Reads of the place tree, each through the acting post's scope.

A post reads the subtree under its own node (``accounts.scope``); a place outside answers
``NotFound``. The names of the places above the post's node are shown (breadcrumbs), nothing
else of them. Commands and internal callers act as ``SYSTEM``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import shapely
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from wangge.accounts.scope import scope_for
from wangge.core.errors import NotFound
from wangge.regions import codes as C
from wangge.regions.enums import GridKind, Level
from wangge.regions.geometry import polygonal, to_geojson_text
from wangge.regions.locator import get_locator, parse_point
from wangge.regions.models import Grid, Place, Region, Zone


def place_get(*, actor, code: str, geometry: bool = True) -> Place:
    """A region or grid by code; ``NotFound`` when there is none or it is out of scope.
    ``geometry=False`` leaves the boundary unread (a district's is large)."""
    code = C.normalize(code)
    if not code.isdigit() or len(code) not in C.LENGTH_LEVELS:
        raise NotFound(_("No place has the code %(code)s.") % {"code": code})
    scope_for(actor).check(code)
    model = Grid if len(code) >= 15 else Region
    qs = model.objects.filter(code=code)
    place = (qs if geometry else qs.defer("geometry")).first()
    if place is None:
        raise NotFound(_("No place has the code %(code)s.") % {"code": code})
    return place


def place_children(*, actor, place: Place) -> list[Place]:
    """The direct children of a node: regions, or grids (general and exclusive) of a community,
    or micro-grids of a general grid. Each child carries ``n_children``."""
    scope_for(actor).check(place.code)
    if isinstance(place, Region):
        if place.level == Level.COMMUNITY:
            qs: QuerySet = Grid.objects.filter(community=place, parent__isnull=True).annotate(
                n_children=Count("children")
            )
        else:
            qs = Region.objects.filter(parent=place).annotate(
                n_children=Count("children", distinct=True)
                + Count("grids", filter=Q(grids__parent__isnull=True), distinct=True)
            )
    else:
        qs = Grid.objects.filter(parent=place).annotate(n_children=Count("children"))
    return list(qs.defer("geometry").order_by("code"))


def place_ancestors(*, actor, place: Place) -> list[Place]:
    """From the city down to the node's parent (each with ``in_scope`` for linking)."""
    scope = scope_for(actor)
    scope.check(place.code)
    codes = C.ancestor_codes(place.code)
    regions = {r.code: r for r in Region.objects.filter(code__in=codes).defer("geometry")}
    grids = {g.code: g for g in Grid.objects.filter(code__in=codes).defer("geometry")}
    chain = [regions.get(c) or grids[c] for c in codes if c in regions or c in grids]
    for p in chain:
        p.in_scope = scope.covers(p.code)
    return chain


@dataclass(frozen=True)
class Subtree:
    regions: QuerySet
    grids: QuerySet


def place_subtree(*, actor, code: str, include_self: bool = False) -> Subtree:
    """Every descendant of a node: one indexed range query per table (no tree walk)."""
    code = C.normalize(code)
    scope_for(actor).check(code)
    regions = Region.objects.filter(**C.prefix_filter(code))
    grids = Grid.objects.filter(**C.prefix_filter(code))
    if not include_self:
        regions = regions.exclude(code=code)
        grids = grids.exclude(code=code)
    return Subtree(regions=regions, grids=grids)


def _feature(p: Place, geometry: str) -> dict[str, Any]:
    props: dict[str, Any] = {
        "code": p.code,
        "name": p.name,
        "level": p.level,
        "parent": C.parent_code(p.code),
        "area_km2": p.area_km2,
        "households": p.households,
        "residents": p.residents,
    }
    if isinstance(p, Grid):
        props["kind"] = p.kind
        if p.subtype:
            props["subtype"] = p.subtype
    n = getattr(p, "n_children", None)
    if n is not None:
        props["children"] = n
    return {
        "type": "Feature",
        "properties": props,
        "geometry": json.loads(geometry) if geometry else None,
    }


def place_feature(*, actor, place: Place) -> dict[str, Any]:
    """One place as a GeoJSON Feature."""
    scope_for(actor).check(place.code)
    return _feature(place, place.geometry)


def _feature_collection(places: list[Place]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [_feature(p, p.geometry) for p in places],
    }


def children_geojson(*, actor, place: Place) -> dict[str, Any]:
    """The node's children as a FeatureCollection (for the drill-down map)."""
    children = place_children(actor=actor, place=place)
    geoms = (
        dict(
            type(children[0])
            .objects.filter(id__in=[c.id for c in children])
            .values_list("id", "geometry")
        )
        if children
        else {}
    )
    return {
        "type": "FeatureCollection",
        "features": [_feature(c, geoms.get(c.id, "")) for c in children],
    }


def grids_geojson(*, actor, code: str, kinds: list[str] | None = None) -> dict[str, Any]:
    """Every grid under a node (the export format that ``import-grids`` reads back)."""
    qs = place_subtree(actor=actor, code=code, include_self=True).grids.order_by("code")
    if kinds:
        qs = qs.filter(kind__in=kinds)
    return _feature_collection(list(qs))


def place_chain(*, actor, code: str) -> list[Place]:
    """The node and its ancestors, deepest first (for ``wangge locate``)."""
    place = place_get(actor=actor, code=code)
    return [place, *reversed(place_ancestors(actor=actor, place=place))]


@dataclass(frozen=True)
class Located:
    grid: Grid | None
    place: Place | None  # the grid, or the deepest region when no grid covers the point
    chain: list[Place]
    nearest_district: Region | None
    distance_km: float | None


def point_locate(*, actor, lon: float, lat: float) -> Located:
    """The most specific place containing a point, its chain, and the nearest district.

    A point whose place lies outside the actor's scope is "not found"."""
    scope = scope_for(actor)
    lon, lat = parse_point(lon, lat)
    loc = get_locator()
    hit = loc.locate(lon, lat)
    grid = Grid.objects.defer("geometry").filter(code=hit.code).first() if hit else None
    place: Place | None = grid
    if place is None:
        region_hit = loc.locate_region(lon, lat)
        if region_hit:
            place = Region.objects.defer("geometry").filter(code=region_hit.code).first()
    if place is not None and not scope.covers(place.code):
        raise NotFound(_("No place in your area contains this point."))
    chain = [place, *reversed(place_ancestors(actor=actor, place=place))] if place else []
    nearest, dist = None, None
    if grid is None:
        nd = loc.nearest_district(lon, lat)
        if nd:
            nearest = Region.objects.defer("geometry").filter(code=nd[0]).first()
            dist = round(nd[1], 3)
    return Located(grid, place, chain, nearest, dist)


def grid_counts(*, actor, code: str) -> dict[str, int]:
    """Number of grids of each kind under a node."""
    qs = place_subtree(actor=actor, code=code, include_self=True).grids
    counts = dict(qs.values_list("kind").annotate(n=Count("id")).values_list("kind", "n"))
    return {k: counts.get(k, 0) for k in GridKind.values}


# --- functional zones ----------------------------------------------------------------------
def zones_geojson(*, actor) -> dict[str, Any]:
    """The functional zones (功能区) the actor sees, as a FeatureCollection for a map overlay:
    a zone is seen when one of its streets is in scope, and drawn as the union of those of its
    streets that are (the others are left out). The unions take a few milliseconds (a dozen
    streets a zone): no cache."""
    scope = scope_for(actor)
    streets = Region.objects.filter(level=Level.STREET).only("code").order_by("code")
    seen = []
    for zone in Zone.objects.prefetch_related(Prefetch("streets", queryset=streets)):
        codes = [s.code for s in zone.streets.all() if scope.covers(s.code)]
        if codes:
            seen.append((zone, codes))
    polygons = {
        code: shapely.from_geojson(text)
        for code, text in Region.objects.filter(code__in={c for _z, cs in seen for c in cs})
        .exclude(geometry="")
        .values_list("code", "geometry")
    }
    features = []
    for zone, codes in seen:
        parts = [polygons[c] for c in codes if c in polygons]
        union = polygonal(shapely.union_all(parts)) if parts else None
        features.append(
            {
                "type": "Feature",
                "properties": {"code": zone.code, "name": zone.name, "streets": codes},
                "geometry": (
                    json.loads(to_geojson_text(union))
                    if union is not None and not union.is_empty
                    else None
                ),
            }
        )
    return {"type": "FeatureCollection", "features": features}
