"""Shared pieces of the lab benchmark: paths, the benchmark's own Demo County home, child runs.

Owns where the lab benchmark keeps its data (``benchmarks/.data/lab/``, gitignored), installing
its own Demo County there (never another benchmark's home) and running one part of the benchmark
in a fresh interpreter that prints one JSON object as its last line. Must not measure anything
itself and must not import CountyOS at module level (``mst_worker.py`` runs in another venv).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DATA = HERE.parent / ".data" / "lab"
SANDBOX_VENV = ROOT / ".venv-sandbox"
MST_VENV = HERE.parent / ".venv-smartnoise-synth"
MST_PACKAGE = "smartnoise-synth"

#: The datasets a lab benchmark part reads from the Demo County.
DATASETS = ("population_registry", "outpatient_visits", "electricity_daily", "social_insurance")


def home_for(scale: float) -> Path:
    """The lab benchmark's own Demo County home at scale ``scale``."""
    return DATA / f"home-F{scale:g}"


def fresh_home(scale: float) -> Path:
    """Remove and reinstall the benchmark's Demo County at ``scale``; returns its home.

    A fresh home per run keeps the turnaround figures free of earlier runs' jobs and released
    cells (the worker checks every new cell against the project's released ones).
    """
    home = home_for(scale)
    shutil.rmtree(home, ignore_errors=True)
    run_child(["install", "--home", str(home), "--scale", repr(scale)])
    return home


def run_child(args: list[str], *, python: str | None = None, script: Path | None = None,
              timeout: float | None = None) -> dict:
    """Run ``script`` (default ``parts.py``) in a fresh interpreter; return its last JSON line.

    Raises:
        RuntimeError: the child failed (its stderr tail is in the message).
        subprocess.TimeoutExpired: the child ran longer than ``timeout`` seconds (it is killed).
    """
    command = [python or sys.executable, str(script or HERE / "parts.py"), *args]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child {' '.join(args[:1])} failed:\n{done.stderr[-4000:]}")
    lines = [line for line in done.stdout.strip().splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"benchmark child {' '.join(args[:1])} printed no result:\n"
                           f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return json.loads(lines[-1])


def ensure_mst_venv() -> Path:
    """The smartnoise-synth venv (created on first use: its pins clash with CountyOS's)."""
    python = MST_VENV / "bin" / "python"
    if not python.exists():
        print("creating", MST_VENV, "(smartnoise-synth pulls torch; this takes minutes)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(MST_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", MST_PACKAGE, "pyarrow"],
                       check=True)
    return python


def mst_version(python: Path) -> str:
    done = subprocess.run([str(python), "-c", "import importlib.metadata as m; "
                           "print(m.version('smartnoise-synth'))"],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def ensure_sandbox_venv() -> Path:
    """The sandbox venv the worker runs Python jobs with (built on first use, ~45 s)."""
    if not (SANDBOX_VENV / "bin" / "python").exists():
        print("building", SANDBOX_VENV, flush=True)
        subprocess.run([sys.executable, "-m", "countyos.lab.sandbox.setup", str(SANDBOX_VENV)],
                       check=True, cwd=ROOT)
    return SANDBOX_VENV
