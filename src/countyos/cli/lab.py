"""``countyos lab …`` and ``countyos worker``: scenarios, projects, grants, twins, jobs, review."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import typer

from countyos.cli.common import STATE, console, emit, user_errors
from countyos.errors import InvalidInputError
from countyos.lab import grants, jobs, projects, release, twin_store
from countyos.lab.jobspec import load_bundle
from countyos.lab.public import grant_public, project_public, review_public, scenario_public, twin_public

JSON_OPT = typer.Option(False, "--json", help="Print JSON for scripts.")
SPEC_OPT = typer.Option(Path("countyos.yaml"), "--spec", help="The job spec file.")

app = typer.Typer(help="The trusted lab: data stays in the domain, usable but not visible.",
                  no_args_is_help=True)
scenario_app = typer.Typer(help="Scenarios the county publishes.", no_args_is_help=True)
grant_app = typer.Typer(help="Grants of datasets to projects.", no_args_is_help=True)
review_app = typer.Typer(help="The steward's review queue.", no_args_is_help=True)
app.add_typer(scenario_app, name="scenario")
app.add_typer(grant_app, name="grant")
app.add_typer(review_app, name="review")


@scenario_app.command("publish")
def scenario_publish(
    slug: str, title: str = typer.Option(..., "--title"), title_en: str = typer.Option("", "--title-en"),
    problem: str = typer.Option("", "--problem"), problem_en: str = typer.Option("", "--problem-en"),
    dataset: list[str] = typer.Option(..., "--dataset", help="A dataset on offer (repeat)."),
    as_json: bool = JSON_OPT,
) -> None:
    with user_errors(), STATE.hub().db.session() as session:
        emit(scenario_public(projects.publish_scenario(
            session, STATE.principal(), slug=slug, title_zh=title, title_en=title_en,
            problem_zh=problem, problem_en=problem_en, datasets=dataset)), as_json=as_json)


@scenario_app.command("list")
def scenario_list(as_json: bool = JSON_OPT) -> None:
    with user_errors(), STATE.hub().db.session() as session:
        emit([scenario_public(s) for s in projects.list_scenarios(session)], as_json=as_json,
             columns=["slug", "title_zh", "status", "datasets"])


@app.command("apply")
def apply(scenario: str, project: str = typer.Option(..., "--project", help="New project slug."),
          title: str = typer.Option(..., "--title"), as_json: bool = JSON_OPT) -> None:
    """Apply to a scenario: creates a project you lead."""
    with user_errors(), STATE.hub().db.session() as session:
        emit(project_public(projects.apply(session, STATE.principal(), scenario=scenario,
                                           slug=project, title=title)), as_json=as_json)


@app.command("projects")
def project_list(as_json: bool = JSON_OPT) -> None:
    with user_errors(), STATE.hub().db.session() as session:
        emit([project_public(p) for p in projects.list_projects(session, STATE.principal())],
             as_json=as_json, columns=["slug", "title", "scenario", "status"])


@grant_app.command("request")
def grant_request(
    project: str, dataset: str = typer.Option(..., "--dataset"),
    column: list[str] = typer.Option(..., "--column", help="A column (repeat)."),
    purpose: str = typer.Option(..., "--purpose"),
    mode: str = typer.Option("aggregate", "--mode", help="synthetic | aggregate | dp"),
    expires: str = typer.Option(..., "--expires", help="Expiry date, YYYY-MM-DD."),
    as_json: bool = JSON_OPT,
) -> None:
    with user_errors(), STATE.hub().db.session() as session:
        try:
            until = datetime.fromisoformat(expires).replace(tzinfo=UTC)
        except ValueError:
            raise InvalidInputError(f"--expires {expires!r} must be a date like 2027-06-30") from None
        emit(grant_public(grants.request_grant(
            session, STATE.principal(), project=project, dataset=dataset, columns=column,
            purpose=purpose, mode=mode, expires_at=until)), as_json=as_json)


@grant_app.command("pending")
def grant_pending(as_json: bool = JSON_OPT) -> None:
    with user_errors(), STATE.hub().db.session() as session:
        emit([grant_public(g) for g in grants.pending_for(session, STATE.principal())],
             as_json=as_json, columns=["id", "project", "dataset", "mode", "purpose", "expires_at"])


@grant_app.command("decide")
def grant_decide(grant_id: int, approve: bool = typer.Option(..., "--approve/--reject"),
                 reason: str = typer.Option("", "--reason"),
                 threshold: int = typer.Option(None, "--threshold"),
                 auto_release: bool = typer.Option(None, "--auto-release/--review-all"),
                 as_json: bool = JSON_OPT) -> None:
    rules = {k: v for k, v in {"threshold": threshold, "auto_release": auto_release}.items()
             if v is not None}
    with user_errors(), STATE.hub().db.session() as session:
        emit(grant_public(grants.decide_grant(session, STATE.principal(), grant_id=grant_id,
                                              approve=approve, reason=reason, rules=rules)),
             as_json=as_json)


@grant_app.command("revoke")
def grant_revoke(grant_id: int, reason: str = typer.Option(..., "--reason")) -> None:
    with user_errors(), STATE.hub().db.session() as session:
        grants.revoke_grant(session, STATE.principal(), grant_id=grant_id, reason=reason)
        console.print(f"grant {grant_id} revoked")


@app.command("twins")
def twins(project: str, as_json: bool = JSON_OPT) -> None:
    """List a project's synthetic twins with their fidelity and privacy."""
    with user_errors(), STATE.hub().db.session() as session:
        found = projects.get_project(session, STATE.principal(), project)
        projects.require_member(found, STATE.principal(), "use its twins")
        emit([twin_public(t) for t in twin_store.project_twins(session, found)], as_json=as_json,
             columns=["dataset", "version", "rows", "created_at"])


