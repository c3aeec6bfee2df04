"""One event through the closed loop, every step in the browser of the person who takes it:
the micro-grid worker reports it on the phone with a photo, the community secretary accepts it
(the dispatch rules send it to the 城管 unit; the secretary dispatches by hand when they do not
name one unit), the 城管 handler acknowledges it and handles it with an "after" photo, the grid
worker verifies and closes it; the community's cockpit, left open, moves with it through its
live poll."""

from __future__ import annotations

import re
import uuid

from tests.browser.conftest import PHONE, assert_clean
from tests.browser.pages import (
    CG_UNIT,
    COMMUNITY,
    MICRO,
    act,
    cards,
    cockpit_ready,
    photo,
    same_figure,
    state,
    wait_card,
)

CATEGORY = "0102"  # 乱张贴乱涂画: a 城管 matter; handling it needs an "after" photo


def test_event_from_the_phone_to_closed_moves_the_cockpit(people, demo, tmp_path):
    # the community's cockpit for today, open on the secretary's screen
    watcher = people("community")
    cockpit = watcher.open(f"/cockpit/{COMMUNITY}/?period=today")
    cockpit_ready(cockpit)
    before = cards(cockpit)
    api = watcher.api(f"/api/cockpit/{COMMUNITY}/summary?period=today")
    for k in ("reported", "closed", "open"):
        assert same_figure(before[k], api["kpis"][k]["value"]), (k, before[k], api["kpis"][k])

    # 1. the micro-grid worker reports on the phone (no position: the grid chosen by hand)
    micro = people("micro", PHONE, is_mobile=True, has_touch=True)
    phone = micro.open("/events/m/report/")
    title = f"E2E 小广告 {uuid.uuid4().hex[:6]}"
    phone.set_input_files("#photos", str(photo(tmp_path / "before.jpg", "before")))
    phone.select_option("#category", CATEGORY)
    phone.fill("#title", title)
    phone.fill("#description", "单元门口墙面贴满小广告")
    phone.fill("#address", "水井坊 1 号楼 2 单元门口")
    assert phone.input_value("#grid_code") == MICRO
    micro.shot("flow-1-report-form", full_page=True)
    with phone.expect_navigation():
        phone.click("#send")
    assert phone.url.split("?")[0].endswith("/events/m/"), phone.url
    message = phone.inner_text("ul.messages li.success")
    number = re.search(r"E\d{8}[0-9A-F]+", message).group()
    link = phone.locator("a.ev-main", has_text=title)
    event_url = link.get_attribute("href")
    assert re.fullmatch(r"/events/\d+/", event_url), event_url
    micro.shot("flow-1-reported", full_page=True)

    # the cockpit hears of it by itself: reported and open up by one, the feed shows it
    wait_card(cockpit, "reported", before["reported"] + 1)
    wait_card(cockpit, "open", before["open"] + 1)
    cockpit.wait_for_selector(f"#list-feed li:has-text('{number}')")
    watcher.shot("flow-2-cockpit-reported", full_page=True)

    # 2. the community secretary accepts; it goes to the 城管 unit
    secretary = people("community")
    queue = secretary.open(f"/events/queue/?q={number}")
    with queue.expect_navigation():
        queue.locator("a", has_text=title).first.click()
    assert queue.url.endswith(event_url), queue.url
    act(queue, "accept")
    if state(queue) == "accepted":  # the rules named no single unit: the secretary picks
        act(queue, "dispatch", select={"select[name=unit]": CG_UNIT})
    assert state(queue) == "dispatched"
    assert CG_UNIT in queue.inner_text("dl.facts")
    secretary.shot("flow-3-dispatched", full_page=True)

    # 3. the handler acknowledges and handles it
    handler = people("handler")
    unit = handler.open("/events/unit/")
    with unit.expect_navigation():
        unit.locator("a", has_text=title).first.click()
    act(unit, "acknowledge")
    assert state(unit) == "acknowledged"
    act(
        unit,
        "handle",
        note="已清除小广告并清洗墙面",
        photos=[photo(tmp_path / "after.jpg", "after", "#4c8c5a")],
    )
    assert state(unit) == "handled"
    handler.shot("flow-4-handled", full_page=True)

    # 4. the grid worker checks it on the phone and closes it
    grid = people("grid", PHONE, is_mobile=True, has_touch=True)
    todo = grid.open("/events/m/?tab=verify")
    item = todo.locator("li.ev", has_text=title)
    assert item.count() == 1, "the handled event waits for the grid worker's check"
    grid.shot("flow-5-to-verify", full_page=True)
    with todo.expect_navigation():
        item.locator("form:has(input[value=verify_pass]) button").click()
    assert todo.locator("ul.messages li.success").count() == 1
    detail = grid.open(event_url)
    assert state(detail) == "closed"
    grid.shot("flow-6-closed", full_page=True)

    # the cockpit, still open: closed up by one, open back where it was
    wait_card(cockpit, "closed", before["closed"] + 1)
    wait_card(cockpit, "open", before["open"])
    assert cards(cockpit)["reported"] == before["reported"] + 1
    watcher.shot("flow-7-cockpit-closed", full_page=True)

    # and a fresh load agrees with the API and the database
    cockpit.reload()
    cockpit_ready(cockpit)
    after = cards(cockpit)
    api = watcher.api(f"/api/cockpit/{COMMUNITY}/summary?period=today")
    for k, v in api["kpis"].items():
        assert same_figure(after[k], v["value"]), (k, after[k], v["value"])
    assert after["reported"] == before["reported"] + 1
    assert after["closed"] == before["closed"] + 1
    assert after["open"] == before["open"]
    assert after["accepted"] == (before["accepted"] or 0) + 1
    assert after["open"] == demo.events_open(COMMUNITY)
    assert_clean(watcher, micro, secretary, handler, grid)
