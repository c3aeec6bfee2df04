"""A synthetic but plausible Chengdu place tree, generated deterministically from a seed.

Real: the 20 districts/counties (GB/T 2260 codes, simplified real boundaries), their 261
streets/towns and 3,047 communities/villages (NBS 2023 codes and names), the three functional
zones. Synthetic: the boundaries of streets and communities and everything below them.

Partition: a parent polygon is split among its children by a Voronoi diagram clipped to the
parent. The seeds come from a weighted k-d split of points sampled uniformly inside the parent,
so each child's area is close to its share of the weights; each seed is one of the sampled
points (so it lies inside the parent and every child's cell is non-empty).

Sizes follow the real counts: ≈ 1,450 residents a general grid (≈ 14,000 city-wide), ≈ 168 a
micro-grid (≈ 119,000), ≈ 3.6 exclusive grids a community (≈ 11,000). A skeleton district
(``detail=False``) has the same streets and communities and one general grid a community.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from wangge.regions.codes import CITY_CODE, EXCLUSIVE_FIRST_NUMBER
from wangge.regions.enums import ExclusiveType, GridKind, Level
from wangge.regions.geometry import KM_PER_DEG_LAT, polygonal

CITY_NAME = "成都市"
# 锦江区: built down to micro-grids at the default scale, the others down to communities
DEMO_DISTRICT = "510104"
PEOPLE_PER_GRID = 1_450
PEOPLE_PER_MICRO = 168
EXCLUSIVE_PER_COMMUNITY = 3.6

# Exclusive grid types: relative frequency, size (metres), name as Chengdu writes it.
EXCLUSIVE_TYPES: dict[str, tuple[float, tuple[int, int], str]] = {
    ExclusiveType.SCHOOL: (0.30, (220, 160), "学校"),
    ExclusiveType.HOSPITAL: (0.10, (160, 120), "医院"),
    ExclusiveType.MARKET: (0.18, (110, 80), "农贸市场"),
    ExclusiveType.INDUSTRIAL_PARK: (0.12, (600, 420), "产业园区"),
    ExclusiveType.BUILDING_SITE: (0.15, (240, 200), "建筑工地"),
    ExclusiveType.PARK: (0.10, (320, 260), "公园"),
    ExclusiveType.OTHER: (0.05, (150, 150), "商务楼宇"),
}


@dataclass(frozen=True)
class PlaceSpec:
    code: str
    name: str
    level: str
    parent_code: str | None
    geom: BaseGeometry | None
    kind: str = ""  # grid kind; empty for regions
    subtype: str = ""


@dataclass(frozen=True)
class District:
    code: str
    name: str
    geom: BaseGeometry
    population: int


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    parent_code: str


# --- reference data ------------------------------------------------------------------------
def _data(name: str):
    return resources.files("wangge.data.chengdu").joinpath(name)


def _csv(name: str) -> list[dict[str, str]]:
    with _data(name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@cache
def districts() -> tuple[District, ...]:
    pops = {r["code"]: int(r["population_10k"]) * 10_000 for r in _csv("district_population.csv")}
    with _data("districts_wgs84.geojson").open(encoding="utf-8") as fh:
        fc = json.load(fh)
    out = []
    for f in fc["features"]:
        code = f["properties"]["gb"][3:]
        geom = shapely.make_valid(shape(f["geometry"]))
        out.append(District(code, f["properties"]["name"], polygonal(geom), pops[code]))
    return tuple(sorted(out, key=lambda d: d.code))


@cache
def streets() -> tuple[Division, ...]:
    return tuple(Division(r["code"], r["name"], r["areaCode"]) for r in _csv("streets.csv"))


def short_community_name(name: str) -> str:
    """``八宝街社区居民委员会`` → ``八宝街社区``; ``石桥村民委员会``/``石桥村委会`` → ``石桥村``."""
    name = re.sub(r"(居民委员会|居委会)$", "", name)
    name = re.sub(r"村(民委员会|委会)$", "村", name)
    return name


@cache
def communities() -> tuple[Division, ...]:
    return tuple(
        Division(r["code"], short_community_name(r["name"]), r["streetCode"])
        for r in _csv("communities.csv")
    )


@cache
def zones() -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    return tuple(
        (r["code"], r["name"], tuple(r["street_codes"].split(";"))) for r in _csv("zones.csv")
    )


# --- partition -----------------------------------------------------------------------------
def sample_points(geom: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniformly inside ``geom`` (rejection sampling in its bounding box)."""
    if geom.is_empty:
        raise ValueError("cannot sample points in an empty polygon")
    shapely.prepare(geom)
    min_x, min_y, max_x, max_y = geom.bounds
    got: list[np.ndarray] = []
    have = 0
    for _ in range(200):
        m = max(64, 2 * (n - have))
        xs = rng.uniform(min_x, max_x, m)
        ys = rng.uniform(min_y, max_y, m)
        inside = shapely.contains_xy(geom, xs, ys)
        pts = np.column_stack([xs[inside], ys[inside]])
        got.append(pts)
        have += len(pts)
        if have >= n:
            break
    pts = np.concatenate(got)[:n]
    if len(pts) < n:  # a sliver: fall back to points on the polygon itself
        extra = np.array([geom.representative_point().coords[0]] * (n - len(pts)))
        pts = np.concatenate([pts, extra]) if len(pts) else extra
    return pts


