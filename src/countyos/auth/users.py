"""Creating users, changing roles, issuing and revoking tokens — all audited."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from countyos import audit
from countyos.auth.permissions import ROLES, Principal, require, require_admin
from countyos.auth.tokens import issue_token
from countyos.db.models import ApiToken, Department, Township, User
from countyos.errors import ConflictError, InvalidInputError, NotFoundError

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")


def _resolve_scope(
    session: Session, role: str, department: str | None, township: str | None
) -> tuple[int | None, int | None]:
    if role not in ROLES:
        raise InvalidInputError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    department_id = township_id = None
    if department:
        dep = session.execute(select(Department).where(Department.code == department)).scalar_one_or_none()
        if dep is None:
            raise InvalidInputError(f"no department {department!r}")
        department_id = dep.id
    if township:
        tw = session.execute(select(Township).where(Township.code == township)).scalar_one_or_none()
        if tw is None:
            raise InvalidInputError(f"no township {township!r}")
        township_id = tw.id
    if role == "steward" and department_id is None:
        raise InvalidInputError("a steward belongs to a department: give --department")
    if role == "township_staff" and township_id is None:
        raise InvalidInputError("township staff belong to a township: give --township")
    if role == "developer" and department_id is not None:
        raise InvalidInputError("a developer is outside the county's departments: no department")
    return department_id, township_id


def create_user(
    session: Session,
    actor: Principal,
    *,
    username: str,
    role: str,
    display_name: str = "",
    department: str | None = None,
    township: str | None = None,
) -> tuple[User, str]:
    """Create a user and a first token; return both (the token is shown once)."""
    require_admin(actor, "create users")
    if not USERNAME_RE.match(username):
        raise InvalidInputError(
            f"username {username!r} must be 2–64 letters, digits, '_', '.' or '-'"
        )
    department_id, township_id = _resolve_scope(session, role, department, township)
    if session.execute(select(User).where(User.username == username)).first():
        raise ConflictError(f"user {username!r} already exists")
    user = User(username=username, role=role, display_name=display_name or username,
                department_id=department_id, township_id=township_id)
    session.add(user)
    session.flush()
    token = issue_token(session, user, name="initial")
    audit.append(session, actor=actor.username, action="user.create", target=f"user:{username}",
                 details={"role": role, "department": department, "township": township})
    return user, token


def get_user(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    return user


def list_users(session: Session, actor: Principal) -> list[User]:
    require_admin(actor, "list users")
    return list(session.execute(select(User).order_by(User.username)).scalars())


def set_role(
    session: Session,
    actor: Principal,
    *,
    username: str,
    role: str,
    department: str | None = None,
    township: str | None = None,
) -> User:
    require_admin(actor, "change roles")
    user = get_user(session, username)
    if user.username == actor.username and role != "admin":
        raise InvalidInputError("an admin cannot take away their own admin role")
    department_id, township_id = _resolve_scope(session, role, department, township)
    before = {"role": user.role, "department_id": user.department_id, "township_id": user.township_id}
    user.role, user.department_id, user.township_id = role, department_id, township_id
    session.flush()
    session.refresh(user)
    audit.append(session, actor=actor.username, action="user.role_change", target=f"user:{username}",
                 details={"before": before, "role": role, "department": department,
                          "township": township})
    return user


def set_active(session: Session, actor: Principal, *, username: str, active: bool) -> User:
    require_admin(actor, "activate or deactivate users")
    user = get_user(session, username)
    if user.username == actor.username and not active:
        raise InvalidInputError("an admin cannot deactivate themselves")
    user.active = active
    session.flush()
    audit.append(session, actor=actor.username, action="user.activate" if active else "user.deactivate",
                 target=f"user:{username}")
    return user


def create_token(session: Session, actor: Principal, *, username: str, name: str = "") -> str:
    """A new token for ``username``: admins for anyone, a user for themselves."""
    require(actor.is_admin or actor.username == username, "you may only create your own tokens")
    user = get_user(session, username)
    token = issue_token(session, user, name=name)
    audit.append(session, actor=actor.username, action="token.create", target=f"user:{username}",
                 details={"name": name, "prefix": token[:8]})
    return token


def revoke_tokens(session: Session, actor: Principal, *, username: str) -> int:
    require(actor.is_admin or actor.username == username, "you may only revoke your own tokens")
    user = get_user(session, username)
    tokens = session.execute(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).scalars().all()
    for token in tokens:
        token.revoked_at = datetime.now(UTC)
    audit.append(session, actor=actor.username, action="token.revoke", target=f"user:{username}",
                 details={"count": len(tokens)})
    return len(tokens)
