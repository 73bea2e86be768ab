"""Lab pages for everyone in a project: scenarios, applying, a project's grants, twins and jobs,
submitting a job and downloading released outputs. The differential-privacy section of the
project page is built by ``lab_dp_view`` and its forms are handled by ``lab_dp``.

Owns the HTML of the developer's side of the trusted lab. Every action calls the lab's service
functions (``countyos.lab.projects``, ``grants``, ``jobs``, ``release``, ``twin_store``) or the
very functions behind ``/api/v1/lab`` (twin download and twin queries), so the page refuses
exactly what the API refuses. A developer sees twins (synthetic), job statuses and released
outputs — never raw rows, logs or unreleased outputs. It must not run anything on real data.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from countyos.catalog.datasets import get_dataset, list_datasets
from countyos.catalog.public import column_public
from countyos.errors import CountyOSError, NotFoundError
from countyos.lab import grants, jobs, projects, release, twin_store
from countyos.lab.jobs import FINAL_STATES
from countyos.lab.jobspec import NAME_RE, JobBundle
from countyos.lab.public import grant_public, project_public, scenario_public, twin_public
from countyos.web.api import lab as lab_api
from countyos.web.pages.forms import FormErrors, verify_csrf
from countyos.web.pages.lab_dp_view import dp_section
from countyos.web.pages.portal import PortalUser, UserDep, get_portal, gettext_of, render

router = APIRouter(include_in_schema=False)
GRANT_DAYS = 90


def _lab_context(request: Request, user: PortalUser) -> dict[str, Any]:
    hub = get_portal(request).hub
    with hub.db.session() as session:
        scenarios = [scenario_public(s) for s in projects.list_scenarios(session)]
        mine = [project_public(p) for p in projects.list_projects(session, user.principal)]
        names = [d.name for d in list_datasets(session)] if user.principal.is_admin else []
    return {"scenarios": scenarios, "projects": mine, "dataset_names": names}


@router.get("/lab")
def lab_page(request: Request, user: UserDep) -> Response:
    return render(request, "lab_scenarios.html", {**_lab_context(request, user),
                                                  "errors": FormErrors(), "v": {}}, active="lab")


@router.post("/lab/scenarios", dependencies=[Depends(verify_csrf)])
def publish_scenario(
    request: Request, user: UserDep,
    slug: Annotated[str, Form()] = "", title_zh: Annotated[str, Form()] = "",
    title_en: Annotated[str, Form()] = "", problem_zh: Annotated[str, Form()] = "",
    datasets: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI form default
) -> Response:
    _ = gettext_of(request)
    errors = FormErrors()
    errors.require("slug", slug, _("Give the scenario a short id."))
    errors.match("slug", slug, projects.SLUG_RE, _("2–63 lower-case letters, digits or '-'."))
    errors.require("title_zh", title_zh, _("Give a Chinese title."))
    if not datasets:
        errors["datasets"] = _("Offer at least one dataset.")
    if not errors:
        try:
            with get_portal(request).hub.db.session() as session:
                projects.publish_scenario(session, user.principal, slug=slug, title_zh=title_zh,
                                          title_en=title_en, problem_zh=problem_zh,
                                          datasets=datasets)
            return RedirectResponse("/lab", status_code=303)
        except CountyOSError as error:
            errors.service_error(error, "slug" if error.code == "conflict" else "", _)
    values = {"slug": slug, "title_zh": title_zh, "title_en": title_en, "problem_zh": problem_zh,
              "datasets": datasets}
    return render(request, "lab_scenarios.html", {**_lab_context(request, user), "errors": errors,
                                                  "v": values, "open_form": "publish"},
                  status=400, active="lab")


@router.post("/lab/scenarios/{scenario}/apply", dependencies=[Depends(verify_csrf)])
def apply(request: Request, scenario: str, user: UserDep,
          slug: Annotated[str, Form()] = "", title: Annotated[str, Form()] = "") -> Response:
    _ = gettext_of(request)
    errors = FormErrors()
    errors.require("slug", slug, _("Give the project a short id."))
    errors.match("slug", slug, projects.SLUG_RE, _("2–63 lower-case letters, digits or '-'."))
    errors.require("title", title, _("Give the project a title."))
    if not errors:
        try:
            with get_portal(request).hub.db.session() as session:
                projects.apply(session, user.principal, scenario=scenario, slug=slug, title=title)
            return RedirectResponse(f"/lab/projects/{slug}", status_code=303)
        except CountyOSError as error:
            errors.service_error(error, "slug" if error.code == "conflict" else "", _)
    return render(request, "lab_scenarios.html", {
        **_lab_context(request, user), "errors": errors, "v": {"slug": slug, "title": title},
        "open_form": f"apply-{scenario}"}, status=400, active="lab")


def _project_context(request: Request, user: PortalUser, slug: str) -> dict[str, Any]:
    hub = get_portal(request).hub
    with hub.db.session() as session:
        project = projects.get_project(session, user.principal, slug)
        member = user.principal.is_admin or projects.is_member(project, user.principal)
        context: dict[str, Any] = {
            "p": project_public(project), "member": member,
            "scenario": scenario_public(project.scenario),
            "grants": [grant_public(g) for g in grants.project_grants(session, project)],
            "twins": [], "jobs": []}
        if member:
            context["twins"] = [twin_public(t) for t in twin_store.project_twins(session, project)]
            context["jobs"] = [jobs.job_public(j)
                               for j in jobs.list_jobs(session, user.principal, project=slug)]
    context["default_expiry"] = (date.today() + timedelta(days=GRANT_DAYS)).isoformat()
    context["modes"] = grants.MODES
    context["dp"] = dp_section(hub, user.principal, slug)
    return context


def render_project_page(request: Request, user: PortalUser, slug: str, *,
                        errors: FormErrors | None = None, values: dict[str, Any] | None = None,
                        extra: dict[str, Any] | None = None, status: int = 200) -> Response:
    """The project page; ``extra`` carries the state of a form shown again (e.g. the DP forms)."""
    context = {**_project_context(request, user, slug), "errors": errors or FormErrors(),
               "v": values or {}, **(extra or {})}
    return render(request, "lab_project.html", context, status=status, active="lab")


@router.get("/lab/projects/{slug}")
def project_page(request: Request, slug: str, user: UserDep) -> Response:
    return render_project_page(request, user, slug)


@router.get("/lab/projects/{slug}/grant-columns")
def grant_columns(request: Request, slug: str, user: UserDep, dataset: str = "") -> Response:
    """The columns of a dataset the project's scenario offers (metadata only)."""
    with get_portal(request).hub.db.session() as session:
        project = projects.get_project(session, user.principal, slug)
        offered = {d.dataset.name for d in project.scenario.datasets}
        if dataset not in offered:
            raise NotFoundError(f"scenario {project.scenario.slug!r} offers no dataset {dataset!r}")
        columns = [column_public(c) for c in get_dataset(session, dataset).columns]
    return render(request, "grant_columns.html", {"columns": columns, "chosen": []})


