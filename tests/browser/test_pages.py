"""Every page of the cockpit and the loop, as the people who use it, used a little (periods,
the map's figure, functional zones, sorting): no console error, uncaught exception or CSP
violation anywhere."""

from __future__ import annotations

from datetime import timedelta

from tests.browser.conftest import assert_clean
from tests.browser.pages import COMMUNITY, DISTRICT, GRID, MICRO, STREET, cockpit_ready


def _cockpit(user, path: str):
    page = user.open(path)
    cockpit_ready(page)
    return page


def _page(user, path: str):
    return user.open(path, wait="networkidle")


def _first_event(user, path: str, link: str = "td.title a"):
    page = _page(user, path)
    first = page.locator(link).first
    assert first.count() == 1, f"no event listed on {path}"
    return _page(user, first.get_attribute("href"))


def test_no_errors_on_any_page(people):
    users = []

    district = people("district")
    users.append(district)
    page = _cockpit(district, f"/cockpit/{DISTRICT}/")
    for period in ("today", "90d"):
        with page.expect_navigation():
            page.click(f"form.period button[value='{period}']")
        cockpit_ready(page)
    end = page.get_attribute("#cockpit", "data-end")
    start = (_date(end) - timedelta(days=20)).isoformat()
    page.fill("input[name=start]", start)
    page.fill("input[name=end]", end)
    with page.expect_navigation():
        page.click("form.period button[value='custom']")
    cockpit_ready(page)
    assert page.get_attribute("#cockpit", "data-period") == "custom"
    for kpi in ("reported", "overdue", "median_hours", "verify_pass_rate"):
        page.select_option("#kpi-select", kpi)
        page.wait_for_function(
            "(k) => document.querySelector('.cockpit-legend b')?.textContent === k",
            arg=page.inner_text(f"#kpi-select option[value={kpi}]"),
        )
    # 锦江区 is in no functional zone: no overlay to offer
    assert page.locator("#zones-toggle").count() == 0
    page.click("#ranking th[data-sort=reported]")
    page.click("#ranking th[data-sort=reported]")
    page.click("#ranking th[data-sort=name]")
    district.shot("cockpit-district-used", full_page=True)
    _cockpit(district, f"/cockpit/{DISTRICT}/?screen=1&period=7d")
    _page(district, "/events/queue/?held=below")
    _page(district, "/regions/")
    _page(district, "/events/inbox/")

    commander = people("commander")
    users.append(commander)
    page = _cockpit(commander, "/cockpit/5101/")
    page.check("#zones-toggle")
    page.wait_for_selector(".zone-label", timeout=10_000)
    commander.shot("cockpit-city-zones")
    _cockpit(commander, "/cockpit/5101/?screen=1")

    street = people("street")
    users.append(street)
    _cockpit(street, f"/cockpit/{STREET}/")
    _page(street, "/events/queue/")

    community = people("community")
    users.append(community)
    _cockpit(community, f"/cockpit/{COMMUNITY}/")
    _first_event(community, "/events/queue/?held=below&state=all")
    _page(community, "/events/spot-checks/")

    handler = people("handler")
    users.append(handler)
    _first_event(handler, "/events/unit/?state=all")

    grid = people("grid")
    users.append(grid)
    _cockpit(grid, f"/cockpit/{GRID}/")  # a grid's figures come from its raw events

    # (the phone pages, at 360 px, in test_phone.py)
    micro = people("micro")
    users.append(micro)
    _cockpit(micro, f"/cockpit/{MICRO}/")  # no children: the map shows the micro-grid itself

    seen = sorted({u.split("?")[0] for user in users for u in user.visited})
    assert len(seen) >= 12, seen
    assert_clean(*users)


def _date(text: str):
    from datetime import date

    return date.fromisoformat(text)
