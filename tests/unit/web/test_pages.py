"""Portal pages through the real app: same permission checks as the API, readable errors without
stack traces, the import dialog end to end, the showcase switch and the module registry."""

from __future__ import annotations

import re
import time

import pytest
from fastapi import APIRouter
from sqlalchemy import select

from countyos.db.models import AuditEntry
from countyos.errors import PermissionDeniedError
from countyos.web.app import create_app
from countyos.web.pages import install_portal
from countyos.web.pages.i18n import N_
from countyos.web.pages.registry import NavEntry, PortalModule, PortalRegistry, ShowcasePanel
from countyos.site_settings import set_showcase_public, showcase_is_public
from countyos.web.pages.vendor import VENDOR_FILES, find_vendor_file
from tests.conftest import ADMIN
from tests.unit.web.conftest import Portal

CSV = "person_id,township_code,amount\n" + "".join(f"p{i:03d},330999001,{i}.5\n" for i in range(30))


def _import(portal: Portal, client, name: str = "subsidy", department: str = "public_security",  # type: ignore[no-untyped-def]
            content: str = CSV, **extra):
    token = portal.csrf(client, "/catalog/import")
    preview = client.post("/catalog/import/preview", data={
        "csrf_token": token, "name": name, "department": department, "title_zh": "补贴", **extra},
        files={"file": ("subsidy.csv", content.encode(), "text/csv")})
    return token, preview


def _wait_for_import(client, location: str) -> str:  # type: ignore[no-untyped-def]
    for _ in range(200):
        page = client.get(location, headers={"hx-request": "true"}).text
        status = re.search(r'data-status="(\w+)"', page).group(1)
        if status in ("done", "failed"):
            return page
        time.sleep(0.05)
    raise AssertionError("the import did not finish")


def test_import_dialog_preview_override_and_progress(portal: Portal) -> None:
    client = portal.login("gongan")
    token, preview = _import(portal, client)
    assert preview.status_code == 200 and "p000" in preview.text
    upload_id = re.search(r'name="upload_id" value="([0-9a-f]{32})"', preview.text).group(1)
    fields = {"csrf_token": token, "upload_id": upload_id, "name": "subsidy",
              "department": "public_security", "title_zh": "补贴",
              "columns": ["person_id", "township_code", "amount"], "types": ["", "", "decimal(18,2)"]}
    # someone else cannot use this upload, even knowing its id
    other = portal.login("admin")
    stolen = other.post("/catalog/import/start", data={**fields, "csrf_token": portal.csrf(other)})
    assert stolen.status_code == 404
    started = client.post("/catalog/import/start", data=fields)
    assert started.status_code == 303
    page = _wait_for_import(client, started.headers["location"])
    assert 'data-status="done"' in page and "30" in page
    detail = portal.env.client.get("/api/v1/datasets/subsidy", headers=portal.env.as_("gongan")).json()
    assert {c["name"]: c["type"] for c in detail["columns"]}["amount"] == "decimal128(18, 2)"
    assert other.get(started.headers["location"]).status_code == 404        # not their import


def test_import_errors_are_shown_next_to_the_field(portal: Portal) -> None:
    client = portal.login("gongan")
    _, bad_name = _import(portal, client, name="Bad Name")
    assert bad_name.status_code == 400
    assert re.search(r'has-error">\s*<label for="f-name"', bad_name.text)
    _, wrong_department = _import(portal, client, department="power_supply")
    assert wrong_department.status_code == 200                              # preview is harmless
    token = portal.csrf(client, "/catalog/import")
    upload_id = re.search(r'name="upload_id" value="(\w+)"', wrong_department.text).group(1)
    started = client.post("/catalog/import/start", data={
        "csrf_token": token, "upload_id": upload_id, "name": "power_x", "department": "power_supply",
        "title_zh": "x"})
    page = _wait_for_import(client, started.headers["location"])
    assert 'data-status="failed"' in page and "only admins and stewards" in page
    assert "Traceback" not in page
    _, misfit = _import(portal, client, name="misfit", columns=["person_id"], types=["int64"])
    assert misfit.status_code == 400 and misfit.text.count('class="field-error"') == 1
    assert "person_id" in re.search(r'th class="has-error">(.*?)</th>', misfit.text, re.S).group(1)


def test_upload_larger_than_the_limit_is_refused(portal: Portal) -> None:
    portal.hub.settings.web.max_upload_bytes = 100
    client = portal.login("gongan")
    _, response = _import(portal, client)
    assert response.status_code == 400 and "upload limit" in response.text
    assert not list((portal.hub.settings.staging_dir / "web-uploads").glob("*/*.csv"))


def test_developers_see_metadata_only_and_classification_follows_the_api(portal: Portal) -> None:
    steward = portal.login("gongan")
    _, preview = _import(portal, steward, name="people")
    token = portal.csrf(steward, "/catalog/import")
    upload_id = re.search(r'name="upload_id" value="(\w+)"', preview.text).group(1)
    done = steward.post("/catalog/import/start", data={"csrf_token": token, "upload_id": upload_id,
                                                       "name": "people", "department": "public_security",
                                                       "title_zh": "人"})
    _wait_for_import(steward, done.headers["location"])
    developer = portal.login("dev")
    page = developer.get("/catalog/people").text
    assert "p000" not in page and "29.5" not in page                          # no rows, no min/max
    assert developer.get("/catalog/people/rows").status_code == 403
    assert "p000" in steward.get("/catalog/people/rows").text
    assert "29.5" in steward.get("/catalog/people").text                      # max shown to owner
    for client, expected in ((portal.login("gongdian"), 403), (steward, 200)):
        response = client.post("/catalog/people/columns/amount",
                               data={"level": "sensitive", "role": "measure", "personal": "on"},
                               headers={"x-csrf-token": portal.csrf(client), "hx-request": "true"})
        assert response.status_code == expected
    assert "已确认" in response.text
    with portal.hub.db.session() as session:
        assert session.execute(select(AuditEntry).where(AuditEntry.action == "column.classify")).first()


