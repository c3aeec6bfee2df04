"""The authorisation matrix: every role × places inside and outside its subtree × the read and
write endpoints and pages. Expected outcomes come from the table below (the rules as the
issue states them), not from the code under test."""

import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import signed_in
from wangge.regions.models import Grid, Region

pytestmark = pytest.mark.django_db

# username → the subtree its post may read (None: no places at all)
SEES = {
    "commander": "5101",
    "district": "510104",
    "street": "510104017",
    "community": "510104017001",
    "grid": "510104017001001",
    "micro": "510104017001001001",
    "cadre": "510104017001002",
    "volunteer": "510104017001003",
    "handler": "510104",
    "sysadmin": "5101",
    "secadmin": "5101",
    "auditadmin": None,
    "resident": None,
}
IMPORTS = {"sysadmin"}  # may import grids
TOKENS = {"commander", "district", "street", "community", "grid", "micro", "cadre", "handler"}
AUDIT = {"auditadmin"}

READS = [
    "/api/regions/{code}",
    "/api/regions/{code}/children",
    "/api/regions/{code}/outline.geojson",
    "/regions/{code}/",
]

_clients: dict[str, Client] = {}


def _codes() -> list[str]:
    regions = list(Region.objects.values_list("code", flat=True))
    grids = list(Grid.objects.order_by("code").values_list("code", flat=True))
    near = [c for c in grids if c.startswith("510104017001")]
    return regions + near + grids[::97]


HYP = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@HYP
@given(data=st.data(), username=st.sampled_from(sorted(SEES)))
def test_reads_follow_the_subtree(city, data, username):
    code = data.draw(st.sampled_from(_codes()))
    client = signed_in(Client(), username)
    sees = SEES[username]
    expected = 200 if sees is not None and code.startswith(sees) else 404
    for path in READS:
        r = client.get(path.format(code=code))
        assert r.status_code == expected, (username, path, code, r.status_code)


@pytest.mark.parametrize("username", sorted(SEES))
def test_writes_follow_the_rules_table(city, username):
    client = signed_in(Client(), username)
    empty = {"type": "FeatureCollection", "features": []}
    r = client.post("/api/regions/import", json.dumps(empty), content_type="application/json")
    assert r.status_code == (200 if username in IMPORTS else 403), r.content
    r = client.post(
        "/api/tokens", json.dumps({"name": "phone", "days": 30}), content_type="application/json"
    )
    assert r.status_code == (201 if username in TOKENS else 403), r.content
    r = client.get("/audit/")
    assert r.status_code == (200 if username in AUDIT else 404)
    r = client.get("/audit/export.csv")
    assert r.status_code == (200 if username in AUDIT else 404)


@pytest.mark.parametrize("username", sorted(SEES))
def test_each_post_starts_at_its_own_place(city, username):
    client = signed_in(Client(), username)
    r = client.get("/", follow=True)
    assert r.status_code == 200
    sees = SEES[username]
    # the closed loop's posts start at their work: the phone page, the queue, the unit's queue
    work = {
        "grid": "/events/m/",
        "micro": "/events/m/",
        "community": "/events/queue/",
        "street": "/events/queue/",
        "district": "/events/queue/",
        "handler": "/events/unit/",
    }
    if username in work:
        assert r.redirect_chain[-1][0] == work[username]
    elif sees:
        assert r.redirect_chain[-1][0] == f"/regions/{sees}/"
    elif username in AUDIT:
        assert r.redirect_chain[-1][0] == "/audit/"


def test_out_of_scope_locate_is_404(city):
    g = Grid.objects.filter(code__startswith="510104018", kind="micro").first()
    client = signed_in(Client(), "community")
    r = client.get("/api/locate", {"lon": g.centroid_lon, "lat": g.centroid_lat})
    assert r.status_code == 404
    r = signed_in(Client(), "district").get(
        "/api/locate", {"lon": g.centroid_lon, "lat": g.centroid_lat}
    )
    assert r.status_code == 200


def test_anonymous_requests_are_refused(city):
    c = Client()
    assert c.get("/api/regions/5101").status_code == 401
    r = c.get("/regions/5101/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")
    assert c.get("/api/docs").status_code in (200, 401)
