"""Fixtures for the real-sandbox tests: the sandbox venv (built once), data, and a job runner.

The sandbox venv lives at ``.venv-sandbox`` in the project (the Makefile builds the same one) or
where ``COUNTYOS_SANDBOX_VENV`` says; it is built on first use (about 45 s) and reused after.
Tests skip when bubblewrap is absent or the runner is not root — and fail instead under
``COUNTYOS_REQUIRE_SERVICES=1`` (the root conftest turns skips into failures).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from countyos.lab.sandbox import SandboxLimits, ensure_sandbox_venv, probe, run_python_job

PROJECT = Path(__file__).resolve().parents[4]
SANDBOX_VENV = Path(os.environ.get("COUNTYOS_SANDBOX_VENV", PROJECT / ".venv-sandbox"))
GIB = 1024**3

#: Small limits for tests: numpy and pandas still import under them.
TEST_LIMITS = SandboxLimits(cpu_seconds=5, memory_bytes=GIB, max_processes=32,
                            output_bytes=8 * 1024**2, wall_seconds=10, tmp_bytes=64 * 1024**2,
                            log_bytes=1024**2, max_output_files=64)

HEALTHY_JOB = """
import countyos_job
frame = countyos_job.read("people")
countyos_job.publish_table("by_town", frame, by=["town"], entity="pid", count=True)
"""


@pytest.fixture(scope="session")
def sandbox_venv() -> Path:
    if shutil.which("bwrap", path="/usr/bin:/bin:/usr/local/bin") is None:
        pytest.skip("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
    if os.geteuid() != 0:
        pytest.skip("the sandbox runner needs root (uid switch, cgroups, tmpfs mounts)")
    ensure_sandbox_venv(SANDBOX_VENV)
    capabilities = probe(venv=SANDBOX_VENV, refresh=True)
    assert capabilities.ok, capabilities.problems
    return SANDBOX_VENV


@pytest.fixture(scope="session")
def people_file(tmp_path_factory) -> Path:
    """2,000 rows about 700 people; income has nulls. Beside it lies a file never granted."""
    directory = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(20240601)
    rows = 2000
    income = rng.lognormal(9, 0.8, rows)
    income[rng.random(rows) < 0.05] = np.nan
    frame = pd.DataFrame({
        "town": rng.choice(["城东", "城西", "梁弄"], rows),
        "sex": rng.choice(["F", "M"], rows),
        "pid": [f"P{n:05d}" for n in rng.integers(0, 700, rows)],
        "income": income,
    })
    path = directory / "people.parquet"
    frame.to_parquet(path)
    pd.DataFrame({"secret": ["not granted"]}).to_parquet(directory / "salaries.parquet")
    return path


@pytest.fixture
def run_job(tmp_path, sandbox_venv, people_file):
    """Run a script text in the sandbox with ``people`` mounted; returns the result."""
    counter = iter(range(1000))

    def run(source: str, *, limits: SandboxLimits = TEST_LIMITS, inputs=None):
        index = next(counter)
        script = tmp_path / f"job{index}.py"
        script.write_text(source)
        return run_python_job(
            script=script, inputs={"people": people_file} if inputs is None else inputs,
            output_dir=tmp_path / f"out{index}", limits=limits, venv=sandbox_venv,
            workdir=tmp_path / "work")

    return run


@pytest.fixture
def lab_still_serves(run_job):
    """Call after an attack: a normal job must still run and publish."""

    def check():
        result = run_job(HEALTHY_JOB)
        assert result.succeeded, (result.reason, result.log_path.read_text()[-2000:])
        assert (result.output_dir / "by_town.table.parquet").is_file()

    return check


def job_cgroups(job_id: str = "") -> list[Path]:
    """Cgroups of one job (or of every job) currently present in the v1 hierarchies."""
    found = []
    for controller in ("memory", "pids", "cpuacct"):
        root = Path("/sys/fs/cgroup") / controller
        if root.is_dir():
            found += [p for p in root.rglob(f"countyos-sandbox-{job_id}*") if p.is_dir()]
    return found
