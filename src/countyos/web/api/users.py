"""Users, roles and tokens (admin; a user may manage their own tokens)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from countyos.auth import users
from countyos.catalog.public import user_public
from countyos.web.deps import PrincipalDep, SessionDep

router = APIRouter(prefix="/users", tags=["users"])


class UserCreate(BaseModel):
    username: str
    role: str
    display_name: str = ""
    department: str | None = None
    township: str | None = None


class RoleChange(BaseModel):
    role: str
    department: str | None = None
    township: str | None = None


class TokenCreate(BaseModel):
    name: str = ""


@router.get("")
def list_users(principal: PrincipalDep, session: SessionDep) -> list[dict]:
    return [user_public(u) for u in users.list_users(session, principal)]


@router.post("", status_code=201)
def create_user(body: UserCreate, principal: PrincipalDep, session: SessionDep) -> dict:
    user, token = users.create_user(session, principal, **body.model_dump())
    return {**user_public(user), "token": token}


@router.put("/{username}/role")
def set_role(username: str, body: RoleChange, principal: PrincipalDep, session: SessionDep) -> dict:
    return user_public(users.set_role(session, principal, username=username, **body.model_dump()))


@router.post("/{username}/deactivate")
def deactivate(username: str, principal: PrincipalDep, session: SessionDep) -> dict:
    return user_public(users.set_active(session, principal, username=username, active=False))


@router.post("/{username}/tokens", status_code=201)
def create_token(username: str, body: TokenCreate, principal: PrincipalDep, session: SessionDep) -> dict:
    return {"token": users.create_token(session, principal, username=username, name=body.name)}


@router.delete("/{username}/tokens")
def revoke_tokens(username: str, principal: PrincipalDep, session: SessionDep) -> dict:
    return {"revoked": users.revoke_tokens(session, principal, username=username)}
