import pytest
import shapely.geometry

from wangge.regions.models import Grid

pytestmark = pytest.mark.django_db


def test_region_by_code(commander):
    r = commander.get("/api/regions/510104")
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == "锦江区" and body["level"] == "district" and body["parent"] == "5101"
    assert len(body["bbox"]) == 4


def test_grid_by_code_with_spaces_in_it(commander):
    g = Grid.objects.filter(kind="micro").first()
    r = commander.get(f"/api/regions/{g.display_code}")
    assert r.status_code == 200
    assert r.json()["kind"] == "micro" and r.json()["code"] == g.code


def test_children_and_geojson(commander):
    r = commander.get("/api/regions/510104/children")
    assert r.status_code == 200 and len(r.json()) == 11
    assert all(c["children"] > 0 for c in r.json())
    fc = commander.get("/api/regions/510104/children.geojson").json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 11
    assert fc["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    street = r.json()[0]["code"]
    grids = commander.get(f"/api/regions/{street}/grids.geojson?kind=exclusive").json()
    assert grids["features"] and all(
        f["properties"]["kind"] == "exclusive" for f in grids["features"]
    )


@pytest.mark.parametrize(
    "path",
    [
        "/api/regions/510199",
        "/api/regions/nope",
        "/api/regions/510199/children",
        "/api/regions/510104999/children.geojson",
    ],
)
def test_unknown_code_is_404(commander, path):
    r = commander.get(path)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_locate(commander):
    g = Grid.objects.filter(kind="micro").first()
    r = commander.get("/api/locate", {"lon": g.centroid_lon, "lat": g.centroid_lat})
    assert r.status_code == 200
    body = r.json()
    assert body["grid"]["code"] in {g.code} | set(
        Grid.objects.filter(kind="exclusive", community=g.community).values_list("code", flat=True)
    )
    assert [p["level"] for p in body["chain"]][-1] == "city"


def test_locate_outside_grids_names_the_nearest_district(commander, hole_in_the_grids):
    body = commander.get("/api/locate", {"lon": 102.9, "lat": 30.2}).json()
    assert body["grid"] is None and body["place"] is None
    assert body["nearest_district"]["code"] == "510183"
    (lon, lat), grid = hole_in_the_grids
    body = commander.get("/api/locate", {"lon": lon, "lat": lat}).json()
    # in no grid: the deepest region there, the community whose grid is gone
    assert body["grid"] is None and body["place"]["code"] == grid[:12]


@pytest.mark.parametrize(
    "params,word",
    [
        ({"lon": "nan", "lat": "30.6"}, "not a number"),
        ({"lon": "181", "lat": "30.6"}, "out of range"),
        ({"lon": "116.4", "lat": "39.9"}, "outside the city"),
        ({"lon": "east", "lat": "30.6"}, "lon"),
        ({"lat": "30.6"}, "lon"),
    ],
)
def test_bad_coordinates_are_422_with_a_message(commander, params, word):
    r = commander.get("/api/locate", params, HTTP_ACCEPT_LANGUAGE="en")
    assert r.status_code == 422
    assert word in r.json()["error"]["message"]


def test_openapi_schema(commander):
    r = commander.get("/api/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "/api/locate" in paths and "/api/regions/{code}/children" in paths


def test_outline_of_a_place(commander):
    f = commander.get("/api/regions/510104/outline.geojson").json()
    assert f["type"] == "Feature" and f["properties"]["code"] == "510104"
    assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert commander.get("/api/regions/510199/outline.geojson").status_code == 404


def test_api_docs_load_nothing_from_outside(commander):
    html = commander.get("/api/docs").content.decode()
    assert "swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "https://" not in html


def test_grid_export_is_audited(commander):
    from wangge.core.models import AuditEntry

    before = AuditEntry.objects.filter(action="export.grids").count()
    assert commander.get("/api/regions/510104017001/grids.geojson").status_code == 200
    e = AuditEntry.objects.filter(action="export.grids").latest("id")
    assert AuditEntry.objects.filter(action="export.grids").count() == before + 1
    assert e.username == "commander" and e.object_id == "510104017001"


def test_zones_overlay_follows_the_scope(city, commander, client_as):
    from django.contrib.auth import get_user_model

    from wangge.accounts.scope import SYSTEM
    from wangge.accounts.services import post_grant

    r = commander.get("/api/regions/zones.geojson")
    assert r.status_code == 200
    whole = {f["properties"]["code"]: f for f in r.json()["features"]}
    assert set(whole) == {"Z01", "Z02", "Z03"}
    assert whole["Z03"]["properties"]["name"] == "成都高新区"
    # no zone takes a street of 锦江区: its district dispatcher sees none
    assert client_as("district").get("/api/regions/zones.geojson").json() == {
        "type": "FeatureCollection",
        "features": [],
    }
    # 武侯区 gave four streets to 成都高新区: its dispatcher sees that zone, drawn with those
    user = get_user_model().objects.create(username="wuhou-dispatcher")
    post_grant(actor=SYSTEM, user=user, role="district_dispatcher", place_code="510107")
    features = client_as("wuhou-dispatcher").get("/api/regions/zones.geojson").json()["features"]
    assert [f["properties"]["code"] for f in features] == ["Z03"]
    streets = features[0]["properties"]["streets"]
    assert streets == ["510107061", "510107062", "510107063", "510107064"]
    assert set(streets) < set(whole["Z03"]["properties"]["streets"])
    part, all_of_it = (
        shapely.geometry.shape(f["geometry"]) for f in (features[0], whole["Z03"])
    )
    assert part.area < all_of_it.area and all_of_it.buffer(1e-9).covers(part)
    # nothing of the other zones' streets outside 武侯区 comes along
    assert all(not s.startswith("510116") for s in streets)
