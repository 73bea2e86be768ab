"""Departments, townships and the current user."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from countyos.auth.users import get_user
from countyos.catalog import organisation
from countyos.catalog.public import department_public, township_public, user_public
from countyos.web.deps import PrincipalDep, SessionDep

router = APIRouter(tags=["organisation"])


class DepartmentCreate(BaseModel):
    code: str = Field(description="lower-case code, e.g. `public_security`")
    name_zh: str
    name_en: str = ""


class TownshipCreate(BaseModel):
    code: str = Field(description="6–12 digit administrative code")
    name_zh: str
    name_pinyin: str = ""
    kind: str = "镇"
    geometry: dict[str, Any] | None = None


@router.get("/me")
def me(principal: PrincipalDep, session: SessionDep) -> dict:
    return user_public(get_user(session, principal.username))


@router.get("/departments")
def list_departments(_: PrincipalDep, session: SessionDep) -> list[dict]:
    return [department_public(d) for d in organisation.list_departments(session)]


@router.post("/departments", status_code=201)
def create_department(body: DepartmentCreate, principal: PrincipalDep, session: SessionDep) -> dict:
    return department_public(organisation.create_department(session, principal, **body.model_dump()))


@router.get("/townships")
def list_townships(_: PrincipalDep, session: SessionDep) -> list[dict]:
    return [township_public(t) for t in organisation.list_townships(session)]


@router.get("/townships/geojson")
def townships_geojson(_: PrincipalDep, session: SessionDep) -> dict:
    return organisation.townships_geojson(session)


@router.post("/townships", status_code=201)
def create_township(body: TownshipCreate, principal: PrincipalDep, session: SessionDep) -> dict:
    return township_public(organisation.create_township(session, principal, **body.model_dump()))
