"""Point → grid: an in-memory STRtree over every grid polygon.

``locate(lon, lat)`` and ``locate_many(lons, lats)`` return the most specific grid containing
each point: an exclusive grid wins over the general/micro grid it lies in, a micro-grid over
its general grid. The tree is built once per process from the database and rebuilt when the
``GeometryVersion`` counter moves (checked at most every ``RECHECK_SECONDS``).

Nothing outside this module touches the STRtree: callers use the functions at the bottom.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import shapely
from django.conf import settings
from django.utils.translation import gettext as _

from wangge.core.errors import ValidationError
from wangge.regions.geometry import KM_PER_DEG_LAT

RECHECK_SECONDS = 1.0
DEFAULT_CHUNK = 65_536
# Polygons of one ring with at most this many vertices are tested by a vectorised numpy
# crossing-number test (generated grids have 4–13); the others go through GEOS.
RING_MAX = 16

# Rank of a grid kind when several contain a point: higher wins.
_RANK = {"exclusive": 3, "micro": 2, "general": 1}
_LEVEL_RANK = {"city": 0, "district": 1, "street": 2, "community": 3}


class LocateError(ValidationError):
    code = "bad_coordinates"


class Hit(NamedTuple):
    """One place found for a point."""

    code: str
    kind: str  # grid kind, or region level when no grid covers the point


class Locator:
    """Immutable once built; share it between threads freely."""

    def __init__(
        self,
        grid_codes: Sequence[str],
        grid_kinds: Sequence[str],
        grid_geoms: np.ndarray,
        region_codes: Sequence[str] = (),
        region_levels: Sequence[str] = (),
        region_geoms: np.ndarray | None = None,
        grid_parents: Sequence[str | None] | None = None,
    ) -> None:
        grid_codes = list(grid_codes)
        grid_kinds = list(grid_kinds)
        # A general grid that is fully split into micro-grids never wins a point (a micro-grid
        # always covers it), so it is left out of the leaf tree: a point then usually hits one
        # polygon instead of two.
        # (Such a grid stays in a second tree, asked only for points that no leaf holds: the
        # hair-thin slivers that coordinate rounding leaves between micro-grids.)
        parents = set(grid_parents or ())
        split = np.array(
            [
                kind == "general" and code in parents
                for code, kind in zip(grid_codes, grid_kinds, strict=True)
            ],
            dtype=bool,
        )
        all_codes = np.array(grid_codes, dtype=object)
        all_kinds = np.array(grid_kinds, dtype=object)
        all_geoms = np.asarray(grid_geoms, dtype=object)
        self.codes = np.concatenate([all_codes[~split], all_codes[split]])
        self.kinds = np.concatenate([all_kinds[~split], all_kinds[split]])
        geoms = all_geoms[~split]
        self.n_leaves = len(geoms)
        self.ranks = np.array([_RANK[k] for k in self.kinds], dtype=np.int8)
        self.tree = shapely.STRtree(geoms)
        self.split_tree = shapely.STRtree(all_geoms[split])
        self._code_list = self.codes.tolist()
        self._kind_list = self.kinds.tolist()
        self._rings(geoms)
        self.n_grids = len(grid_codes)

        self.region_codes = np.array(list(region_codes), dtype=object)
        self.region_levels = np.array(list(region_levels), dtype=object)
        rgeoms = region_geoms if region_geoms is not None else np.array([], dtype=object)
        self.region_ranks = np.array(
            [_LEVEL_RANK[lvl] for lvl in self.region_levels], dtype=np.int8
        )
        self.region_tree = shapely.STRtree(rgeoms)
        district_idx = np.flatnonzero(self.region_levels == "district")
        self.district_codes = self.region_codes[district_idx]
        self.district_tree = shapely.STRtree(np.asarray(rgeoms, dtype=object)[district_idx])

        extent_geoms = (
            np.asarray(rgeoms, dtype=object)[district_idx] if len(district_idx) else geoms
        )
        if len(extent_geoms):
            self.extent = tuple(float(v) for v in shapely.total_bounds(extent_geoms))
        else:
            self.extent = None
        self._window: tuple[float, ...] | None = None

    # --- validation ------------------------------------------------------------------------
    def _check_many(self, lons: np.ndarray, lats: np.ndarray) -> None:
        single = lons.shape == (1,)

        def which(i: int) -> str:
            where = f"({lons[i]}, {lats[i]})"
            return (
                _("The point %(where)s") % {"where": where}
                if single
                else _("Point %(i)d %(where)s") % {"i": i, "where": where}
            )

        if lons.shape != lats.shape or lons.ndim != 1:
            raise LocateError(_("Longitudes and latitudes must be two lists of equal length."))
        bad = ~(np.isfinite(lons) & np.isfinite(lats))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise LocateError(
                _("%(which)s is not a number (NaN or infinite); %(n)d such point(s).")
                % {"which": which(i), "n": int(bad.sum())},
                details={"index": i},
            )
        bad = (np.abs(lons) > 180) | (np.abs(lats) > 90)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise LocateError(
                _(
                    "%(which)s is out of range: longitude must lie in [-180, 180] and "
                    "latitude in [-90, 90]."
                )
                % {"which": which(i)},
                details={"index": i},
            )
        if self.extent is None:
            raise LocateError(
                _("No places are loaded yet: build the demo or import grids."), code="no_places"
            )
        min_lon, min_lat, max_lon, max_lat = self.extent
        km = settings.WANGGE_LOCATE_MAX_OUTSIDE_KM
        dlat = km / KM_PER_DEG_LAT
        dlon = km / (KM_PER_DEG_LAT * math.cos(math.radians((min_lat + max_lat) / 2)))
        far = (
            (lons < min_lon - dlon)
            | (lons > max_lon + dlon)
            | (lats < min_lat - dlat)
            | (lats > max_lat + dlat)
        )
        if far.any():
            i = int(np.flatnonzero(far)[0])
            raise LocateError(
                _(
                    "%(which)s lies more than %(km).0f km outside the city (WGS-84 "
                    "longitude, latitude expected)."
                )
                % {"which": which(i), "km": km},
                code="outside_city",
                details={"index": i},
            )

    # --- queries ---------------------------------------------------------------------------
    def _rings(self, geoms: np.ndarray) -> None:
        """Padded vertex arrays of the simple polygons for the vectorised point-in-polygon."""
        n = len(geoms)
        self.ring_x = np.zeros((n, RING_MAX + 1))
        self.ring_y = np.zeros((n, RING_MAX + 1))
        self.simple = np.zeros(n, dtype=bool)
        if not n:
            return
        is_poly = shapely.get_type_id(geoms) == 3
        no_holes = np.zeros(n, dtype=bool)
        no_holes[is_poly] = shapely.get_num_interior_rings(geoms[is_poly]) == 0
        rings = shapely.get_exterior_ring(geoms[no_holes])
        counts = shapely.get_num_coordinates(rings)
        idx = np.flatnonzero(no_holes)
        ok = counts <= RING_MAX + 1
        idx, rings, counts = idx[ok], rings[ok], counts[ok]
        coords = shapely.get_coordinates(rings)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        # pad each ring by repeating its closing vertex: zero-length edges cross nothing
        col = np.arange(RING_MAX + 1)
        take = starts[:, None] + np.minimum(col[None, :], counts[:, None] - 1)
        self.ring_x[idx] = coords[take, 0]
        self.ring_y[idx] = coords[take, 1]
        self.simple[idx] = True

    def _contains_pairs(
        self, px: np.ndarray, py: np.ndarray, gi: np.ndarray, points: np.ndarray, pi: np.ndarray
    ) -> np.ndarray:
        """For each candidate pair (point pi at px/py, polygon gi): is the point inside?"""
        inside = np.zeros(len(gi), dtype=bool)
        simple = self.simple[gi]
        s = np.flatnonzero(simple)
        if len(s):
            xs, ys = self.ring_x[gi[s]], self.ring_y[gi[s]]
            x, y = px[s, None], py[s, None]
            y1, y2 = ys[:, :-1], ys[:, 1:]
            x1, x2 = xs[:, :-1], xs[:, 1:]
            crosses = (y1 > y) != (y2 > y)
            with np.errstate(divide="ignore", invalid="ignore"):
                xint = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            inside[s] = np.count_nonzero(crosses & (x < xint), axis=1) % 2 == 1
        c = np.flatnonzero(~simple)
        if len(c):
            inside[c] = shapely.intersects(self.tree.geometries[gi[c]], points[pi[c]])
        return inside

    def _leaf_indices(
        self, points: np.ndarray, px: np.ndarray | None = None, py: np.ndarray | None = None
    ) -> np.ndarray:
        """Index into ``self.codes`` of the best grid for each point, -1 where none."""
        out = np.full(len(points), -1, dtype=np.int64)
        if not len(self.codes):
            return out
        if px is None or py is None:
            px, py = shapely.get_x(points), shapely.get_y(points)
        # bounding-box candidates from the tree, then the exact test on the pairs
        inp, tree_idx = self.tree.query(points)
        keep = self._contains_pairs(px[inp], py[inp], tree_idx, points, inp)
        inp, tree_idx = inp[keep], tree_idx[keep]
        if len(inp):
            # Assign in rank order so the highest-ranked grid is written last and wins; ties
            # (a point on a shared edge) go to the lower code, deterministically.
            order = np.lexsort((-tree_idx, self.ranks[tree_idx]))
            out[inp[order]] = tree_idx[order]
        missed = np.flatnonzero(out < 0)
        if len(missed) and len(self.split_tree):
            inp, tree_idx = self.split_tree.query(points[missed], predicate="intersects")
            if len(inp):
                order = np.argsort(-tree_idx, kind="stable")
                out[missed[inp[order]]] = tree_idx[order] + self.n_leaves
        return out

    def locate_indices(
        self,
        lons: Sequence[float] | np.ndarray,
        lats: Sequence[float] | np.ndarray,
        *,
        threads: int = 1,
        chunk: int = DEFAULT_CHUNK,
    ) -> np.ndarray:
        lons = np.asarray(lons, dtype=np.float64)
        lats = np.asarray(lats, dtype=np.float64)
        self._check_many(lons, lats)
        n = len(lons)
        out = np.empty(n, dtype=np.int64)

        def work(start: int) -> None:
            stop = min(start + chunk, n)
            px, py = lons[start:stop], lats[start:stop]
            out[start:stop] = self._leaf_indices(shapely.points(px, py), px, py)

        starts = range(0, n, chunk)
        if threads > 1 and n > chunk:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(work, starts))
        else:
            for s in starts:
                work(s)
        return out

    def locate_many(
        self, lons, lats, *, threads: int = 1, chunk: int = DEFAULT_CHUNK
    ) -> np.ndarray:
        """Codes of the most specific grid per point (an object array, None where no grid)."""
        idx = self.locate_indices(lons, lats, threads=threads, chunk=chunk)
        codes = np.empty(len(idx), dtype=object)
        found = idx >= 0
        codes[found] = self.codes[idx[found]]
        return codes

    def _accepts(self, lon: float, lat: float) -> bool:
        """Cheap scalar check; anything it does not accept gets the full check and message."""
        km = settings.WANGGE_LOCATE_MAX_OUTSIDE_KM
        if self._window is None or self._window[0] != km:
            if self.extent is None:
                return False
            min_lon, min_lat, max_lon, max_lat = self.extent
            dlat = km / KM_PER_DEG_LAT
            dlon = km / (KM_PER_DEG_LAT * math.cos(math.radians((min_lat + max_lat) / 2)))
            self._window = (km, min_lon - dlon, min_lat - dlat, max_lon + dlon, max_lat + dlat)
        _km, x0, y0, x1, y1 = self._window
        return x0 <= lon <= x1 and y0 <= lat <= y1  # False for NaN too

    def locate(self, lon: float, lat: float) -> Hit | None:
        """The most specific grid containing one point, or None."""
        if type(lon) is not float or type(lat) is not float:
            lon, lat = parse_point(lon, lat)
        if not self._accepts(lon, lat):
            self._check_many(np.array([lon]), np.array([lat]))  # raises with the reason
        pt = shapely.points((lon, lat))
        hits = self.tree.query(pt, predicate="intersects").tolist()
        if len(hits) == 1:
            best = hits[0]
        elif hits:
            best = max(hits, key=lambda i: (self.ranks[i], -i))
        else:
            hits = self.split_tree.query(pt, predicate="intersects")
            if not len(hits):
                return None
            best = int(hits.min()) + self.n_leaves
        return Hit(self._code_list[best], self._kind_list[best])

    def locate_region(self, lon: float, lat: float) -> Hit | None:
        """The deepest region (community, street, district) containing the point."""
        lon, lat = parse_point(lon, lat)
        hits = self.region_tree.query(shapely.points(lon, lat), predicate="intersects")
        if not len(hits):
            return None
        best = hits[np.lexsort((-hits, self.region_ranks[hits]))[-1]]
        return Hit(str(self.region_codes[best]), str(self.region_levels[best]))

    def nearest_district(self, lon: float, lat: float) -> tuple[str, float] | None:
        """The nearest district and its distance in kilometres (0 when inside)."""
        if not len(self.district_codes):
            return None
        pt = shapely.points(lon, lat)
        i = int(self.district_tree.nearest(pt))
        geom = self.district_tree.geometries[i]
        near = shapely.shortest_line(pt, geom)
        (x0, y0), (x1, y1) = shapely.get_coordinates(near)
        dx = (x1 - x0) * math.cos(math.radians((y0 + y1) / 2))
        km = math.hypot(dx, y1 - y0) * KM_PER_DEG_LAT
        return str(self.district_codes[i]), float(km)


def parse_point(lon, lat) -> tuple[float, float]:
    try:
        lon, lat = float(lon), float(lat)
    except (TypeError, ValueError):
        raise LocateError(_("Longitude and latitude must be numbers.")) from None
    return lon, lat


# --- the process-wide locator --------------------------------------------------------------
_lock = threading.Lock()
_state: dict = {"locator": None, "version": None, "checked": 0.0}


def _current_version() -> int:
    from wangge.regions.models import GeometryVersion

    row = GeometryVersion.objects.filter(pk=1).values_list("version", flat=True).first()
    return int(row or 0)


def build_from_db() -> Locator:
    from wangge.regions.models import Grid, Region

    rows = list(Grid.objects.order_by("code").values_list("code", "kind", "geometry", "parent_id"))
    id_to_code = dict(Grid.objects.filter(kind="general").values_list("id", "code"))
    grid_geoms = shapely.from_geojson(np.array([r[2] or "null" for r in rows], dtype=object))
    parents = {id_to_code[r[3]] for r in rows if r[3] is not None}
    regions = list(
        Region.objects.exclude(geometry="")
        .order_by("code")
        .values_list("code", "level", "geometry")
    )
    region_geoms = shapely.from_geojson(np.array([r[2] for r in regions], dtype=object))
    return Locator(
        [r[0] for r in rows],
        [r[1] for r in rows],
        grid_geoms,
        [r[0] for r in regions],
        [r[1] for r in regions],
        region_geoms,
        grid_parents=parents,
    )


def get_locator() -> Locator:
    """The process's locator, rebuilt if grids changed since it was built."""
    now = time.monotonic()
    st = _state
    if st["locator"] is not None and now - st["checked"] < RECHECK_SECONDS:
        return st["locator"]
    with _lock:
        version = _current_version()
        if st["locator"] is None or version != st["version"]:
            st["locator"] = build_from_db()
            st["version"] = version
        st["checked"] = time.monotonic()
        return st["locator"]


def reset() -> None:
    """Forget the process's locator (tests; after a bulk load in the same process)."""
    with _lock:
        _state.update(locator=None, version=None, checked=0.0)


def locate(lon: float, lat: float) -> Hit | None:
    return get_locator().locate(lon, lat)


def locate_many(lons, lats, *, threads: int = 1) -> np.ndarray:
    return get_locator().locate_many(lons, lats, threads=threads)
