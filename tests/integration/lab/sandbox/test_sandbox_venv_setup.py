"""Building the sandbox venv with Debian's python3: idempotent, stamped, readable by uid 65534.

Uses an empty requirement list (a venv without pip) so it takes well under a second; the full
venv with numpy, pandas, ... is built by the session fixture of this folder.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from countyos.errors import InternalError
from countyos.lab.sandbox.setup import (
    BUILDING_MARKER,
    SANDBOX_PYTHON,
    STAMP_NAME,
    ensure_sandbox_venv,
    is_current,
    venv_python,
)

pytestmark = pytest.mark.skipif(not SANDBOX_PYTHON.exists(),
                                reason=f"{SANDBOX_PYTHON} is missing (Debian package python3)")


def build(path: Path, **kwargs) -> Path:
    return ensure_sandbox_venv(path, requirements=(), import_check=("json",), **kwargs)


def test_build_is_stamped_readable_and_idempotent(tmp_path):
    os.umask(0o077)  # a strict umask must not make the venv unreadable for the sandbox uid
    try:
        venv = build(tmp_path / "venv")
    finally:
        os.umask(0o022)
    stamp = json.loads((venv / STAMP_NAME).read_text())
    assert stamp["python"] == str(SANDBOX_PYTHON) and stamp["requirements"] == []
    assert not (venv / BUILDING_MARKER).exists()
    assert venv_python(venv).exists()
    for path in [venv, *venv.rglob("*")]:
        if not path.is_symlink():
            assert path.stat().st_mode & stat.S_IROTH, path
    first = (venv / STAMP_NAME).stat().st_ino
    build(venv)
    assert (venv / STAMP_NAME).stat().st_ino == first  # nothing rebuilt
    assert is_current(venv, requirements=())
    assert not is_current(venv, requirements=("numpy",))


def test_interrupted_build_is_redone(tmp_path):
    venv = build(tmp_path / "venv")
    (venv / STAMP_NAME).unlink()
    (venv / BUILDING_MARKER).write_text("interrupted")
    build(venv)
    assert (venv / STAMP_NAME).exists() and not (venv / BUILDING_MARKER).exists()


def test_failed_import_check_names_the_problem(tmp_path):
    with pytest.raises(InternalError, match="import the sandbox venv's packages"):
        ensure_sandbox_venv(tmp_path / "venv", requirements=(),
                            import_check=("module_that_does_not_exist",))
    assert not (tmp_path / "venv" / STAMP_NAME).exists()
