import pytest

from wangge.regions.models import Grid

pytestmark = pytest.mark.django_db


def test_browser_drills_down_in_chinese(city, client):
    r = client.get("/regions/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert r.status_code == 200
    html = r.content.decode()
    assert "成都市" in html and "锦江区" in html and "/regions/510104/" in html
    assert "网格" in html and "子级" in html  # translated chrome
    r = client.get("/regions/510104/")
    html = r.content.decode()
    assert (
        "春熙路街道" in html and 'data-children-url="/api/regions/510104/children.geojson"' in html
    )


def test_browser_in_english(city, client):
    r = client.get("/regions/510104/", HTTP_ACCEPT_LANGUAGE="en")
    assert "General grids" in r.content.decode()


def test_grid_and_micro_grid_pages(city, client):
    g = Grid.objects.filter(kind="general").first()
    html = client.get(f"/regions/{g.code}/").content.decode()
    assert g.name in html and "第1微网格" in html
    m = g.children.first()
    html = client.get(f"/regions/{m.code}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "This grid has no micro-grids." in html
    # the breadcrumb leads back up to the city
    assert "/regions/5101/" in html and f"/regions/{g.code}/" in html


def test_unknown_place_page_is_404(city, client):
    assert client.get("/regions/510199/").status_code == 404


def test_root_redirects_to_browser(client, db):
    r = client.get("/")
    assert r.status_code == 302 and r["Location"] == "/regions/"
