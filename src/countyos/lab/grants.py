"""Grants: which columns of which dataset a project may use, for what purpose, in which mode,
until when — requested by project members, decided by the dataset's steward.

An expired or revoked grant stops new and queued jobs at once: every job checks
``active_grant`` when it is submitted and again when a worker picks it up.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from countyos import audit
from countyos.auth import Principal, can_manage_dataset, require
from countyos.catalog.datasets import get_dataset
from countyos.db.lab_models import Grant, Project
from countyos.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from countyos.lab.projects import get_project, require_member

MODES = ("synthetic", "aggregate", "dp")
RULE_KEYS = {"threshold": int, "p_percent": float, "nk_n": int, "nk_k": float,
             "auto_release": bool, "structural_zeros": list}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def request_grant(
    session: Session,
    actor: Principal,
    *,
    project: str,
    dataset: str,
    columns: list[str],
    purpose: str,
    mode: str,
    expires_at: datetime,
) -> Grant:
    found = get_project(session, actor, project)
    require_member(found, actor, "request grants")
    if mode not in MODES:
        raise InvalidInputError(f"mode {mode!r} must be one of {', '.join(MODES)}")
    ds = get_dataset(session, dataset)
    if ds.id not in {d.dataset_id for d in found.scenario.datasets}:
        raise InvalidInputError(
            f"dataset {dataset!r} is not offered by scenario {found.scenario.slug!r}"
        )
    known = {c.name for c in ds.columns}
    unknown = [c for c in columns if c not in known]
    if not columns or unknown:
        raise InvalidInputError(
            f"columns {unknown!r} are not columns of {dataset!r}" if unknown
            else "a grant names at least one column"
        )
    if not purpose.strip():
        raise InvalidInputError("a grant states its purpose")
    if _aware(expires_at) <= datetime.now(UTC):
        raise InvalidInputError("a grant's expiry must be in the future")
    grant = Grant(project_id=found.id, dataset_id=ds.id, columns=list(dict.fromkeys(columns)),
                  purpose=purpose, mode=mode, expires_at=_aware(expires_at),
                  requested_by=actor.username)
    session.add(grant)
    session.flush()
    audit.append(session, actor=actor.username, action="lab.grant_request",
                 target=f"project:{project}", details={"grant": grant.id, "dataset": dataset,
                                                        "columns": grant.columns, "mode": mode})
    return grant


def get_grant(session: Session, grant_id: int) -> Grant:
    grant = session.get(Grant, grant_id)
    if grant is None:
        raise NotFoundError(f"no grant {grant_id}")
    return grant


def _require_steward(actor: Principal, grant: Grant, what: str) -> None:
    require(can_manage_dataset(actor, department_id=grant.dataset.department_id),
            f"only stewards of {grant.dataset.department.code!r} may {what} grants on "
            f"{grant.dataset.name!r}")


def decide_grant(
    session: Session,
    actor: Principal,
    *,
    grant_id: int,
    approve: bool,
    reason: str = "",
    rules: dict[str, Any] | None = None,
) -> Grant:
    """The dataset's steward approves (optionally with rules) or rejects a requested grant."""
    grant = get_grant(session, grant_id)
    _require_steward(actor, grant, "decide")
    if grant.status != "requested":
        raise InvalidInputError(f"grant {grant_id} is already {grant.status}")
    if not approve and not reason.strip():
        raise InvalidInputError("a rejection states its reason")
    checked_rules = _check_rules(rules or {})
    grant.status = "approved" if approve else "rejected"
    grant.decided_by, grant.decided_at = actor.username, datetime.now(UTC)
    grant.reason, grant.rules = reason, checked_rules
    session.flush()
    audit.append(session, actor=actor.username,
                 action="lab.grant_approve" if approve else "lab.grant_reject",
                 target=f"project:{grant.project.slug}",
                 details={"grant": grant.id, "dataset": grant.dataset.name, "reason": reason,
                          "rules": checked_rules})
    return grant


def _check_rules(rules: dict[str, Any]) -> dict[str, Any]:
    unknown = set(rules) - set(RULE_KEYS)
    if unknown:
        raise InvalidInputError(f"unknown grant rules {sorted(unknown)}; known: {sorted(RULE_KEYS)}")
    for key, value in rules.items():
        kind = RULE_KEYS[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            continue
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise InvalidInputError(f"grant rule {key!r} must be {kind.__name__}")
    if rules.get("threshold", 10) < 3:
        raise InvalidInputError("grant rule 'threshold' must be at least 3")
    return dict(rules)


def revoke_grant(session: Session, actor: Principal, *, grant_id: int, reason: str) -> Grant:
    grant = get_grant(session, grant_id)
    _require_steward(actor, grant, "revoke")
    if grant.status != "approved":
        raise InvalidInputError(f"grant {grant_id} is {grant.status}, not approved")
    grant.status, grant.reason = "revoked", reason
    grant.decided_by, grant.decided_at = actor.username, datetime.now(UTC)
    session.flush()
    audit.append(session, actor=actor.username, action="lab.grant_revoke",
                 target=f"project:{grant.project.slug}", details={"grant": grant.id, "reason": reason})
    return grant


def project_grants(session: Session, project: Project) -> list[Grant]:
    return list(session.execute(
        select(Grant).where(Grant.project_id == project.id).order_by(Grant.id)
    ).unique().scalars())


def pending_for(session: Session, actor: Principal) -> list[Grant]:
    """Grant requests waiting for ``actor``'s decision."""
    grants = session.execute(select(Grant).where(Grant.status == "requested")).unique().scalars()
    return [g for g in grants if can_manage_dataset(actor, department_id=g.dataset.department_id)]


def is_active(grant: Grant, now: datetime | None = None) -> bool:
    return grant.status == "approved" and _aware(grant.expires_at) > (now or datetime.now(UTC))


def active_grant(session: Session, project: Project, dataset: str, *, modes: tuple[str, ...]) -> Grant:
    """The project's active grant on ``dataset`` in one of ``modes``; PermissionDeniedError if
    none (never approved, rejected, revoked or expired)."""
    for grant in reversed(project_grants(session, project)):
        if grant.dataset.name == dataset and grant.mode in modes and is_active(grant):
            return grant
    raise PermissionDeniedError(
        f"project {project.slug!r} has no active {'/'.join(modes)} grant on dataset {dataset!r} "
        "(not approved, revoked or expired)"
    )
