"""The showcase (成果展示中心 / 大屏): the county on one dark, full-screen, self-refreshing wall.

Owns ``/showcase`` (the page), ``/showcase/panels/<key>`` (one panel's HTML fragment, polled by
htmx so the wall updates without reloading), ``/showcase/geojson`` (the townships' own GeoJSON,
registered with ECharts in the browser: no tile server, works offline) and the core panels: key
indicators, trends, the township map coloured by a chosen indicator, datasets by department, lab
scenarios and their released results, and marked empty panels for devices and events that later
modules fill by registering a panel with the same key. Indicator values come from
``countyos.web.pages.indicators`` (checked trusted aggregates), lab figures are counts of
metadata. The admin decides whether the wall is public (``site_settings``); otherwise it needs a
log-in. It must not show a raw row or an unreleased output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import func, select

from countyos.catalog.organisation import list_departments, list_townships, townships_geojson
from countyos.db.lab_models import Job, JobOutput, Project
from countyos.db.models import Dataset, DatasetVersion
from countyos.errors import NotFoundError
from countyos.lab.projects import list_scenarios
from countyos.web.pages.home import indicator_cache
from countyos.web.pages.i18n import N_
from countyos.web.pages.indicators import INDICATORS
from countyos.web.pages.portal import (
    LoginRequired,
    Portal,
    PortalUser,
    current_user,
    finish,
    get_portal,
    gettext_of,
    language_of,
    render,
)
from countyos.web.pages.registry import ShowcasePanel
from countyos.site_settings import showcase_is_public

router = APIRouter(include_in_schema=False)
TEXT = "#cfe3ff"
PALETTE = ["#0e3a5f", "#145a86", "#1f7bb6", "#35a3d9", "#6fd0f0", "#b8f1ff"]


@dataclass
class PanelContext:
    """What a showcase panel's loader gets (``user`` is None on a public wall)."""

    request: Request
    portal: Portal
    user: PortalUser | None
    language: str
    gettext: Callable[[str], str]

    def param(self, name: str, default: str = "") -> str:
        return self.request.query_params.get(name, default)


def require_showcase_access(request: Request) -> PortalUser | None:
    """The wall is open to everyone when public, else to logged-in users."""
    user = current_user(request)
    if user is None:
        with get_portal(request).hub.db.session() as session:
            if not showcase_is_public(session):
                raise LoginRequired()
    return user


def _context(request: Request, user: PortalUser | None) -> PanelContext:
    return PanelContext(request, get_portal(request), user, language_of(request), gettext_of(request))


@router.get("/showcase")
def showcase_page(request: Request) -> Response:
    user = require_showcase_access(request)
    portal = get_portal(request)
    township_indicators = [i for i in INDICATORS if i.kind == "township"]
    return render(request, "showcase.html", {
        "panels": portal.registry.panels(), "areas": ("left", "center", "right"),
        "indicators": township_indicators, "viewer": user}, active="showcase")


@router.get("/showcase/panels/{key}")
def showcase_panel(request: Request, key: str) -> Response:
    user = require_showcase_access(request)
    panel = get_portal(request).registry.panel(key)
    if panel is None:
        raise NotFoundError(f"no showcase panel {key!r}")
    data = panel.load(_context(request, user))
    return render(request, panel.template, {"panel": panel, **data,
                                            "updated": datetime.now(UTC).astimezone()})


@router.get("/showcase/geojson")
def showcase_geojson(request: Request) -> Response:
    user = require_showcase_access(request)
    with get_portal(request).hub.db.session() as session:
        collection = townships_geojson(session)
    response = JSONResponse(collection, headers={"Cache-Control": "public, max-age=300"})
    finish(request, response, private=user is not None)
    return response


def _kpis(ctx: PanelContext) -> dict[str, Any]:
    cache = indicator_cache(ctx.portal)
    tiles = []
    for result in cache.available(ctx.portal.hub, "township"):
        tiles.append({"label": result.indicator.label, "unit": result.indicator.unit,
                      "value": result.total, "suppressed": result.total is None})
    for result in cache.available(ctx.portal.hub, "trend"):
        latest = result.latest
        tiles.append({"label": result.indicator.label, "unit": result.indicator.unit,
                      "value": latest[1] if latest else None, "period": latest[0] if latest else None,
                      "suppressed": latest is None})
    return {"tiles": tiles}


def _line(periods: list[str], values: list[float | None], name: str) -> dict[str, Any]:
    return {
        "animation": False, "grid": {"left": 48, "right": 12, "top": 24, "bottom": 24},
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "category", "data": periods, "axisLabel": {"color": TEXT, "fontSize": 10}},
        "yAxis": {"type": "value", "axisLabel": {"color": TEXT, "fontSize": 10},
                  "splitLine": {"lineStyle": {"color": "#1b3350"}}},
        "series": [{"type": "line", "name": name, "smooth": True, "showSymbol": False,
                    "connectNulls": False, "data": values, "lineStyle": {"color": "#35d0ff"},
                    "areaStyle": {"color": "rgba(53,208,255,0.18)"}}],
    }


def _trends(ctx: PanelContext) -> dict[str, Any]:
    charts = []
    for result in indicator_cache(ctx.portal).available(ctx.portal.hub, "trend"):
        periods = [k for k, _ in result.cells][-24:]
        values = [round(v, 1) if v is not None else None for _, v in result.cells][-24:]
        label = ctx.gettext(result.indicator.label)
        charts.append({"label": result.indicator.label, "unit": result.indicator.unit,
                       "suppressed": result.suppressed, "option": _line(periods, values, label)})
    return {"charts": charts}


