"""Polygon helpers: GeoJSON text ↔ shapely, and the columns derived from a polygon."""

from __future__ import annotations

import json
import math
from typing import Any

import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

COORD_DECIMALS = 6  # ≈ 0.1 m: plenty for grid boundaries, keeps the text small
KM_PER_DEG_LAT = 111.32


def to_geojson_text(geom: BaseGeometry) -> str:
    """Compact GeoJSON geometry text with coordinates rounded to ``COORD_DECIMALS``."""
    return json.dumps(_round(mapping(geom)), separators=(",", ":"))


def _round(obj: Any) -> Any:
    if isinstance(obj, float):
        return round(obj, COORD_DECIMALS)
    if isinstance(obj, (list, tuple)):
        return [_round(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _round(v) for k, v in obj.items()}
    return obj


def from_geojson_text(text: str) -> BaseGeometry:
    return shape(json.loads(text))


def area_km2(geom: BaseGeometry) -> float:
    """Approximate area on the sphere, good to a fraction of a percent at city size."""
    if geom.is_empty:
        return 0.0
    lat = geom.centroid.y
    return geom.area * KM_PER_DEG_LAT**2 * math.cos(math.radians(lat))


def derived_fields(geom: BaseGeometry) -> dict[str, float]:
    """bbox, centroid (a point inside the polygon) and area for the model's columns."""
    min_lon, min_lat, max_lon, max_lat = geom.bounds
    # representative_point lies inside even a crescent-shaped polygon; labels go there.
    rep = geom.representative_point() if not geom.is_empty else geom.centroid
    return {
        "min_lon": min_lon,
        "min_lat": min_lat,
        "max_lon": max_lon,
        "max_lat": max_lat,
        "centroid_lon": round(rep.x, COORD_DECIMALS),
        "centroid_lat": round(rep.y, COORD_DECIMALS),
        "area_km2": round(area_km2(geom), 6),
    }


def polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Keep only the polygonal part of an overlay result (drops slivers of lines/points)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = shapely.get_parts(geom)
    polys = [p for p in parts if p.geom_type in ("Polygon", "MultiPolygon")]
    if not polys:
        return shapely.Polygon()
    return shapely.union_all(polys)


def distance_outside_km(geom: BaseGeometry, lon: float, lat: float) -> float:
    """How far a point lies outside a polygon, in kilometres (0 inside or on the boundary).

    Both are first scaled to local kilometres around the point (a degree of longitude shrinks
    with the cosine of the latitude), so the nearest point of the boundary is found in metric
    space: good to well under a metre at the size of a grid."""
    if geom.is_empty:
        return math.inf
    kx = KM_PER_DEG_LAT * math.cos(math.radians(lat))

    def local(coords):
        return (coords - (lon, lat)) * (kx, KM_PER_DEG_LAT)

    return float(shapely.distance(shapely.transform(geom, local), shapely.Point(0.0, 0.0)))
