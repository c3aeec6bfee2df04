import copy
import json

import pytest
import shapely
from shapely.geometry import mapping

from wangge.accounts.scope import SYSTEM
from wangge.core.errors import ValidationError
from wangge.regions import selectors
from wangge.regions.geometry import from_geojson_text
from wangge.regions.models import GeometryVersion, Grid, Region
from wangge.regions.services import grids_import

pytestmark = pytest.mark.django_db


def _community():
    return Region.objects.filter(level="community").order_by("code").first()


def _free_square(community, size=0.0004):
    """A small square inside the community that no exclusive grid covers."""
    geom = from_geojson_text(community.geometry)
    exclusive = [
        from_geojson_text(g)
        for g in Grid.objects.filter(community=community, kind="exclusive").values_list(
            "geometry", flat=True
        )
    ]
    minx, miny, maxx, maxy = geom.bounds
    for i in range(400):
        x = minx + (maxx - minx) * ((i * 0.618) % 1)
        y = miny + (maxy - miny) * ((i * 0.414) % 1)
        sq = shapely.box(x, y, x + size, y + size)
        if geom.contains(sq) and not any(sq.intersects(e) for e in exclusive):
            return sq
    raise AssertionError("no free square")


def _feature(code, name, geom, **props):
    return {
        "type": "Feature",
        "properties": {"code": code, "name": name, **props},
        "geometry": mapping(geom),
    }


def _fc(*features):
    return {"type": "FeatureCollection", "features": list(features)}


def _good_exclusive(community, number=990):
    return _feature(
        f"{community.code}{number}",
        "测试学校专属网格",
        _free_square(community),
        kind="exclusive",
        subtype="school",
    )


def _count():
    return Grid.objects.count(), GeometryVersion.objects.get(pk=1).version


def test_import_creates_then_is_idempotent(city):
    community = _community()
    fc = _fc(_good_exclusive(community))
    before = _count()
    report = grids_import(actor=SYSTEM, data=fc)
    assert (report.created, report.updated, report.unchanged) == (1, 0, 0)
    after = _count()
    assert after[0] == before[0] + 1 and after[1] == before[1] + 1
    again = grids_import(actor=SYSTEM, data=copy.deepcopy(fc))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    assert _count() == after  # nothing written, version unchanged


def test_export_then_import_changes_nothing(city):
    community = _community()
    fc = selectors.grids_geojson(actor=SYSTEM, code=community.code)
    assert len(fc["features"]) > 5
    fc = json.loads(json.dumps(fc))
    before = _count()
    report = grids_import(actor=SYSTEM, data=fc)
    assert report.created == report.updated == 0
    assert report.unchanged == len(fc["features"])
    assert _count() == before


def test_import_updates_a_changed_name(city):
    community = _community()
    fc = json.loads(
        json.dumps(selectors.grids_geojson(actor=SYSTEM, code=community.code, kinds=["general"]))
    )
    fc["features"] = fc["features"][:1]
    fc["features"][0]["properties"]["name"] = "改名网格"
    report = grids_import(actor=SYSTEM, data=fc)
    assert report.updated == 1
    assert Grid.objects.get(code=fc["features"][0]["properties"]["code"]).name == "改名网格"