def test_errors_are_pages_for_people_and_json_for_programs(portal: Portal) -> None:
    client = portal.login("viewer")
    missing = client.get("/catalog/no_such_dataset")
    assert missing.status_code == 404 and "<html" in missing.text and "no_such_dataset" in missing.text
    api = portal.env.client.get("/api/v1/datasets/no_such_dataset", headers=portal.env.as_("viewer"))
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
    assert client.get("/admin/users").status_code == 403
    assert portal.env.client.get("/healthz").json()["status"] == "ok"


def test_an_unexpected_error_shows_no_stack_trace(portal: Portal) -> None:
    from fastapi.testclient import TestClient

    router = APIRouter()

    @router.get("/broken")
    def broken() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    app = create_app(hub=portal.hub)
    app.include_router(router)
    client = TestClient(app, raise_server_exceptions=False)
    response = client.get("/broken")
    assert response.status_code == 500
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert "服务器出现错误" in response.text


def test_showcase_switch_is_for_admins_and_audited(portal: Portal) -> None:
    anonymous = portal.client()
    assert anonymous.get("/showcase").status_code == 303                     # private by default
    with portal.hub.db.session() as session:
        assert showcase_is_public(session) is False
        with pytest.raises(PermissionDeniedError):
            set_showcase_public(session, portal.env.hub and _principal("gongan"), public=True)
    admin = portal.login("admin")
    assert admin.post("/admin/settings/showcase",
                      data={"public": "1", "csrf_token": portal.csrf(admin)}).status_code == 303
    assert anonymous.get("/showcase").status_code == 200
    assert anonymous.get("/showcase/panels/map").status_code == 200
    assert anonymous.get("/showcase/geojson").json()["features"][0]["properties"]["code"] == "330999001"
    assert anonymous.get("/showcase/panels/nope").status_code == 404
    steward = portal.login("gongan")
    assert steward.post("/admin/settings/showcase",
                        data={"public": "", "csrf_token": portal.csrf(steward)}).status_code == 403
    with portal.hub.db.session() as session:
        entries = session.execute(select(AuditEntry).where(
            AuditEntry.action == "site.showcase_public")).scalars().all()
        assert [e.actor for e in entries] == ["admin"] and entries[0].details["public"] is True


def _principal(username: str):  # type: ignore[no-untyped-def]
    from countyos.auth import Principal

    return Principal(username=username, role="steward", user_id=None, department_id=1)


def test_a_module_adds_pages_nav_and_a_panel_by_registering(portal: Portal) -> None:
    router = APIRouter()

    @router.get("/devices")
    def devices() -> dict:
        return {"ok": True}

    panel = ShowcasePanel("devices", N_("Smart devices"), "panel_placeholder.html",
                          lambda ctx: {}, area="right", order=10)
    module = PortalModule("devices", routers=(router,), panels=(panel,),
                          nav=(NavEntry("devices", "Devices", "/devices", roles=("admin",), order=70),))
    from fastapi import FastAPI

    from countyos.web.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)
    registry = install_portal(app, portal.hub, modules=(module,)).registry
    assert registry.panel("devices") is panel and not registry.panel("devices").placeholder
    assert [e.key for e in registry.nav_for("admin")][-4:] == ["devices", "users", "audit", "settings"]
    assert "devices" not in [e.key for e in registry.nav_for("viewer")]
    twice = PortalRegistry()
    twice.add(module)
    with pytest.raises(ValueError):
        twice.add(module)
    with pytest.raises(ValueError):
        ShowcasePanel("x", "X", "t.html", lambda ctx: {}, area="top")


def test_vendor_files_are_a_closed_list(portal: Portal) -> None:
    client = portal.client()
    for name in ("../../../../etc/passwd", "..%2F..%2Fpackage.json", "jquery.js"):
        assert client.get(f"/static/vendor/{name}").status_code == 404
    if find_vendor_file("htmx.min.js") is None:
        pytest.skip("front-end packages not installed (npm ci --ignore-scripts)")
    served = client.get("/static/vendor/htmx.min.js")
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/javascript")
    assert set(VENDOR_FILES) >= {"echarts.min.js", "htmx.min.js"}
    docs = client.get("/docs").text
    assert "/static/vendor/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    with portal.hub.db.session() as session:
        set_showcase_public(session, ADMIN, public=True)
    wall = client.get("/showcase").text
    assert not re.search(r'(src|href)="(https?:)?//', wall)                 # nothing from outside


def test_the_county_name_is_a_site_setting_for_admins(portal: Portal) -> None:
    from countyos.errors import InvalidInputError
    from countyos.site_settings import county_name, set_county_name

    admin = portal.login("admin")
    configured = portal.hub.settings.county_name
    assert configured in admin.get("/").text                         # unset: the configured name
    with portal.hub.db.session() as session:
        with pytest.raises(PermissionDeniedError):
            set_county_name(session, _principal("gongan"), "别的县")
        for bad in ("", "   ", "县" * 65):
            with pytest.raises(InvalidInputError):
                set_county_name(session, ADMIN, bad)
        assert county_name(session, configured) == configured        # nothing was changed
        set_county_name(session, ADMIN, " 舜川县 ")
    page = admin.get("/").text
    assert "舜川县" in page and configured not in page
    with portal.hub.db.session() as session:
        entries = session.execute(select(AuditEntry).where(
            AuditEntry.action == "site.county_name")).scalars().all()
        assert [e.details["name"] for e in entries] == ["舜川县"]
