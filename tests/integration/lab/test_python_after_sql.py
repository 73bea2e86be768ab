"""A Python job is compared with the project's earlier SQL releases, deferred ones included.

SQL releases may be recorded without their entity sets (deferred, recomputed from the query's
recipe when needed); the Python path must recompute them too, never fail or skip the comparison.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from countyos.lab.worker import run_once
from tests.integration.lab.conftest import Lab, _real, _sandboxed_project, _submit
from tests.integration.lab.sandbox.conftest import sandbox_venv  # noqa: F401 (fixture)

BY_SEX = """
import countyos_job
people = countyos_job.read("population_registry")
people = people[people["birth_date"].astype("datetime64[ns]") < {cut!r}]
countyos_job.publish_table("by_sex", people, by=["sex"], entity="person_id", count=True)
"""


@pytest.fixture(scope="module")
def mixed_lab(lab: Lab, sandbox_venv: Path) -> Lab:  # noqa: F811
    return _sandboxed_project(lab, sandbox_venv, "p-mixed")


def _python(lab: Lab, cut: str) -> dict:
    spec = {"version": 1, "actions": [{"name": "analysis", "python": "job.py",
                                       "reads": ["population_registry"], "outputs": ["by_sex"]}]}
    response = lab.post("dev_zhiyuan", "/projects/p-mixed/jobs",
                        json={"spec": spec, "files": {"job.py": BY_SEX.format(cut=cut)}})
    assert response.status_code == 201, response.text
    run_once(lab.hub)
    return lab.get("dev_zhiyuan", f"/jobs/{response.json()['id']}").json()


def test_python_cells_a_few_people_off_an_sql_release_are_flagged(mixed_lab: Lab) -> None:
    single = _real(mixed_lab, "SELECT birth_date FROM population_registry GROUP BY birth_date "
                              "HAVING count(*) = 1 ORDER BY birth_date DESC LIMIT 1")[0][0]
    day_after = str(date.fromisoformat(str(single)[:10]) + timedelta(days=1))
    sql = ("SELECT sex, count(*) AS people FROM population_registry "
           f"WHERE birth_date < DATE '{single}' GROUP BY sex")
    first = _submit(mixed_lab, "p-mixed", sql)
    run_once(mixed_lab.hub)
    shown = mixed_lab.get("dev_zhiyuan", f"/jobs/{first.json()['id']}").json()
    assert shown["status"] == "released", shown
    same = _python(mixed_lab, str(single)[:10])       # exactly the released cells again
    assert same["status"] == "released", same
    off = _python(mixed_lab, day_after)               # the one person born that day as well
    assert off["status"] == "review", off
    assert [output["status"] for output in off["outputs"]] == ["review"]
