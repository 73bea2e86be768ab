"""The running portal: its registry, templates per language, session codec and who is logged in.

Owns the ``Portal`` object kept on ``app.state.portal``, the Jinja environments (one per language,
each with the gettext translations of the one message catalog installed), the request's
``PortalUser`` (resolved from the session cookie through ``countyos.auth.authenticate`` on every
request) and ``render``, which adds what every page needs (user, navigation, language, CSRF
token) and the security headers. It must not hold page logic or permission rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from countyos import __version__
from countyos.auth import Principal, authenticate
from countyos.auth.users import get_user
from countyos.errors import AuthenticationError
from countyos.hub import Hub
from countyos.site_settings import county_name
from countyos.web.pages.i18n import LANG_COOKIE, LANGUAGES, request_language, translations
from countyos.web.pages.registry import PortalRegistry
from countyos.web.pages.security import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SessionCodec,
    load_secret,
    new_nonce,
    security_headers,
    set_cookie,
)

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


class LoginRequired(Exception):  # noqa: N818 - a signal, not an error
    """Raised by page dependencies when nobody is logged in; answered with a redirect."""


@dataclass(frozen=True)
class PortalUser:
    """The person behind a browser session."""

    principal: Principal
    display_name: str
    department: str | None
    department_name: str | None
    township: str | None
    township_name: str | None
    session_token: str

    @property
    def role(self) -> str:
        return self.principal.role

    @property
    def username(self) -> str:
        return self.principal.username


def _number(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    if isinstance(value, float) and digits:
        return f"{value:,.{digits}f}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _when(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return "—" if value is None else str(value)


class Portal:
    """The portal of one app: hub, registry, templates, session codec and background work."""

    def __init__(self, hub: Hub, registry: PortalRegistry) -> None:
        self.hub = hub
        self.registry = registry
        self.codec = SessionCodec(load_secret(hub.settings.home))
        loader = ChoiceLoader([FileSystemLoader(str(TEMPLATES_DIR)),
                               *(FileSystemLoader(str(d)) for d in registry.template_dirs())])
        self.environments = {language: self._environment(loader, language) for language in LANGUAGES}
        self.state: dict[str, Any] = {}   # per-module runtime state (import tasks, caches)

    @staticmethod
    def _environment(loader: ChoiceLoader, language: str) -> Environment:
        environment = Environment(loader=loader, autoescape=select_autoescape(["html"]),
                                  extensions=["jinja2.ext.i18n"], trim_blocks=True,
                                  lstrip_blocks=True)
        environment.install_gettext_translations(translations(language), newstyle=True)
        environment.filters["number"] = _number
        environment.filters["when"] = _when
        environment.globals["language"] = language
        return environment

    def gettext(self, language: str):  # type: ignore[no-untyped-def]
        """The plain gettext of ``language`` (for messages built in Python)."""
        return translations(language).gettext

    def county_name(self) -> str:
        """The county's name (site setting, else ``Settings.county_name``)."""
        with self.hub.db.session() as session:
            return county_name(session, self.hub.settings.county_name)


def get_portal(request: Request) -> Portal:
    return request.app.state.portal


def language_of(request: Request) -> str:
    cached = getattr(request.state, "language", None)
    if cached is None:
        cached = request_language(request, get_portal(request).hub.settings.language)
        request.state.language = cached
    return cached


def gettext_of(request: Request):  # type: ignore[no-untyped-def]
    """The ``_`` of the request's language, for messages built in Python."""
    return get_portal(request).gettext(language_of(request))


def current_user(request: Request) -> PortalUser | None:
    """Who is logged in on this request (checked against the token table every time)."""
    if hasattr(request.state, "portal_user"):
        return request.state.portal_user
    portal = get_portal(request)
    token = portal.codec.loads(request.cookies.get(SESSION_COOKIE))
    user = None
    if token:
        try:
            with portal.hub.db.session() as session:
                principal = authenticate(session, token)
                row = get_user(session, principal.username)
                user = PortalUser(
                    principal=principal, display_name=row.display_name or row.username,
                    department=row.department.code if row.department else None,
                    department_name=row.department.name_zh if row.department else None,
                    township=row.township.code if row.township else None,
                    township_name=row.township.name_zh if row.township else None,
                    session_token=token)
        except AuthenticationError:
            user = None
    request.state.portal_user = user
    if user is not None:
        request.state.principal = user.principal
    return user


def require_user(request: Request) -> PortalUser:
    """FastAPI dependency: the logged-in user, else LoginRequired (→ the log-in page)."""
    user = current_user(request)
    if user is None:
        raise LoginRequired()
    return user


UserDep = Annotated[PortalUser, Depends(require_user)]


def csrf_nonce(request: Request) -> str:
    nonce = getattr(request.state, "csrf_nonce", None)
    if nonce is None:
        nonce = request.cookies.get(CSRF_COOKIE) or new_nonce()
        request.state.csrf_nonce = nonce
    return nonce


def csrf_token(request: Request) -> str:
    portal = get_portal(request)
    return portal.codec.csrf_token(csrf_nonce(request), request.cookies.get(SESSION_COOKIE))


def render(request: Request, template: str, context: dict[str, Any] | None = None, *,
           status: int = 200, active: str | None = None) -> HTMLResponse:
    """Render a page or fragment in the request's language with the common variables."""
    portal = get_portal(request)
    language = language_of(request)
    user = current_user(request)
    variables = {
        "request": request,
        "user": user,
        "nav": portal.registry.nav_for(user.role) if user else [],
        "active_nav": active,
        "languages": LANGUAGES,
        "csrf_token": csrf_token(request),
        "county": portal.county_name(),
        "version": __version__,
        "is_htmx": request.headers.get("hx-request") == "true",
        "pick": lambda zh, en: (en or zh) if language == "en" else (zh or en),
        **(context or {}),
    }
    html = portal.environments[language].get_template(template).render(variables)
    response = HTMLResponse(html, status_code=status)
    finish(request, response, private=user is not None)
    return response


def finish(request: Request, response: Any, *, private: bool) -> None:
    """Security headers, the CSRF nonce cookie and the language cookie of a portal response."""
    security_headers(response, private=private)
    if request.cookies.get(CSRF_COOKIE) != csrf_nonce(request):
        set_cookie(response, request, CSRF_COOKIE, csrf_nonce(request))
    chosen = request.query_params.get("lang")
    if chosen and request.cookies.get(LANG_COOKIE) != language_of(request):
        response.set_cookie(LANG_COOKIE, language_of(request), max_age=365 * 86400,
                            samesite="lax", path="/")
