"""The audit log: read and verify (admin)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import select

from countyos import audit
from countyos.auth import require_admin
from countyos.db.models import AuditEntry
from countyos.web.deps import PrincipalDep, SessionDep

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("")
def list_entries(
    principal: PrincipalDep,
    session: SessionDep,
    after: int = Query(0, ge=0, description="return entries with seq greater than this"),
    limit: int = Query(100, ge=1, le=1000),
    action: str | None = None,
) -> list[dict]:
    require_admin(principal, "read the audit log")
    query = select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(limit)
    if action:
        query = query.where(AuditEntry.action == action)
    return [
        {"seq": e.seq, "ts": e.ts, "actor": e.actor, "action": e.action, "target": e.target,
         "details": e.details, "hash": e.hash}
        for e in session.execute(query).scalars()
    ]


@router.post("/verify")
def verify(principal: PrincipalDep, session: SessionDep) -> dict:
    require_admin(principal, "verify the audit log")
    checked, problems = audit.verify(session)
    return {"entries": checked, "intact": not problems, "problems": [str(p) for p in problems]}
