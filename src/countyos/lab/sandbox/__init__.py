"""The lab's sandbox (数据黑匣): running outside developers' Python on real data, isolated.

A job's script runs under bubblewrap as uid 65534 with no network, no capabilities, a seccomp
filter, a read-only system, only its granted Parquet inputs (``/data/<name>.parquet``), a private
``/tmp`` and a size-limited ``/out``; cgroup v1 limits memory and processes, rlimits and the
runner limit CPU, file sizes and wall time. Inside, ``import countyos_job`` reads inputs and
publishes aggregated outputs with the facts the disclosure checks need.

- ``runner``       :func:`run_python_job` — refuses to run unless :func:`probe` found no problem;
- ``capabilities`` :func:`probe`, :class:`SandboxCapabilities`;
- ``limits``       :class:`SandboxLimits`, reasons; ``result``: :class:`SandboxResult`;
- ``manifest``     :func:`read_manifest`, :class:`PublishedOutput` (strict: the job wrote it);
- ``published_tables`` :func:`load_published_table` (table == checked facts), metrics, models;
- ``published_units`` every published unit is a real one; keyed hashes per cell (cached per input);
- ``input_cache``  granted inputs materialised once per version and column set, linked per job;
- ``setup``        :func:`ensure_sandbox_venv` (``python -m countyos.lab.sandbox.setup PATH``);
- internals: ``execution``, ``command``, ``cgroups``, ``outputs``, ``seccomp``, ``launcher``
  (host side, runs as its own process), ``bootstrap`` and ``job_api`` (inside the sandbox).

It must not check disclosure or release outputs; it must never run a job with weaker isolation
than it reports.
"""

from countyos.lab.sandbox.capabilities import SandboxCapabilities, probe
from countyos.lab.sandbox.limits import NAME_PATTERN, REASONS, SandboxLimits
from countyos.lab.sandbox.manifest import PublishedOutput, read_manifest
from countyos.lab.sandbox.published_tables import (
    PublishedTable,
    load_metrics,
    load_model_summary,
    load_published_table,
)
from countyos.lab.sandbox.result import SandboxResult
from countyos.lab.sandbox.runner import run_python_job

__all__ = [
    "NAME_PATTERN",
    "REASONS",
    "PublishedOutput",
    "PublishedTable",
    "SandboxCapabilities",
    "SandboxLimits",
    "SandboxResult",
    "ensure_sandbox_venv",
    "load_metrics",
    "load_model_summary",
    "load_published_table",
    "probe",
    "read_manifest",
    "run_python_job",
]


def __getattr__(name: str):
    # Imported lazily so `python -m countyos.lab.sandbox.setup` does not import itself twice.
    if name == "ensure_sandbox_venv":
        from countyos.lab.sandbox.setup import ensure_sandbox_venv

        return ensure_sandbox_venv
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
