"""How a sandboxed job ended: :class:`SandboxResult` and the rules that explain the ending.

Owns turning raw facts — the exit status, the bootstrap's status records (untrusted: the job can
write them too), who killed the job, what the cgroups recorded, whether ``/out`` filled up — into
a status, one reason from :data:`countyos.lab.sandbox.limits.REASONS` and at most a whitelisted
exception class name. The job's exception message, stdout and stderr never enter a result; they
stay in the log file. It must not run or kill anything.
"""

from __future__ import annotations

import builtins
import errno
import json
import signal
from dataclasses import dataclass
from pathlib import Path

from countyos.lab.sandbox import limits as reasons
from countyos.lab.sandbox.cgroups import CgroupUsage

STATUS_SUCCEEDED = "succeeded"
STATUS_FAILED = "failed"
STATUS_KILLED = "killed"

MAX_STATUS_BYTES = 64 * 1024

#: Exception class names a result may carry: Python's built-in exceptions and the job API's own.
#: A job-defined class is reported as its nearest whitelisted base class (usually ``Exception``),
#: so a class name cannot smuggle data out.
ALLOWED_ERROR_CLASSES = frozenset(
    name for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
) | {"PublishError", "InputNotFoundError"}


@dataclass(frozen=True)
class SandboxResult:
    """The outcome of one sandboxed job.

    Attributes:
        job_id: the runner's id of this run (names its cgroups and log).
        status: ``"succeeded"``, ``"failed"`` (the job ended on its own with an error, or its
            outputs broke a limit) or ``"killed"`` (a limit or the runner stopped it).
        reason: None when succeeded, else one of ``countyos.lab.sandbox.limits.REASONS``.
        error_class: the class name of the job's uncaught exception (whitelisted: built-in
            names, ``PublishError``, ``InputNotFoundError``; others map to their nearest such
            base) — never its message.
        exit_code: exit status of the job (128 + signal number when a signal ended it).
        wall_seconds: wall-clock time of the run.
        log_path: the job's full stdout and stderr; trusted zone only, never shown to submitters.
        output_dir: where the job's outputs were copied (only when succeeded).
        cpu_seconds: CPU time of all the job's processes, when measured.
        peak_memory_bytes: highest memory use of the job's cgroup.
    """

    job_id: str
    status: str
    reason: str | None
    error_class: str | None
    exit_code: int | None
    wall_seconds: float
    log_path: Path
    output_dir: Path
    cpu_seconds: float | None = None
    peak_memory_bytes: int | None = None

    @property
    def succeeded(self) -> bool:
        """Whether the job ran to the end without breaking any limit."""
        return self.status == STATUS_SUCCEEDED


@dataclass(frozen=True)
class JobStatus:
    """What the bootstrap reported (see ``bootstrap.py``), already sanitised."""

    started: bool = False
    finished: bool = False
    exit_code: int | None = None
    error_class: str | None = None
    error_number: int | None = None


def read_status(path: Path) -> JobStatus:
    """Parse the status channel file written by the bootstrap (and possibly by the job).

    Args:
        path: the status file; only its first 64 KiB are read.

    Returns:
        The sanitised status. ``started`` only counts as the very first record (written before
        any job code runs); the last well-formed ``finished`` record wins.
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_STATUS_BYTES)
    except OSError:
        return JobStatus()
    records = []
    for line in raw.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    started = bool(records) and records[0].get("event") == "started"
    finished = [r for r in records[1:] if r.get("event") == "finished"]
    if not started or not finished:
        return JobStatus(started=started)
    last = finished[-1]
    exit_code = last.get("exit_code")
    number = last.get("errno")
    return JobStatus(
        started=True,
        finished=True,
        exit_code=exit_code if _small_int(exit_code, 0, 255) else None,
        error_class=whitelisted_error_class(last.get("error_mro")),
        error_number=number if _small_int(number, 0, 4095) else None,
    )


def whitelisted_error_class(mro: object) -> str | None:
    """The first name of an exception's class chain that :data:`ALLOWED_ERROR_CLASSES` holds."""
    if not isinstance(mro, list):
        return None
    for name in mro[:64]:
        if isinstance(name, str) and name in ALLOWED_ERROR_CLASSES:
            return name
    return None


def _small_int(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


@dataclass(frozen=True)
class RunFacts:
    """Everything known about a run when it is over."""

    return_code: int | None
    status: JobStatus
    killed_by: str | None          # timeout, cpu or output_too_large when the runner killed it
    usage: CgroupUsage
    out_full: bool                 # /out ran out of space or inodes
    cpu_limit_seconds: int


def explain(facts: RunFacts) -> tuple[str, str | None, str | None]:
    """Status, reason and error class of a finished run (first matching rule wins).

    Args:
        facts: the run's facts.

    Returns:
        ``(status, reason, error_class)``.
    """
    job = facts.status
    code = facts.return_code
    signalled = code is not None and code > 128 and not job.finished
    killed = facts.killed_by is not None or facts.usage.oom_kills > 0 or signalled
    if not job.started and facts.killed_by is None:
        return STATUS_FAILED, reasons.REASON_SANDBOX_ERROR, None
    if code == 0 and not killed and not facts.out_full:
        return STATUS_SUCCEEDED, None, None
    status = STATUS_KILLED if killed else STATUS_FAILED
    error_class = job.error_class
    signal_number = code - 128 if signalled else None
    cpu_used = facts.usage.cpu_seconds
    if facts.usage.oom_kills > 0 or error_class == "MemoryError":
        reason = reasons.REASON_MEMORY
    elif facts.usage.fork_refusals > 0:
        reason = reasons.REASON_PROCESSES
    elif facts.out_full or facts.killed_by == reasons.REASON_OUTPUT_TOO_LARGE \
            or job.error_number == errno.EFBIG or signal_number == signal.SIGXFSZ:
        reason = reasons.REASON_OUTPUT_TOO_LARGE
    elif facts.killed_by == reasons.REASON_CPU or signal_number == signal.SIGXCPU or (
        signal_number == signal.SIGKILL and cpu_used is not None
        and cpu_used >= facts.cpu_limit_seconds
    ):
        reason = reasons.REASON_CPU
    elif facts.killed_by == reasons.REASON_TIMEOUT:
        reason = reasons.REASON_TIMEOUT
    elif job.error_number == errno.ENOSPC:
        reason = reasons.REASON_TMP_FULL
    elif error_class is not None:
        reason = reasons.REASON_EXCEPTION
    elif signalled:
        reason = reasons.REASON_SIGNAL
    else:
        reason = reasons.REASON_EXIT_CODE
    return status, reason, error_class
