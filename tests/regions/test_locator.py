import math

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wangge.regions import locator
from wangge.regions.geometry import from_geojson_text
from wangge.regions.locator import LocateError, Locator
from wangge.regions.models import Grid

pytestmark = pytest.mark.django_db
HYP = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _grids(kind):
    return list(Grid.objects.filter(kind=kind).order_by("code").values_list("code", "geometry"))


def _point_inside(geom, u, v):
    """A point strictly inside ``geom`` chosen by two numbers in [0, 1)."""
    min_x, min_y, max_x, max_y = geom.bounds
    inner = geom.buffer(-1e-6)
    if inner.is_empty:
        inner = geom
    for k in range(200):
        x = min_x + ((u + k * 0.6180339) % 1) * (max_x - min_x)
        y = min_y + ((v + k * 0.4142135) % 1) * (max_y - min_y)
        if inner.contains(shapely.Point(x, y)):
            return x, y
    p = inner.representative_point()
    return p.x, p.y


@HYP
@given(data=st.data(), u=st.floats(0, 1, exclude_max=True), v=st.floats(0, 1, exclude_max=True))
def test_point_in_micro_grid_locates_to_it_unless_exclusive(city, data, u, v):
    code, text = data.draw(st.sampled_from(_grids("micro")))
    geom = from_geojson_text(text)
    x, y = _point_inside(geom, u, v)
    hit = locator.locate(x, y)
    assert hit is not None
    if hit.kind == "exclusive":
        # an exclusive grid that covers the point wins, and it does cover it
        ex = Grid.objects.get(code=hit.code)
        assert from_geojson_text(ex.geometry).covers(shapely.Point(x, y))
        assert ex.code[:12] == code[:12]  # exclusive grids lie inside their community
    else:
        assert hit.code == code


@HYP
@given(data=st.data(), u=st.floats(0, 1, exclude_max=True), v=st.floats(0, 1, exclude_max=True))
def test_exclusive_grid_wins(city, data, u, v):
    code, text = data.draw(st.sampled_from(_grids("exclusive")))
    x, y = _point_inside(from_geojson_text(text), u, v)
    assert locator.locate(x, y).code == code


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_micro_grid_lies_inside_its_parent(city, data):
    code, text = data.draw(st.sampled_from(_grids("micro")))
    parent = from_geojson_text(Grid.objects.get(code=code[:15]).geometry)
    child = from_geojson_text(text)
    # coordinates are stored to 1e-6 degrees, so allow that much at the edge
    assert child.difference(parent.buffer(2e-6)).area == 0


def test_micro_grids_tile_their_parent(city):
    general = Grid.objects.filter(kind="general").first()
    micros = [
        from_geojson_text(g)
        for g in Grid.objects.filter(parent=general).values_list("geometry", flat=True)
    ]
    parent = from_geojson_text(general.geometry)
    # coordinates are rounded to 1e-6 degrees on storage: only slivers of that width remain
    assert shapely.union_all(micros).symmetric_difference(parent).area < 1e-3 * parent.area


def test_locate_many_matches_locate(city):
    from wangge.regions.models import Region

    rng = np.random.default_rng(3)
    box = Region.objects.get(code="510104").bbox
    lons = rng.uniform(box[0], box[2], 2_000)
    lats = rng.uniform(box[1], box[3], 2_000)
    many = locator.locate_many(lons, lats)
    two_threads = locator.get_locator().locate_many(lons, lats, threads=2, chunk=300)
    one = [locator.locate(x, y) for x, y in zip(lons, lats, strict=True)]
    assert list(many) == [h.code if h else None for h in one]
    assert list(two_threads) == list(many)
    assert sum(c is not None for c in many) > 800


def test_points_in_no_grid(hole_in_the_grids):
    # a point of 都江堰市 whose grid is gone: no grid, but the region is known
    point, grid = hole_in_the_grids
    loc = locator.get_locator()
    assert loc.locate(*point) is None
    assert loc.locate_region(*point).code == grid[:12]  # its community
    code, km = loc.nearest_district(102.9, 30.2)
    assert code == "510183" and km > 1


@pytest.mark.parametrize(
    "lon,lat,word",
    [
        (math.nan, 30.6, "not a number"),
        (104.0, math.inf, "not a number"),
        (181, 30.6, "out of range"),
        (104.0, -91, "out of range"),
        (116.4, 39.9, "outside the city"),
        ("east", 30.6, "must be numbers"),
    ],
)
def test_bad_coordinates_are_refused(city, lon, lat, word):
    with pytest.raises(LocateError) as exc:
        locator.locate(lon, lat)
    assert word in exc.value.message


def test_locate_many_reports_the_first_bad_index(city):
    with pytest.raises(LocateError) as exc:
        locator.locate_many([104.08, 104.08, math.nan], [30.65, 30.65, 30.65])
    assert exc.value.details == {"index": 2}


def test_locator_rebuilds_when_grids_change(city):
    from wangge.regions.services import geometry_version_bump

    first = locator.get_locator()
    assert locator.get_locator() is first
    geometry_version_bump()
    locator.reset()  # on_commit never fires inside the test transaction; do what it would
    assert locator.get_locator() is not first


def test_locator_from_arrays_prefers_exclusive_and_micro():
    big = shapely.box(0, 0, 10, 10)
    micro = shapely.box(0, 0, 5, 10)
    micro2 = shapely.box(5, 0, 10, 10)
    school = shapely.box(1, 1, 2, 2)
    region = shapely.box(-1, -1, 11, 11)
    loc = Locator(
        ["g", "g1", "g2", "x"],
        ["general", "micro", "micro", "exclusive"],
        np.array([big, micro, micro2, school]),
        ["d"],
        ["district"],
        np.array([region]),
        grid_parents=["g"],
    )
    from django.test import override_settings

    with override_settings(WANGGE_LOCATE_MAX_OUTSIDE_KM=1):
        assert loc.locate(1.5, 1.5).code == "x"
        assert loc.locate(3, 5).code == "g1"
        assert loc.locate(7, 5).code == "g2"
        assert loc.locate(10.5, 5) is None
        assert list(loc.locate_many([1.5, 3, 7, 10.5], [1.5, 5, 5, 5])) == ["x", "g1", "g2", None]
