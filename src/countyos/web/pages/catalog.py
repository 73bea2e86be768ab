"""Catalog pages: search and list datasets, a dataset's page (schema and classification, versions,
quality, lineage), classifying a column, declaring a column's differential-privacy facts
(clipping bounds of a numeric column, the public domain of a categorical one), and the raw-row
preview for those who may read rows.

Owns the HTML of the catalog. Every answer comes from the catalog's service functions
(``catalog.datasets``, ``catalog.discovery``, ``catalog.public``, ``catalog.query.run_query``),
so a page shows exactly what ``/api/v1/datasets`` would: min/max profile values and raw rows only
to those ``can_read_rows`` allows, classification changes and DP declarations only by ``can_manage_dataset``
(``catalog.update_column`` decides). It must not query the lake itself.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select

from countyos.auth import can_manage_dataset, can_read_rows, require
from countyos.catalog import datasets as catalog
from countyos.catalog.classify import LEVELS, ROLES
from countyos.catalog.discovery import search_datasets
from countyos.catalog.organisation import list_departments
from countyos.catalog.public import column_public, dataset_detail, dataset_summary, table_rows, version_public
from countyos.catalog.query import run_query
from countyos.db.lab_models import Grant, ScenarioDataset, Twin
from countyos.errors import CountyOSError, NotFoundError, PermissionDeniedError
from countyos.lab.projects import list_scenarios
from countyos.web.pages.forms import FormErrors, verify_csrf
from countyos.web.pages.lab_dp_view import is_numeric
from countyos.web.pages.portal import PortalUser, UserDep, get_portal, gettext_of, render

router = APIRouter(include_in_schema=False)
ROW_PREVIEW = 50
DOMAIN_SEPARATORS = re.compile(r"[,，\n]")


def _column_view(column: dict[str, Any]) -> dict[str, Any]:
    """A column's public facts, plus whether DP treats it as numeric (bounds) or categorical."""
    return {**column, "numeric": is_numeric(column["type"])}


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


def _dataset_page(request: Request, user: PortalUser, name: str, *,
                  dp_errors: dict[str, FormErrors] | None = None,
                  dp_values: dict[str, dict[str, str]] | None = None, status: int = 200) -> Response:
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
    detail["columns"] = [_column_view(c) for c in detail["columns"]]
    lineage["scenarios"] = [scenario_titles[i] for i in lineage["scenarios"] if i in scenario_titles]
    return render(request, "dataset.html", {"d": detail, "versions": versions, "lineage": lineage,
                                            "levels": LEVELS, "roles": ROLES,
                                            "dp_errors": dp_errors or {}, "dp_values": dp_values or {}},
                  status=status, active="catalog")


@router.get("/catalog/{name}")
def dataset_page(request: Request, name: str, user: UserDep) -> Response:
    return _dataset_page(request, user, name)


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
        col = _column_view(column_public(updated))
    if request.headers.get("hx-request") == "true":
        return render(request, "column_row.html", {"c": col, "dataset": name, "manage": True,
                                                   "levels": LEVELS, "roles": ROLES, "saved": True})
    return RedirectResponse(f"/catalog/{name}#schema", status_code=303)


def _bound(errors: FormErrors, field: str, value: str, whole: bool, _: Any) -> float | None:
    try:
        number = float(value.strip())
    except ValueError:
        errors.setdefault(field, _("Give a number."))
        return None
    if not math.isfinite(number):
        errors.setdefault(field, _("Give a number."))
        return None
    if whole and not number.is_integer():
        errors.setdefault(field, _("An integer column needs whole-number bounds."))
        return None
    return number


@router.post("/catalog/{name}/columns/{column}/dp", dependencies=[Depends(verify_csrf)])
def declare_dp(request: Request, name: str, column: str, user: UserDep,
               lower: Annotated[str, Form()] = "", upper: Annotated[str, Form()] = "",
               domain: Annotated[str | None, Form()] = None) -> Response:
    """The steward declares a numeric column's clipping bounds, or a categorical column's public
    domain (comma-separated), for differential privacy (``catalog.update_column``)."""
    _ = gettext_of(request)
    hub = get_portal(request).hub
    with hub.db.session() as session:
        dataset = catalog.get_dataset(session, name)
        require(can_manage_dataset(user.principal, department_id=dataset.department_id),
                f"only admins and stewards of {dataset.department.code!r} may declare its columns")
        target = next((c for c in dataset.columns if c.name == column), None)
        if target is None:
            raise NotFoundError(f"dataset {name!r} has no column {column!r}")
        numeric, whole = is_numeric(target.data_type), target.data_type.startswith(("int", "uint"))
    errors = FormErrors()
    changes: dict[str, Any] = {}
    if numeric:
        errors.require("lower", lower, _("Give the lower bound."))
        errors.require("upper", upper, _("Give the upper bound."))
        if not errors:
            low, high = _bound(errors, "lower", lower, whole, _), _bound(errors, "upper", upper, whole, _)
            if low is not None and high is not None and not low < high:
                errors["upper"] = _("The upper bound must be above the lower bound.")
            changes["bounds"] = (low, high)
    else:
        values = [v.strip() for v in DOMAIN_SEPARATORS.split(domain or "") if v.strip()]
        if not values:
            errors["domain"] = _("List every possible value, separated by commas.")
        elif len(set(values)) != len(values):
            errors["domain"] = _("A value is listed twice.")
        changes["public_domain"] = values
    if not errors:
        try:
            with hub.db.session() as session:
                updated = catalog.update_column(session, user.principal, dataset=name, column=column,
                                                **changes)
                col = _column_view(column_public(updated))
            if request.headers.get("hx-request") == "true":
                return render(request, "column_row.html", {
                    "c": col, "dataset": name, "manage": True, "levels": LEVELS, "roles": ROLES,
                    "saved": True})
            return RedirectResponse(f"/catalog/{name}#col-{column}", status_code=303)
        except CountyOSError as error:
            if error.status in (403, 404):
                raise
            errors.service_error(error, "domain" if not numeric else "upper", _)
    values_typed = {"lower": lower, "upper": upper, "domain": domain or ""}
    if request.headers.get("hx-request") == "true":
        with hub.db.session() as session:
            current = next(c for c in catalog.get_dataset(session, name).columns if c.name == column)
            col = _column_view(column_public(current))
        return render(request, "column_row.html", {
            "c": col, "dataset": name, "manage": True, "levels": LEVELS, "roles": ROLES,
            "dp_errors": {column: errors}, "dp_values": {column: values_typed}}, status=400)
    return _dataset_page(request, user, name, dp_errors={column: errors},
                         dp_values={column: values_typed}, status=400)


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