@app.command("twin-download")
def twin_download(project: str, dataset: str, output: Path = typer.Option(..., "-o", "--output")) -> None:
    with user_errors(), STATE.hub().db.session() as session:
        found = projects.get_project(session, STATE.principal(), project)
        projects.require_member(found, STATE.principal(), "download its twins")
        shutil.copyfile(twin_store.get_twin(session, found, dataset).path, output)
    console.print(f"twin of {dataset} written to {output}")


@app.command("submit")
def submit(project: str = typer.Option(..., "--project"), spec: Path = SPEC_OPT,
           as_json: bool = JSON_OPT) -> None:
    """Submit the job spec to run on the real data in the sandbox."""
    with user_errors():
        bundle = load_bundle(spec)
        job = jobs.submit_job(STATE.hub(), STATE.principal(), project=project, bundle=bundle)
        with STATE.hub().db.session() as session:
            emit(jobs.job_public(jobs.get_job(session, STATE.principal(), job.id)), as_json=as_json)


@app.command("jobs")
def job_list(project: str, as_json: bool = JSON_OPT) -> None:
    with user_errors(), STATE.hub().db.session() as session:
        emit([jobs.job_public(j) for j in jobs.list_jobs(session, STATE.principal(), project=project)],
             as_json=as_json, columns=["id", "status", "job_hash", "submitted_by", "created_at"])


@app.command("job")
def job_show(job_id: int, as_json: bool = JSON_OPT) -> None:
    with user_errors(), STATE.hub().db.session() as session:
        body = jobs.job_public(jobs.get_job(session, STATE.principal(), job_id))
        emit(body, as_json=as_json)
        if not as_json and body["outputs"]:
            emit(body["outputs"], as_json=False, columns=["id", "name", "kind", "status"])


@app.command("download")
def download(output_id: str, output: Path = typer.Option(..., "-o", "--output")) -> None:
    """Download a released output (only released outputs of your projects)."""
    with user_errors(), STATE.hub().db.session() as session:
        shutil.copyfile(release.released_file(session, STATE.principal(), output_id), output)
    console.print(f"written to {output}")


@review_app.command("list")
def review_list(as_json: bool = JSON_OPT) -> None:
    with user_errors(), STATE.hub().db.session() as session:
        emit([review_public(o) for o in release.review_queue(session, STATE.principal())],
             as_json=as_json, columns=["id", "project", "name", "submitted_by", "status"])


@review_app.command("show")
def review_show(output_id: str, as_json: bool = JSON_OPT) -> None:
    with user_errors(), STATE.hub().db.session() as session:
        emit(review_public(release.get_for_review(session, STATE.principal(), output_id), detail=True),
             as_json=as_json)


@review_app.command("decide")
def review_decide(output_id: str, approve: bool = typer.Option(..., "--approve/--reject"),
                  reason: str = typer.Option(..., "--reason")) -> None:
    with user_errors(), STATE.hub().db.session() as session:
        result = release.decide(STATE.hub(), session, STATE.principal(), public_id=output_id,
                                approve=approve, reason=reason)
        console.print(f"output {output_id}: {result.status}")


