"""The grid workers' phone pages at 360 px (the narrowest common Android width): nothing
scrolls sideways; and the duty check-in with the phone's position."""

from __future__ import annotations

from tests.browser.conftest import PHONE, assert_clean
from tests.browser.pages import MICRO, overflow

WIDTH = PHONE["width"]
MOBILE = {"is_mobile": True, "has_touch": True, "device_scale_factor": 2}


def _fits(user, path: str, name: str):
    page = user.open(path, wait="networkidle")
    user.shot(f"phone-{name}", full_page=True)
    out = overflow(page, WIDTH)
    assert out["scroll"] <= WIDTH + 1, f"{path} scrolls sideways at {WIDTH}px: {out}"
    return page


def test_phone_pages_fit_360px(people):
    micro = people("micro", PHONE, **MOBILE)
    _fits(micro, "/events/m/report/", "report")
    _fits(micro, "/events/m/", "events")
    page = _fits(micro, "/events/m/?tab=closed", "events-closed")
    events = page.locator("a.ev-main")
    assert events.count() > 0, "the micro-grid worker has closed events in the demo"
    _fits(micro, events.first.get_attribute("href"), "event")

    page = _fits(micro, "/workforce/m/", "duty")
    assert page.locator(".error-box").count() == 0, page.inner_text(".error-box")
    route = page.locator("a[href^='/workforce/duty/']").first
    assert route.count() == 1, "the demo gives the micro-grid worker some duty history"
    _fits(micro, route.get_attribute("href"), "duty-route")

    grid = people("grid", PHONE, **MOBILE)
    _fits(grid, "/events/m/?tab=verify", "verify")
    assert_clean(micro, grid)


def _position_in(user, code: str) -> dict:
    from shapely.geometry import shape

    feature = user.api(f"/api/regions/{code}/outline.geojson")
    p = shape(feature["geometry"]).representative_point()
    return {"longitude": p.x, "latitude": p.y, "accuracy": 12}


def test_duty_check_in_and_out_with_the_phone_position(people, demo):
    probe = people("micro", PHONE, **MOBILE)
    probe.open("/events/m/")
    where = _position_in(probe, MICRO)
    micro = people("micro", PHONE, **MOBILE, geolocation=where, permissions=["geolocation"])
    page = micro.open("/workforce/m/", wait="networkidle")
    if page.locator("#duty").count():  # on duty from the demo: check out first
        with page.expect_navigation():
            page.click("#duty-btn")
    assert page.locator("#duty").count() == 0
    with page.expect_navigation(timeout=5_000):  # the position is there at once
        page.click("#duty-btn")
    assert page.locator("#duty").count() == 1, "checked in"
    assert page.locator("#duty .flag.overdue").count() == 0, "checked in inside the own place"
    micro.shot("phone-duty-on", full_page=True)
    session = page.get_attribute("#duty", "data-session")
    _fits(micro, f"/workforce/duty/{session}/", "duty-route-now")
    page = micro.open("/workforce/m/")
    with page.expect_navigation(timeout=5_000):
        page.click("#duty-btn")
    assert page.locator("#duty").count() == 0, "checked out"
    assert_clean(micro)
