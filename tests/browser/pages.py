"""What the browser tests do on the pages: read the cockpit, click a place on its map, take an
action on an event, measure a layout."""

from __future__ import annotations

import re

READY_MS = 30_000

# The district of the demo accounts, and the way down to the micro-grid.
CITY = "5101"
DISTRICT = "510104"
STREET = "510104017"
COMMUNITY = "510104017001"
GRID = "510104017001001"
MICRO = "510104017001001001"
CG_UNIT = "锦江区综合行政执法局（城管）"  # the demo's 城管 unit, where ``handler`` works


def cockpit_ready(page, timeout: int = READY_MS) -> None:
    """The map is drawn and every figure loaded (``#cockpit.ready``)."""
    page.wait_for_selector("#cockpit.map-ready", timeout=timeout)
    page.wait_for_selector("#cockpit.ready", timeout=timeout)


def number(text: str) -> float | None:
    """A KPI as shown: ``1,234`` → 1234, ``88.0%`` → 88.0, ``36.0 h`` → 36.0, ``—`` → None."""
    text = text.strip()
    if text in ("", "—", "-"):
        return None
    m = re.search(r"-?[\d,]*\d(?:\.\d+)?", text)
    assert m, f"not a number: {text!r}"
    return float(m.group().replace(",", ""))


def cards(page) -> dict[str, float | None]:
    """The KPI cards (``.kpi[data-kpi]``) as numbers."""
    shown = page.eval_on_selector_all(
        ".kpi[data-kpi]",
        "els => els.map(e => [e.dataset.kpi, e.querySelector('.value').textContent])",
    )
    return {k: number(v) for k, v in shown}


def same_figure(shown: float | None, value: float | None) -> bool:
    if value is None or shown is None:
        return shown is None and value is None
    return abs(shown - round(float(value), 1)) < 0.051


def wait_card(page, kpi: str, value: float, timeout: int = 30_000) -> None:
    """Wait until the card shows ``value`` (the live poll reloads the figures)."""
    page.wait_for_function(
        """([k, v]) => {
            const el = document.querySelector('.kpi[data-kpi="' + k + '"] .value');
            if (!el) return false;
            const n = parseFloat(el.textContent.replace(/,/g, ""));
            return n === v;
        }""",
        arg=[kpi, value],
        timeout=timeout,
    )


# The children's polygons: translucent interactive paths (the event markers are paths too, but
# opaque; the node's own outline is not interactive).
CHOROPLETH = """() => [...document.querySelectorAll('#cockpit-map path.leaflet-interactive')]
    .filter(p => parseFloat(p.getAttribute('fill-opacity') || '1') < 1)"""


def choropleth_paths(page) -> int:
    """How many children's polygons the map draws."""
    return page.evaluate(f"() => ({CHOROPLETH})().length")


def click_place(page, user, code: str) -> None:
    """Click, with the mouse, a point of the child ``code``'s polygon that nothing covers."""
    url = page.get_attribute("#cockpit", "data-children-url")
    fc = user.api(url)
    codes = [f["properties"]["code"] for f in fc["features"] if f.get("geometry")]
    assert code in codes, f"{code} is not on the map of {page.url}"
    page.locator("#cockpit-map").scroll_into_view_if_needed()
    point = page.evaluate(
        """(i) => {
            const path = (CHOROPLETH)()[i];
            const r = path.getBoundingClientRect();
            const cx = r.left + r.width / 2, cy = r.top + r.height / 2, pts = [];
            for (let a = 0; a <= 20; a++) for (let b = 0; b <= 20; b++)
                pts.push([r.left + r.width * a / 20, r.top + r.height * b / 20]);
            pts.sort((p, q) => Math.hypot(p[0] - cx, p[1] - cy) - Math.hypot(q[0] - cx, q[1] - cy));
            for (const [x, y] of pts) {
                if (document.elementFromPoint(x, y) === path) return [x, y];
            }
            return null;
        }""".replace("CHOROPLETH", CHOROPLETH),
        codes.index(code),
    )
    assert point, f"no uncovered point of {code}'s polygon to click"
    with page.expect_navigation():
        page.mouse.click(*point)
    assert f"/cockpit/{code}/" in page.url, page.url


def act(
    page, action: str, *, note: str = "", select: dict | None = None, photos: list | None = None
) -> None:
    """Take ``action`` with its form on the event page; the page must say it is done."""
    box = page.locator(f"#act-{action}")
    assert box.count() == 1, f"no {action} form on {page.url}: " + ", ".join(
        page.eval_on_selector_all("details.act", "els => els.map(e => e.id)")
    )
    if box.get_attribute("open") is None:
        box.locator("summary").click()
    for selector, label in (select or {}).items():
        box.locator(selector).select_option(label=label)
    if photos:
        box.locator("input[type=file][name=photos]").set_input_files([str(p) for p in photos])
    if note:
        box.locator("textarea[name=note]").fill(note)
    with page.expect_navigation():
        box.locator("button[type=submit]").click()
    assert page.locator(".error-box").count() == 0, page.locator(".error-box").inner_text()
    assert page.locator("ul.messages li.success").count() == 1, f"{action}: no success message"


def photo(path, text: str, colour: str = "#8a9bb0"):
    """A small JPEG, as a phone camera would send (with something drawn on it)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (800, 600), colour)
    draw = ImageDraw.Draw(img)
    draw.rectangle((120, 140, 680, 460), outline="#ffffff", width=12)
    draw.text((150, 280), text, fill="#ffffff")
    img.save(path, "JPEG", quality=80)
    return path


def state(page) -> str:
    """The event's state on its page (``s-<state>`` of the big state badge)."""
    cls = page.get_attribute(".statusline .state", "class") or ""
    m = re.search(r"\bs-(\w+)", cls)
    return m.group(1) if m else ""


def overflow(page, width: int) -> dict:
    """The page's scroll width and the elements reaching past ``width`` (the culprits)."""
    return page.evaluate(
        """(w) => {
            const out = [];
            for (const el of document.querySelectorAll("body *")) {
                const r = el.getBoundingClientRect();
                if (r.right > w + 1 && r.width > 0) {
                    out.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
                        (el.className && typeof el.className === "string"
                            ? "." + el.className.trim().split(/\\s+/).join(".") : "") +
                        " right=" + Math.round(r.right));
                }
            }
            return {scroll: document.scrollingElement.scrollWidth, culprits: out.slice(0, 12)};
        }""",
        width,
    )
