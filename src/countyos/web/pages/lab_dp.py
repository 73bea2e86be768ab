"""Differential privacy on a lab project's page: DP queries, accuracy planning, and budgets.

Owns the page routes of the lab's ``dp`` grant mode: a member asks a DP query (values with their
95% intervals and the charge, or the reason it was refused and that nothing was charged), plans
the ε (or ρ) an accuracy target needs, and the dataset's steward sets or changes the project's
budget. Every action calls the functions behind ``/api/v1/lab/projects/{p}/dp/…``
(``countyos.lab.dp_service``), so a page refuses exactly what the API refuses; checks here are
only about the shape of what was typed. It must not compute noise, charge or read data itself.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from countyos.auth import can_manage_dataset, require
from countyos.catalog.datasets import get_dataset
from countyos.errors import CountyOSError, InvalidInputError
from countyos.lab import dp_service, projects
from countyos.lab.dp import PrivacyParams
from countyos.web.pages.forms import FormErrors, verify_csrf
from countyos.web.pages.lab import render_project_page
from countyos.web.pages.lab_dp_view import ACCOUNTINGS, answer_view, dp_section, plan_view
from countyos.web.pages.portal import PortalUser, UserDep, get_portal, gettext_of, render

router = APIRouter(include_in_schema=False)


def _number(errors: FormErrors, field: str, value: str, message: str, *, low: float = 0.0,
            low_inclusive: bool = False, high: float | None = None) -> str | None:
    """``value`` stripped if it is a finite number in range, else a message next to ``field``."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        errors.setdefault(field, message)
        return None
    if not math.isfinite(number) or number < low or (number == low and not low_inclusive) or (
            high is not None and number >= high):
        errors.setdefault(field, message)
        return None
    return text


def _delta(errors: FormErrors, value: str, _: Any) -> str | None:
    """δ as typed (empty is 0), if it is a number in [0, 1)."""
    return _number(errors, "delta", value.strip() or "0", _("A number from 0 to below 1 (e.g. 1e-6)."),
                   low_inclusive=True, high=1.0)


def _member_project(request: Request, user: PortalUser, slug: str, what: str) -> None:
    """The access checks of ``dp_service`` first, so that they answer with a 404/403 page."""
    with get_portal(request).hub.db.session() as session:
        projects.require_member(projects.get_project(session, user.principal, slug),
                                user.principal, what)


def _fragment_or_page(request: Request, user: PortalUser, slug: str, template: str,
                      state: dict[str, Any], key: str, status: int) -> Response:
    """An htmx request gets the form's fragment (and the budgets, out of band); a plain form
    post gets the whole project page with the form's state."""
    if request.headers.get("hx-request") == "true":
        dp = dp_section(get_portal(request).hub, user.principal, slug)
        return render(request, template, {"p": {"slug": slug}, "dp": dp, key: state,
                                          "oob": state.get("answer") is not None},
                      status=status)
    return render_project_page(request, user, slug, status=status, extra={key: state})


def _privacy_fields(errors: FormErrors, epsilon: str, rho: str, delta: str, _: Any) -> dict[str, str]:
    given = {name: value.strip() for name, value in (("epsilon", epsilon), ("rho", rho)) if value.strip()}
    if len(given) != 1:  # shown next to whichever of the two fields the form has
        message = (_("Give ε or ρ, not both.") if given
                   else _("Give the ε (or, for zCDP budgets, the ρ) this query may spend."))
        errors["epsilon"] = errors["rho"] = message
    for name, value in given.items():
        _number(errors, name, value, _("A number greater than 0."))
    checked_delta = _delta(errors, delta, _)
    return {**given, "delta": checked_delta or "0"}


@router.post("/lab/projects/{slug}/dp/query", dependencies=[Depends(verify_csrf)])
def dp_query(request: Request, slug: str, user: UserDep, sql: Annotated[str, Form()] = "",
             epsilon: Annotated[str, Form()] = "", rho: Annotated[str, Form()] = "",
             delta: Annotated[str, Form()] = "") -> Response:
    """Ask one DP query for a project member (``dp_service.dp_query``)."""
    _ = gettext_of(request)
    _member_project(request, user, slug, "ask DP queries")
    errors = FormErrors()
    errors.require("sql", sql, _("Write the aggregate query."))
    params = _privacy_fields(errors, epsilon, rho, delta, _)
    state: dict[str, Any] = {"v": {"sql": sql, "epsilon": epsilon, "rho": rho, "delta": delta},
                             "errors": errors, "answer": None, "refused": False}
    status = 200
    if errors:
        status = 400
    else:
        try:
            answer = dp_service.dp_query(
                get_portal(request).hub, user.principal, project=slug, sql=sql,
                privacy=PrivacyParams(epsilon=params.get("epsilon"), rho=params.get("rho"),
                                      delta=params["delta"]))
            state["answer"] = answer_view(answer)
        except CountyOSError as error:
            if error.status >= 500:  # the error pages show a fixed message and log the details
                raise
            errors.service_error(error, "", _)
            state["refused"] = True  # every refusal comes before the charge, or with its rollback
            status = error.status
    return _fragment_or_page(request, user, slug, "dp_query.html", state, "dp_query", status)


