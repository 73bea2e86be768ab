"""API tokens: issue (shown once), hash, authenticate.

A token is ``cos_`` + 43 URL-safe random characters (256 bits); the database keeps its sha256 and
an 8-character prefix to tell tokens apart in lists. A plain hash is right here: the token is
random, so there is nothing to brute-force that a slow hash would protect.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from countyos.auth.permissions import Principal
from countyos.db.models import ApiToken, User
from countyos.errors import AuthenticationError

TOKEN_PREFIX = "cos_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, user: User, *, name: str = "") -> str:
    """Create a token for ``user`` in the session's transaction; return the token (shown once)."""
    token = new_token()
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), prefix=token[:8], name=name))
    session.flush()
    return token


def principal_of(user: User) -> Principal:
    return Principal(
        username=user.username,
        role=user.role,
        user_id=user.id,
        department_id=user.department_id,
        township_id=user.township_id,
    )


def authenticate(session: Session, token: str | None) -> Principal:
    """The principal a bearer token belongs to; AuthenticationError if none, bad or revoked."""
    if not token:
        raise AuthenticationError("authentication required: send 'Authorization: Bearer <token>'")
    digest = hash_token(token.strip())
    row = session.execute(select(ApiToken).where(ApiToken.token_hash == digest)).scalar_one_or_none()
    # compare_digest keeps the final comparison constant-time even though the lookup is by hash
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise AuthenticationError("invalid token")
    now = datetime.now(UTC)
    if row.revoked_at is not None:
        raise AuthenticationError("token revoked")
    expires = row.expires_at
    if expires is not None and (expires.replace(tzinfo=UTC) if expires.tzinfo is None else expires) < now:
        raise AuthenticationError("token expired")
    if not row.user.active:
        raise AuthenticationError("user deactivated")
    return principal_of(row.user)