def _bad_cases(community):
    square = _free_square(community)
    other = Region.objects.filter(level="community").order_by("-code").first()
    bowtie = shapely.Polygon(
        [(104.08, 30.65), (104.081, 30.651), (104.081, 30.65), (104.08, 30.651)]
    )
    general = Grid.objects.filter(community=community, kind="general").first()
    far = shapely.box(104.5, 30.9, 104.501, 30.901)
    c = community.code
    return {
        "self-intersecting": (
            _feature(f"{c}991", "坏", bowtie, kind="exclusive", subtype="school"),
            "invalid polygon",
        ),
        "missing parent": (_feature("510104999999001", "孤", square), "does not exist"),
        "code does not fit parent": (
            _feature(f"{c}992", "错", square, kind="exclusive", subtype="park", parent=other.code),
            "does not fit its parent",
        ),
        "micro under exclusive": (
            _feature(f"{c}901001", "错", square, kind="micro"),
            "does not fit its parent",
        ),
        "overlapping sibling": (
            _feature(f"{c}099", "叠", from_geojson_text(general.geometry)),
            "overlaps its sibling",
        ),
        "outside parent": (
            _feature(f"{c}993", "远", far, kind="exclusive", subtype="park"),
            "outside its parent",
        ),
        "bad code": (_feature("12345", "短", square), "15 digits"),
        "not a polygon": (
            {
                "type": "Feature",
                "properties": {
                    "code": f"{c}994",
                    "name": "点",
                    "kind": "exclusive",
                    "subtype": "park",
                },
                "geometry": {"type": "Point", "coordinates": [104.0, 30.6]},
            },
            "Polygon or MultiPolygon",
        ),
        "no name": (_feature(f"{c}995", "", square, kind="exclusive", subtype="park"), "no name"),
        "bad subtype": (
            _feature(f"{c}996", "类", square, kind="exclusive", subtype="zoo"),
            "needs a subtype",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "self-intersecting",
        "missing parent",
        "code does not fit parent",
        "micro under exclusive",
        "overlapping sibling",
        "outside parent",
        "bad code",
        "not a polygon",
        "no name",
        "bad subtype",
    ],
)
def test_import_rejects_each_bad_feature_and_writes_nothing(city, case):
    community = _community()
    bad, reason = _bad_cases(community)[case]
    good = _good_exclusive(community)
    before = _count()
    with pytest.raises(ValidationError) as exc:
        grids_import(actor=SYSTEM, data=_fc(good, bad))
    errors = exc.value.details
    assert [e["index"] for e in errors] == [1], errors
    assert reason in errors[0]["reason"], errors
    assert _count() == before
    assert not Grid.objects.filter(code=good["properties"]["code"]).exists()


def test_import_rejects_duplicate_codes(city):
    community = _community()
    good = _good_exclusive(community)
    with pytest.raises(ValidationError) as exc:
        grids_import(actor=SYSTEM, data=_fc(good, copy.deepcopy(good)))
    assert exc.value.details[0]["index"] == 1
    assert "duplicate code" in exc.value.details[0]["reason"]


def test_import_rejects_overlap_within_the_file(city):
    community = _community()
    a = _good_exclusive(community, 990)
    b = copy.deepcopy(a)
    b["properties"]["code"] = f"{community.code}989"
    with pytest.raises(ValidationError) as exc:
        grids_import(actor=SYSTEM, data=_fc(a, b))
    assert "overlaps its sibling" in exc.value.details[0]["reason"]


@pytest.mark.parametrize("data", [[], {"type": "Feature"}, {"type": "FeatureCollection"}])
def test_import_rejects_what_is_not_a_feature_collection(city, data):
    with pytest.raises(ValidationError):
        grids_import(actor=SYSTEM, data=data)


def test_import_general_grid_and_its_micro_grids_in_one_file(city):
    from wangge.regions.services import places_bulk_create
    from wangge.regions.synth import PlaceSpec

    # a street and community of 青羊区 under codes the real tree does not use
    area = shapely.box(104.02, 30.66, 104.03, 30.67)
    places_bulk_create(
        actor=SYSTEM,
        specs=[
            PlaceSpec("510105001", "测试街道", "street", "510105", area),
            PlaceSpec("510105001001", "测试社区", "community", "510105001", area),
        ],
    )
    left, right = (
        shapely.box(104.02, 30.66, 104.025, 30.67),
        shapely.box(104.025, 30.66, 104.03, 30.67),
    )
    fc = _fc(
        _feature("510105001001001001", "测试社区第1网格第1微网格", left, kind="micro"),
        _feature("510105001001001", "测试社区第1网格", area),
        _feature("510105001001001002", "测试社区第1网格第2微网格", right, kind="micro"),
    )
    assert grids_import(actor=SYSTEM, data=fc).created == 3
    general = Grid.objects.get(code="510105001001001")
    assert sorted(general.children.values_list("code", flat=True)) == [
        "510105001001001001",
        "510105001001001002",
    ]
    # a third micro-grid over the first one overlaps it
    with pytest.raises(ValidationError) as exc:
        grids_import(
            actor=SYSTEM, data=_fc(_feature("510105001001001003", "叠", left, kind="micro"))
        )
    assert "overlaps its sibling 510105001001001001" in exc.value.details[0]["reason"]