@router.post("/lab/projects/{slug}/grants", dependencies=[Depends(verify_csrf)])
def request_grant(
    request: Request, slug: str, user: UserDep,
    dataset: Annotated[str, Form()] = "", columns: Annotated[list[str], Form()] = [],  # noqa: B006
    purpose: Annotated[str, Form()] = "", mode: Annotated[str, Form()] = "",
    expires: Annotated[str, Form()] = "",
) -> Response:
    _ = gettext_of(request)
    errors = FormErrors()
    errors.require("dataset", dataset, _("Choose a dataset."))
    if not columns:
        errors["columns"] = _("Choose at least one column.")
    errors.require("purpose", purpose, _("State the purpose."))
    if mode not in grants.MODES:
        errors["mode"] = _("Choose a mode.")
    expires_at = None
    try:
        expires_at = datetime.combine(date.fromisoformat(expires), time(23, 59), tzinfo=UTC)
    except ValueError:
        errors["expires"] = _("Give a date (YYYY-MM-DD).")
    if not errors:
        try:
            with get_portal(request).hub.db.session() as session:
                grants.request_grant(session, user.principal, project=slug, dataset=dataset,
                                     columns=columns, purpose=purpose, mode=mode,
                                     expires_at=expires_at)  # type: ignore[arg-type]
            return RedirectResponse(f"/lab/projects/{slug}#grants", status_code=303)
        except CountyOSError as error:
            field = "expires" if "expiry" in error.message else "columns" if "column" in error.message else ""
            errors.service_error(error, field, _)
    values = {"dataset": dataset, "columns": columns, "purpose": purpose, "mode": mode,
              "expires": expires}
    return render_project_page(request, user, slug, errors=errors, values=values, status=400,
                               extra={"open_form": "grant"})


