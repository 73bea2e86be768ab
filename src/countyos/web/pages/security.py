"""Browser-session security of the portal: the signing secret, the session cookie, CSRF tokens,
safe redirects and the security headers of HTML responses.

Owns the mechanics only. Who a session belongs to is decided by ``countyos.auth.authenticate``
on every request (a session carries a dedicated, expiring API token issued at log-in and revoked
at log-out), and what they may do by ``countyos.auth.permissions``.

- The secret (32 random bytes) is created once under ``COUNTYOS_HOME/web/secret.key`` (mode 0600)
  and reused, so sessions survive restarts and every web process of an installation agrees.
- The session cookie ``countyos_session`` is signed and timestamped (itsdangerous), HttpOnly,
  SameSite=Lax, Secure when the request came over HTTPS.
- CSRF: a random nonce lives in the HttpOnly cookie ``countyos_csrf``; a form's token is
  ``HMAC(secret, nonce | session)``, so it is bound to the browser and to the session and cannot
  be computed by another site. Every POST of a page carries it (form field ``csrf_token`` or
  header ``X-CSRF-Token`` for htmx).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "countyos_session"
CSRF_COOKIE = "countyos_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 12 * 3600
SECRET_FILE = Path("web") / "secret.key"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)


def load_secret(home: Path) -> bytes:
    """The installation's signing secret, created on first use (atomically, mode 0600)."""
    path = home / SECRET_FILE
    if path.exists():
        secret = path.read_bytes()
        if len(secret) >= 32:
            return secret
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate = secrets.token_bytes(32)
    temporary = path.with_name(f".secret-{secrets.token_hex(6)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(candidate)
    try:
        os.link(temporary, path)  # fails if another process created it meanwhile
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)
    return path.read_bytes()


class SessionCodec:
    """Signs and checks the session cookie's value (the session's token)."""

    def __init__(self, secret: bytes, max_age: int = SESSION_SECONDS) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="countyos.portal.session")
        self._secret = secret
        self.max_age = max_age

    def dumps(self, token: str) -> str:
        return self._serializer.dumps({"token": token})

    def loads(self, value: str | None) -> str | None:
        """The token in a cookie value, or None if absent, forged or older than ``max_age``."""
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=self.max_age)
        except (BadSignature, SignatureExpired):
            return None
        token = data.get("token") if isinstance(data, dict) else None
        return token if isinstance(token, str) else None

    def csrf_token(self, nonce: str, session_value: str | None) -> str:
        """The CSRF token for a browser nonce and (if logged in) its session cookie value."""
        bound = hashlib.sha256((session_value or "").encode("utf-8")).hexdigest()
        message = f"csrf|{nonce}|{bound}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def csrf_valid(self, nonce: str | None, session_value: str | None, given: str | None) -> bool:
        if not nonce or not given:
            return False
        return hmac.compare_digest(self.csrf_token(nonce, session_value), given)


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, *,
               max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax",
                        secure=is_https(request), path="/")


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=is_https(request))


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go to after log-in; anything pointing elsewhere becomes ``default``.

    Refuses absolute URLs, scheme-relative ``//host``, backslash tricks (``/\\host``), control
    characters and anything that is not a plain path on this site.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another origin."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    parts = urlsplit(origin)
    host = request.headers.get("host", "")
    return parts.netloc == host


def security_headers(response: Response, *, private: bool) -> None:
    """Headers every portal HTML response carries."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if private:
        response.headers["Cache-Control"] = "no-store"