@app.command("run")
def run(project: str = typer.Option(..., "--project"), spec: Path = SPEC_OPT,
        as_json: bool = JSON_OPT) -> None:
    """Pre-flight: run the job spec on the project's twins with full output and the exact checks
    of the real run, explaining every suppression."""
    from countyos.lab.preflight import run_preflight

    with user_errors():
        bundle = load_bundle(spec)
        workdir = STATE.hub().settings.home / "lab" / "preflight" / project
        results = run_preflight(STATE.hub(), STATE.principal(), project=project, bundle=bundle,
                                workdir=workdir)
        if as_json:
            emit([r.__dict__ for r in results], as_json=True)
            return
        for result in results:
            verdict = "[green]would be released[/]" if result.clean else "[yellow]would go to review[/]"
            console.print(f"[bold]{result.action} → {result.name}[/]: {verdict} (synthetic twins)")
            if result.stdout:
                console.print(result.stdout, markup=False, highlight=False)
            if result.columns:
                emit([dict(zip(result.columns, row)) for row in result.rows[:50]], as_json=False,
                     columns=result.columns)
            for item in result.explanations:
                console.print(f"  · {item.get('cell', '')} {item.get('column', '')}: "
                              f"{item['reason_zh']} / {item['reason_en']}", highlight=False)


dp_app = typer.Typer(help="Differentially private answers (grant mode dp) and budgets.",
                     no_args_is_help=True)
app.add_typer(dp_app, name="dp")


@dp_app.command("query")
def dp_query(project: str, sql: str, epsilon: float = typer.Option(None, "--epsilon"),
             rho: float = typer.Option(None, "--rho"), delta: float = typer.Option(0.0, "--delta"),
             as_json: bool = JSON_OPT) -> None:
    """Ask a DP aggregate query; prints values with their 95% intervals and the charge."""
    from countyos.lab import dp_service
    from countyos.lab.dp import PrivacyParams

    with user_errors():
        answer = dp_service.dp_query(STATE.hub(), STATE.principal(), project=project, sql=sql,
                                     privacy=PrivacyParams(epsilon=epsilon, rho=rho, delta=delta))
        body = answer.to_dict()
        if as_json:
            emit(body, as_json=True)
            return
        rows = []
        for row, accuracy in zip(body["rows"], body["accuracy"]):
            cells = {}
            for name, value, acc in zip(body["columns"], row, accuracy):
                cells[name] = value if acc is None else f"{value} ± {acc.get('half_width', acc)}"
            rows.append(cells)
        emit(rows, as_json=False, columns=body["columns"])
        console.print(f"charged: {body['cost']}" + (" (stored answer, no charge)" if body.get("from_cache") else ""))


@dp_app.command("budget")
def dp_budget(project: str, dataset: str = typer.Option(None, "--dataset"),
              epsilon: float = typer.Option(None, "--epsilon", help="Set the budget (stewards)."),
              accounting: str = typer.Option("pure", "--accounting", help="pure | zcdp"),
              delta: float = typer.Option(0.0, "--delta"), as_json: bool = JSON_OPT) -> None:
    """Show a project's DP budgets and ledger; with --dataset and --epsilon, set one (stewards)."""
    from countyos.lab import dp_service

    with user_errors():
        if epsilon is not None:
            if not dataset:
                raise InvalidInputError("--epsilon needs --dataset")
            emit(dp_service.set_budget(STATE.hub(), STATE.principal(), project=project,
                                       dataset=dataset, accounting=accounting, epsilon=epsilon,
                                       delta=delta), as_json=as_json)
            return
        emit(dp_service.budgets(STATE.hub(), STATE.principal(), project=project), as_json=True)


@dp_app.command("plan")
def dp_plan(project: str, sql: str,
            target: list[str] = typer.Option(..., "--target", help="COLUMN=±ABS or COLUMN=PCT%@EXPECTED"),
            as_json: bool = JSON_OPT) -> None:
    """What ε a query needs for accuracy targets, e.g. --target n=20 or --target n=5%@1000."""
    from countyos.lab import dp_service

    with user_errors():
        targets: dict[str, dict[str, float]] = {}
        for item in target:
            column, sep, spec = item.partition("=")
            if not sep:
                raise InvalidInputError(f"--target {item!r} must look like COLUMN=20 or COLUMN=5%@1000")
            try:
                if "%" in spec:
                    pct, _, expected = spec.partition("%@")
                    targets[column] = {"relative": float(pct) / 100, "expected_value": float(expected)}
                else:
                    targets[column] = {"absolute": float(spec)}
            except ValueError:
                raise InvalidInputError(f"--target {item!r} has a number that is not a number") from None
        emit(dp_service.plan(STATE.hub(), STATE.principal(), project=project, sql=sql,
                             targets=targets), as_json=as_json)
