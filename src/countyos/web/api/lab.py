"""The trusted lab: scenarios, projects, grants, twins, jobs, review and released outputs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from countyos.catalog.public import table_rows
from countyos.engine import parse_read_only
from countyos.errors import NotFoundError
from countyos.lab import dp_service, grants, jobs, projects, release, twin_store
from countyos.lab.dp import PrivacyParams
from countyos.lab.jobspec import JobBundle
from countyos.lab.public import (
    grant_public,
    project_public,
    review_public,
    scenario_public,
    twin_public,
)
from countyos.web.deps import HubDep, PrincipalDep, SessionDep

router = APIRouter(prefix="/lab", tags=["lab"])


class ScenarioCreate(BaseModel):
    slug: str
    title_zh: str
    title_en: str = ""
    problem_zh: str = ""
    problem_en: str = ""
    datasets: list[str]


class ProjectCreate(BaseModel):
    slug: str
    title: str


class MemberAdd(BaseModel):
    username: str


class GrantRequest(BaseModel):
    dataset: str
    columns: list[str]
    purpose: str
    mode: str = Field(description="synthetic | aggregate | dp")
    expires_at: datetime


class Decision(BaseModel):
    approve: bool
    reason: str = ""
    rules: dict[str, Any] | None = None


class Revocation(BaseModel):
    reason: str


class TwinQuery(BaseModel):
    sql: str
    max_rows: int | None = Field(None, ge=1, le=100_000)


class JobSubmit(BaseModel):
    spec: dict[str, Any]
    files: dict[str, str] = Field(default_factory=dict)


@router.post("/scenarios", status_code=201)
def publish_scenario(body: ScenarioCreate, principal: PrincipalDep, session: SessionDep) -> dict:
    return scenario_public(projects.publish_scenario(session, principal, **body.model_dump()))


@router.get("/scenarios")
def list_scenarios(_: PrincipalDep, session: SessionDep) -> list[dict]:
    return [scenario_public(s) for s in projects.list_scenarios(session)]


@router.post("/scenarios/{scenario}/apply", status_code=201)
def apply(scenario: str, body: ProjectCreate, principal: PrincipalDep, session: SessionDep) -> dict:
    return project_public(projects.apply(session, principal, scenario=scenario, **body.model_dump()))


@router.get("/projects")
def list_projects(principal: PrincipalDep, session: SessionDep) -> list[dict]:
    return [project_public(p) for p in projects.list_projects(session, principal)]


@router.get("/projects/{project}")
def show_project(project: str, principal: PrincipalDep, session: SessionDep) -> dict:
    found = projects.get_project(session, principal, project)
    return {**project_public(found),
            "grants": [grant_public(g) for g in grants.project_grants(session, found)]}


@router.post("/projects/{project}/members", status_code=201)
def add_member(project: str, body: MemberAdd, principal: PrincipalDep, session: SessionDep) -> dict:
    return project_public(projects.add_member(session, principal, project=project, username=body.username))


@router.post("/projects/{project}/grants", status_code=201)
def request_grant(project: str, body: GrantRequest, principal: PrincipalDep, session: SessionDep) -> dict:
    return grant_public(grants.request_grant(session, principal, project=project, **body.model_dump()))


@router.get("/grants/pending")
def pending_grants(principal: PrincipalDep, session: SessionDep) -> list[dict]:
    return [grant_public(g) for g in grants.pending_for(session, principal)]


@router.post("/grants/{grant_id}/decision")
def decide_grant(grant_id: int, body: Decision, principal: PrincipalDep, session: SessionDep) -> dict:
    return grant_public(grants.decide_grant(session, principal, grant_id=grant_id, **body.model_dump()))


@router.post("/grants/{grant_id}/revoke")
def revoke_grant(grant_id: int, body: Revocation, principal: PrincipalDep, session: SessionDep) -> dict:
    return grant_public(grants.revoke_grant(session, principal, grant_id=grant_id, reason=body.reason))


@router.get("/projects/{project}/twins")
def list_twins(project: str, principal: PrincipalDep, session: SessionDep) -> list[dict]:
    found = projects.get_project(session, principal, project)
    projects.require_member(found, principal, "use its twins")
    return [twin_public(t) for t in twin_store.project_twins(session, found)]


@router.get("/projects/{project}/twins/{dataset}/download")
def download_twin(project: str, dataset: str, principal: PrincipalDep, session: SessionDep) -> FileResponse:
    found = projects.get_project(session, principal, project)
    projects.require_member(found, principal, "download its twins")
    twin = twin_store.get_twin(session, found, dataset)
    return FileResponse(twin.path, filename=f"{dataset}-twin-v{twin.dataset_version}.parquet",
                        media_type="application/vnd.apache.parquet")


@router.post("/projects/{project}/twins/query")
def query_twins(project: str, body: TwinQuery, hub: HubDep, principal: PrincipalDep) -> dict:
    """Any read-only SQL over the project's twins: synthetic rows, no checks needed."""
    with hub.db.session() as session:
        found = projects.get_project(session, principal, project)
        projects.require_member(found, principal, "query its twins")
        sources = twin_store.twin_sources(session, found)
    parsed = parse_read_only(body.sql)
    missing = sorted(parsed.tables - set(sources))
    if missing:
        raise NotFoundError(f"project {project!r} has no twin of {', '.join(missing)}")
    result = hub.engine.execute(parsed, {t: sources[t] for t in parsed.tables},
                                limits=hub.query_limits(max_rows=body.max_rows))
    return {"columns": [f.name for f in result.table.schema], "rows": table_rows(result.table),
            "truncated": result.truncated, "synthetic": True}


