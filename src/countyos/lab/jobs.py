"""Submitting lab jobs and what their submitters may see of them.

A job runs a bundle (``countyos.yaml`` and its files) on the real data in the lab worker. The
submitter sees the job's status and, for a failure, only an error class with data values removed;
of its outputs only the released ones can be downloaded. Logs, stdout, tracebacks and quarantined
or rejected outputs never reach the submitter.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from countyos import audit
from countyos.auth import Principal
from countyos.db.lab_models import Job, JobOutput
from countyos.errors import InvalidInputError, NotFoundError
from countyos.hub import Hub
from countyos.lab.checked_sql import plan_checked_query
from countyos.lab.grants import active_grant
from countyos.lab.job_context import table_policy
from countyos.lab.jobspec import JobBundle
from countyos.lab.projects import get_project, is_member, require_member

REAL_DATA_MODES = ("aggregate",)
FINAL_STATES = ("released", "review", "rejected", "failed", "cancelled")


def submit_job(hub: Hub, actor: Principal, *, project: str, bundle: JobBundle) -> Job:
    """Queue ``bundle`` to run on real data; every dataset it reads needs an active grant."""
    with hub.db.session() as session:
        found = get_project(session, actor, project)
        require_member(found, actor, "submit jobs")
        policies = {}
        for dataset in bundle.datasets:
            grant = active_grant(session, found, dataset, modes=REAL_DATA_MODES)
            policies[dataset] = table_policy(list(grant.dataset.columns), list(grant.columns))
        # Refuse what the checked planner would refuse now, not after the job waited in the queue.
        for action in bundle.actions:
            if action.kind == "sql":
                plan_checked_query(action.sql or "", policies={t: policies[t] for t in action.reads})
        job = Job(project_id=found.id, job_hash=bundle.job_hash, submitted_by=actor.username,
                  spec=bundle.spec, bundle_path="", status="queued")
        session.add(job)
        session.flush()
        folder = hub.settings.lab_private_dir / "jobs" / str(job.id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "bundle.json"
        path.write_text(json.dumps(bundle.to_json(), ensure_ascii=False), encoding="utf-8")
        job.bundle_path = str(path)
        audit.append(session, actor=actor.username, action="lab.job_submit",
                     target=f"project:{project}",
                     details={"job": job.id, "job_hash": job.job_hash,
                              "datasets": list(bundle.datasets),
                              "actions": [a.name for a in bundle.actions]})
        return job


def _visible_job(session: Session, actor: Principal, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None or not (actor.is_admin or is_member(job.project, actor)):
        raise NotFoundError(f"no job {job_id}")
    return job


def get_job(session: Session, actor: Principal, job_id: int) -> Job:
    return _visible_job(session, actor, job_id)


def list_jobs(session: Session, actor: Principal, *, project: str) -> list[Job]:
    found = get_project(session, actor, project)
    require_member(found, actor, "list its jobs")
    return list(session.execute(
        select(Job).where(Job.project_id == found.id).order_by(Job.id.desc())
    ).unique().scalars())


def cancel_job(session: Session, actor: Principal, *, job_id: int) -> Job:
    job = _visible_job(session, actor, job_id)
    changed = session.execute(
        update(Job).where(Job.id == job.id, Job.status == "queued")
        .values(status="cancelled", finished_at=datetime.now(UTC), error_class="Cancelled")
    ).rowcount
    if not changed:
        raise InvalidInputError(f"job {job_id} is {job.status}; only queued jobs can be cancelled")
    session.refresh(job)
    audit.append(session, actor=actor.username, action="lab.job_cancel",
                 target=f"project:{job.project.slug}", details={"job": job.id})
    return job


def output_public(output: JobOutput) -> dict[str, Any]:
    """What the submitter sees of one output: never the check details of unreleased cells."""
    body: dict[str, Any] = {"id": output.public_id, "name": output.name, "kind": output.kind,
                            "status": output.status}
    if output.status == "released":
        body["summary"] = output.check_report.get("summary_public", {})
    if output.status == "rejected":
        body["reason"] = output.reason
    return body


def job_public(job: Job) -> dict[str, Any]:
    return {
        "id": job.id, "project": job.project.slug, "job_hash": job.job_hash,
        "status": job.status, "submitted_by": job.submitted_by,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "data_versions": job.data_versions, "error_class": job.error_class,
        "error": job.error_message,
        "outputs": [output_public(o) for o in job.outputs],
    }
