import pytest

from wangge.regions.models import Grid

pytestmark = pytest.mark.django_db


def test_browser_drills_down_in_chinese(commander):
    r = commander.get("/regions/5101/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert r.status_code == 200
    html = r.content.decode()
    assert "成都市" in html and "锦江区" in html and "/regions/510104/" in html
    assert "网格" in html and "子级" in html  # translated chrome
    r = commander.get("/regions/510104/")
    html = r.content.decode()
    assert (
        "春熙路街道" in html and 'data-children-url="/api/regions/510104/children.geojson"' in html
    )


def test_browser_in_english(commander):
    r = commander.get("/regions/510104/", HTTP_ACCEPT_LANGUAGE="en")
    assert "General grids" in r.content.decode()


def test_grid_and_micro_grid_pages(commander):
    g = Grid.objects.filter(kind="general").first()
    html = commander.get(f"/regions/{g.code}/").content.decode()
    assert g.name in html and "第1微网格" in html
    m = g.children.first()
    html = commander.get(f"/regions/{m.code}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "This grid has no micro-grids." in html
    # the breadcrumb leads back up to the city
    assert "/regions/5101/" in html and f"/regions/{g.code}/" in html


def test_unknown_place_page_is_404(commander):
    assert commander.get("/regions/510199/").status_code == 404


def test_root_leads_to_the_posts_own_place(commander):
    r = commander.get("/")
    assert r.status_code == 302 and r["Location"] == "/regions/"
    r = commander.get("/regions/")
    assert r.status_code == 302 and r["Location"] == "/regions/5101/"