def _kd_groups(pts: np.ndarray, idx: np.ndarray, weights: np.ndarray) -> list[np.ndarray]:
    """Split point indices into ``len(weights)`` spatially compact groups sized by weight."""
    if len(weights) == 1:
        return [idx]
    half = len(weights) // 2
    w1, w2 = weights[:half].sum(), weights[half:].sum()
    sub = pts[idx]
    axis = int(np.argmax(np.ptp(sub, axis=0) * np.array([np.cos(np.radians(30.6)), 1.0])))
    order = idx[np.argsort(sub[:, axis], kind="stable")]
    cut = int(round(len(order) * w1 / (w1 + w2)))
    cut = min(max(cut, half), len(order) - (len(weights) - half))
    return _kd_groups(pts, order[:cut], weights[:half]) + _kd_groups(
        pts, order[cut:], weights[half:]
    )


def partition(
    parent: BaseGeometry, weights: np.ndarray, rng: np.random.Generator
) -> list[BaseGeometry]:
    """Split ``parent`` into ``len(weights)`` polygons with areas roughly ∝ ``weights``.

    The pieces cover the parent exactly and do not overlap; each is non-empty.
    """
    weights = np.asarray(weights, dtype=float)
    n = len(weights)
    if n == 1:
        return [parent]
    m = max(256, 24 * n)
    pts = sample_points(parent, m, rng)
    groups = _kd_groups(pts, np.arange(len(pts)), weights)
    seeds = []
    for g in groups:
        centre = pts[g].mean(axis=0)
        seeds.append(pts[g][np.argmin(((pts[g] - centre) ** 2).sum(axis=1))])
    seeds = np.array(seeds)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=parent, ordered=True)
    )
    if len(cells) != n:  # duplicate seeds collapse; never seen with sampled points
        raise RuntimeError("Voronoi partition lost a cell")
    clipped = shapely.intersection(cells, parent)
    return [polygonal(c) for c in clipped]


def _metres_box(cx: float, cy: float, w: float, h: float, angle: float) -> BaseGeometry:
    """A rectangle of ``w``×``h`` metres centred on a lon/lat point, rotated by ``angle``."""
    dx = w / 2 / (KM_PER_DEG_LAT * 1000 * np.cos(np.radians(cy)))
    dy = h / 2 / (KM_PER_DEG_LAT * 1000)
    corners = np.array([[-dx, -dy], [dx, -dy], [dx, dy], [-dx, dy]])
    c, s = np.cos(angle), np.sin(angle)
    # rotate in metric space, then back to degrees
    k = np.cos(np.radians(cy))
    xs = corners[:, 0] * k
    ys = corners[:, 1]
    rx = (xs * c - ys * s) / k
    ry = xs * s + ys * c
    return shapely.Polygon(np.column_stack([cx + rx, cy + ry]))