@router.get("/lab/projects/{slug}/twins/{dataset}/download")
def download_twin(request: Request, slug: str, dataset: str,
                  user: UserDep) -> FileResponse:
    with get_portal(request).hub.db.session() as session:
        return lab_api.download_twin(slug, dataset, user.principal, session)


@router.post("/lab/projects/{slug}/twins/query", dependencies=[Depends(verify_csrf)])
def query_twins(request: Request, slug: str, user: UserDep,
                sql: Annotated[str, Form()] = "") -> Response:
    """Any read-only SQL over the project's synthetic twins (the API's own function)."""
    _ = gettext_of(request)
    if not sql.strip():
        return render(request, "twin_result.html", {"error": _("Write a query.")}, status=400)
    hub = get_portal(request).hub
    try:
        answer = lab_api.query_twins(slug, lab_api.TwinQuery(sql=sql, max_rows=200), hub, user.principal)
    except CountyOSError as error:
        errors = FormErrors()
        errors.service_error(error, "", _)
        return render(request, "twin_result.html", {"error": errors[""]}, status=error.status)
    return render(request, "twin_result.html", {"answer": answer})


@router.post("/lab/projects/{slug}/jobs", dependencies=[Depends(verify_csrf)])
def submit_job(request: Request, slug: str, user: UserDep,
               name: Annotated[str, Form()] = "", sql: Annotated[str, Form()] = "") -> Response:
    _ = gettext_of(request)
    errors = FormErrors()
    errors.require("name", name, _("Name the output."))
    errors.match("name", name, NAME_RE, _("Lower-case letters, digits and _; starting with a letter."))
    errors.require("sql", sql, _("Write the query to run on the real data."))
    if not errors:
        try:
            bundle = JobBundle.from_json({"spec": {"version": 1, "actions": [
                {"name": name, "sql": sql}]}, "files": {}})
            job = jobs.submit_job(get_portal(request).hub, user.principal, project=slug, bundle=bundle)
            return RedirectResponse(f"/lab/jobs/{job.id}", status_code=303)
        except CountyOSError as error:
            errors.service_error(error, "sql", _)
    return render_project_page(request, user, slug, errors=errors,
                               values={"name": name, "sql": sql}, status=400,
                               extra={"open_form": "job"})


@router.get("/lab/jobs/{job_id}")
def job_page(request: Request, job_id: int, user: UserDep) -> Response:
    with get_portal(request).hub.db.session() as session:
        job = jobs.job_public(jobs.get_job(session, user.principal, job_id))
    context = {"job": job, "final": job["status"] in FINAL_STATES}
    if request.headers.get("hx-request") == "true":
        return render(request, "job_status.html", context)
    return render(request, "lab_job.html", context, active="lab")


@router.post("/lab/jobs/{job_id}/cancel", dependencies=[Depends(verify_csrf)])
def cancel_job(request: Request, job_id: int, user: UserDep) -> Response:
    with get_portal(request).hub.db.session() as session:
        jobs.cancel_job(session, user.principal, job_id=job_id)
    return RedirectResponse(f"/lab/jobs/{job_id}", status_code=303)


@router.get("/lab/outputs/{public_id}/download")
def download_output(request: Request, public_id: str,
                    user: UserDep) -> FileResponse:
    """A released output, for its project's members (``release.released_file`` decides)."""
    with get_portal(request).hub.db.session() as session:
        path = release.released_file(session, user.principal, public_id)
    return FileResponse(path, filename=path.name)


__all__ = ["router"]
