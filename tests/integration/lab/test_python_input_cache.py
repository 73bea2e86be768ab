"""Python jobs share one materialised copy of their granted input, which stays out of reach.

Runs real jobs through the worker and the real sandbox on the lab's Demo County.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from countyos.lab.sandbox.command import SANDBOX_GID
from countyos.lab.worker import run_once
from tests.integration.lab.conftest import PEOPLE_COLUMNS, Lab, _sandboxed_project
from tests.integration.lab.sandbox.conftest import sandbox_venv  # noqa: F401 (fixture)

COUNT = """
import countyos_job
people = countyos_job.read("population_registry")
countyos_job.publish_table("by_sex", people, by=["sex"], entity="person_id", count=True)
"""

PROBE = """
import os, countyos_job
cache = {cache!r}
assert not os.path.exists(cache) and not os.path.exists(os.path.dirname(cache))
assert os.listdir("/data") == ["population_registry.parquet"]
try:
    open("/data/population_registry.parquet", "r+b").write(b"x")
except OSError:
    pass
else:
    raise SystemExit("the input was writable")
people = countyos_job.read("population_registry")
assert sorted(people.columns) == {columns!r}
countyos_job.publish_table("probe", people, by=["sex"], entity="person_id", count=True)
"""


@pytest.fixture(scope="module")
def cache_lab(lab: Lab, sandbox_venv: Path) -> Lab:  # noqa: F811
    return _sandboxed_project(lab, sandbox_venv, "p-cache")


def _run(lab: Lab, script: str, output: str) -> dict:
    spec = {"version": 1, "actions": [{"name": "analysis", "python": "job.py",
                                       "reads": ["population_registry"], "outputs": [output]}]}
    response = lab.post("dev_zhiyuan", "/projects/p-cache/jobs",
                        json={"spec": spec, "files": {"job.py": script}})
    assert response.status_code == 201, response.text
    run_once(lab.hub)
    return lab.get("dev_zhiyuan", f"/jobs/{response.json()['id']}").json()


def _cached(lab: Lab) -> list[Path]:
    directory = lab.hub.settings.lab_private_dir / "input-cache"
    return sorted(p for p in directory.iterdir() if p.name.startswith("population_registry-"))


def test_jobs_on_one_version_share_one_private_input(cache_lab: Lab) -> None:
    first = _run(cache_lab, COUNT, "by_sex")
    assert first["status"] in ("released", "review"), first
    [cached] = _cached(cache_lab)
    info = cached.stat()
    assert stat.S_IMODE(cached.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(info.st_mode) == 0o640 and info.st_uid == 0
    assert info.st_gid == SANDBOX_GID
    assert pq.read_schema(cached).names == PEOPLE_COLUMNS     # the granted columns only
    second = _run(cache_lab, COUNT, "by_sex")
    assert second["status"] in ("released", "review"), second
    assert _cached(cache_lab) == [cached]
    assert (cached.stat().st_ino, cached.stat().st_mtime_ns) == (info.st_ino, info.st_mtime_ns)
    leftovers = list((cache_lab.hub.settings.lab_private_dir / "sandbox").glob("job*"))
    assert leftovers == []                                    # each job's link went with it


def test_the_sandbox_cannot_reach_or_change_the_cached_input(cache_lab: Lab) -> None:
    _run(cache_lab, COUNT, "by_sex")
    [cached] = _cached(cache_lab)
    before = hashlib.sha256(cached.read_bytes()).hexdigest()
    job = _run(cache_lab, PROBE.format(cache=str(cached), columns=sorted(PEOPLE_COLUMNS)),
               "probe")
    assert job["status"] in ("released", "review"), job
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == before
    assert os.stat(cached).st_nlink == 1                      # no job holds a link any more
