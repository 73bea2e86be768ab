"""Browser tests of the portal: a real uvicorn server on 127.0.0.1 with a tiny Demo County, driven
by Playwright with Debian's Chromium.

- ``county``: one Demo County (scale 0.004) in a temporary COUNTYOS_HOME for the whole session,
  with the showcase public (as the Demo County installs it) and one lab scenario published.
- ``server``: the app served by uvicorn in a thread on a free port of 127.0.0.1.
- ``browser_context``: a factory of browser contexts (1366×768 unless told) that records every
  request; at the end of each test every recorded URL must be on the server's own origin.
- ``shot``: saves a screenshot under ``test-output/screenshots/``.

Missing Chromium, Playwright or the front-end packages skip these tests (and fail them in CI, where
``COUNTYOS_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError

from countyos.auth import Principal
from countyos.auth.users import create_token
from countyos.demo.install import install_demo
from countyos.hub import Hub
from countyos.lab import projects
from countyos.settings import Settings
from countyos.web.app import create_app
from countyos.site_settings import set_showcase_public
from countyos.web.pages.vendor import missing_vendor_files

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
OPERATOR = Principal(username="e2e-setup", role="admin")
SCENARIO = "ageing"
USERS = ("admin", "steward_gongan", "dev_zhiyuan", "viewer_leader", "steward_gongdian")


def _skip_reason() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    missing = missing_vendor_files()
    if missing:
        return f"front-end packages missing: {', '.join(missing)} (npm ci --ignore-scripts)"
    return None


@dataclass
class County:
    hub: Hub
    tokens: dict[str, str]
    staff: str


@pytest.fixture(scope="session")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    hub = Hub(Settings(home=tmp_path_factory.mktemp("e2e") / "home"))
    result = install_demo(hub, scale=0.004, seed=5)
    staff = next(name for name in result.user_tokens if name.startswith("staff_"))
    with hub.db.session() as session:
        set_showcase_public(session, OPERATOR, public=True)
        projects.publish_scenario(
            session, OPERATOR, slug=SCENARIO, title_zh="人口老龄化服务",
            title_en="Services for an ageing county", problem_zh="各乡镇老年人口分布与服务配置",
            datasets=["population_registry", "enterprise_registry"])
        tokens = {name: create_token(session, OPERATOR, username=name, name="e2e")
                  for name in (*USERS, staff)}
    yield County(hub=hub, tokens=tokens, staff=staff)
    hub.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def server(county: County) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    config = uvicorn.Config(create_app(hub=county.hub), host="127.0.0.1", port=port,
                            log_level="warning", access_log=False)
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, name="e2e-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not runner.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    runner.should_exit = True
    thread.join(timeout=15)


@pytest.fixture(scope="session")
def browser(county: County):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Recorder:
    origin: str
    urls: list[str] = field(default_factory=list)

    def foreign(self) -> list[str]:
        return [u for u in self.urls
                if not (u.startswith(self.origin + "/") or u.startswith(("data:", "blob:", "about:")))]


@pytest.fixture
def browser_context(browser, server: str) -> Iterator[Callable[..., object]]:  # type: ignore[no-untyped-def]
    """``browser_context(width=1366, height=768)`` → a new context recording every request."""
    contexts, recorders = [], []

    def make(width: int = 1366, height: int = 768, locale: str = "zh-CN"):  # type: ignore[no-untyped-def]
        context = browser.new_context(viewport={"width": width, "height": height}, locale=locale,
                                      base_url=server, accept_downloads=True)
        recorder = Recorder(origin=server)
        context.on("request", lambda request: recorder.urls.append(request.url))
        contexts.append(context)
        recorders.append(recorder)
        return context

    yield make
    for context in contexts:
        context.close()
    foreign = [u for r in recorders for u in r.foreign()]
    assert any(r.urls for r in recorders), "the request recorder saw nothing"
    assert foreign == [], f"pages loaded from outside {server}: {foreign}"


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[..., Path]:
    """``shot(page, "step")`` saves ``test-output/screenshots/<test>-<step>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)

    def take(page, step: str, full_page: bool = False) -> Path:  # type: ignore[no-untyped-def]
        path = SCREENSHOTS / f"{name}-{step}.png"
        # Debian's headless Chromium now and then answers Page.captureScreenshot with "Unable to
        # capture screenshot" (a compositor hiccup, not page behaviour): try again a few times.
        for attempt in range(4):
            try:
                page.screenshot(path=str(path), full_page=full_page)
                return path
            except PlaywrightError as error:
                if "Unable to capture screenshot" not in str(error) or attempt == 3:
                    raise
                page.wait_for_timeout(250)
        return path

    return take


def login(page, county: County, username: str) -> None:  # type: ignore[no-untyped-def]
    """Log ``username`` in through the log-in form; ends on their home page."""
    page.goto("/login")
    page.fill("#f-username", username)
    page.fill("#f-token", county.tokens[username])
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))


__all__ = ["CHROMIUM", "SCENARIO", "County", "login"]
