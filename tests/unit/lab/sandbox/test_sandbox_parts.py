"""The sandbox's parts that need no running sandbox: limits, command line, seccomp program,
cgroup discovery, argument checks of the runner, and the venv builder's refusals."""

from __future__ import annotations

import struct
from pathlib import Path

import pandas as pd
import pytest

from countyos.errors import InternalError, InvalidInputError, PermissionDeniedError, TooLargeError
from countyos.lab.sandbox import SandboxLimits, run_python_job
from countyos.lab.sandbox.cgroups import v1_hierarchies
from countyos.lab.sandbox.command import SandboxLayout, bwrap_argv, sandbox_environment
from countyos.lab.sandbox.limits import GIB, MIN_ADDRESS_SPACE_BYTES
from countyos.lab.sandbox.seccomp import DENIED_SYSCALLS, seccomp_program, supported_machine
from countyos.lab.sandbox.setup import ensure_sandbox_venv, is_current, main


@pytest.mark.parametrize("field, value", [
    ("cpu_seconds", 0), ("memory_bytes", 1024), ("max_processes", 2), ("output_bytes", -1),
    ("wall_seconds", float("inf")), ("wall_seconds", 0), ("cpu_seconds", True),
    ("address_space_bytes", GIB), ("tmp_bytes", 1.5),
])
def test_limits_refuse_nonsense(field, value):
    with pytest.raises(InvalidInputError, match=field):
        SandboxLimits(**{field: value})


def test_address_space_backstop_never_below_two_gib():
    assert SandboxLimits(memory_bytes=512 * 1024**2).effective_address_space_bytes \
        >= MIN_ADDRESS_SPACE_BYTES
    assert SandboxLimits(memory_bytes=8 * GIB).effective_address_space_bytes == 16 * GIB


def layout(tmp_path, **inputs):
    return SandboxLayout(
        bwrap=Path("/usr/bin/bwrap"), setpriv=Path("/usr/bin/setpriv"), venv=tmp_path / "venv",
        script=tmp_path / "main.py", support_dir=tmp_path / "support",
        inputs={name: tmp_path / f"{name}.parquet" for name in inputs},
        out_mount=tmp_path / "out", etc_dir=tmp_path / "etc", tmp_bytes=64 * 1024**2,
        threads=2, seccomp_fd=7, status_fd=8)


def test_command_isolates_and_mounts_only_what_is_granted(tmp_path, monkeypatch):
    monkeypatch.setenv("COUNTYOS_TEST_SECRET", "do-not-leak")
    argv = bwrap_argv(layout(tmp_path, people=1))
    for flag in ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent",
                 "--new-session", "--clearenv"):
        assert flag in argv
    assert "--bind" in argv and argv[argv.index("--bind") + 2] == "/out"
    assert argv.count("--bind") == 1  # the only writable host-backed mount
    bound = [argv[i + 1] for i, item in enumerate(argv) if item in ("--ro-bind", "--ro-bind-try")]
    assert not any(source.startswith(("/etc/shadow", "/root", "/home", "/work", "/var"))
                   for source in bound)
    assert str(tmp_path / "people.parquet") in bound
    tail = argv[argv.index("--") + 1:]
    assert tail[0] == "/usr/bin/setpriv" and "--reuid=65534" in tail
    assert "--bounding-set=-all" in tail and "--no-new-privs" in tail
    assert "do-not-leak" not in " ".join(argv)
    assert "COUNTYOS_TEST_SECRET" not in sandbox_environment(layout(tmp_path))


def test_seccomp_program_is_well_formed():
    for machine in ("x86_64", "aarch64"):
        program = seccomp_program(machine)
        assert len(program) % 8 == 0
        instructions = [struct.unpack("=HBBI", program[i:i + 8])
                        for i in range(0, len(program), 8)]
        assert len(instructions) > len(DENIED_SYSCALLS)
        for index, (code, jump_true, jump_false, _) in enumerate(instructions):
            if code & 0x07 == 0x05:  # jumps stay inside the program
                assert index + 1 + max(jump_true, jump_false) < len(instructions)
        assert instructions[-1][0] == 0x06  # ends with a return
    with pytest.raises(ValueError):
        seccomp_program("sparc")
    assert not supported_machine("sparc")


def test_cgroup_discovery_follows_the_runners_own_cgroup(tmp_path):
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        "39 31 0:36 /docker/abc /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
        "33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n")
    membership = tmp_path / "cgroup"
    membership.write_text("4:memory:/jobs/api\n8:pids:/docker/abc/worker\n2:cpu,cpuacct:/\n0::/\n")
    found = v1_hierarchies(mountinfo, membership)
    assert found == {"memory": Path("/sys/fs/cgroup/memory/jobs/api"),
                     "pids": Path("/sys/fs/cgroup/pids/worker"),
                     "cpu": Path("/sys/fs/cgroup/cpu,cpuacct"),
                     "cpuacct": Path("/sys/fs/cgroup/cpu,cpuacct")}
    assert v1_hierarchies(tmp_path / "absent", membership) == {}


@pytest.fixture
def job_files(tmp_path):
    script = tmp_path / "job.py"
    script.write_text("print('hi')\n")
    data = tmp_path / "people.parquet"
    pd.DataFrame({"x": [1]}).to_parquet(data)
    return script, data


def run(tmp_path, script, inputs, output_dir=None, venv=None):
    return run_python_job(script=script, inputs=inputs, output_dir=output_dir or tmp_path / "o",
                          limits=SandboxLimits(), venv=venv or tmp_path / "no-venv",
                          workdir=tmp_path / "work")


@pytest.mark.parametrize("inputs, message", [
    ({"../x": None}, "input names"), ({"People": None}, "input names"),
    ({"people": "missing"}, "not a file"), ({"people": "script"}, "not a Parquet file"),
])
def test_runner_refuses_bad_inputs(tmp_path, job_files, inputs, message):
    script, data = job_files
    paths = {"missing": tmp_path / "missing.parquet", "script": script, None: data}
    with pytest.raises(InvalidInputError, match=message):
        run(tmp_path, script, {name: paths[value] for name, value in inputs.items()})
    assert not (tmp_path / "o").exists()


def test_runner_refuses_non_empty_output_and_huge_script(tmp_path, job_files):
    script, data = job_files
    full = tmp_path / "full"
    full.mkdir()
    (full / "old.txt").write_text("x")
    with pytest.raises(InvalidInputError, match="empty"):
        run(tmp_path, script, {"people": data}, output_dir=full)
    script.write_text("#" * (1024 * 1024 + 1))
    with pytest.raises(TooLargeError):
        run(tmp_path, script, {"people": data})


def test_runner_refuses_real_data_without_a_complete_sandbox(tmp_path, job_files):
    script, data = job_files
    with pytest.raises(PermissionDeniedError, match="real-data runs need the sandbox") as error:
        run(tmp_path, script, {"people": data}, venv=tmp_path / "no-venv")
    assert any("venv" in problem for problem in error.value.details["problems"])
    assert not (tmp_path / "o").exists()  # nothing was created or run


def test_venv_builder_refusals(tmp_path):
    with pytest.raises(InternalError, match="python3-venv"):
        ensure_sandbox_venv(tmp_path / "v", python=tmp_path / "no-python")
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(InvalidInputError, match="not a directory"):
        ensure_sandbox_venv(not_a_dir)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    with pytest.raises(InvalidInputError, match="refusing to delete"):
        ensure_sandbox_venv(foreign)
    assert (foreign / "precious.txt").read_text() == "keep me"
    assert not is_current(tmp_path / "nothing-here")
    assert main([str(not_a_dir)]) == 2
