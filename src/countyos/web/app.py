"""The FastAPI application factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select

from countyos import __version__
from countyos.db.models import Dataset, DatasetVersion, Department, Township
from countyos.hub import Hub
from countyos.settings import Settings
from countyos.web.api import audit, datasets, lab, organisation, users
from countyos.web.errors import install_error_handlers

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def create_app(settings: Settings | None = None, *, hub: Hub | None = None) -> FastAPI:
    """Build the app for one installation (pass ``hub`` to share one already open)."""
    hub = hub or Hub(settings or Settings())
    app = FastAPI(
        title="CountyOS API",
        version=__version__,
        description="县域数字底座 CountyOS — data hub, catalog and query API. "
        "Every call needs `Authorization: Bearer <token>`.",
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

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> HTMLResponse:
        with hub.db.session() as session:
            counts = {
                "datasets": session.scalar(select(func.count(Dataset.id))),
                "departments": session.scalar(select(func.count(Department.id))),
                "townships": session.scalar(select(func.count(Township.id))),
                "rows": session.scalar(
                    select(func.coalesce(func.sum(DatasetVersion.rows), 0))
                    .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
                    .where(DatasetVersion.version == Dataset.current_version)
                ),
            }
        return TEMPLATES.TemplateResponse(
            request, "home.html",
            {"county": hub.settings.county_name, "counts": counts, "version": __version__},
        )

    return app
