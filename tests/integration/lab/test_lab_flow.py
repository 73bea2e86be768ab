"""The trusted lab end to end on the Demo County, through the REST API and the real worker:
scenario → project → grant → twins → job on real data → checks → release or review → download.
"""

from __future__ import annotations

import io

import pyarrow.parquet as pq
import pytest

from countyos.lab.worker import run_once
from tests.integration.lab.conftest import PEOPLE_COLUMNS, Lab, _project, _real, _submit

def test_grant_needs_the_datasets_steward(lab: Lab) -> None:
    grant_id = _project(lab, "p-grant", approve=False)
    for user in ("dev_zhiyuan", "steward_gongdian", "viewer_leader"):
        assert lab.post(user, f"/grants/{grant_id}/decision", json={"approve": True}).status_code == 403
    pending = lab.get("steward_gongan", "/grants/pending").json()
    assert grant_id in [g["id"] for g in pending]
    assert lab.post("steward_gongan", f"/grants/{grant_id}/decision",
                    json={"approve": False}).status_code == 400   # a rejection needs a reason
    # not approved: no job may run
    refused = _submit(lab, "p-grant", "SELECT sex, count(*) AS n FROM population_registry GROUP BY sex")
    assert refused.status_code == 403


def test_twins_are_synthetic_and_join_free_of_real_identifiers(lab: Lab) -> None:
    _project(lab, "p-twins")
    run_once(lab.hub)
    twins = lab.get("dev_zhiyuan", "/projects/p-twins/twins").json()
    assert [t["dataset"] for t in twins] == ["population_registry"]
    assert set(twins[0]["columns"]) == set(PEOPLE_COLUMNS)
    assert "columns" in twins[0]["fidelity"] and "exact_match_share" in twins[0]["privacy"]
    download = lab.get("dev_zhiyuan", "/projects/p-twins/twins/population_registry/download")
    assert download.status_code == 200
    twin = pq.read_table(io.BytesIO(download.content))
    real_ids = {row[0] for row in _real(lab, "SELECT person_id FROM population_registry")}
    assert twin.num_rows == len(real_ids)
    assert not set(twin["person_id"].to_pylist()) & real_ids
    rows = lab.post("dev_zhiyuan", "/projects/p-twins/twins/query",
                    json={"sql": "SELECT * FROM population_registry LIMIT 5"}).json()
    assert rows["synthetic"] and len(rows["rows"]) == 5
    assert lab.get("dev_b", "/projects/p-twins/twins").status_code == 404


def test_sql_job_is_checked_released_and_downloaded(lab: Lab) -> None:
    _project(lab, "p-sql")
    sql = "SELECT sex, count(*) AS people FROM population_registry GROUP BY sex"
    job = _submit(lab, "p-sql", sql)
    assert job.status_code == 201, job.text
    assert job.json()["status"] == "queued" and len(job.json()["job_hash"]) == 64
    run_once(lab.hub)
    done = lab.get("dev_zhiyuan", f"/jobs/{job.json()['id']}").json()
    assert done["status"] == "released", done
    assert done["data_versions"] == {"population_registry": 1}
    output = done["outputs"][0]
    file = lab.get("dev_zhiyuan", f"/outputs/{output['id']}/download")
    assert file.status_code == 200
    table = pq.read_table(io.BytesIO(file.content)).to_pydict()
    real = dict(_real(lab, "SELECT sex, count(*) FROM population_registry GROUP BY sex"))
    assert dict(zip(table["sex"], table["people"])) == real
    # the same output is invisible to another project's developer, and to guessed ids
    assert lab.get("dev_b", f"/outputs/{output['id']}/download").status_code == 404
    assert lab.get("dev_b", f"/jobs/{job.json()['id']}").status_code == 404
    assert lab.get("dev_zhiyuan", "/outputs/000000000000000000000000/download").status_code == 404


