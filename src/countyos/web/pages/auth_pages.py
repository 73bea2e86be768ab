"""Log-in, log-out and the language switch of the portal.

Owns the browser session's life: a user logs in with their username and an API token (what users
have today); the token is checked by ``countyos.auth.authenticate``, and the session gets its own
token (``users.create_token``, name ``web-session``, expiring with the session) so that log-out
revokes exactly that session and an admin revoking a user's tokens ends their browser sessions
too. It must not store the user's own token anywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from countyos import audit
from countyos.auth import authenticate, hash_token
from countyos.auth.users import create_token
from countyos.db.models import ApiToken
from countyos.errors import AuthenticationError
from countyos.web.pages.forms import FormErrors, verify_csrf
from countyos.web.pages.i18n import LANG_COOKIE, normalise
from countyos.web.pages.portal import current_user, finish, get_portal, gettext_of, render
from countyos.web.pages.security import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_SECONDS,
    clear_cookie,
    new_nonce,
    safe_next,
    set_cookie,
)

router = APIRouter(include_in_schema=False)
WEB_TOKEN_NAME = "web-session"


def _login_form(request: Request, *, username: str = "", next_url: str = "/",
                errors: FormErrors | None = None, status: int = 200) -> Response:
    return render(request, "login.html", {"username": username, "next": next_url,
                                          "errors": errors or FormErrors()}, status=status)


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:  # noqa: A002 - the query name
    if current_user(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_form(request, next_url=safe_next(next))


@router.post("/login", dependencies=[Depends(verify_csrf)])
def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",  # noqa: A002
) -> Response:
    _ = gettext_of(request)
    errors = FormErrors()
    errors.require("username", username, _("Enter your username."))
    errors.require("token", token, _("Enter your API token."))
    target = safe_next(next)
    if errors:
        return _login_form(request, username=username, next_url=target, errors=errors, status=400)
    portal = get_portal(request)
    try:
        with portal.hub.db.session() as session:
            principal = authenticate(session, token.strip())
            if principal.username != username.strip():
                raise AuthenticationError("token does not belong to this user")
            session_token = create_token(session, principal, username=principal.username,
                                         name=WEB_TOKEN_NAME)
            row = session.execute(select(ApiToken).where(
                ApiToken.token_hash == hash_token(session_token))).scalar_one()
            row.expires_at = datetime.now(UTC) + timedelta(seconds=SESSION_SECONDS)
            audit.append(session, actor=principal.username, action="web.login",
                         target=f"user:{principal.username}", details={"prefix": row.prefix})
    except AuthenticationError:
        errors["token"] = _("Unknown user, or the token is wrong, expired or revoked.")
        return _login_form(request, username=username, next_url=target, errors=errors, status=401)
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, request, SESSION_COOKIE, portal.codec.dumps(session_token),
               max_age=SESSION_SECONDS)
    # a new CSRF nonce at log-in: a nonce planted before log-in is worthless afterwards
    request.state.csrf_nonce = new_nonce()
    set_cookie(response, request, CSRF_COOKIE, request.state.csrf_nonce)
    finish(request, response, private=True)
    return response


@router.post("/logout", dependencies=[Depends(verify_csrf)])
def logout(request: Request) -> Response:
    user = current_user(request)
    if user is not None:
        with get_portal(request).hub.db.session() as session:
            row = session.execute(select(ApiToken).where(
                ApiToken.token_hash == hash_token(user.session_token))).scalar_one_or_none()
            if row is not None and row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
            audit.append(session, actor=user.username, action="web.logout",
                         target=f"user:{user.username}")
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(response, request, SESSION_COOKIE)
    request.state.csrf_nonce = new_nonce()
    set_cookie(response, request, CSRF_COOKIE, request.state.csrf_nonce)
    finish(request, response, private=True)
    return response


@router.get("/lang/{code}")
def switch_language(request: Request, code: str, next: str = "/") -> Response:  # noqa: A002
    response = RedirectResponse(safe_next(next), status_code=303)
    language = normalise(code)
    if language:
        response.set_cookie(LANG_COOKIE, language, max_age=365 * 86400, samesite="lax", path="/")
    return response
