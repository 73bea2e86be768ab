"""The web portal: server-rendered pages (Jinja2 + htmx, charts and maps with ECharts) on top of
the same service functions as the REST API.

Owns the HTML side of ``countyos.web``: the browser session (log-in with username + API token,
signed HttpOnly cookie, CSRF on every form), the pages of each module, the showcase wall, the
one message catalog (Simplified Chinese by default, English available) and the registry through
which later modules add their pages (``registry.PortalModule``). It must not hold business or
permission rules: pages call ``countyos.catalog``, ``countyos.lab``, ``countyos.auth`` exactly as
the API routers do.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from countyos.hub import Hub
from countyos.web.pages import vendor
from countyos.web.pages.errors import install_page_error_handlers
from countyos.web.pages.modules import default_registry
from countyos.web.pages.portal import Portal
from countyos.web.pages.registry import PortalModule

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def install_portal(app: FastAPI, hub: Hub, *, modules: tuple[PortalModule, ...] = ()) -> Portal:
    """Add the portal to ``app``: static files, vendor files, every module's pages, HTML errors.

    Args:
        app: the FastAPI app (its API routers and JSON error handlers already installed).
        hub: the installation.
        modules: extra portal modules (tests, embedding applications).

    Returns:
        The portal, also kept on ``app.state.portal``.
    """
    registry = default_registry(modules)
    portal = Portal(hub, registry)
    app.state.portal = portal
    app.include_router(vendor.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    for router in registry.routers():
        app.include_router(router)
    install_page_error_handlers(app)
    return portal


__all__ = ["Portal", "PortalModule", "install_portal"]
