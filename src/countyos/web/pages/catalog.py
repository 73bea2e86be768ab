"""Catalog pages: search and list datasets, a dataset's page (schema and classification, versions,
quality, lineage), classifying a column, and the raw-row preview for those who may read rows.

Owns the HTML of the catalog. Every answer comes from the catalog's service functions
(``catalog.datasets``, ``catalog.discovery``, ``catalog.public``, ``catalog.query.run_query``),
so a page shows exactly what ``/api/v1/datasets`` would: min/max profile values and raw rows only
to those ``can_read_rows`` allows, classification changes only by ``can_manage_dataset``. It must
not query the lake itself.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select

from countyos.auth import can_read_rows
from countyos.catalog import datasets as catalog
from countyos.catalog.classify import LEVELS, ROLES
from countyos.catalog.discovery import search_datasets
from countyos.catalog.organisation import list_departments
from countyos.catalog.public import column_public, dataset_detail, dataset_summary, table_rows, version_public
from countyos.catalog.query import run_query
from countyos.db.lab_models import Grant, ScenarioDataset, Twin
from countyos.errors import PermissionDeniedError
from countyos.lab.projects import list_scenarios
from countyos.web.pages.forms import verify_csrf
from countyos.web.pages.portal import UserDep, get_portal, render

router = APIRouter(include_in_schema=False)
ROW_PREVIEW = 50


@router.get("/catalog")
def catalog_page(request: Request, user: UserDep, q: str = "",
                 department: str = "") -> Response:
    hub = get_portal(request).hub
    with hub.db.session() as session:
        if q.strip():
            found = [(dataset_summary(d), round(score, 3)) for d, score in search_datasets(session, q)
                     if not department or d.department.code == department]
        else:
            found = [(dataset_summary(d), None)
                     for d in catalog.list_datasets(session, department=department or None)]
        departments = {d.code: (d.name_zh, d.name_en) for d in list_departments(session)}
    context = {"results": found, "q": q, "department": department, "departments": departments}
    if request.headers.get("hx-target") == "catalog-results":
        return render(request, "catalog_results.html", context)
    return render(request, "catalog_list.html", context, active="catalog")


def _lineage(session: Any, dataset_id: int) -> dict[str, Any]:
    """Where the dataset is used: scenarios offering it, grants and twins (counts only)."""
    scenarios = [sd for sd in session.execute(
        select(ScenarioDataset).where(ScenarioDataset.dataset_id == dataset_id)).scalars()]
    grants = dict(session.execute(select(Grant.status, func.count(Grant.id))
                                  .where(Grant.dataset_id == dataset_id).group_by(Grant.status)).all())
    twins = session.scalar(select(func.count(Twin.id)).where(Twin.dataset_id == dataset_id))
    return {"scenarios": sorted({sd.scenario_id for sd in scenarios}), "grants": grants, "twins": twins}


@router.get("/catalog/{name}")
def dataset_page(request: Request, name: str, user: UserDep) -> Response:
    hub = get_portal(request).hub
    with hub.db.session() as session:
        dataset = catalog.get_dataset(session, name)
        current = catalog.get_version(session, dataset) if dataset.current_version else None
        detail = dataset_detail(dataset, current, user.principal)
        row_level = detail["you_may"]["read_rows"]
        versions = [version_public(v, row_level=row_level)
                    for v in reversed(catalog.list_versions(session, dataset))]
        lineage = _lineage(session, dataset.id)
        scenario_titles = {s.id: (s.slug, s.title_zh, s.title_en) for s in list_scenarios(session)}
    lineage["scenarios"] = [scenario_titles[i] for i in lineage["scenarios"] if i in scenario_titles]
    return render(request, "dataset.html", {"d": detail, "versions": versions, "lineage": lineage,
                                            "levels": LEVELS, "roles": ROLES}, active="catalog")


@router.post("/catalog/{name}/columns/{column}", dependencies=[Depends(verify_csrf)])
def classify_column(
    request: Request, name: str, column: str,
    user: UserDep,
    level: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    personal: Annotated[str, Form()] = "",
    description_zh: Annotated[str | None, Form()] = None,
    description_en: Annotated[str | None, Form()] = None,
) -> Response:
    hub = get_portal(request).hub
    with hub.db.session() as session:
        updated = catalog.update_column(
            session, user.principal, dataset=name, column=column, level=level or None,
            role=role or None, personal=personal in ("on", "true", "1"),
            description_zh=description_zh, description_en=description_en)
        col = column_public(updated)
    if request.headers.get("hx-request") == "true":
        return render(request, "column_row.html", {"c": col, "dataset": name, "manage": True,
                                                   "levels": LEVELS, "roles": ROLES, "saved": True})
    return RedirectResponse(f"/catalog/{name}#schema", status_code=303)


@router.get("/catalog/{name}/rows")
def dataset_rows(request: Request, name: str, user: UserDep) -> Response:
    """The first rows of a dataset, for its own department and admins (``run_query`` decides)."""
    catalog.validate_name(name)
    hub = get_portal(request).hub
    answer = run_query(hub, user.principal, sql=f'SELECT * FROM "{name}" LIMIT {ROW_PREVIEW}',
                       max_rows=ROW_PREVIEW)
    with hub.db.session() as session:
        dataset = catalog.get_dataset(session, name)
        allowed = can_read_rows(user.principal, department_id=dataset.department_id)
        summary = dataset_summary(dataset)
    if not allowed:  # run_query already refused; this is a second line of defence
        raise PermissionDeniedError(f"raw rows of dataset {name!r} are not for you")
    return render(request, "dataset_rows.html", {
        "d": summary, "columns": answer.table.column_names, "rows": table_rows(answer.table),
        "limit": ROW_PREVIEW}, active="catalog")
