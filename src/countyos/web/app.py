"""The FastAPI application factory: the REST API under ``/api/v1``, its offline docs, and the portal.

Owns assembling one app for one installation: the API routers and their JSON error handlers
(``countyos.web.errors``), ``/healthz``, the OpenAPI docs served from local files (no CDN), and
the web portal (``countyos.web.pages.install_portal``). It must not hold pages or business rules.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from countyos import __version__
from countyos.hub import Hub
from countyos.settings import Settings
from countyos.web.api import audit, datasets, lab, organisation, users
from countyos.web.errors import install_error_handlers
from countyos.web.pages import install_portal


def create_app(settings: Settings | None = None, *, hub: Hub | None = None) -> FastAPI:
    """Build the app for one installation (pass ``hub`` to share one already open)."""
    hub = hub or Hub(settings or Settings())
    app = FastAPI(
        title="CountyOS API",
        version=__version__,
        description="县域数字底座 CountyOS — data hub, catalog and query API. "
        "Every call needs `Authorization: Bearer <token>`.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.hub = hub
    install_error_handlers(app)

    api = APIRouter(prefix="/api/v1")
    for module in (organisation, users, datasets, lab, audit):
        api.include_router(module.router)
    app.include_router(api)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict:
        with hub.db.session() as session:
            session.execute(select(1))
        return {"status": "ok", "version": __version__}

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="CountyOS API",
            swagger_js_url="/static/vendor/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )

    install_portal(app, hub)
    return app