@router.post("/lab/projects/{slug}/dp/plan", dependencies=[Depends(verify_csrf)])
def dp_plan(request: Request, slug: str, user: UserDep, sql: Annotated[str, Form()] = "",
            column: Annotated[str, Form()] = "", accuracy: Annotated[str, Form()] = "",
            percent: Annotated[str, Form()] = "", expected: Annotated[str, Form()] = "",
            delta: Annotated[str, Form()] = "") -> Response:
    """What ε (or ρ) a query needs for ±X (or ±p% of an expected value) on one output column."""
    _ = gettext_of(request)
    _member_project(request, user, slug, "plan DP queries")
    errors = FormErrors()
    errors.require("sql", sql, _("Write the aggregate query."))
    errors.require("column", column, _("Name the output column the target is for."))
    goal: dict[str, float] = {}
    if accuracy.strip() and (percent.strip() or expected.strip()):
        errors["accuracy"] = _("Give ±X or a percentage of an expected value, not both.")
    elif accuracy.strip() or not (percent.strip() or expected.strip()):
        value = _number(errors, "accuracy", accuracy, _("A number greater than 0."))
        goal = {"absolute": float(value)} if value else {}
    else:
        share = _number(errors, "percent", percent, _("A percentage greater than 0 and below 100."),
                        high=100.0)
        size = _number(errors, "expected", expected,
                       _("The value you expect, greater than 0 (e.g. from the synthetic twin)."))
        if share and size:
            goal = {"relative": float(share) / 100, "expected_value": float(size)}
    checked_delta = _delta(errors, delta, _)
    state: dict[str, Any] = {"v": {"sql": sql, "column": column, "accuracy": accuracy,
                                   "percent": percent, "expected": expected, "delta": delta},
                             "errors": errors, "plan": None}
    status = 200
    if errors:
        status = 400
    else:
        try:
            result = dp_service.plan(get_portal(request).hub, user.principal, project=slug, sql=sql,
                                     targets={column.strip(): goal}, delta=float(checked_delta or 0))
            state["plan"] = {**plan_view(result), "delta": checked_delta or "0", "sql": sql}
        except CountyOSError as error:
            if error.status >= 500:
                raise
            field = "column" if column.strip() and repr(column.strip()) in error.message else ""
            errors.service_error(error, field, _)
            status = error.status
    return _fragment_or_page(request, user, slug, "dp_plan.html", state, "dp_plan", status)


@router.post("/lab/projects/{slug}/dp/budgets", dependencies=[Depends(verify_csrf)])
def dp_set_budget(request: Request, slug: str, user: UserDep, dataset: Annotated[str, Form()] = "",
                  accounting: Annotated[str, Form()] = "", epsilon: Annotated[str, Form()] = "",
                  delta: Annotated[str, Form()] = "") -> Response:
    """The dataset's steward sets or changes the project's budget (``dp_service.set_budget``)."""
    _ = gettext_of(request)
    hub = get_portal(request).hub
    with hub.db.session() as session:
        found = projects.get_project(session, user.principal, slug)
        ds = get_dataset(session, dataset)
        require(can_manage_dataset(user.principal, department_id=ds.department_id),
                f"only stewards of {ds.department.code!r} may set budgets on {dataset!r}")
        slug = found.slug
    section = dp_section(hub, user.principal, slug)
    if section is None or dataset not in {d["dataset"] for d in section["datasets"]}:
        raise InvalidInputError(f"project {slug!r} holds no dp grant on dataset {dataset!r}")
    errors = FormErrors()
    if accounting not in ACCOUNTINGS:
        errors["accounting"] = _("Choose pure ε-DP or zCDP.")
    checked_epsilon = _number(errors, "epsilon", epsilon, _("A number greater than 0."))
    checked_delta = _delta(errors, delta, _)
    if accounting == "zcdp" and checked_delta is not None and float(checked_delta) == 0:
        errors["delta"] = _("A zCDP budget needs δ greater than 0 to state its (ε, δ).")
    if not errors:
        try:
            dp_service.set_budget(hub, user.principal, project=slug, dataset=dataset,
                                  accounting=accounting, epsilon=checked_epsilon or "",
                                  delta=checked_delta or "0")
            return RedirectResponse(f"/lab/projects/{slug}#dp-budget-{dataset}", status_code=303)
        except CountyOSError as error:
            if error.status in (403, 404):
                raise
            field = ("accounting" if error.code == "conflict" else "delta" if "delta" in error.message
                     else "epsilon" if "epsilon" in error.message else "")
            errors.service_error(error, field, _)
    values = {"accounting": accounting, "epsilon": epsilon, "delta": delta}
    return render_project_page(request, user, slug, status=400, extra={
        "dp_budget": {"dataset": dataset, "errors": errors, "v": values}})


__all__ = ["router"]
