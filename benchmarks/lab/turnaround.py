"""Turnaround of lab jobs: from ``submit_job`` returning to the job's output being ``released``.

Owns the turnaround measurement: a scenario, a project and an approved ``aggregate`` grant on
``population_registry`` in the benchmark's own Demo County home; a real lab worker started as a
separate process (``python -m countyos worker``, ``COUNTYOS_LAB__WORKER_POLL_S`` small) that
builds the project's twin and then runs the jobs; distinct GROUP BY SQL jobs and distinct Python
jobs (in the bubblewrap sandbox), one at a time, each timed by polling the job's status in the
metadata DB. Jobs differ by a birth-year cut, so every job has its own hash (no steward-approved
fast path, no result cache) and its cells differ from the earlier released ones by far more than
the threshold (no differencing flag): each job is auto-released after clean checks. What the
worker keeps per dataset version — the materialised input of a Python job and the keyed hashes of
its real units — is made by the first (warm-up) job of each kind and reused by the measured ones,
as in production; the warm-up jobs' turnarounds are reported separately.

Must not change any other benchmark's home and must not touch the lab's code paths: it submits
exactly as the API does (``parse_spec`` then ``submit_job``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from countyos.auth import Principal
from countyos.auth.tokens import principal_of
from countyos.auth.users import get_user
from countyos.db.lab_models import Job, Project, Twin
from countyos.hub import Hub
from countyos.lab.grants import decide_grant, request_grant
from countyos.lab.jobs import FINAL_STATES, submit_job
from countyos.lab.jobspec import parse_spec
from countyos.lab.projects import apply, publish_scenario
from countyos.settings import Settings

DATASET = "population_registry"
COLUMNS = ["person_id", "sex", "birth_date", "township_code"]
POLL_S = 0.01          # how often this driver looks at the job's status
WORKER_POLL_S = 0.05   # how often the idle worker looks for queued jobs
FIRST_YEAR = 1950      # cut years FIRST_YEAR … FIRST_YEAR + jobs - 1 (warm-up: 1940)

SQL = ("SELECT {keys}, count(*) AS people FROM population_registry "
       "WHERE birth_date >= DATE '{year}-01-01' GROUP BY {keys}")

PYTHON = '''\
import countyos_job
people = countyos_job.read("population_registry")
born = people["birth_date"].astype("datetime64[ns]").dt.year
kept = people[born >= {year}]
countyos_job.publish_table("people", kept, by={keys!r}, entity="person_id", count=True)
'''


def _users(hub: Hub) -> tuple[Principal, Principal, Principal]:
    with hub.db.session() as session:
        developer = principal_of(get_user(session, "dev_zhiyuan"))
        steward = principal_of(get_user(session, "steward_gongan"))
    return Principal(username="bench-admin", role="admin"), developer, steward


def setup_project(hub: Hub, slug: str) -> Principal:
    """Scenario → project → grant → steward approval; returns the developer."""
    admin, developer, steward = _users(hub)
    with hub.db.session() as session:
        publish_scenario(session, admin, slug=slug, title_zh="实验室基准测试",
                         title_en="lab benchmark", datasets=[DATASET])
        apply(session, developer, scenario=slug, slug=slug, title="lab benchmark")
        grant = request_grant(session, developer, project=slug, dataset=DATASET, columns=COLUMNS,
                              purpose="基准测试 benchmark", mode="aggregate",
                              expires_at=datetime.now(UTC) + timedelta(days=30))
        decide_grant(session, steward, grant_id=grant.id, approve=True)
    return developer


def start_worker(home: Path, sandbox_venv: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "COUNTYOS_HOME": str(home),
           "COUNTYOS_LAB__WORKER_POLL_S": str(WORKER_POLL_S),
           "COUNTYOS_LAB__SANDBOX_VENV": str(sandbox_venv)}
    handle = log.open("w", encoding="utf-8")
    return subprocess.Popen([sys.executable, "-m", "countyos", "worker"], env=env,
                            stdout=handle, stderr=subprocess.STDOUT)


def stop_worker(process: subprocess.Popen) -> None:
    """Ctrl-C the worker (it exits cleanly between rounds); kill it only if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for_twin(hub: Hub, slug: str, worker: subprocess.Popen, timeout: float) -> float:
    """Seconds until the worker has built the project's twin (it does so before any job)."""
    started = time.perf_counter()
    with hub.db.engine.connect() as connection:
        project_id = connection.execute(select(Project.id).where(Project.slug == slug)).scalar_one()
        while connection.execute(select(Twin.id).where(Twin.project_id == project_id)).first() is None:
            connection.rollback()
            if worker.poll() is not None:
                raise RuntimeError("the lab worker exited while building the twin (see worker.log)")
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"no twin after {timeout:.0f} s")
            time.sleep(0.05)
    return time.perf_counter() - started