# --- the tree ------------------------------------------------------------------------------
def _lognormal(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    return rng.lognormal(0.0, sigma, n)


def city_specs() -> list[PlaceSpec]:
    geoms = [d.geom for d in districts()]
    return [PlaceSpec(CITY_CODE, CITY_NAME, Level.CITY, None, shapely.union_all(geoms))]


def district_specs() -> list[PlaceSpec]:
    return [PlaceSpec(d.code, d.name, Level.DISTRICT, CITY_CODE, d.geom) for d in districts()]


def district_tree(
    district: District, rng: Callable[..., np.random.Generator], *, detail: bool = True
) -> Iterator[PlaceSpec]:
    """Streets, communities, grids, micro-grids and exclusive grids of one district; without
    ``detail``, streets and communities with one general grid each (the community's polygon).

    ``rng(*keys)`` returns a deterministic stream per key, so each district (and each street
    within it) is the same whether it is built alone or as part of the whole city, and its
    streets and communities are the same with or without ``detail``.
    """
    its_streets = [s for s in streets() if s.parent_code == district.code]
    r = rng("streets", district.code)
    is_town = np.array([not s.name.endswith("街道") for s in its_streets])
    street_pop = _lognormal(r, len(its_streets), 0.45) * np.where(is_town, 0.6, 1.6)
    street_pop = street_pop / street_pop.sum() * district.population
    # Towns are large and sparse, urban streets small and dense.
    street_area = street_pop * np.where(is_town, 3.0, 0.5)
    street_geoms = partition(district.geom, street_area, r)
    by_street: dict[str, list[Division]] = {}
    for c in communities():
        by_street.setdefault(c.parent_code, []).append(c)
    for street, sgeom, spop in zip(its_streets, street_geoms, street_pop, strict=True):
        yield PlaceSpec(street.code, street.name, Level.STREET, district.code, sgeom)
        yield from _street_tree(
            street, sgeom, float(spop), by_street.get(street.code, []), rng, detail=detail
        )


def _street_tree(street, sgeom, spop, comms, rng, *, detail: bool = True) -> Iterator[PlaceSpec]:
    if not comms:
        return
    r = rng("communities", street.code)
    is_village = np.array([c.name.endswith("村") for c in comms])
    pop = _lognormal(r, len(comms), 0.35) * np.where(is_village, 0.7, 1.3)
    pop = pop / pop.sum() * spop
    area = pop * np.where(is_village, 3.0, 0.6)
    cgeoms = partition(sgeom, area, r)
    for comm, cgeom, cpop in zip(comms, cgeoms, pop, strict=True):
        yield PlaceSpec(comm.code, comm.name, Level.COMMUNITY, street.code, cgeom)
        if detail:
            yield from _community_grids(comm, cgeom, float(cpop), rng)
        else:  # the whole community as one general grid
            yield PlaceSpec(
                f"{comm.code}001",
                f"{comm.name}第1网格",
                Level.GRID,
                comm.code,
                cgeom,
                kind=GridKind.GENERAL,
            )


def _community_grids(comm, cgeom, cpop, rng) -> Iterator[PlaceSpec]:
    r = rng("grids", comm.code)
    n_grids = max(1, int(round(cpop / PEOPLE_PER_GRID)))
    gpop = _lognormal(r, n_grids, 0.2)
    gpop = gpop / gpop.sum() * cpop
    ggeoms = partition(cgeom, gpop, r)
    for i, (ggeom, p) in enumerate(zip(ggeoms, gpop, strict=True), start=1):
        gcode = f"{comm.code}{i:03d}"
        gname = f"{comm.name}第{i}网格"
        yield PlaceSpec(gcode, gname, Level.GRID, comm.code, ggeom, kind=GridKind.GENERAL)
        rm = rng("micro", gcode)
        n_micro = max(2, int(round(p / PEOPLE_PER_MICRO)))
        mgeoms = partition(ggeom, _lognormal(rm, n_micro, 0.2), rm)
        for j, mgeom in enumerate(mgeoms, start=1):
            yield PlaceSpec(
                f"{gcode}{j:03d}",
                f"{gname}第{j}微网格",
                Level.MICRO,
                gcode,
                mgeom,
                kind=GridKind.MICRO,
            )
    yield from _exclusive_grids(comm, cgeom, r)


def _exclusive_grids(comm, cgeom, r) -> Iterator[PlaceSpec]:
    n = min(int(r.poisson(EXCLUSIVE_PER_COMMUNITY)), 99)
    types = list(EXCLUSIVE_TYPES)
    probs = np.array([EXCLUSIVE_TYPES[t][0] for t in types])
    placed: list[BaseGeometry] = []
    counts: dict[str, int] = {}
    number = EXCLUSIVE_FIRST_NUMBER
    for _ in range(n):
        subtype = types[int(r.choice(len(types), p=probs / probs.sum()))]
        _, (w, h), label = EXCLUSIVE_TYPES[subtype]
        geom = None
        for _try in range(6):
            cx, cy = sample_points(cgeom, 1, r)[0]
            box = _metres_box(
                cx, cy, w * r.uniform(0.7, 1.3), h * r.uniform(0.7, 1.3), r.uniform(0, np.pi)
            )
            cand = polygonal(shapely.intersection(box, cgeom))
            if cand.is_empty or cand.area < 0.3 * box.area:
                continue
            if any(cand.intersection(p).area > 0 for p in placed):
                continue
            geom = cand
            break
        if geom is None:
            continue
        placed.append(geom)
        counts[subtype] = counts.get(subtype, 0) + 1
        k = counts[subtype]
        name = f"{comm.name}{label}专属网格" + (f"{k}" if k > 1 else "")
        yield PlaceSpec(
            f"{comm.code}{number:03d}",
            name,
            Level.GRID,
            comm.code,
            geom,
            kind=GridKind.EXCLUSIVE,
            subtype=subtype,
        )
        number += 1


def detailed_districts(scale: str) -> list[District]:
    """The districts built down to micro-grids and exclusive grids at a scale; the others are
    built as skeletons (``district_tree(detail=False)``: communities with one grid each)."""
    if scale == "city":
        return list(districts())
    return [d for d in districts() if d.code == DEMO_DISTRICT]

