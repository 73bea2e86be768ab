"""One run of a job in the sandbox, start to clean-up, without any capability check.

Owns the sequence: a private job directory in the caller's workdir, the ``/etc`` files, a
world-readable copy of the script (and of inputs the sandbox uid could not read), the ``/out``
tmpfs, the job's cgroups, the launcher (which joins the cgroups, sets rlimits and execs bwrap),
watching the wall clock and total CPU, killing everything in the cgroups, reading what happened,
copying outputs of a successful run, and removing cgroups, mounts and scratch files whatever
happens. Only the log file ``<workdir>/<job id>.log`` is kept.

Callers use :func:`countyos.lab.sandbox.runner.run_python_job`, which refuses to run when the
sandbox is incomplete; :mod:`countyos.lab.sandbox.capabilities` uses this module directly for its
trial run. It must not decide whether the sandbox is good enough.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from countyos.lab.sandbox import limits as reasons
from countyos.lab.sandbox.cgroups import CgroupUsage, JobCgroups
from countyos.lab.sandbox.command import (
    SANDBOX_GID,
    SandboxLayout,
    bwrap_argv,
    write_etc_files,
    write_support_files,
)
from countyos.lab.sandbox.limits import SandboxLimits
from countyos.lab.sandbox.outputs import (
    collect_outputs,
    is_full,
    mount_output_tmpfs,
    unmount,
)
from countyos.lab.sandbox.result import (
    STATUS_FAILED,
    STATUS_SUCCEEDED,
    RunFacts,
    SandboxResult,
    explain,
    read_status,
)
from countyos.lab.sandbox.seccomp import seccomp_program

LAUNCHER = Path(__file__).resolve().parent / "launcher.py"
POLL_SECONDS = 0.05
NICE = 10


@dataclass(frozen=True)
class Tools:
    """Host executables the sandbox is built with."""

    bwrap: Path
    setpriv: Path


def execute(
    *,
    script: Path,
    inputs: Mapping[str, Path],
    output_dir: Path,
    limits: SandboxLimits,
    venv: Path,
    workdir: Path,
    tools: Tools,
    use_seccomp: bool = True,
) -> SandboxResult:
    """Run ``script`` in the sandbox once (arguments already validated by the caller).

    Args:
        script: the job's Python file.
        inputs: input name → Parquet file, mounted at ``/data/<name>.parquet``.
        output_dir: an existing empty directory; receives the outputs of a successful run.
        limits: the resource limits.
        venv: the sandbox venv.
        workdir: the runner's scratch directory for this job (trusted zone).
        tools: bwrap and setpriv.
        use_seccomp: load the seccomp filter (False only where no filter exists).

    Returns:
        The result; a run the sandbox could not start is a result with reason
        ``sandbox_error`` (details in the log), not an exception.

    Raises:
        OSError: the cgroups or the ``/out`` tmpfs could not be set up (nothing was started).
    """
    job_id = uuid.uuid4().hex[:16]
    workdir.mkdir(parents=True, exist_ok=True)
    job_dir = workdir / f"sandbox-{job_id}"
    job_dir.mkdir(mode=0o700)
    log_path = workdir / f"{job_id}.log"
    out_mount = job_dir / "out"
    cgroups = JobCgroups(job_id)
    mounted = False
    try:
        staged_script, staged_inputs = _stage(job_dir, script, inputs)
        out_mount.mkdir()
        mount_output_tmpfs(out_mount, size_bytes=limits.output_bytes,
                           max_files=limits.max_output_files)
        mounted = True
        cgroups.create(memory_bytes=limits.memory_bytes, max_processes=limits.max_processes)
        run = _launch_and_watch(job_dir, log_path, staged_script, staged_inputs, out_mount,
                                limits, venv, tools, cgroups, use_seccomp)
        facts = RunFacts(run.return_code, read_status(job_dir / "status.jsonl"), run.killed_by,
                         run.usage, is_full(out_mount), limits.cpu_seconds)
        status, reason, error_class = explain(facts)
        if status == STATUS_SUCCEEDED:
            try:
                collect_outputs(out_mount, output_dir, max_bytes=limits.output_bytes)
            except OSError as error:
                _empty(output_dir)
                if error.errno != errno.EFBIG:
                    raise
                status, reason = STATUS_FAILED, reasons.REASON_OUTPUT_TOO_LARGE
        return SandboxResult(
            job_id=job_id, status=status, reason=reason, error_class=error_class,
            exit_code=run.return_code, wall_seconds=run.wall_seconds, log_path=log_path,
            output_dir=output_dir, cpu_seconds=run.usage.cpu_seconds,
            peak_memory_bytes=run.usage.peak_memory_bytes,
        )
    finally:
        cgroups.remove()
        if mounted:
            unmount(out_mount)
        shutil.rmtree(job_dir, ignore_errors=True)


def _stage(job_dir: Path, script: Path, inputs: Mapping[str, Path]):
    """Readable copies where needed: the script always, inputs only when the sandbox uid could
    not read them through their mount (neither world-readable nor readable by its group)."""
    staged_script = job_dir / "main.py"
    shutil.copyfile(script, staged_script)
    staged_script.chmod(0o644)
    staged_inputs: dict[str, Path] = {}
    for name, path in inputs.items():
        info = os.stat(path)
        if info.st_mode & stat.S_IROTH or (info.st_gid == SANDBOX_GID
                                           and info.st_mode & stat.S_IRGRP):
            staged_inputs[name] = path
            continue
        (job_dir / "inputs").mkdir(exist_ok=True)
        copy = job_dir / "inputs" / f"{name}.parquet"
        shutil.copyfile(path, copy)
        copy.chmod(0o644)
        staged_inputs[name] = copy
    return staged_script, staged_inputs


@dataclass(frozen=True)
class _Run:
    return_code: int | None
    killed_by: str | None
    wall_seconds: float
    usage: CgroupUsage


def _launch_and_watch(job_dir, log_path, script, inputs, out_mount, limits, venv, tools,
                      cgroups: JobCgroups, use_seccomp: bool) -> _Run:
    etc_dir = job_dir / "etc"
    etc_dir.mkdir()
    write_etc_files(etc_dir)
    support_dir = job_dir / "support"
    support_dir.mkdir()
    write_support_files(support_dir)
    status_fd = os.open(job_dir / "status.jsonl", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    seccomp_fd = None
    if use_seccomp:
        filter_path = job_dir / "seccomp.bpf"
        filter_path.write_bytes(seccomp_program())
        seccomp_fd = os.open(filter_path, os.O_RDONLY)
    layout = SandboxLayout(
        bwrap=tools.bwrap, setpriv=tools.setpriv, venv=venv, script=script,
        support_dir=support_dir, inputs=inputs,
        out_mount=out_mount, etc_dir=etc_dir, tmp_bytes=limits.tmp_bytes,
        threads=limits.thread_count, seccomp_fd=seccomp_fd, status_fd=status_fd,
    )
    config_path = job_dir / "launch.json"
    config_path.write_text(json.dumps({
        "procs_files": [str(path) for path in cgroups.procs_files],
        "nice": NICE,
        "rlimits": _rlimits(limits),
        "argv": bwrap_argv(layout),
    }))
    passed = tuple(fd for fd in (status_fd, seccomp_fd) if fd is not None)
    killed_by = None
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(LAUNCHER), str(config_path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=passed, start_new_session=True, cwd=job_dir,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        )
    finally:
        for descriptor in passed:
            os.close(descriptor)
    log = _LogDrain(process.stdout, log_path, limits.log_bytes)
    try:
        deadline = started + float(limits.wall_seconds)
        while process.poll() is None:
            if time.monotonic() >= deadline:
                killed_by = reasons.REASON_TIMEOUT
            elif log.overflowed.is_set():
                killed_by = reasons.REASON_OUTPUT_TOO_LARGE
            else:
                used = cgroups.cpu_seconds()
                if used is not None and used > limits.cpu_seconds:
                    killed_by = reasons.REASON_CPU
            if killed_by:
                _kill(process, cgroups)
                break
            log.overflowed.wait(POLL_SECONDS)
    finally:
        if process.poll() is None:
            _kill(process, cgroups)
        process.wait()
        wall_seconds = time.monotonic() - started
        cgroups.kill_all()
        log.close()
    return _Run(process.returncode if process.returncode >= 0 else 128 - process.returncode,
                killed_by, wall_seconds, cgroups.usage())


class _LogDrain:
    """Copies the job's stdout and stderr into the log file, at most ``limit`` bytes.

    Reading never stops (a job is never blocked on a full pipe); past the limit the rest is
    discarded and :attr:`overflowed` is set so the runner kills the job.
    """

    def __init__(self, pipe, path: Path, limit: int) -> None:
        self.overflowed = threading.Event()
        self._pipe = pipe
        self._file = open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")
        self._limit = limit
        self._thread = threading.Thread(target=self._run, name="sandbox-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        written = 0
        while chunk := self._pipe.read1(65536):
            room = self._limit - written
            if room > 0:
                self._file.write(chunk[:room])
                written += min(room, len(chunk))
            if len(chunk) > room:
                self.overflowed.set()

    def close(self) -> None:
        self._thread.join(timeout=5)
        self._file.close()
        self._pipe.close()


def _kill(process: subprocess.Popen, cgroups: JobCgroups) -> None:
    try:
        os.killpg(process.pid, 9)
    except (ProcessLookupError, PermissionError):
        pass
    cgroups.kill_all()


def _rlimits(limits: SandboxLimits) -> dict[str, list[int]]:
    address_space = limits.effective_address_space_bytes
    largest_file = max(limits.output_bytes, limits.tmp_bytes) + 1024 * 1024  # tmpfs fills first
    return {
        "RLIMIT_CPU": [limits.cpu_seconds, limits.cpu_seconds + 2],
        "RLIMIT_AS": [address_space, address_space],
        "RLIMIT_FSIZE": [largest_file, largest_file],
        "RLIMIT_NPROC": [limits.max_processes * 16, limits.max_processes * 16],
        "RLIMIT_CORE": [0, 0],
        "RLIMIT_NOFILE": [4096, 4096],
        "RLIMIT_MSGQUEUE": [0, 0],
    }


def _empty(directory: Path) -> None:
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