def sql_bundle(year: int, keys: list[str]):  # type: ignore[no-untyped-def]
    sql = SQL.format(keys=", ".join(keys), year=year)
    spec = {"version": 1, "actions": [{"name": "people", "sql": sql}]}
    return parse_spec(spec, {})


def python_bundle(year: int, keys: list[str]):  # type: ignore[no-untyped-def]
    spec = {"version": 1, "actions": [{"name": "people_py", "python": "job.py", "reads": [DATASET],
                                       "outputs": ["people"]}]}
    return parse_spec(spec, {"job.py": PYTHON.format(year=year, keys=keys).encode("utf-8")})


def run_job(hub: Hub, developer: Principal, slug: str, bundle,  # type: ignore[no-untyped-def]
            worker: subprocess.Popen, timeout: float) -> dict:
    """Submit one job and wait for a final state; the turnaround starts when submit returns."""
    begin = time.perf_counter()
    job = submit_job(hub, developer, project=slug, bundle=bundle)
    submitted = time.perf_counter()
    status = "queued"
    with hub.db.engine.connect() as connection:
        while status not in FINAL_STATES:
            time.sleep(POLL_S)
            status = connection.execute(select(Job.status).where(Job.id == job.id)).scalar_one()
            connection.rollback()
            if worker.poll() is not None:
                raise RuntimeError("the lab worker exited (see worker.log)")
            if time.perf_counter() - submitted > timeout:
                raise RuntimeError(f"job {job.id} still {status} after {timeout:.0f} s")
    turnaround = time.perf_counter() - submitted
    with hub.db.session() as session:
        done = session.get(Job, job.id)
        if done.status != "released":
            outputs = {o.name: o.status for o in done.outputs}
            raise RuntimeError(f"job {job.id} ended {done.status} ({done.error_class}), outputs "
                               f"{outputs}: the benchmark's jobs must be auto-released")
        return {"turnaround_s": turnaround, "submit_s": submitted - begin,
                "queue_s": (done.started_at - done.created_at).total_seconds(),
                "run_s": (done.finished_at - done.started_at).total_seconds()}


def measure(home: Path, sandbox_venv: Path, jobs: int, keys: list[str], tag: str) -> dict:
    """Set up a project, start a worker, time ``jobs`` SQL and ``jobs`` Python jobs.

    Returns:
        ``{"twin_build_s", "sql": [per-job dict], "python": [per-job dict], "warmup": {"sql":
        per-job dict, "python": per-job dict}}``.
    """
    hub = Hub(Settings(home=home, lab={"sandbox_venv": sandbox_venv}))
    slug = f"bench-{tag}"
    developer = setup_project(hub, slug)
    worker = start_worker(home, sandbox_venv, home / "worker.log")
    try:
        twin_s = wait_for_twin(hub, slug, worker, timeout=900)
        # warm-up (not counted): the fresh worker's first job of each kind pays lazy imports,
        # and the first Python job writes the input cache and hashes the real units
        warm_sql = run_job(hub, developer, slug, sql_bundle(FIRST_YEAR - 10, keys), worker, 300)
        warm_python = run_job(hub, developer, slug, python_bundle(FIRST_YEAR - 10, keys), worker,
                              300)
        sql = [run_job(hub, developer, slug, sql_bundle(FIRST_YEAR + i, keys), worker, 300)
               for i in range(jobs)]
        python = [run_job(hub, developer, slug, python_bundle(FIRST_YEAR + i, keys), worker, 300)
                  for i in range(jobs)]
    finally:
        stop_worker(worker)
        hub.close()
    return {"twin_build_s": twin_s, "sql": sql, "python": python,
            "warmup": {"sql": warm_sql, "python": warm_python}}