@pytest.mark.parametrize("sql, rule", [
    ("SELECT * FROM population_registry", "*"),
    ("SELECT sex, birth_date FROM population_registry", "aggregat"),
    ("SELECT person_id, count(*) AS n FROM population_registry GROUP BY person_id", "person_id"),
    ("SELECT sex, max(birth_date) AS m FROM population_registry GROUP BY sex", "MAX"),
    ("SELECT name, count(*) AS n FROM population_registry GROUP BY name", "name"),
])
def test_aggregate_mode_refuses_row_level_sql(lab: Lab, sql: str, rule: str) -> None:
    if not lab.get("dev_zhiyuan", "/projects/p-refuse").status_code == 200:
        _project(lab, "p-refuse")
    response = _submit(lab, "p-refuse", sql)
    assert response.status_code in (400, 404), response.text
    assert rule.lower() in response.json()["error"]["message"].lower()
    jobs = lab.get("dev_zhiyuan", "/projects/p-refuse/jobs").json()
    assert jobs == []   # a refused query queues nothing


def test_small_cells_never_leave_and_go_to_review(lab: Lab) -> None:
    _project(lab, "p-small")
    job = _submit(lab, "p-small", "SELECT township_code, year(birth_date) AS born, count(*) AS people "
                                  "FROM population_registry GROUP BY township_code, born")
    assert job.status_code == 201, job.text
    run_once(lab.hub)
    done = lab.get("dev_zhiyuan", f"/jobs/{job.json()['id']}").json()
    assert done["status"] == "review"
    output = done["outputs"][0]
    assert output["status"] == "review" and "summary" not in output
    assert lab.get("dev_zhiyuan", f"/outputs/{output['id']}/download").status_code == 404
    queue = lab.get("steward_gongan", "/review").json()
    assert output["id"] in [o["id"] for o in queue]
    assert lab.get("steward_gongdian", "/review").json() == [] or output["id"] not in [
        o["id"] for o in lab.get("steward_gongdian", "/review").json()]
    detail = lab.get("steward_gongan", f"/review/{output['id']}").json()
    assert detail["check_report"]["columns"]
    assert lab.post("steward_gongan", f"/review/{output['id']}",
                    json={"approve": True, "reason": "small cells are suppressed"}).status_code == 200
    file = lab.get("dev_zhiyuan", f"/outputs/{output['id']}/download")
    assert file.status_code == 200
    released = pq.read_table(io.BytesIO(file.content)).to_pydict()
    counts = [c for c in released["people"] if c is not None]
    assert counts and all(c >= 10 for c in counts)   # no cell of 1..9 people left the lab
    assert None in released["people"]                # the small ones were suppressed


def test_rejected_output_is_never_downloadable(lab: Lab) -> None:
    _project(lab, "p-reject", rules={"auto_release": False})
    job = _submit(lab, "p-reject", "SELECT sex, count(*) AS people FROM population_registry GROUP BY sex")
    run_once(lab.hub)
    output = lab.get("dev_zhiyuan", f"/jobs/{job.json()['id']}").json()["outputs"][0]
    assert output["status"] == "review"    # clean, but the grant asks for review of everything
    assert lab.post("dev_zhiyuan", f"/review/{output['id']}",
                    json={"approve": True, "reason": "self-approval"}).status_code == 404
    assert lab.post("steward_gongan", f"/review/{output['id']}",
                    json={"approve": False, "reason": "purpose not met"}).status_code == 200
    shown = lab.get("dev_zhiyuan", f"/jobs/{job.json()['id']}").json()
    assert shown["status"] == "rejected" and shown["outputs"][0]["reason"] == "purpose not met"
    assert lab.get("dev_zhiyuan", f"/outputs/{output['id']}/download").status_code == 404


