import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wangge.accounts.scope import SYSTEM
from wangge.core.errors import NotFound
from wangge.regions import selectors
from wangge.regions.models import Grid, Region, Zone

pytestmark = pytest.mark.django_db


def _walk(place) -> set[str]:
    """Descendants by following parent links, one level at a time (the slow, obvious way)."""
    out: set[str] = set()
    frontier = [place]
    while frontier:
        node = frontier.pop()
        if isinstance(node, Region):
            kids = list(Region.objects.filter(parent=node)) + list(
                Grid.objects.filter(community=node, parent__isnull=True)
            )
        else:
            kids = list(Grid.objects.filter(parent=node))
        for k in kids:
            out.add(k.code)
            frontier.append(k)
    return out


def _all_codes():
    return sorted(Region.objects.values_list("code", flat=True)) + sorted(
        Grid.objects.filter(kind="general").values_list("code", flat=True)[:50]
    )


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_prefix_subtree_equals_tree_walk(city, data):
    code = data.draw(st.sampled_from(_all_codes()))
    place = selectors.place_get(actor=SYSTEM, code=code)
    sub = selectors.place_subtree(actor=SYSTEM, code=code)
    by_prefix = set(sub.regions.values_list("code", flat=True)) | set(
        sub.grids.values_list("code", flat=True)
    )
    assert by_prefix == _walk(place)


def test_subtree_is_one_query_per_table(city, django_assert_num_queries):
    sub = selectors.place_subtree(actor=SYSTEM, code="510104")
    with django_assert_num_queries(1):
        assert len(list(sub.grids.values_list("code", flat=True))) > 5000


def test_subtree_of_neighbouring_code_is_separate(city):
    # 510105 (青羊区) next to 锦江区 (510104): neither's grids leak into the other
    qingyang = selectors.place_subtree(actor=SYSTEM, code="510105").grids
    jinjiang = selectors.place_subtree(actor=SYSTEM, code="510104").grids
    assert qingyang.exists() and jinjiang.exists()
    assert not qingyang.exclude(code__startswith="510105").exists()
    assert not jinjiang.exclude(code__startswith="510104").exists()


def test_children_of_each_level(city):
    city_node = selectors.place_get(actor=SYSTEM, code="5101")
    districts = selectors.place_children(actor=SYSTEM, place=city_node)
    assert len(districts) == 20 and all(d.level == "district" for d in districts)
    jinjiang = selectors.place_get(actor=SYSTEM, code="510104")
    streets = selectors.place_children(actor=SYSTEM, place=jinjiang)
    assert len(streets) == 11
    community = Region.objects.filter(level="community").first()
    grids = selectors.place_children(actor=SYSTEM, place=community)
    assert grids and {g.kind for g in grids} <= {"general", "exclusive"}
    general = next(g for g in grids if g.kind == "general")
    micros = selectors.place_children(actor=SYSTEM, place=general)
    assert micros and all(m.kind == "micro" and m.code.startswith(general.code) for m in micros)
    assert general.n_children == len(micros)


def test_ancestors_and_unknown_codes(city):
    micro = Grid.objects.filter(kind="micro").first()
    chain = selectors.place_ancestors(actor=SYSTEM, place=micro)
    assert [p.level for p in chain] == ["city", "district", "street", "community", "grid"]
    for bad in ["510199", "abc", "", "5101040170019999"]:
        with pytest.raises(NotFound):
            selectors.place_get(actor=SYSTEM, code=bad)


def test_grid_counts(city):
    counts = selectors.grid_counts(actor=SYSTEM, code="510104")
    general = Grid.objects.filter(kind="general", code__startswith="510104").count()
    assert counts["general"] == general > 500
    assert counts["micro"] > counts["general"] * 5
    assert counts["exclusive"] > 100


def test_child_counts_are_direct_children_only(city):
    street = Region.objects.filter(level="street").first()
    for c in selectors.place_children(actor=SYSTEM, place=street):
        assert c.n_children == Grid.objects.filter(community=c, parent__isnull=True).count()


def test_zones_are_the_unions_of_their_streets(city):
    import shapely

    fc = selectors.zones_geojson(actor=SYSTEM)
    assert fc["type"] == "FeatureCollection"
    assert [f["properties"]["code"] for f in fc["features"]] == ["Z01", "Z02", "Z03"]
    for f in fc["features"]:
        zone = Zone.objects.get(code=f["properties"]["code"])
        codes = sorted(zone.streets.values_list("code", flat=True))
        assert f["properties"]["streets"] == codes and f["properties"]["name"] == zone.name
        geom = shapely.geometry.shape(f["geometry"])
        streets = [
            shapely.from_geojson(t)
            for t in Region.objects.filter(code__in=codes).values_list("geometry", flat=True)
        ]
        assert geom.geom_type in ("Polygon", "MultiPolygon") and geom.is_valid
        assert abs(geom.area - sum(s.area for s in streets)) < 1e-6 * geom.area
        assert all(geom.buffer(1e-9).covers(s) for s in streets)


def test_zones_take_three_queries(city, django_assert_num_queries):
    with django_assert_num_queries(3):  # the zones, their streets, the streets' polygons
        assert len(selectors.zones_geojson(actor=SYSTEM)["features"]) == 3
