"""Departments and townships: the county's organisation that datasets, users and events hang on."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from countyos import audit
from countyos.auth import Principal, require_admin
from countyos.db.models import Department, Township
from countyos.errors import ConflictError, InvalidInputError, NotFoundError

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")


def create_department(
    session: Session, actor: Principal, *, code: str, name_zh: str, name_en: str = ""
) -> Department:
    require_admin(actor, "create departments")
    if not CODE_RE.match(code):
        raise InvalidInputError(
            f"department code {code!r} must be lower-case letters, digits and '_' (max 64)"
        )
    if not name_zh.strip():
        raise InvalidInputError("a department needs a Chinese name (name_zh)")
    if session.execute(select(Department).where(Department.code == code)).first():
        raise ConflictError(f"department {code!r} already exists")
    department = Department(code=code, name_zh=name_zh.strip(), name_en=name_en.strip())
    session.add(department)
    session.flush()
    audit.append(session, actor=actor.username, action="department.create",
                 target=f"department:{code}", details={"name_zh": name_zh, "name_en": name_en})
    return department


def get_department(session: Session, code: str) -> Department:
    department = session.execute(select(Department).where(Department.code == code)).scalar_one_or_none()
    if department is None:
        raise NotFoundError(f"no department {code!r}")
    return department


def list_departments(session: Session) -> list[Department]:
    return list(session.execute(select(Department).order_by(Department.code)).scalars())


def create_township(
    session: Session,
    actor: Principal,
    *,
    code: str,
    name_zh: str,
    name_pinyin: str = "",
    kind: str = "镇",
    geometry: dict[str, Any] | None = None,
) -> Township:
    require_admin(actor, "create townships")
    if not re.fullmatch(r"\d{6,12}", code):
        raise InvalidInputError(f"township code {code!r} must be a 6–12 digit administrative code")
    if kind not in ("镇", "乡", "街道"):
        raise InvalidInputError(f"township kind {kind!r} must be one of 镇, 乡, 街道")
    if not name_zh.strip():
        raise InvalidInputError("a township needs a Chinese name (name_zh)")
    if geometry is not None and geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise InvalidInputError("a township geometry must be a GeoJSON Polygon or MultiPolygon")
    if session.execute(select(Township).where(Township.code == code)).first():
        raise ConflictError(f"township {code!r} already exists")
    township = Township(code=code, name_zh=name_zh.strip(), name_pinyin=name_pinyin.strip(),
                        kind=kind, geometry=geometry)
    session.add(township)
    session.flush()
    audit.append(session, actor=actor.username, action="township.create",
                 target=f"township:{code}", details={"name_zh": name_zh, "kind": kind})
    return township


def list_townships(session: Session) -> list[Township]:
    return list(session.execute(select(Township).order_by(Township.code)).scalars())


def townships_geojson(session: Session) -> dict[str, Any]:
    """All townships with a geometry as one GeoJSON FeatureCollection."""
    features = [
        {
            "type": "Feature",
            "geometry": t.geometry,
            "properties": {"code": t.code, "name": t.name_zh, "name_pinyin": t.name_pinyin,
                           "kind": t.kind},
        }
        for t in list_townships(session)
        if t.geometry
    ]
    return {"type": "FeatureCollection", "features": features}
