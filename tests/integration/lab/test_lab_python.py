"""Python jobs on real data in the real sandbox, and pre-flight on twins (`countyos lab run`)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from countyos.cli import app
from countyos.lab.worker import run_once
from tests.integration.lab.conftest import Lab, _project, _real, _sandboxed_project
from tests.integration.lab.sandbox.conftest import SANDBOX_VENV, sandbox_venv  # noqa: F401 (fixture)

DECADES = """
import countyos_job
people = countyos_job.read("population_registry")
people["decade"] = (people["birth_date"].astype("datetime64[ns]").dt.year // 10) * 10
countyos_job.publish_table("by_decade", people, by=["sex", "decade"], entity="person_id", count=True)
print("rows seen:", len(people), "first id:", people["person_id"].iloc[0])
"""

LEAKY = """
import socket, countyos_job
people = countyos_job.read("population_registry")
secret = str(people["person_id"].iloc[0])
print("LEAK", secret)
socket.create_connection(("127.0.0.1", 5432), timeout=2)
"""

FORGED = """
import pandas as pd, countyos_job
fake = pd.DataFrame({"sex": ["F"] * 20, "person_id": [f"X{i}" for i in range(20)]})
countyos_job.publish_table("forged", fake, by=["sex"], entity="person_id", count=True)
"""

# real values of a real column, but not the unit: each birth date stands for many people or one
OTHER_UNIT = """
import countyos_job
people = countyos_job.read("population_registry")
countyos_job.publish_table("by_town", people, by=["township_code"], entity="birth_date", count=True)
"""


@pytest.fixture(scope="module")
def py_lab(lab: Lab, sandbox_venv: Path) -> Lab:
    return _sandboxed_project(lab, sandbox_venv, "p-python")


def _submit_python(lab: Lab, script: str, outputs: list[str]):  # type: ignore[no-untyped-def]
    spec = {"version": 1, "actions": [{"name": "analysis", "python": "job.py",
                                       "reads": ["population_registry"], "outputs": outputs}]}
    response = lab.post("dev_zhiyuan", "/projects/p-python/jobs", json={"spec": spec, "files": {"job.py": script}})
    assert response.status_code == 201, response.text
    run_once(lab.hub)
    return lab.get("dev_zhiyuan", f"/jobs/{response.json()['id']}").json()


def test_python_job_is_checked_and_released(py_lab: Lab) -> None:
    job = _submit_python(py_lab, DECADES, ["by_decade"])
    assert job["status"] in ("released", "review"), job
    output = job["outputs"][0]
    if output["status"] == "review":
        assert py_lab.post("steward_gongan", f"/review/{output['id']}",
                           json={"approve": True, "reason": "checked"}).status_code == 200
    file = py_lab.get("dev_zhiyuan", f"/outputs/{output['id']}/download")
    released = pq.read_table(io.BytesIO(file.content)).to_pydict()
    counts = [c for c in released["count"] if c is not None]
    assert counts and all(c >= 10 for c in counts)
    real = dict(_real(py_lab, "SELECT sex, count(*) FROM population_registry GROUP BY sex"))
    assert sum(counts) <= sum(real.values())
    # stdout of a real run never reaches the submitter
    assert "rows seen" not in json.dumps(job) and "first id" not in json.dumps(job)


def test_failed_python_job_shows_only_an_error_class(py_lab: Lab) -> None:
    job = _submit_python(py_lab, LEAKY, ["nothing"])
    assert job["status"] == "failed"
    assert job["error_class"] in ("OSError", "ConnectionRefusedError", "PermissionError", "TimeoutError")
    ids = {row[0] for row in _real(py_lab, "SELECT person_id FROM population_registry")}
    text = json.dumps(job)
    assert "LEAK" not in text and not any(pid in text for pid in ids)


def test_forged_entities_are_refused(py_lab: Lab) -> None:
    job = _submit_python(py_lab, FORGED, ["forged"])
    assert job["status"] == "failed" and job["error_class"] == "PermissionDeniedError"
    assert job["outputs"] == []


def test_units_must_be_the_datasets_entity_key(py_lab: Lab) -> None:
    job = _submit_python(py_lab, OTHER_UNIT, ["by_town"])
    assert job["status"] == "failed" and job["error_class"] == "PermissionDeniedError"
    assert job["outputs"] == []


def test_preflight_runs_on_twins_with_full_output(py_lab: Lab, tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text(DECADES, encoding="utf-8")
    (tmp_path / "countyos.yaml").write_text(
        "version: 1\nactions:\n"
        "  - name: by_sex\n    sql: SELECT sex, count(*) AS n FROM population_registry GROUP BY sex\n"
        "  - name: analysis\n    python: job.py\n    reads: [population_registry]\n"
        "    outputs: [by_decade]\n", encoding="utf-8")
    run_once(py_lab.hub)   # twins of the project
    runner = CliRunner()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = runner.invoke(app, ["--as", "dev_zhiyuan", "lab", "run", "--project", "p-python",
                                     "--json"], env={"COUNTYOS_HOME": str(py_lab.hub.settings.home)})
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    outputs = {o["name"]: o for o in json.loads(result.stdout)}
    assert set(outputs) == {"by_sex", "by_decade"}
    assert "rows seen" in outputs["by_decade"]["stdout"]          # full output on twins
    twin_ids = set(pq.read_table(next((py_lab.hub.settings.lab_twins_dir / "p-python").glob(
        "population_registry-*.parquet")))["person_id"].to_pylist())
    first_id = outputs["by_decade"]["stdout"].split("first id:")[1].split()[0]
    assert first_id in twin_ids                                    # it ran on the twin, not real data
    # what pre-flight predicts is what the checks do: every explained cell is withheld
    for item in outputs["by_decade"]["explanations"]:
        assert item["reason_en"] and item["reason_zh"]


def test_sandbox_is_required_for_real_runs(lab: Lab, tmp_path: Path) -> None:
    _project(lab, "p-nosandbox")
    lab.hub.settings.lab.sandbox_venv = tmp_path / "no-such-venv"
    try:
        response = lab.post("dev_zhiyuan", "/projects/p-nosandbox/jobs", json={
            "spec": {"version": 1, "actions": [{"name": "a", "python": "job.py",
                                                "reads": ["population_registry"], "outputs": ["x"]}]},
            "files": {"job.py": DECADES}})
        run_once(lab.hub)
        job = lab.get("dev_zhiyuan", f"/jobs/{response.json()['id']}").json()
    finally:
        lab.hub.settings.lab.sandbox_venv = SANDBOX_VENV
    assert job["status"] == "failed" and job["error_class"] == "PermissionDeniedError"
    assert "sandbox" in job["error"]
