"""REST API of the place tree: parse → selector → serialise, nothing else."""

from __future__ import annotations

from typing import Any

from ninja import Router, Schema

from wangge.regions import codes as C
from wangge.regions import selectors, services
from wangge.regions.models import Grid, Place

router = Router(tags=["regions"])
locate_router = Router(tags=["regions"])


class PlaceOut(Schema):
    code: str
    display_code: str
    name: str
    level: str
    kind: str | None = None
    subtype: str | None = None
    parent: str | None = None
    area_km2: float
    households: int
    residents: int
    bbox: list[float] | None = None
    centroid: list[float] | None = None
    children: int | None = None


class ErrorBody(Schema):
    code: str
    message: str
    details: Any = None


class ErrorOut(Schema):
    error: ErrorBody


class LocateOut(Schema):
    lon: float
    lat: float
    grid: PlaceOut | None
    place: PlaceOut | None
    chain: list[PlaceOut]
    nearest_district: PlaceOut | None = None
    distance_km: float | None = None


def _out(p: Place | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "code": p.code,
        "display_code": p.display_code,
        "name": p.name,
        "level": p.level,
        "kind": p.kind if isinstance(p, Grid) else None,
        "subtype": (p.subtype or None) if isinstance(p, Grid) else None,
        "parent": C.parent_code(p.code),
        "area_km2": p.area_km2,
        "households": p.households,
        "residents": p.residents,
        "bbox": list(p.bbox) if p.bbox else None,
        "centroid": [p.centroid_lon, p.centroid_lat] if p.centroid_lon is not None else None,
        "children": getattr(p, "n_children", None),
    }


class FeatureCollectionIn(Schema):
    """A GeoJSON FeatureCollection; each feature is checked by the import itself."""

    model_config = {"extra": "allow"}
    type: str
    features: list[dict[str, Any]]


class ImportOut(Schema):
    created: int
    updated: int
    unchanged: int


@router.post(
    "/import",
    response={200: ImportOut, 403: ErrorOut, 422: ErrorOut},
    summary="Import grids from a GeoJSON FeatureCollection (all or nothing; idempotent)",
)
def grids_import(request, body: FeatureCollectionIn):
    return services.grids_import(actor=request.post, data=body.model_dump()).as_dict()


@router.get(
    "/zones.geojson",
    response={200: dict},
    summary="The functional zones in scope, each the union of its streets (GeoJSON)",
)
def zones_geojson(request):
    return selectors.zones_geojson(actor=request.post)


@router.get("/{code}", response={200: PlaceOut, 404: ErrorOut}, summary="A place by code")
def region_detail(request, code: str):
    return _out(selectors.place_get(actor=request.post, code=code))


@router.get(
    "/{code}/outline.geojson",
    response={200: dict, 404: ErrorOut},
    summary="A place's own polygon (GeoJSON Feature)",
)
def region_geojson(request, code: str):
    return selectors.place_feature(
        actor=request.post, place=selectors.place_get(actor=request.post, code=code)
    )


@router.get(
    "/{code}/children", response={200: list[PlaceOut], 404: ErrorOut}, summary="Its children"
)
def region_children(request, code: str):
    place = selectors.place_get(actor=request.post, code=code)
    return [_out(c) for c in selectors.place_children(actor=request.post, place=place)]


@router.get(
    "/{code}/children.geojson",
    response={200: dict, 404: ErrorOut},
    summary="Its children's polygons (GeoJSON FeatureCollection)",
)
def region_children_geojson(request, code: str):
    place = selectors.place_get(actor=request.post, code=code)
    return selectors.children_geojson(actor=request.post, place=place)


@router.get(
    "/{code}/grids.geojson",
    response={200: dict, 404: ErrorOut},
    summary="Every grid of the subtree (GeoJSON FeatureCollection, the import format)",
)
def region_grids_geojson(request, code: str, kind: str | None = None):
    selectors.place_get(actor=request.post, code=code)
    kinds = [k for k in (kind or "").split(",") if k] or None
    return services.grids_export(actor=request.post, code=code, kinds=kinds)


@locate_router.get(
    "",
    response={200: LocateOut, 404: ErrorOut, 422: ErrorOut},
    summary="The most specific grid containing a WGS-84 point",
)
def locate(request, lon: float, lat: float):
    found = selectors.point_locate(actor=request.post, lon=lon, lat=lat)
    return {
        "lon": lon,
        "lat": lat,
        "grid": _out(found.grid),
        "place": _out(found.place),
        "chain": [_out(p) for p in found.chain],
        "nearest_district": _out(found.nearest_district),
        "distance_km": found.distance_km,
    }