def test_approved_code_takes_the_fast_path(lab: Lab) -> None:
    _project(lab, "p-fast", rules={"auto_release": False})
    sql = "SELECT township_code, count(*) AS people FROM population_registry GROUP BY township_code"
    first = _submit(lab, "p-fast", sql)
    run_once(lab.hub)
    output = lab.get("dev_zhiyuan", f"/jobs/{first.json()['id']}").json()["outputs"][0]
    assert output["status"] == "review"
    lab.post("steward_gongan", f"/review/{output['id']}", json={"approve": True, "reason": "ok"})
    second = _submit(lab, "p-fast", sql)
    assert second.json()["job_hash"] == first.json()["job_hash"]
    run_once(lab.hub)
    assert lab.get("dev_zhiyuan", f"/jobs/{second.json()['id']}").json()["status"] == "released"


def test_differencing_one_person_more_is_flagged(lab: Lab) -> None:
    _project(lab, "p-diff")
    # a birth date that exactly one person has
    single = _real(lab, "SELECT birth_date FROM population_registry GROUP BY birth_date "
                        "HAVING count(*) = 1 ORDER BY birth_date DESC LIMIT 1")[0][0]
    base = "SELECT sex, count(*) AS people FROM population_registry WHERE birth_date {} DATE '%s' GROUP BY sex" % single
    first = _submit(lab, "p-diff", base.format("<"))
    run_once(lab.hub)
    first_shown = lab.get("dev_zhiyuan", f"/jobs/{first.json()['id']}").json()
    assert first_shown["status"] == "released", (first_shown["error_class"], first_shown["error"])
    assert {row.hashes is None for row in _released_rows(lab, "p-diff")} == {True}  # deferred
    again = _submit(lab, "p-diff", base.format("<"), name="again")  # the same cells: no risk
    run_once(lab.hub)
    assert lab.get("dev_zhiyuan", f"/jobs/{again.json()['id']}").json()["status"] == "released"
    second = _submit(lab, "p-diff", base.format("<="))
    run_once(lab.hub)
    shown = lab.get("dev_zhiyuan", f"/jobs/{second.json()['id']}").json()
    assert shown["status"] == "review"
    report = lab.get("steward_gongan", f"/review/{shown['outputs'][0]['id']}").json()["check_report"]
    statuses = {c["status"] for col in report["columns"].values() for c in col["cells"]}
    assert "differencing" in statuses
    # the released sets were recomputed from their recipes for the comparison, and kept
    rows = _released_rows(lab, "p-diff")
    assert rows and all(row.hashes is not None and row.digest for row in rows)


def _released_rows(lab: Lab, slug: str) -> list:
    from sqlalchemy import select

    from countyos.db.lab_models import Project, ReleasedCells

    with lab.hub.db.session() as session:
        project = session.scalar(select(Project).where(Project.slug == slug))
        rows = session.scalars(select(ReleasedCells).where(
            ReleasedCells.project_id == project.id)).all()
        session.expunge_all()
        return list(rows)


def test_revoked_grant_stops_queued_jobs(lab: Lab) -> None:
    grant_id = _project(lab, "p-revoke")
    job = _submit(lab, "p-revoke", "SELECT sex, count(*) AS n FROM population_registry GROUP BY sex")
    assert job.status_code == 201
    assert lab.post("steward_gongan", f"/grants/{grant_id}/revoke", json={"reason": "end"}).status_code == 200
    run_once(lab.hub)
    shown = lab.get("dev_zhiyuan", f"/jobs/{job.json()['id']}").json()
    assert shown["status"] == "cancelled" and shown["outputs"] == []
    again = _submit(lab, "p-revoke", "SELECT sex, count(*) AS n FROM population_registry GROUP BY sex")
    assert again.status_code == 403


def test_every_lab_step_is_audited(lab: Lab) -> None:
    entries = lab.client.get("/api/v1/audit", headers=lab.h("admin"), params={"limit": 1000}).json()
    actions = {e["action"] for e in entries}
    assert {"lab.scenario_publish", "lab.project_create", "lab.grant_request", "lab.grant_approve",
            "lab.job_submit", "lab.output_release", "lab.twin_build"} <= actions
    assert lab.client.post("/api/v1/audit/verify", headers=lab.h("admin")).json()["intact"]


