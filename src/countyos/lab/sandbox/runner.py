"""Run a lab job's Python script on real data in the sandbox: :func:`run_python_job`.

Owns the public entry point: it validates what the caller passes (script, input names and files,
output and work directories, limits), refuses outright when :func:`probe` found any shortfall of
the sandbox — never a silent, weaker fallback — and then runs the job (see ``execution.py``).
The job's outputs are read back with :func:`countyos.lab.sandbox.manifest.read_manifest`.

It must not check outputs for disclosure, release anything or show logs to submitters.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from countyos.errors import (
    InternalError,
    InvalidInputError,
    PermissionDeniedError,
    TooLargeError,
)
from countyos.lab.sandbox.capabilities import find_tools, probe
from countyos.lab.sandbox.execution import Tools, execute
from countyos.lab.sandbox.limits import NAME_PATTERN, SandboxLimits
from countyos.lab.sandbox.result import SandboxResult

MAX_SCRIPT_BYTES = 1024 * 1024
MAX_INPUTS = 64
_PARQUET_MAGIC = b"PAR1"


def run_python_job(
    *,
    script: Path,
    inputs: Mapping[str, Path],
    output_dir: Path,
    limits: SandboxLimits,
    venv: Path,
    workdir: Path,
) -> SandboxResult:
    """Run ``script`` on ``inputs`` inside the sandbox and collect what it published.

    Inside, the script sees each input at ``/data/<name>.parquet`` (read-only), writes through
    ``countyos_job`` to ``/out``, and runs as uid 65534 without network, capabilities or host
    files. Nothing the job prints or raises reaches the result except the exception class name;
    the full log stays at ``result.log_path``.

    Args:
        script: the job's Python file (at most 1 MiB).
        inputs: input name (``^[a-z][a-z0-9_]{0,62}$``) → Parquet file.
        output_dir: where outputs of a successful run are copied; created if missing, must be
            empty.
        limits: resource limits of the run.
        venv: the sandbox venv (built by ``python -m countyos.lab.sandbox.setup``).
        workdir: the runner's scratch directory (trusted zone); keeps ``<job id>.log``.

    Returns:
        The outcome (see :class:`SandboxResult`); a job that fails or is killed is a result,
        not an exception.

    Raises:
        PermissionDeniedError: the sandbox is incomplete on this machine ("real-data runs need
            the sandbox: ..." lists what is missing); nothing runs.
        InvalidInputError: a bad script, input name or file, or a non-empty output directory.
        TooLargeError: the script is larger than 1 MiB.
        InternalError: the sandbox passed the probe but could not be set up for this job
            (cgroups, mounts); nothing ran.
    """
    if not isinstance(limits, SandboxLimits):
        raise InvalidInputError("limits must be a SandboxLimits")
    script = _check_script(Path(script))
    checked_inputs = _check_inputs(inputs)
    output_dir, workdir, venv = Path(output_dir).absolute(), Path(workdir).absolute(), Path(venv)
    _check_output_dir(output_dir, workdir)
    capabilities = probe(venv=venv)
    if not capabilities.ok:
        raise PermissionDeniedError(
            "real-data runs need the sandbox: " + "; ".join(capabilities.problems),
            details={"problems": list(capabilities.problems)},
        )
    output_dir.mkdir(parents=True, mode=0o750, exist_ok=True)
    bwrap, setpriv = find_tools()
    assert bwrap is not None and setpriv is not None  # probe() found both
    try:
        return execute(script=script, inputs=checked_inputs, output_dir=output_dir,
                       limits=limits, venv=venv.absolute(), workdir=workdir,
                       tools=Tools(bwrap, setpriv))
    except OSError as error:
        raise InternalError(
            f"the sandbox could not be set up for this job: {error.strerror or error}"
        ) from error


def _check_script(script: Path) -> Path:
    if not script.is_file():
        raise InvalidInputError("the job script is not a readable file",
                                details={"script": str(script)})
    if script.stat().st_size > MAX_SCRIPT_BYTES:
        raise TooLargeError(f"the job script is larger than {MAX_SCRIPT_BYTES} bytes")
    return script.absolute()


def _check_inputs(inputs: Mapping[str, Path]) -> dict[str, Path]:
    if not isinstance(inputs, Mapping):
        raise InvalidInputError("inputs must map input names to Parquet files")
    if len(inputs) > MAX_INPUTS:
        raise InvalidInputError(f"a job takes at most {MAX_INPUTS} inputs")
    checked: dict[str, Path] = {}
    for name, path in inputs.items():
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise InvalidInputError(
                f"input names must match {NAME_PATTERN.pattern}", details={"input": str(name)}
            )
        path = Path(path).resolve()
        if not path.is_file():
            raise InvalidInputError(f"input {name!r} is not a file", details={"input": name})
        if not _looks_like_parquet(path):
            raise InvalidInputError(f"input {name!r} is not a Parquet file",
                                    details={"input": name})
        checked[name] = path
    return checked


def _looks_like_parquet(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
            if path.stat().st_size < 12:
                return False
            handle.seek(-4, 2)
            return head == _PARQUET_MAGIC and handle.read(4) == _PARQUET_MAGIC
    except OSError:
        return False


def _check_output_dir(output_dir: Path, workdir: Path) -> None:
    if output_dir.exists():
        if not output_dir.is_dir() or output_dir.is_symlink():
            raise InvalidInputError("the output directory is not a directory")
        if any(output_dir.iterdir()):
            raise InvalidInputError("the output directory must be empty")
    if workdir == output_dir or workdir.is_relative_to(output_dir):
        raise InvalidInputError("the work directory must not be inside the output directory")
