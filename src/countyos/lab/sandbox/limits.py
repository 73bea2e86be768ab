"""The resource limits of one sandboxed job and the reasons a job can end with.

Owns :class:`SandboxLimits` (validated on construction), the vocabulary of
:attr:`SandboxResult.reason` and the pattern of input and output names. It must not enforce
anything itself; the runner, the launcher and the cgroups do.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

from countyos.errors import InvalidInputError

#: Names of a job's inputs and outputs.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

GIB = 1024**3
MIB = 1024**2

#: Below this, imports of numpy, duckdb and pyarrow fail (segfault at 512 MiB): the address-space
#: backstop never goes lower, whatever the memory limit.
MIN_ADDRESS_SPACE_BYTES = 2 * GIB
#: A job needs at least this much memory to start Python with pandas.
MIN_MEMORY_BYTES = 256 * MIB

# Reasons of :class:`countyos.lab.sandbox.runner.SandboxResult` (None when succeeded).
REASON_TIMEOUT = "timeout"                  # wall-clock limit; the runner killed the job
REASON_CPU = "cpu"                          # CPU-seconds limit
REASON_MEMORY = "memory"                    # memory limit (OOM kill or MemoryError)
REASON_PROCESSES = "processes"              # process/thread limit refused a fork
REASON_OUTPUT_TOO_LARGE = "output_too_large"  # /out full, a file too large, or too much log
REASON_TMP_FULL = "tmp_full"                # the private /tmp ran out of space
REASON_EXCEPTION = "exception"              # the job raised an exception (see error_class)
REASON_EXIT_CODE = "exit_code"              # the job exited with a non-zero status
REASON_SIGNAL = "signal"                    # the job died from a signal not caused by a limit
REASON_SANDBOX_ERROR = "sandbox_error"      # the sandbox itself could not start the job

REASONS = (
    REASON_TIMEOUT, REASON_CPU, REASON_MEMORY, REASON_PROCESSES, REASON_OUTPUT_TOO_LARGE,
    REASON_TMP_FULL, REASON_EXCEPTION, REASON_EXIT_CODE, REASON_SIGNAL, REASON_SANDBOX_ERROR,
)


@dataclass(frozen=True)
class SandboxLimits:
    """What one job may use.

    Attributes:
        cpu_seconds: CPU time of the job's processes together (cgroup ``cpuacct`` when present)
            and of each process (``RLIMIT_CPU``).
        memory_bytes: memory of all processes together (cgroup v1 ``memory.limit_in_bytes``).
        max_processes: processes and threads at once (cgroup v1 ``pids.max``).
        output_bytes: everything written to ``/out`` together (a tmpfs of this size).
        wall_seconds: wall-clock time before the runner kills every process of the job.
        tmp_bytes: size of the private ``/tmp`` (a tmpfs; counts towards memory too).
            ``RLIMIT_FSIZE`` (largest file) is just above this and ``output_bytes``.
        log_bytes: stdout and stderr together; a job printing more is killed.
        max_output_files: most files and directories in ``/out``.
        address_space_bytes: ``RLIMIT_AS`` backstop per process; default
            ``max(2 × memory, memory + 2 GiB)``, never below 2 GiB.
    """

    cpu_seconds: int = 60
    memory_bytes: int = 4 * GIB
    max_processes: int = 64
    output_bytes: int = 50 * MIB
    wall_seconds: float = 120
    tmp_bytes: int = 512 * MIB
    log_bytes: int = 16 * MIB
    max_output_files: int = 1024
    address_space_bytes: int | None = None

    def __post_init__(self) -> None:
        _whole("cpu_seconds", self.cpu_seconds, 1)
        _whole("memory_bytes", self.memory_bytes, MIN_MEMORY_BYTES)
        _whole("max_processes", self.max_processes, 8)
        _whole("output_bytes", self.output_bytes, 64 * 1024)
        _whole("tmp_bytes", self.tmp_bytes, MIB)
        _whole("log_bytes", self.log_bytes, 4096)
        _whole("max_output_files", self.max_output_files, 8)
        if self.address_space_bytes is not None:
            _whole("address_space_bytes", self.address_space_bytes, MIN_ADDRESS_SPACE_BYTES)
        wall = self.wall_seconds
        if isinstance(wall, bool) or not isinstance(wall, (int, float)) or not math.isfinite(wall) \
                or wall <= 0:
            raise InvalidInputError("sandbox limit wall_seconds must be a positive number")

    @property
    def effective_address_space_bytes(self) -> int:
        """The ``RLIMIT_AS`` the runner sets."""
        if self.address_space_bytes is not None:
            return self.address_space_bytes
        return max(2 * self.memory_bytes, self.memory_bytes + MIN_ADDRESS_SPACE_BYTES)

    @property
    def thread_count(self) -> int:
        """Threads numerical libraries are told to use (so pools stay under the process limit)."""
        return max(1, min(os.cpu_count() or 1, self.max_processes // 8, 8))


def _whole(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(
            f"sandbox limit {name} must be a whole number of at least {minimum}",
            details={"limit": name},
        )
