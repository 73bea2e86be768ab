"""The showcase wall in a real browser: public, drawn offline from the county's own GeoJSON, live."""

from __future__ import annotations

import re

from countyos.catalog.organisation import list_townships
from tests.e2e.conftest import County, login


def _map_state(page):  # type: ignore[no-untyped-def]
    return page.evaluate("""() => {
        const element = document.getElementById('county-map');
        const chart = element && window.echarts.getInstanceByDom(element);
        if (!chart) { return null; }
        const series = chart.getOption().series[0];
        const canvas = element.querySelector('canvas');
        return {type: series.type, map: series.map, regions: series.data.length,
                named: series.data.filter(d => d.value !== null && d.value !== undefined).length,
                registered: document.body.dataset.mapRegistered,
                canvas: canvas ? [canvas.width, canvas.height] : null,
                image: chart.getDataURL({type: 'png'}).length};
    }""")


def test_public_showcase_draws_the_township_map_offline(county: County, browser_context, shot) -> None:
    with county.hub.db.session() as session:
        townships = {t.name_zh for t in list_townships(session) if t.geometry}
    page = browser_context(1920, 1080).new_page()
    page.goto("/showcase")                       # no log-in: the Demo County's wall is public
    assert page.url.endswith("/showcase")
    page.wait_for_selector("body[data-map-ready='1']", timeout=20_000)
    state = _map_state(page)
    assert state["type"] == "map" and state["map"] == "county"
    assert state["regions"] == len(townships) == int(state["registered"])
    assert state["named"] > 0                    # population by township is published
    assert state["canvas"][0] > 300 and state["image"] > 10_000   # something was painted
    names = page.evaluate("() => window.echarts.getMap('county').geoJSON.features"
                          ".map(f => f.properties.name)")
    assert set(names) == townships
    # key indicators and the lab panel come in by themselves; device/event panels are marked empty
    page.wait_for_selector("#panel-body-kpis .kpi")
    page.wait_for_selector("#panel-body-trends .chart[data-rendered='1']")
    assert page.locator("#panel-devices.placeholder .tag").count() == 1
    assert page.locator("#panel-events.placeholder .tag").count() == 1
    note = page.inner_text("#panel-body-map .map-note")
    shot(page, "wall-1920")
    # choosing another indicator redraws the map without reloading the page
    page.evaluate("() => { window.__sameDocument = true; }")
    page.select_option("#indicator-select", "enterprises")
    page.wait_for_function("(old) => document.querySelector('#panel-body-map .map-note')"
                           " && document.querySelector('#panel-body-map .map-note').innerText !== old",
                           arg=note)
    page.wait_for_selector("body[data-map-ready='1']")
    assert page.evaluate("() => window.__sameDocument") is True
    assert "企业" in page.inner_text("#panel-body-map .map-note")
    page.set_viewport_size({"width": 1366, "height": 768})
    page.wait_for_timeout(300)
    shot(page, "wall-1366")


def test_admin_makes_the_showcase_private(county: County, browser_context, shot) -> None:
    admin = browser_context().new_page()
    login(admin, county, "admin")
    admin.goto("/admin/settings")
    admin.click("#toggle-showcase")              # public → log-in required
    admin.wait_for_selector("text=展示大屏需登录后查看")
    shot(admin, "private")
    anonymous = browser_context().new_page()
    anonymous.goto("/showcase")
    assert re.search(r"/login\?next=/showcase$", anonymous.url)
    assert anonymous.request.get("/showcase/geojson", max_redirects=0).status == 303
    admin.click("#toggle-showcase")              # back to public for the other tests
    admin.wait_for_selector("text=展示大屏已公开")
    anonymous.goto("/showcase")
    assert anonymous.url.endswith("/showcase")
