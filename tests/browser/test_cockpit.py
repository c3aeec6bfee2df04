"""The cockpit in a real browser: the map, the figures against the API and the database, the
drill-down by the map, the big screen."""

from __future__ import annotations

from datetime import date

import pytest

from tests.browser.conftest import assert_clean
from tests.browser.pages import (
    CITY,
    COMMUNITY,
    DISTRICT,
    STREET,
    cards,
    choropleth_paths,
    click_place,
    cockpit_ready,
    number,
    same_figure,
)


@pytest.mark.parametrize("username,root", [("district", DISTRICT), ("commander", CITY)])
def test_cockpit_map_and_figures_match_api_and_database(people, demo, username, root):
    user = people(username)
    page = user.open("/cockpit/")
    assert page.url.split("?")[0].endswith(f"/cockpit/{root}/"), page.url
    cockpit_ready(page)
    user.shot(f"cockpit-{username}", full_page=True)

    # one polygon per child, and one ranking row per child
    rows = page.locator("#ranking tbody tr[data-code]").count()
    children = user.api(f"/api/cockpit/{root}/children?period=30d")
    assert rows == len(children) > 0
    assert choropleth_paths(page) == rows

    # the cards show what the API answers …
    period = page.get_attribute("#cockpit", "data-period")
    summary = user.api(f"/api/cockpit/{root}/summary?period={period}")
    shown = cards(page)
    assert set(shown) == set(summary["kpis"])
    wrong = {
        k: (shown[k], v["value"])
        for k, v in summary["kpis"].items()
        if not same_figure(shown[k], v["value"])
    }
    assert not wrong, f"cards differ from the API (shown, API): {wrong}"

    # … and what the database holds
    start = date.fromisoformat(summary["period"]["start"])
    end = date.fromisoformat(summary["period"]["end"])
    assert summary["kpis"]["reported"]["value"] == demo.events_reported(root, start, end)
    assert summary["kpis"]["open"]["value"] == demo.events_open(root)
    assert summary["kpis"]["reported"]["value"] > 0, "the demo has reports in 30 days"

    # the ranking adds up to the node
    for kpi in ("reported", "closed", "open", "overdue"):
        cells = page.eval_on_selector_all(
            f"#ranking tbody tr[data-code] td:nth-child({_column(page, kpi)})",
            "els => els.map(e => e.dataset.v)",
        )
        assert sum(int(float(v)) for v in cells) == summary["kpis"][kpi]["value"], kpi
    assert_clean(user)


def _column(page, key: str) -> int:
    keys = page.eval_on_selector_all("#ranking thead th", "els => els.map(e => e.dataset.sort)")
    return keys.index(key) + 1


def test_drill_down_by_the_map_and_back_by_the_breadcrumb(people):
    user = people("district")
    page = user.open(f"/cockpit/{DISTRICT}/")
    cockpit_ready(page)
    district_name = page.get_attribute("#cockpit", "data-name")

    click_place(page, user, STREET)
    cockpit_ready(page)
    street_name = page.get_attribute("#cockpit", "data-name")
    crumbs = page.locator("nav.crumbs")
    assert crumbs.locator("a", has_text=district_name).count() == 1
    assert street_name in crumbs.inner_text()
    assert choropleth_paths(page) == page.locator("#ranking tbody tr[data-code]").count() > 0

    click_place(page, user, COMMUNITY)
    cockpit_ready(page)
    user.shot("cockpit-community-drilled", full_page=True)
    assert crumbs.locator("a", has_text=district_name).count() == 1
    assert crumbs.locator("a", has_text=street_name).count() == 1
    assert page.get_attribute("#cockpit", "data-name") in crumbs.inner_text()
    assert choropleth_paths(page) == page.locator("#ranking tbody tr[data-code]").count() > 0

    with page.expect_navigation():
        crumbs.locator("a", has_text=district_name).click()
    assert f"/cockpit/{DISTRICT}/" in page.url
    cockpit_ready(page)
    assert_clean(user)


def test_big_screen_fits_reads_and_rotates(people):
    user = people("district", {"width": 1920, "height": 1080})
    page = user.open(f"/cockpit/{DISTRICT}/?screen=1")
    cockpit_ready(page)
    page.wait_for_timeout(500)  # plots settle
    user.shot("big-screen")

    size = page.evaluate(
        """() => ({h: document.scrollingElement.scrollHeight,
                   w: document.scrollingElement.scrollWidth,
                   panels: [...document.querySelectorAll('.screen .panel, .screen .kpi')]
                       .filter(e => e.offsetParent !== null)
                       .map(e => Math.round(e.getBoundingClientRect().bottom))})"""
    )
    assert size["h"] <= 1080 and size["w"] <= 1920, f"scrollbars: {size}"
    assert max(size["panels"]) <= 1080, f"panels reach below the screen: {size['panels']}"

    kpis = page.eval_on_selector_all(
        ".kpi b",
        """els => els.map(e => ({px: parseFloat(getComputedStyle(e).fontSize),
                                  text: e.textContent, clipped: e.scrollWidth > e.clientWidth}))""",
    )
    assert kpis and all(k["px"] >= 40 for k in kpis), kpis
    assert not [k for k in kpis if k["clipped"]], f"KPI figures cut off: {kpis}"
    cards = page.evaluate(
        """() => {
            const row = document.querySelector('.screen-kpis').getBoundingClientRect();
            return {row: row.bottom, cards: [...document.querySelectorAll('.screen-kpis .kpi')]
                .map(k => {
                    const b = k.querySelector('b');
                    return {kpi: k.dataset.kpi, text: b.textContent,
                            bottom: k.getBoundingClientRect().bottom,
                            lines: b.getBoundingClientRect().height
                                   / parseFloat(getComputedStyle(b).fontSize)};
                })};
        }"""
    )
    wrapped = [c for c in cards["cards"] if c["lines"] > 1.6]
    assert not wrapped, f"KPI figures on two lines: {wrapped}"
    over = [c for c in cards["cards"] if c["bottom"] > cards["row"] + 1]
    assert not over, f"KPI cards reach below their row ({cards['row']:.0f}px): {over}"
    assert all(number(k["text"]) is not None or k["text"].strip() == "—" for k in kpis)

    def showing():
        return page.eval_on_selector_all(
            "[data-rotate]",
            "els => els.filter(e => !e.hidden).map(e => e.querySelector('h2').textContent)",
        )

    before = showing()
    title = page.inner_text("#map-kpi")
    page.wait_for_function(
        "(t) => [...document.querySelectorAll('[data-rotate]')].filter(e => !e.hidden)"
        ".map(e => e.querySelector('h2').textContent).join('|') !== t",
        arg="|".join(before),
        timeout=13_000,
    )
    assert showing() != before
    assert page.inner_text("#map-kpi") != title, "the map's figure rotates with the panels"
    page.wait_for_timeout(800)
    user.shot("big-screen-rotated")
    assert_clean(user)