def _map(ctx: PanelContext) -> dict[str, Any]:
    township_keys = [i.key for i in INDICATORS if i.kind == "township"]
    key = ctx.param("indicator") if ctx.param("indicator") in township_keys else (
        township_keys[0] if township_keys else "")
    result = indicator_cache(ctx.portal).get(ctx.portal.hub, key) if key else None
    with ctx.portal.hub.db.session() as session:
        names = {t.code: t.name_zh for t in list_townships(session) if t.geometry}
    values = {code: value for code, value in (result.cells if result else [])}
    data = [{"name": name, "value": round(values[code], 1) if values.get(code) is not None else None}
            for code, name in names.items()]
    shown = [d["value"] for d in data if d["value"] is not None]
    option = {
        "animation": False,
        "tooltip": {"trigger": "item"},
        "visualMap": {"min": min(shown) if shown else 0, "max": max(shown) if shown else 1,
                      "calculable": True, "left": 12, "bottom": 12, "itemHeight": 110,
                      "textStyle": {"color": TEXT}, "inRange": {"color": PALETTE}},
        "series": [{"type": "map", "map": "county", "roam": False, "nameProperty": "name",
                    "label": {"show": True, "color": "#ffffff", "fontSize": 11,
                              "textBorderColor": "#06152a", "textBorderWidth": 2},
                    "itemStyle": {"borderColor": "#6fd0f0", "borderWidth": 0.8,
                                  "areaColor": "#233249"},
                    "emphasis": {"label": {"color": "#ffffff"},
                                 "itemStyle": {"areaColor": "#f0a23a"}},
                    "data": data}],
    }
    return {"indicator": result.indicator if result else None, "option": option,
            "suppressed": sum(1 for d in data if d["value"] is None), "townships": len(data)}


def _datasets(ctx: PanelContext) -> dict[str, Any]:
    with ctx.portal.hub.db.session() as session:
        counts = dict(session.execute(select(Dataset.department_id, func.count(Dataset.id))
                                      .group_by(Dataset.department_id)).all())
        rows = session.scalar(select(func.coalesce(func.sum(DatasetVersion.rows), 0))
                              .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
                              .where(DatasetVersion.version == Dataset.current_version))
        departments = [(d.name_en if ctx.language == "en" and d.name_en else d.name_zh,
                        counts.get(d.id, 0)) for d in list_departments(session)]
    departments = [d for d in departments if d[1]]
    option = {
        "animation": False, "grid": {"left": 8, "right": 24, "top": 8, "bottom": 8,
                                     "containLabel": True},
        "xAxis": {"type": "value", "minInterval": 1, "axisLabel": {"color": TEXT, "fontSize": 10},
                  "splitLine": {"lineStyle": {"color": "#1b3350"}}},
        "yAxis": {"type": "category", "data": [d[0] for d in departments],
                  "axisLabel": {"color": TEXT, "fontSize": 11}},
        "series": [{"type": "bar", "data": [d[1] for d in departments], "barMaxWidth": 14,
                    "itemStyle": {"color": "#35a3d9"}, "label": {"show": True, "position": "right",
                                                                  "color": TEXT}}],
    }
    return {"datasets": sum(counts.values()), "rows": rows, "option": option}


def _lab(ctx: PanelContext) -> dict[str, Any]:
    with ctx.portal.hub.db.session() as session:
        scenarios = []
        for scenario in list_scenarios(session):
            project_ids = select(Project.id).where(Project.scenario_id == scenario.id)
            released = session.execute(
                select(func.count(JobOutput.id), func.max(JobOutput.decided_at))
                .join(Job, Job.id == JobOutput.job_id)
                .where(Job.project_id.in_(project_ids), JobOutput.status == "released")).one()
            scenarios.append({
                "title": scenario.title_en if ctx.language == "en" and scenario.title_en
                else scenario.title_zh,
                "datasets": len(scenario.datasets),
                "projects": session.scalar(select(func.count()).select_from(project_ids.subquery())),
                "jobs": session.scalar(select(func.count(Job.id)).where(Job.project_id.in_(project_ids))),
                "released": released[0], "last_release": released[1]})
    return {"scenarios": scenarios}


def _placeholder(_: PanelContext) -> dict[str, Any]:
    return {}


PANELS = (
    ShowcasePanel("kpis", N_("Key indicators"), "panel_kpis.html", _kpis, area="left", order=10,
                  refresh_s=30, height=45),
    ShowcasePanel("trends", N_("Trends"), "panel_trends.html", _trends, area="left", order=20,
                  refresh_s=60, height=55),
    ShowcasePanel("map", N_("Townships"), "panel_map.html", _map, area="center", order=10,
                  refresh_s=30, height=68, controls="panel_map_controls.html"),
    ShowcasePanel("datasets", N_("Data hub"), "panel_datasets.html", _datasets, area="center",
                  order=20, refresh_s=30, height=32),
    ShowcasePanel("devices", N_("Smart devices"), "panel_placeholder.html", _placeholder,
                  area="right", order=10, height=22, placeholder=True),
    ShowcasePanel("events", N_("Events in progress by township"), "panel_placeholder.html",
                  _placeholder, area="right", order=20, height=28, placeholder=True),
    ShowcasePanel("lab", N_("Lab scenarios and released results"), "panel_lab.html", _lab,
                  area="right", order=30, refresh_s=30, height=50),
)