def test_dominance_is_flagged_even_with_negative_values(lab: Lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows = ["uscc,section,profit"]
    # section C: one firm holds nearly all of the total; section G: twelve similar firms;
    # section F: a dominant firm beside negative values (ACRO turns dominance off for the table)
    rows += [f"C{i:03d},C,{1_000_000 if i == 0 else 10}" for i in range(12)]
    rows += [f"G{i:03d},G,{100 + i}" for i in range(12)]
    rows += [f"F{i:03d},F,{1_000_000 if i == 0 else -10}" for i in range(12)]
    (tmp_path / "firms.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    upload = lab.client.post(
        "/api/v1/datasets", headers=lab.h("steward_shichang"),
        files={"file": ("firms.csv", (tmp_path / "firms.csv").read_bytes(), "text/csv")},
        data={"name": "firm_profit", "department": "market_regulation"})
    assert upload.status_code == 201, upload.text
    for column, role in (("uscc", "entity_key"), ("section", "dimension"), ("profit", "measure")):
        lab.client.patch(f"/api/v1/datasets/firm_profit/columns/{column}",
                         headers=lab.h("steward_shichang"), json={"role": role})
    assert lab.post("admin", "/scenarios", json={"slug": "firms", "title_zh": "企业利润",
                                                 "datasets": ["firm_profit"]}).status_code == 201
    assert lab.post("dev_zhiyuan", "/scenarios/firms/apply",
                    json={"slug": "p-dominance", "title": "profits"}).status_code == 201
    grant = lab.post("dev_zhiyuan", "/projects/p-dominance/grants", json={
        "dataset": "firm_profit", "columns": ["uscc", "section", "profit"], "purpose": "利润结构",
        "mode": "aggregate", "expires_at": "2099-01-01T00:00:00+00:00"}).json()
    lab.post("steward_shichang", f"/grants/{grant['id']}/decision", json={"approve": True})
    job = lab.post("dev_zhiyuan", "/projects/p-dominance/jobs", json={"spec": {"version": 1, "actions": [
        {"name": "profit", "sql": "SELECT section, sum(profit) AS profit FROM firm_profit GROUP BY section"}]}})
    assert job.status_code == 201, job.text
    run_once(lab.hub)
    shown = lab.get("dev_zhiyuan", f"/jobs/{job.json()['id']}").json()
    assert shown["status"] == "review"
    report = lab.get("steward_shichang", f"/review/{shown['outputs'][0]['id']}").json()["check_report"]
    cells = {c["label"]: c for col in report["columns"].values() for c in col["cells"]}
    status = {label: cell["status"] for label, cell in cells.items()}
    assert any("C" in label and s.startswith("dominance") for label, s in status.items())
    assert any("F" in label and s.startswith("dominance") for label, s in status.items())
    # G passes its own checks; it may still be withheld as a complement that protects C and F
    assert any("G" in label and s in ("ok", "complementary") for label, s in status.items()), status


def test_expired_grant_stops_queued_jobs(lab: Lab) -> None:
    from datetime import UTC, datetime, timedelta

    from countyos.db.lab_models import Grant

    grant_id = _project(lab, "p-expire")
    job = _submit(lab, "p-expire", "SELECT sex, count(*) AS n FROM population_registry GROUP BY sex")
    assert job.status_code == 201
    with lab.hub.db.session() as session:
        session.get(Grant, grant_id).expires_at = datetime.now(UTC) - timedelta(seconds=1)
    run_once(lab.hub)
    shown = lab.get("dev_zhiyuan", f"/jobs/{job.json()['id']}").json()
    assert shown["status"] == "cancelled" and "expired" in shown["error"]


def test_the_demo_county_is_named_after_the_generated_county(lab: Lab) -> None:
    from countyos.demo.geography import COUNTY_NAME_ZH
    from countyos.site_settings import county_name

    with lab.hub.db.session() as session:
        assert county_name(session, lab.hub.settings.county_name) == COUNTY_NAME_ZH == "舜川县"
