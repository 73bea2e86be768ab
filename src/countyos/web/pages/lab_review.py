"""The steward's side of the lab: deciding grant requests and reviewing outputs before release.

Owns the HTML of the grant queue and the output review queue. Who may decide is the lab's rule
(``grants.decide_grant``/``revoke_grant`` and ``release.get_for_review``/``decide``, which ask
``can_manage_dataset``); a developer asking for a review page gets the same "not found" as from
the API. It must not release or decide anything itself.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from countyos.errors import CountyOSError
from countyos.lab import grants, release
from countyos.lab.public import grant_public, review_public
from countyos.web.pages.forms import FormErrors, verify_csrf
from countyos.web.pages.portal import PortalUser, UserDep, get_portal, gettext_of, render

router = APIRouter(include_in_schema=False)


def _grants_page(request: Request, user: PortalUser, errors: dict[int, FormErrors] | None = None,
                 status: int = 200) -> Response:
    with get_portal(request).hub.db.session() as session:
        pending = [grant_public(g) for g in grants.pending_for(session, user.principal)]
    return render(request, "lab_grants.html", {"grants": pending, "errors": errors or {}},
                  status=status, active="grants")


@router.get("/lab/grants")
def grants_page(request: Request, user: UserDep) -> Response:
    return _grants_page(request, user)


def _rules(threshold: str, review_all: str) -> dict[str, Any]:
    rules: dict[str, Any] = {}
    if threshold.strip():
        rules["threshold"] = int(threshold)
    if review_all:
        rules["auto_release"] = False
    return rules


@router.post("/lab/grants/{grant_id}/decision", dependencies=[Depends(verify_csrf)])
def decide_grant(
    request: Request, grant_id: int, user: UserDep,
    decision: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "",
    threshold: Annotated[str, Form()] = "", review_all: Annotated[str, Form()] = "",
) -> Response:
    _ = gettext_of(request)
    errors = FormErrors()
    if decision not in ("approve", "reject"):
        errors["decision"] = _("Approve or reject.")
    if decision == "reject":
        errors.require("reason", reason, _("A rejection states its reason."))
    if threshold.strip() and not threshold.strip().isdigit():
        errors["threshold"] = _("A whole number, at least 3.")
    if not errors:
        try:
            with get_portal(request).hub.db.session() as session:
                grants.decide_grant(session, user.principal, grant_id=grant_id,
                                    approve=decision == "approve", reason=reason,
                                    rules=_rules(threshold, review_all))
            return RedirectResponse("/lab/grants", status_code=303)
        except CountyOSError as error:
            if error.status in (403, 404):
                raise
            errors.service_error(error, "threshold" if "threshold" in error.message else "", _)
    return _grants_page(request, user, {grant_id: errors}, status=400)


@router.post("/lab/grants/{grant_id}/revoke", dependencies=[Depends(verify_csrf)])
def revoke_grant(request: Request, grant_id: int, user: UserDep,
                 reason: Annotated[str, Form()] = "", project: Annotated[str, Form()] = "") -> Response:
    with get_portal(request).hub.db.session() as session:
        grant = grants.revoke_grant(session, user.principal, grant_id=grant_id,
                                    reason=reason or "revoked by the steward")
        slug = grant.project.slug
    return RedirectResponse(f"/lab/projects/{project or slug}#grants", status_code=303)


@router.get("/lab/review")
def review_page(request: Request, user: UserDep) -> Response:
    with get_portal(request).hub.db.session() as session:
        queue = [review_public(o) for o in release.review_queue(session, user.principal)]
    return render(request, "lab_review.html", {"outputs": queue}, active="review")


def _review_detail(request: Request, user: PortalUser, public_id: str, errors: FormErrors,
                   status: int = 200) -> Response:
    with get_portal(request).hub.db.session() as session:
        output = review_public(release.get_for_review(session, user.principal, public_id), detail=True)
    return render(request, "lab_review_detail.html", {"o": output, "errors": errors},
                  status=status, active="review")


@router.get("/lab/review/{public_id}")
def review_detail(request: Request, public_id: str, user: UserDep) -> Response:
    return _review_detail(request, user, public_id, FormErrors())


@router.post("/lab/review/{public_id}", dependencies=[Depends(verify_csrf)])
def review_decide(
    request: Request, public_id: str, user: UserDep,
    decision: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "",
) -> Response:
    _ = gettext_of(request)
    errors = FormErrors()
    if decision not in ("approve", "reject"):
        errors["decision"] = _("Approve or reject.")
    errors.require("reason", reason, _("A review decision states its reason."))
    if not errors:
        hub = get_portal(request).hub
        try:
            with hub.db.session() as session:
                release.decide(hub, session, user.principal, public_id=public_id,
                               approve=decision == "approve", reason=reason)
            return RedirectResponse("/lab/review", status_code=303)
        except CountyOSError as error:
            if error.status in (403, 404):
                raise
            errors.service_error(error, "", _)
    return _review_detail(request, user, public_id, errors, status=400)
