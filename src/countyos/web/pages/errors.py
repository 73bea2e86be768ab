"""Errors on portal pages: a readable page (or htmx fragment) in the user's language, never a
stack trace; API paths keep the JSON error body of ``countyos.web.errors``.

Owns deciding whether a failed request was a page or an API call and answering accordingly: a
user error shows its translated headline and the service's message; an unexpected error shows a
fixed message and is logged on the server; a missing session redirects to the log-in page. It must
not swallow errors of the API (those handlers stay as they are, this module only wraps them).
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from countyos.errors import AuthenticationError, CountyOSError
from countyos.web.pages.forms import ERROR_HEADLINES, headline
from countyos.web.pages.portal import LoginRequired, finish, render

log = logging.getLogger("countyos.web.pages")

API_PREFIXES = ("/api/", "/openapi.json", "/docs", "/healthz")
PLAIN_500 = ("<!doctype html><meta charset='utf-8'><title>500</title>"
             "<p>服务器内部错误，请稍后再试。 Internal error; please try again later.</p>")


def is_page_request(request: Request) -> bool:
    return not request.url.path.startswith(API_PREFIXES)


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"/login?next={quote(target, safe='/')}"
    if request.headers.get("hx-request") == "true":
        response: Response = Response(status_code=204, headers={"HX-Redirect": location})
    else:
        response = RedirectResponse(location, status_code=303)
    finish(request, response, private=True)
    return response


def error_page(request: Request, *, status: int, code: str, message: str | None) -> Response:
    template = "error_fragment.html" if request.headers.get("hx-request") == "true" else "error.html"
    try:
        return render(request, template, {"status": status, "code": code,
                                          "headline": ERROR_HEADLINES.get(code, "Error"),
                                          "message": message}, status=status)
    except Exception:  # noqa: BLE001 - the error page itself failed: answer plainly
        log.exception("error page failed")
        return HTMLResponse(PLAIN_500, status_code=500)


def install_page_error_handlers(app: FastAPI) -> None:
    """Wrap the app's JSON error handlers so page requests get HTML error pages."""
    json_handlers = dict(app.exception_handlers)

    async def _delegate(request: Request, error: Exception, kind: type) -> Response:
        return await json_handlers[kind](request, error)

    async def countyos_error(request: Request, error: CountyOSError) -> Response:
        if not is_page_request(request):
            return await _delegate(request, error, CountyOSError)
        if isinstance(error, AuthenticationError):
            return login_redirect(request)
        if error.status >= 500:
            log.error("internal error on %s: %s", request.url.path, error.message)
            return error_page(request, status=error.status, code="internal_error", message=None)
        return error_page(request, status=error.status, code=error.code, message=error.message)

    async def login_required(request: Request, _: LoginRequired) -> Response:
        return login_redirect(request)

    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        if not is_page_request(request):
            return await _delegate(request, error, RequestValidationError)
        fields = sorted({str(e.get("loc", ("",))[-1]) for e in error.errors()})
        return error_page(request, status=400, code="invalid_input", message=", ".join(fields))

    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if not is_page_request(request):
            return await _delegate(request, error, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "invalid_input")
        return error_page(request, status=error.status_code, code=code, message=None)

    async def unexpected(request: Request, error: Exception) -> Response:
        if not is_page_request(request):
            return await _delegate(request, error, Exception)
        log.exception("unexpected error on page %s", request.url.path)
        return error_page(request, status=500, code="internal_error", message=None)

    app.add_exception_handler(CountyOSError, countyos_error)
    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


__all__ = ["error_page", "headline", "install_page_error_handlers", "is_page_request"]
