"""Forms of the portal: the CSRF check every page POST passes, and per-field error messages.

Owns ``verify_csrf`` (a FastAPI dependency) and ``FormErrors``, the field → message map a page
renders next to each field. Checks here are about the *shape* of what was typed (required, a
pattern the service also enforces); the services in ``countyos.catalog``/``countyos.lab``/
``countyos.auth`` still decide, and their errors are shown on the form too. It must not hold
business rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import Request

from countyos.errors import CountyOSError, PermissionDeniedError
from countyos.web.pages.i18n import N_
from countyos.web.pages.portal import get_portal
from countyos.web.pages.security import CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, same_origin


class CsrfError(PermissionDeniedError):
    """A page POST without a valid CSRF token, or from another origin."""

    code = "csrf_failed"


async def verify_csrf(request: Request) -> None:
    """Dependency of every page POST: same origin and a valid CSRF token, else CsrfError."""
    if not same_origin(request):
        raise CsrfError("cross-site form submission refused")
    given = request.headers.get(CSRF_HEADER)
    if not given:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    codec = get_portal(request).codec
    if not codec.csrf_valid(request.cookies.get(CSRF_COOKIE), request.cookies.get(SESSION_COOKIE),
                            given):
        raise CsrfError("the form is out of date or did not come from this site; reload the page")


class FormErrors(dict[str, str]):
    """Field name → translated message; ``""`` is the form-level message."""

    def require(self, field: str, value: str | None, message: str) -> None:
        if not (value or "").strip():
            self.setdefault(field, message)

    def match(self, field: str, value: str | None, pattern: re.Pattern[str], message: str) -> None:
        if (value or "").strip() and not pattern.match(value or ""):
            self.setdefault(field, message)

    def service_error(self, error: CountyOSError, field: str = "",
                      gettext: Callable[[str], str] | None = None) -> None:
        """Show a service's error next to ``field`` (or at the form's top)."""
        prefix = (gettext or (lambda s: s))(headline(error))
        self[field] = f"{prefix}: {error.message}"


ERROR_HEADLINES = {
    "invalid_input": N_("Invalid input"),
    "import_failed": N_("The file cannot be imported"),
    "query_refused": N_("Query refused"),
    "dp_budget_exhausted": N_("Privacy budget exhausted"),
    "too_large": N_("Too large"),
    "unauthenticated": N_("Please log in"),
    "forbidden": N_("Not allowed"),
    "csrf_failed": N_("Form expired"),
    "not_found": N_("Not found"),
    "conflict": N_("Already exists"),
    "method_not_allowed": N_("Method not allowed"),
    "internal_error": N_("Something went wrong"),
}


def headline(error: CountyOSError) -> str:
    """The message id of a short, translatable headline for an error's code."""
    return ERROR_HEADLINES.get(error.code, N_("Error"))
