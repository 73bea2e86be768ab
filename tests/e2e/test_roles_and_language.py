"""Each role's own world on the home page, and the language switch, in a real browser."""

from __future__ import annotations

from tests.e2e.conftest import County, login


def test_viewer_township_staff_and_english(county: County, browser_context, shot) -> None:
    viewer = browser_context().new_page()
    login(viewer, county, "viewer_leader")
    card = viewer.locator("#card-indicators")
    assert "户籍人口" in card.inner_text()                 # published indicators, in Chinese
    assert viewer.locator("#card-my-projects, #card-my-datasets").count() == 0
    nav = viewer.inner_text("nav.main-nav")
    assert "数据导入" not in nav and "用户管理" not in nav
    shot(viewer, "viewer-home")

    staff = browser_context().new_page()
    login(staff, county, county.staff)
    township = staff.inner_text("#card-my-township")
    assert "户籍人口" in township and any(ch.isdigit() for ch in township)
    assert staff.locator("#card-township-events.placeholder").count() == 1
    shot(staff, "staff-home")

    staff.click("header .who a.lang")                     # English
    staff.wait_for_selector("text=Published indicators")
    assert "Data catalog" in staff.inner_text("nav.main-nav")
    assert "户籍人口" not in staff.inner_text("#card-my-township")
    shot(staff, "staff-home-en")
    staff.goto("/catalog")
    assert staff.inner_text("h1") == "Data catalog"
    staff.fill("#f-q", "人口")                             # search as you type (htmx)
    staff.wait_for_function("() => document.querySelectorAll('#catalog-results tbody tr').length === 1")
    assert "population_registry" in staff.inner_text("#catalog-results")

    # log-out ends the session: its token is revoked, the old cookie opens nothing
    cookies = staff.context.cookies()
    staff.click("header .who button[type=submit]")
    staff.wait_for_url("**/login")
    replay = browser_context().new_page()
    replay.context.add_cookies(cookies)
    replay.goto("/")
    assert "/login" in replay.url
