"""The lab in the browser: a developer applies and asks for data, the steward grants it, the
developer runs a job on the real data and downloads its released output; never a raw row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
from fastapi.routing import APIRoute

from countyos.catalog.query import run_query
from countyos.lab import grants, jobs, projects
from countyos.lab.jobspec import JobBundle
from countyos.lab.worker import run_once
from tests.e2e.conftest import OPERATOR, SCENARIO, County, login

COLUMNS = ("person_id", "sex", "township_code")


def test_grant_job_release_and_download(county: County, browser_context, shot, tmp_path: Path) -> None:
    dev = browser_context().new_page()
    login(dev, county, "dev_zhiyuan")
    dev.goto("/lab")
    card = dev.locator(f"#scenario-{SCENARIO}")
    card.locator("summary").click()
    card.locator("button[type=submit]").click()                 # empty form: field messages
    assert dev.locator(".field:has(#f-slug) .field-error").count() == 1
    card = dev.locator(f"#scenario-{SCENARIO}")
    card.locator("#f-slug").fill("elder-care")
    card.locator("#f-title").fill("养老服务布局")
    card.locator("button[type=submit]").click()
    dev.wait_for_url("**/lab/projects/elder-care")

    dev.click("#grants summary")
    dev.select_option("#f-dataset", "population_registry")      # loads its columns (htmx)
    dev.wait_for_selector("#grant-columns input[value=person_id]")
    for column in COLUMNS:
        dev.check(f"#grant-columns input[value={column}]")
    dev.select_option("#f-mode", "aggregate")
    dev.fill("#f-purpose", "按乡镇统计老年人口，规划养老服务点")
    dev.click("#grant-form button[type=submit]")
    dev.wait_for_selector("#grants .status-requested")
    shot(dev, "grant-requested")

    steward = browser_context().new_page()
    login(steward, county, "steward_gongan")
    steward.click("nav.main-nav >> text=授权审批")
    form = steward.locator("section:has-text('elder-care')")
    form.locator("button[value=reject]").click()                # a rejection needs a reason
    assert "驳回须说明理由" in steward.inner_text(".field-error")
    steward.locator("section:has-text('elder-care') button[value=approve]").click()
    steward.wait_for_selector("text=暂无待您审批的授权申请")
    shot(steward, "granted")

    run_once(county.hub)                                         # the lab worker builds the twin
    dev.reload()
    dev.wait_for_selector("#twins a:has-text('下载')")
    dev.click("#twins button[type=submit]")                      # query the synthetic twin
    dev.wait_for_selector("#twin-result table")
    dev.click("#jobs summary")
    dev.fill("#f-name", "people_by_sex")
    dev.fill("#f-sql", "SELECT sex, count(*) AS people FROM population_registry GROUP BY sex")
    dev.click("#job-form button[type=submit]")
    dev.wait_for_selector("#job-status[data-status=queued]")
    shot(dev, "job-queued")
    run_once(county.hub)                                         # the job runs on the real data
    dev.wait_for_selector("#job-status[data-status=released]", timeout=20_000)   # live update
    with dev.expect_download() as download_info:
        dev.click("#download-people_by_sex")
    saved = tmp_path / "people.parquet"
    download_info.value.save_as(saved)
    released = pq.read_table(saved).to_pydict()
    real = {r["sex"]: r["n"] for r in run_query(
        county.hub, OPERATOR, sql="SELECT sex, count(*) AS n FROM population_registry GROUP BY sex"
    ).table.to_pylist()}
    assert dict(zip(released["sex"], released["people"], strict=True)) == real
    shot(dev, "job-released")
    dev.goto("/")
    assert "people_by_sex" in dev.inner_text("#card-my-projects")


def _raw_values(county: County) -> set[str]:
    table = run_query(county.hub, OPERATOR, sql="SELECT id_number, mobile, address, name "
                                                "FROM population_registry LIMIT 200").table
    values = {v for column in table.columns for v in column.to_pylist() if v}
    return {v for v in values if len(v) >= 3}


def _review_output(county: County) -> tuple[str, int]:
    """A project of the developer with an output waiting for review (its candidate is real data)."""
    dev = _principal(county, "dev_zhiyuan")
    with county.hub.db.session() as session:
        projects.apply(session, dev, scenario=SCENARIO, slug="raw-probe", title="raw probe")
        grant = grants.request_grant(session, dev, project="raw-probe", dataset="population_registry",
                                     columns=list(COLUMNS), purpose="probe", mode="aggregate",
                                     expires_at=datetime.now(UTC) + timedelta(days=5))
        grants.decide_grant(session, _principal(county, "steward_gongan"), grant_id=grant.id,
                            approve=True, rules={"auto_release": False})
    bundle = JobBundle.from_json({"spec": {"version": 1, "actions": [{"name": "by_township", "sql":
        "SELECT township_code, count(*) AS people FROM population_registry GROUP BY township_code"}]},
        "files": {}})
    job = jobs.submit_job(county.hub, dev, project="raw-probe", bundle=bundle)
    run_once(county.hub)
    with county.hub.db.session() as session:
        found = jobs.get_job(session, dev, job.id)
        assert found.outputs[0].status == "review"
        return found.outputs[0].public_id, job.id


def _principal(county: County, username: str):  # type: ignore[no-untyped-def]
    from countyos.auth import authenticate

    with county.hub.db.session() as session:
        return authenticate(session, county.tokens[username])


def _get_paths() -> list[str]:
    """Every GET path of the portal's pages and of the REST API."""
    from countyos.web.api import audit, datasets, lab, organisation, users
    from countyos.web.pages import vendor
    from countyos.web.pages.modules import default_registry

    paths = [r.path for router in (*default_registry().routers(), vendor.router)
             for r in router.routes if isinstance(r, APIRoute) and "GET" in r.methods]
    paths += ["/api/v1" + r.path for module in (organisation, users, datasets, lab, audit)
              for r in module.router.routes if isinstance(r, APIRoute) and "GET" in r.methods]
    return paths


