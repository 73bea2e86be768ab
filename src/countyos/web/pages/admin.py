"""Admin pages of the data bureau: users and their tokens, site settings, the audit log.

Owns the HTML; every change goes through ``countyos.auth.users`` (create, deactivate) and
``countyos.web.pages.site_settings`` (showcase public), each of which refuses non-admins and
writes the audit log. A new user's first token is shown once, on the page that created it.
It must not change users or settings itself.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from countyos import audit
from countyos.auth import ROLES, require_admin
from countyos.auth.users import USERNAME_RE, create_user, list_users, set_active
from countyos.catalog.organisation import list_departments, list_townships
from countyos.catalog.public import user_public
from countyos.db.models import AuditEntry
from countyos.errors import CountyOSError
from countyos.web.pages.forms import FormErrors, verify_csrf
from countyos.web.pages.portal import PortalUser, UserDep, get_portal, gettext_of, render
from countyos.site_settings import set_showcase_public, showcase_is_public

router = APIRouter(include_in_schema=False)
AUDIT_PAGE = 100


def _users_page(request: Request, user: PortalUser, *, errors: FormErrors | None = None,
                values: dict[str, Any] | None = None, created: dict[str, Any] | None = None,
                status: int = 200) -> Response:
    with get_portal(request).hub.db.session() as session:
        users = [user_public(u) for u in list_users(session, user.principal)]
        departments = [(d.code, d.name_zh, d.name_en) for d in list_departments(session)]
        townships = [(t.code, t.name_zh) for t in list_townships(session)]
    return render(request, "admin_users.html", {
        "users": users, "departments": departments, "townships": townships, "roles": ROLES,
        "errors": errors or FormErrors(), "v": values or {}, "created": created},
        status=status, active="users")


@router.get("/admin/users")
def users_page(request: Request, user: UserDep) -> Response:
    return _users_page(request, user)


@router.post("/admin/users", dependencies=[Depends(verify_csrf)])
def add_user(
    request: Request, user: UserDep,
    username: Annotated[str, Form()] = "", role: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "", department: Annotated[str, Form()] = "",
    township: Annotated[str, Form()] = "",
) -> Response:
    _ = gettext_of(request)
    errors = FormErrors()
    errors.require("username", username, _("Give a username."))
    errors.match("username", username, USERNAME_RE,
                 _("2–64 letters, digits, '_', '.' or '-', starting with a letter or digit."))
    if role not in ROLES:
        errors["role"] = _("Choose a role.")
    if role == "steward":
        errors.require("department", department, _("A steward belongs to a department."))
    if role == "township_staff":
        errors.require("township", township, _("Township staff belong to a township."))
    values = {"username": username, "role": role, "display_name": display_name,
              "department": department, "township": township}
    if not errors:
        try:
            with get_portal(request).hub.db.session() as session:
                created, token = create_user(session, user.principal, username=username, role=role,
                                             display_name=display_name,
                                             department=department or None,
                                             township=township or None)
                shown = {**user_public(created), "token": token}
            return _users_page(request, user, created=shown)
        except CountyOSError as error:
            if error.status == 403:
                raise
            errors.service_error(error, "username" if error.code == "conflict" else "", _)
    return _users_page(request, user, errors=errors, values=values, status=400)


@router.post("/admin/users/{username}/deactivate", dependencies=[Depends(verify_csrf)])
def deactivate(request: Request, username: str, user: UserDep) -> Response:
    with get_portal(request).hub.db.session() as session:
        set_active(session, user.principal, username=username, active=False)
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/admin/settings")
def settings_page(request: Request, user: UserDep) -> Response:
    require_admin(user.principal, "change site settings")
    with get_portal(request).hub.db.session() as session:
        public = showcase_is_public(session)
    return render(request, "admin_settings.html", {"public": public}, active="settings")


@router.post("/admin/settings/showcase", dependencies=[Depends(verify_csrf)])
def set_showcase(request: Request, user: UserDep,
                 public: Annotated[str, Form()] = "") -> Response:
    with get_portal(request).hub.db.session() as session:
        set_showcase_public(session, user.principal, public=public == "1")
    return RedirectResponse("/admin/settings", status_code=303)


@router.get("/admin/audit")
def audit_page(request: Request, user: UserDep, action: str = "",
               verify: int = 0) -> Response:
    require_admin(user.principal, "read the audit log")
    with get_portal(request).hub.db.session() as session:
        query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(AUDIT_PAGE)
        if action:
            query = query.where(AuditEntry.action == action)
        entries = [{"seq": e.seq, "ts": e.ts, "actor": e.actor, "action": e.action,
                    "target": e.target} for e in session.execute(query).scalars()]
        checked = audit.verify(session) if verify else None
    verification = None
    if checked is not None:
        count, problems = checked
        verification = {"entries": count, "intact": not problems, "problems": [str(p) for p in problems]}
    return render(request, "admin_audit.html", {"entries": entries, "action": action,
                                                "verification": verification}, active="audit")