@router.post("/projects/{project}/jobs", status_code=201)
def submit_job(project: str, body: JobSubmit, hub: HubDep, principal: PrincipalDep) -> dict:
    bundle = JobBundle.from_json(body.model_dump())
    job = jobs.submit_job(hub, principal, project=project, bundle=bundle)
    with hub.db.session() as session:
        return jobs.job_public(jobs.get_job(session, principal, job.id))


@router.get("/projects/{project}/jobs")
def list_jobs(project: str, principal: PrincipalDep, session: SessionDep) -> list[dict]:
    return [jobs.job_public(j) for j in jobs.list_jobs(session, principal, project=project)]


@router.get("/jobs/{job_id}")
def show_job(job_id: int, principal: PrincipalDep, session: SessionDep) -> dict:
    return jobs.job_public(jobs.get_job(session, principal, job_id))


@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: int, principal: PrincipalDep, session: SessionDep) -> dict:
    return jobs.job_public(jobs.cancel_job(session, principal, job_id=job_id))


@router.get("/outputs/{public_id}/download")
def download_output(public_id: str, principal: PrincipalDep, session: SessionDep) -> FileResponse:
    path = release.released_file(session, principal, public_id)
    return FileResponse(path, filename=path.name)


@router.get("/review")
def review_queue(principal: PrincipalDep, session: SessionDep) -> list[dict]:
    return [review_public(o) for o in release.review_queue(session, principal)]


@router.get("/review/{public_id}")
def review_detail(public_id: str, principal: PrincipalDep, session: SessionDep) -> dict:
    return review_public(release.get_for_review(session, principal, public_id), detail=True)


@router.post("/review/{public_id}")
def review_decide(public_id: str, body: Decision, hub: HubDep, principal: PrincipalDep,
                  session: SessionDep) -> dict:
    output = release.decide(hub, session, principal, public_id=public_id, approve=body.approve,
                            reason=body.reason)
    return review_public(output)


class DPQuery(BaseModel):
    sql: str
    epsilon: float | None = Field(None, gt=0, description="ε of the whole query (pure budgets)")
    rho: float | None = Field(None, gt=0, description="ρ of the whole query (zCDP budgets)")
    delta: float = Field(0.0, ge=0, lt=1, description="δ for DP key selection")
    max_contributions: int | None = Field(None, ge=1, le=1000)


class DPBudgetSet(BaseModel):
    dataset: str
    accounting: str = Field("pure", description="pure | zcdp")
    epsilon: float = Field(gt=0)
    delta: float = Field(0.0, ge=0, lt=1)


class DPPlan(BaseModel):
    sql: str
    targets: dict[str, dict[str, float]] = Field(
        description='output column → {"absolute": 50} or {"relative": 0.05, "expected_value": 1000}')
    delta: float = 0.0


@router.post("/projects/{project}/dp/query")
def dp_query(project: str, body: DPQuery, hub: HubDep, principal: PrincipalDep) -> dict:
    params = PrivacyParams(epsilon=body.epsilon, rho=body.rho, delta=body.delta,
                           max_contributions=body.max_contributions)
    return dp_service.dp_query(hub, principal, project=project, sql=body.sql, privacy=params).to_dict()


@router.post("/projects/{project}/dp/budgets")
def dp_set_budget(project: str, body: DPBudgetSet, hub: HubDep, principal: PrincipalDep) -> dict:
    return dp_service.set_budget(hub, principal, project=project, **body.model_dump())


@router.get("/projects/{project}/dp/budgets")
def dp_budgets(project: str, hub: HubDep, principal: PrincipalDep) -> list[dict]:
    return dp_service.budgets(hub, principal, project=project)


@router.post("/projects/{project}/dp/plan")
def dp_plan(project: str, body: DPPlan, hub: HubDep, principal: PrincipalDep) -> dict:
    return dp_service.plan(hub, principal, project=project, sql=body.sql, targets=body.targets,
                           delta=body.delta)
