"""Build the Python environment that sandboxed lab jobs run in (the "sandbox venv").

Owns :func:`ensure_sandbox_venv`: a virtual environment made with Debian's ``/usr/bin/python3``
(the pyenv interpreter under ``/root`` is unreadable for the sandbox uid) holding what jobs need
(numpy, pandas, pyarrow, duckdb, statsmodels, scikit-learn, matplotlib). It is idempotent: a stamp
file records what was installed, and a venv whose stamp matches is left alone. Every file is made
world-readable so the unprivileged sandbox uid can import it. Needs the Debian packages
``python3`` and ``python3-venv``.

Run from the project venv (the Makefile does)::

    .venv/bin/python -m countyos.lab.sandbox.setup /work/main/.venv-sandbox

This module must not run jobs, touch cgroups or import anything from the sandbox venv itself.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from countyos.errors import CountyOSError, InternalError, InvalidInputError

#: The interpreter the sandbox venv is built from (readable by every uid).
SANDBOX_PYTHON = Path("/usr/bin/python3")

#: What sandboxed jobs can import, besides the standard library and ``countyos_job``.
SANDBOX_REQUIREMENTS: tuple[str, ...] = (
    "numpy>=1.26,<3",
    "pandas>=2.1,<4",
    "pyarrow>=15",
    "duckdb>=1.1",
    "statsmodels>=0.14",
    "scikit-learn>=1.4",
    "matplotlib>=3.8",
)

#: Modules imported after installation to prove the venv works.
SANDBOX_IMPORT_CHECK: tuple[str, ...] = (
    "numpy", "pandas", "pyarrow.parquet", "duckdb", "statsmodels.api", "sklearn", "matplotlib",
)

STAMP_NAME = ".countyos-sandbox-venv.json"
BUILDING_MARKER = ".countyos-sandbox-building"
STAMP_VERSION = 1


def venv_python(path: Path) -> Path:
    """The interpreter of the sandbox venv at ``path`` (it may not exist yet)."""
    return Path(path) / "bin" / "python"


def read_stamp(path: Path) -> dict | None:
    """The stamp of the sandbox venv at ``path``, or None when absent or unreadable."""
    try:
        data = json.loads((Path(path) / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _wanted_stamp(python: Path, requirements: Sequence[str]) -> dict:
    return {
        "stamp_version": STAMP_VERSION,
        "python": str(python),
        "python_version": _python_version(python),
        "requirements": list(requirements),
    }


def is_current(path: Path, *, python: Path = SANDBOX_PYTHON,
               requirements: Sequence[str] = SANDBOX_REQUIREMENTS) -> bool:
    """Whether the venv at ``path`` was built from ``python`` with ``requirements`` and runs.

    Args:
        path: the sandbox venv directory.
        python: the base interpreter it must have been built from.
        requirements: the pip requirements it must hold.

    Returns:
        True when the stamp matches and the venv's interpreter starts.
    """
    stamp = read_stamp(path)
    if stamp is None or not Path(python).exists():
        return False
    wanted = _wanted_stamp(Path(python), requirements)
    if any(stamp.get(key) != value for key, value in wanted.items()):
        return False
    interpreter = venv_python(path)
    try:
        completed = subprocess.run(
            [str(interpreter), "-I", "-c", "import sys"], capture_output=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return completed.returncode == 0


def ensure_sandbox_venv(
    path: Path,
    *,
    python: Path = SANDBOX_PYTHON,
    requirements: Sequence[str] = SANDBOX_REQUIREMENTS,
    import_check: Sequence[str] = SANDBOX_IMPORT_CHECK,
    force: bool = False,
) -> Path:
    """Create (or keep) the sandbox venv at ``path``.

    Builds with ``<python> -m venv`` and ``pip install``, checks the imports, makes every file
    world-readable and writes the stamp last, so an interrupted build is rebuilt next time.
    Concurrent callers are serialised by a lock file beside ``path``.

    Args:
        path: where the venv lives (e.g. ``/work/main/.venv-sandbox``).
        python: the base interpreter; must be readable by the sandbox uid (Debian's python3).
        requirements: pip requirement strings to install (none: a venv without pip).
        import_check: modules that must import once installed.
        force: rebuild even when the stamp matches.

    Returns:
        The venv directory (absolute).

    Raises:
        InvalidInputError: ``path`` exists and is not a directory, or is not a venv of ours and
            not empty (it is never deleted then).
        InternalError: the base interpreter or its ``venv`` module is missing (install the
            Debian packages ``python3`` and ``python3-venv``), or pip failed.
    """
    path = Path(path).absolute()
    python = Path(python)
    if not python.exists():
        raise InternalError(
            f"the sandbox venv needs {python}; install the Debian packages python3 and python3-venv"
        )
    if path.exists() and not path.is_dir():
        raise InvalidInputError(f"the sandbox venv path {path} exists and is not a directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.parent / f"{path.name}.lock"
    with open(lock_path, "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if not force and is_current(path, python=python, requirements=requirements):
            return path
        _build(path, python, requirements, import_check)
    return path


def _build(path: Path, python: Path, requirements: Sequence[str],
           import_check: Sequence[str]) -> None:
    if path.exists():
        ours = read_stamp(path) is not None or (path / BUILDING_MARKER).exists()
        if not ours and any(path.iterdir()):
            raise InvalidInputError(
                f"{path} is not empty and not a sandbox venv; refusing to delete it"
            )
        shutil.rmtree(path)
    path.mkdir()
    (path / BUILDING_MARKER).write_text("an interrupted build; safe to delete\n")
    old_umask = os.umask(0o022)
    try:
        pip = [] if requirements else ["--without-pip"]
        _run([str(python), "-m", "venv", *pip, str(path)], "create the sandbox venv",
             hint="install the Debian package python3-venv")
        interpreter = venv_python(path)
        if requirements:
            _run(
                [str(interpreter), "-m", "pip", "install", "--no-input",
                 "--disable-pip-version-check", "--quiet", *requirements],
                "install the sandbox venv's packages",
            )
        _run(
            [str(interpreter), "-I", "-c",
             "import importlib, sys\nfor name in sys.argv[1:]: importlib.import_module(name)",
             *import_check],
            "import the sandbox venv's packages",
        )
    finally:
        os.umask(old_umask)
    make_world_readable(path)
    stamp = _wanted_stamp(python, requirements)
    stamp["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    temporary = path / (STAMP_NAME + ".tmp")
    temporary.write_text(json.dumps(stamp, indent=2), encoding="utf-8")
    os.chmod(temporary, 0o644)
    os.replace(temporary, path / STAMP_NAME)
    (path / BUILDING_MARKER).unlink()


def make_world_readable(root: Path) -> None:
    """Give every file under ``root`` read (and directories search) permission for all users.

    Symbolic links are not followed. Write permission is left unchanged.

    Args:
        root: a directory.
    """
    for directory, _subdirectories, filenames in os.walk(root):
        _add_mode(Path(directory), stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH | 0o111)
        for name in filenames:
            file_path = Path(directory) / name
            mode = os.lstat(file_path).st_mode
            if stat.S_ISLNK(mode):
                continue
            extra = stat.S_IRGRP | stat.S_IROTH | stat.S_IRUSR
            if mode & stat.S_IXUSR:
                extra |= stat.S_IXGRP | stat.S_IXOTH
            _add_mode(file_path, extra)


def _add_mode(path: Path, bits: int) -> None:
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        return
    if (mode & bits) != bits:
        os.chmod(path, stat.S_IMODE(mode) | bits)


def _python_version(python: Path) -> str | None:
    try:
        completed = subprocess.run(
            [str(python), "-I", "-c", "import sys; print(sys.version.split()[0])"],
            capture_output=True, text=True, timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def _run(argv: list[str], what: str, hint: str | None = None) -> None:
    try:
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
    except (OSError, subprocess.SubprocessError) as error:
        raise InternalError(f"could not {what}: {type(error).__name__}") from error
    if completed.returncode != 0:
        tail = (completed.stderr or completed.stdout or "").strip()[-2000:]
        message = f"could not {what} (exit {completed.returncode})"
        if hint:
            message += f"; {hint}"
        raise InternalError(message, details={"output": tail})


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m countyos.lab.sandbox.setup PATH [--force]``.

    Args:
        argv: arguments without the program name (default ``sys.argv[1:]``).

    Returns:
        The process exit status (0 on success, the error's exit code otherwise).
    """
    parser = argparse.ArgumentParser(
        prog="python -m countyos.lab.sandbox.setup",
        description="Build (or keep) the Python venv that sandboxed lab jobs run in.",
    )
    parser.add_argument("path", type=Path, help="where the sandbox venv lives")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    arguments = parser.parse_args(argv)
    started = time.monotonic()
    try:
        path = ensure_sandbox_venv(arguments.path, force=arguments.force)
    except CountyOSError as error:
        print(f"error: {error.message}", file=sys.stderr)
        output = error.details.get("output") if error.details else None
        if output:
            print(output, file=sys.stderr)
        return error.exit_code
    print(f"sandbox venv ready at {path} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
