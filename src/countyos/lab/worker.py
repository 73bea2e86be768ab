"""The lab worker: the trusted-zone process that builds twins and runs submitted jobs.

``countyos worker`` runs ``serve_forever``; ``countyos serve`` starts one as a separate process so
the web process never opens private data. ``run_once`` does one round (used by tests and
``countyos worker --once``). Jobs are claimed with an atomic ``queued → running`` update, so
several workers never run the same job. A job whose grant expired or was revoked while it waited
is cancelled when it is picked up, before it reads anything.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import threading
from datetime import UTC, datetime

from sqlalchemy import select, update

from countyos import audit
from countyos.catalog.datasets import get_version
from countyos.db.lab_models import Job, JobOutput
from countyos.engine import TableSource
from countyos.errors import CountyOSError, PermissionDeniedError, UserError
from countyos.hub import Hub
from countyos.lab.actions import JobStopped, QuarantinedOutput, run_sql_action
from countyos.lab.python_action import run_python_action
from countyos.lab.grants import active_grant
from countyos.lab.job_context import JobContext, rules_of, table_policy
from countyos.lab.jobs import REAL_DATA_MODES
from countyos.lab.jobspec import JobBundle
from countyos.lab.release import pending_cells_path, previously_approved, refresh_job_status, release_output
from countyos.lab.released_cells import lab_secret
from countyos.lab.twin_store import build_project_twins, missing_twins

log = logging.getLogger("countyos.lab.worker")


def run_once(hub: Hub) -> int:
    """Build missing twins, then run every queued job; returns how many items were handled."""
    handled = 0
    with hub.db.session() as session:
        projects = [p.id for p in missing_twins(session)]
    for project_id in projects:
        try:
            build_project_twins(hub, project_id)
        except CountyOSError as error:
            log.error("twin build for project %s failed: %s", project_id, error.code)
        handled += 1
    with hub.db.session() as session:
        queued = session.execute(select(Job.id).where(Job.status == "queued").order_by(Job.id)).scalars().all()
    for job_id in queued:
        if claim(hub, job_id):
            process_job(hub, job_id)
            handled += 1
    return handled


def serve_forever(hub: Hub, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    while not stop.is_set():
        if not run_once(hub):
            stop.wait(hub.settings.lab.worker_poll_s)


def claim(hub: Hub, job_id: int) -> bool:
    with hub.db.session() as session:
        return session.execute(
            update(Job).where(Job.id == job_id, Job.status == "queued")
            .values(status="running", started_at=datetime.now(UTC))
        ).rowcount == 1


def _context(hub: Hub, job: Job, bundle: JobBundle) -> JobContext:
    session_grants = []
    sources, policies, versions = {}, {}, {}
    with hub.db.session() as session:
        job = session.get(Job, job.id)
        for name in bundle.datasets:
            grant = active_grant(session, job.project, name, modes=REAL_DATA_MODES)
            session_grants.append(grant)
            dataset = grant.dataset
            version = get_version(session, dataset)
            files = hub.lake.data_files(dataset.lake_table, version.snapshot_id)
            columns = tuple(c.name for c in dataset.columns if c.name in grant.columns)
            sources[name] = TableSource(name, tuple(files), columns)
            policies[name] = table_policy(list(dataset.columns), list(grant.columns),
                                          profile=version.profile)
            versions[name] = version.version
        rules, auto_release = rules_of(session_grants)
        project_id, slug = job.project_id, job.project.slug
    output_dir = hub.settings.lab_private_dir / "jobs" / str(job.id) / "outputs"
    output_dir.mkdir(parents=True, exist_ok=True)
    return JobContext(job_id=job.id, project_id=project_id, project_slug=slug, sources=sources,
                      policies=policies, rules=rules, auto_release=auto_release,
                      versions=versions, output_dir=output_dir,
                      secret=lab_secret(hub.settings.lab_private_dir))


def _finish(hub: Hub, job_id: int, *, status: str, error_class: str | None = None,
            message: str | None = None) -> None:
    with hub.db.session() as session:
        job = session.get(Job, job_id)
        job.status, job.error_class, job.error_message = status, error_class, message
        job.finished_at = datetime.now(UTC)
        audit.append(session, actor="lab-worker", action=f"lab.job_{status}",
                     target=f"project:{job.project.slug}",
                     details={"job": job.id, "job_hash": job.job_hash, "error_class": error_class,
                              "data_versions": job.data_versions})


def process_job(hub: Hub, job_id: int) -> None:
    """Run a claimed job; never raises for what the job did (that becomes its status)."""
    with hub.db.session() as session:
        job = session.get(Job, job_id)
        bundle = JobBundle.from_json(json.loads(open(job.bundle_path, encoding="utf-8").read()))
    try:
        ctx = _context(hub, job, bundle)
    except PermissionDeniedError as error:
        _finish(hub, job_id, status="cancelled", error_class="GrantInactive", message=error.message)
        return
    with hub.db.session() as session:
        session.get(Job, job_id).data_versions = ctx.versions
    outputs: list[QuarantinedOutput] = []
    try:
        for action in bundle.actions:
            if action.kind == "sql":
                outputs += run_sql_action(hub, ctx, action)
            else:
                outputs += run_python_action(hub, ctx, bundle, action)
    except JobStopped as stopped:
        _finish(hub, job_id, status="failed", error_class=stopped.error_class, message=stopped.message)
        return
    except UserError as error:
        # planner, guard and permission messages name SQL constructs and rules, never data values
        _finish(hub, job_id, status="failed", error_class=type(error).__name__, message=error.message)
        return
    except Exception as error:  # noqa: BLE001 - any other failure: the class only, no message
        log.exception("job %s failed", job_id)
        _finish(hub, job_id, status="failed", error_class=type(error).__name__,
                message="the job failed; details are kept inside the lab")
        return
    _store_and_decide(hub, job_id, ctx, outputs)


def _store_and_decide(hub: Hub, job_id: int, ctx: JobContext, outputs: list[QuarantinedOutput]) -> None:
    with hub.db.session() as session:
        job = session.get(Job, job_id)
        fast_path = previously_approved(session, job)
        for item in outputs:
            row = JobOutput(public_id=secrets.token_hex(12), job_id=job.id, name=item.name,
                            kind=item.kind, status="quarantined", quarantine_path=str(item.path),
                            check_report={**item.report, "summary_public": item.summary_public,
                                          "clean": item.clean})
            job.outputs.append(row)
            session.flush()
            if item.pending_cells is not None:
                pending_cells_path(row).write_bytes(item.pending_cells)
            if item.clean and not item.must_review and (ctx.auto_release or fast_path):
                release_output(hub, session, row, actor="lab-worker",
                               how="fast_path" if fast_path and not ctx.auto_release else "automatic")
            else:
                row.status = "review"
                audit.append(session, actor="lab-worker", action="lab.output_review",
                             target=f"project:{job.project.slug}",
                             details={"job": job.id, "output": item.name, "clean": item.clean})
        job.status = "running"
        job.finished_at = datetime.now(UTC)
        refresh_job_status(session, job)
        audit.append(session, actor="lab-worker", action="lab.job_checked",
                     target=f"project:{job.project.slug}",
                     details={"job": job.id, "job_hash": job.job_hash, "status": job.status,
                              "data_versions": ctx.versions,
                              "outputs": {o.name: o.status for o in job.outputs}})
    for workdir in (hub.settings.lab_private_dir / "sandbox").glob(f"job{job_id}-*"):
        shutil.rmtree(workdir, ignore_errors=True)