def test_a_developer_session_never_reaches_raw_rows(county: County, server: str, browser_context,
                                                     shot) -> None:
    output_id, job_id = _review_output(county)
    raw = _raw_values(county)
    assert len(raw) > 100
    context = browser_context()
    page = context.new_page()
    login(page, county, "dev_zhiyuan")
    values = {"name": "population_registry", "column": "id_number", "dataset": "population_registry",
              "slug": "raw-probe", "project": "raw-probe", "job_id": str(job_id),
              "public_id": output_id, "key": "map", "code": "zh", "task_id": "0" * 32,
              "username": "steward_gongan", "version": "1", "scenario": SCENARIO, "grant_id": "1"}
    visited = []
    for route_path in _get_paths():
        path = route_path
        for name, value in values.items():
            path = path.replace("{" + name + "}", value)
        if "{" in path:
            continue
        response = context.request.get(server + path, max_redirects=0)
        body = response.text() if "octet" not in (response.headers.get("content-type") or "") else ""
        leaked = [v for v in raw if v in body]
        assert not leaked, f"{path} showed raw values to a developer"
        assert "Traceback" not in body
        visited.append((path, response.status))
    statuses = dict(visited)
    assert len(visited) > 40
    assert statuses["/catalog/population_registry/rows"] == 403
    assert statuses[f"/lab/review/{output_id}"] == 404
    assert statuses[f"/api/v1/lab/review/{output_id}"] == 401   # the API wants a bearer token
    assert statuses["/api/v1/datasets/population_registry"] == 401
    assert statuses[f"/lab/outputs/{output_id}/download"] == 404
    for method_path in ("/api/v1/query", f"/api/v1/lab/review/{output_id}"):
        answer = context.request.post(server + method_path, data={"sql": "SELECT * FROM population_registry"})
        assert answer.status in (401, 405) and not [v for v in raw if v in answer.text()]
    page.goto("/catalog/population_registry/rows")
    assert "您的角色无权执行此操作" in page.inner_text("main")
    assert "Traceback" not in page.content()
    shot(page, "rows-refused")
    page.goto(f"/lab/jobs/{job_id}")
    assert page.locator("#job-status[data-status=review]").count() == 1
    assert page.locator("a:has-text('下载')").count() == 0
