"""Releasing, reviewing and downloading lab outputs: the only path out of quarantine.

An output leaves quarantine only here: automatically when its checks are clean and the grant
allows it (or the steward already approved the same job hash before — the fast path), or when a
steward of every dataset it read approves it. On release the developer-facing file is copied to
the released area and the entity sets of its released cells are recorded for the differencing
check. A submitter can fetch only released outputs of their own projects; every other id —
unreleased, rejected, another project's, or made up — gets the same "no such output".
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from countyos import audit
from countyos.auth import Principal, can_manage_dataset, require
from countyos.catalog.datasets import get_dataset
from countyos.db.lab_models import Job, JobOutput
from countyos.errors import InvalidInputError, NotFoundError
from countyos.hub import Hub
from countyos.lab.disclosure import InMemoryReleasedCellStore
from countyos.lab.projects import is_member
from countyos.lab.released_cells import DatabaseReleasedCellStore

PENDING_CELLS = ".cells.bin"


def pending_cells_path(output: JobOutput) -> Path:
    return Path(output.quarantine_path + PENDING_CELLS)


def release_output(hub: Hub, session: Session, output: JobOutput, *, actor: str, how: str) -> None:
    """Copy the output to the released area and record its cells (inside ``session``)."""
    source = Path(output.quarantine_path)
    target_dir = hub.settings.lab_released_dir / output.job.project.slug / output.public_id
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / source.name
    shutil.copyfile(source, target)
    cells = pending_cells_path(output)
    if cells.exists():
        store = DatabaseReleasedCellStore(session, output.job.project_id)
        pending = InMemoryReleasedCellStore.from_bytes(cells.read_bytes())
        store.add_all(pending, prefix=f"{output.public_id}:")
    output.status, output.released_path = "released", str(target)
    output.decided_by, output.decided_at = actor, datetime.now(UTC)
    session.flush()
    audit.append(session, actor=actor, action="lab.output_release",
                 target=f"project:{output.job.project.slug}",
                 details={"job": output.job_id, "job_hash": output.job.job_hash,
                          "output": output.name, "how": how,
                          "data_versions": output.job.data_versions,
                          "checks": output.check_report.get("summary_public", {})})


def _datasets_read(job: Job) -> list[str]:
    return sorted(job.data_versions)


def can_review(session: Session, actor: Principal, output: JobOutput) -> bool:
    """A steward may review an output if they manage every dataset the job read."""
    names = _datasets_read(output.job)
    return bool(names) and all(
        can_manage_dataset(actor, department_id=get_dataset(session, n).department_id) for n in names
    )


def review_queue(session: Session, actor: Principal) -> list[JobOutput]:
    outputs = session.execute(
        select(JobOutput).where(JobOutput.status == "review").order_by(JobOutput.id)
    ).unique().scalars()
    return [o for o in outputs if can_review(session, actor, o)]


def get_for_review(session: Session, actor: Principal, public_id: str) -> JobOutput:
    output = session.execute(select(JobOutput).where(JobOutput.public_id == public_id)).unique().scalar_one_or_none()
    if output is None or not can_review(session, actor, output):
        raise NotFoundError(f"no output {public_id!r} to review")
    return output


def decide(hub: Hub, session: Session, actor: Principal, *, public_id: str, approve: bool,
           reason: str) -> JobOutput:
    """The steward approves (releases) or rejects an output in review; a reason is required."""
    output = get_for_review(session, actor, public_id)
    if output.status != "review":
        raise InvalidInputError(f"output {public_id!r} is {output.status}, not in review")
    if not reason.strip():
        raise InvalidInputError("a review decision states its reason")
    output.reason = reason
    if approve:
        release_output(hub, session, output, actor=actor.username, how="steward_approved")
    else:
        output.status, output.decided_by = "rejected", actor.username
        output.decided_at = datetime.now(UTC)
        audit.append(session, actor=actor.username, action="lab.output_reject",
                     target=f"project:{output.job.project.slug}",
                     details={"job": output.job_id, "job_hash": output.job.job_hash,
                              "output": output.name, "reason": reason})
    refresh_job_status(session, output.job)
    return output


def refresh_job_status(session: Session, job: Job) -> None:
    statuses = {o.status for o in job.outputs}
    if job.status in ("failed", "cancelled") or not statuses:
        return
    if "review" in statuses or "quarantined" in statuses:
        job.status = "review"
    elif statuses == {"rejected"}:
        job.status = "rejected"
    else:
        job.status = "released"
    session.flush()


def previously_approved(session: Session, job: Job) -> bool:
    """Did a steward already approve an output of the same code (job hash) in this project?"""
    return session.execute(
        select(JobOutput.id).join(Job, Job.id == JobOutput.job_id).where(
            Job.project_id == job.project_id, Job.job_hash == job.job_hash, Job.id != job.id,
            JobOutput.decided_by.is_not(None), JobOutput.status == "released",
            JobOutput.reason != "")
    ).first() is not None


def released_file(session: Session, actor: Principal, public_id: str) -> Path:
    """The released file of an output, for its project's members (and admins) only."""
    output = session.execute(select(JobOutput).where(JobOutput.public_id == public_id)).unique().scalar_one_or_none()
    visible = output is not None and output.status == "released" and (
        actor.is_admin or is_member(output.job.project, actor))
    if not visible or not output.released_path:
        raise NotFoundError(f"no released output {public_id!r}")
    path = Path(output.released_path)
    require(path.is_file(), "the released file is missing; ask the data bureau")
    audit.append(session, actor=actor.username, action="lab.output_download",
                 target=f"project:{output.job.project.slug}",
                 details={"output": output.public_id, "name": output.name})
    return path
