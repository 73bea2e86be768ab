"""Per-job control groups (cgroup v1) of sandboxed lab jobs: memory, process count and CPU use.

Owns finding the v1 hierarchies (``memory``, ``pids``, ``cpuacct``), creating one cgroup per job
*below the runner's own cgroup* in each (so the job stays inside whatever limits the runner itself
lives under), setting its limits, reading what happened (OOM kills, refused forks, CPU used),
killing every process in it and removing it. The runner process itself is never moved; the job's
launcher joins the cgroups before it executes bubblewrap.

This module must not build sandboxes or decide what a job's outcome means.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

#: Controllers a real-data run cannot do without.
REQUIRED_CONTROLLERS = ("memory", "pids")
#: Controllers used when present (total CPU time across all of a job's processes).
OPTIONAL_CONTROLLERS = ("cpuacct",)

JOB_CGROUP_PREFIX = "countyos-sandbox-"


def v1_hierarchies(
    mountinfo: Path = Path("/proc/self/mountinfo"), cgroup_file: Path = Path("/proc/self/cgroup")
) -> dict[str, Path]:
    """The directory of this process's own cgroup in every mounted v1 hierarchy.

    Args:
        mountinfo: the mount table to read (for tests: another process's).
        cgroup_file: this process's cgroup membership.

    Returns:
        Controller name (``memory``, ``pids``, ``cpuacct``, ...) → directory of the cgroup this
        process belongs to in that hierarchy. Hierarchies that cannot be read are left out.
    """
    try:
        mount_lines = mountinfo.read_text().splitlines()
        membership_lines = cgroup_file.read_text().splitlines()
    except OSError:
        return {}
    mounts: dict[str, tuple[str, Path]] = {}
    for line in mount_lines:
        left, separator, right = line.partition(" - ")
        if not separator:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] != "cgroup":
            continue
        root, mount_point = fields[3], Path(_unescape(fields[4]))
        for option in tail[2].split(","):
            if option not in ("rw", "ro") and "=" not in option:
                mounts.setdefault(option, (root, mount_point))
    own: dict[str, Path] = {}
    for line in membership_lines:
        parts = line.split(":", 2)
        if len(parts) != 3 or not parts[1]:
            continue
        for controller in parts[1].split(","):
            if controller not in mounts:
                continue
            root, mount_point = mounts[controller]
            relative = os.path.relpath(parts[2], root) if root != "/" else parts[2].lstrip("/")
            if relative.startswith(".."):
                continue
            own[controller] = (mount_point / relative) if relative not in ("", ".") else mount_point
    return own


def _unescape(text: str) -> str:
    return text.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")


@dataclass(frozen=True)
class CgroupUsage:
    """What a job's cgroups recorded.

    Attributes:
        oom_kills: processes the kernel killed for exceeding the memory limit.
        memory_limit_hits: times the memory limit was reached (reclaim or OOM).
        peak_memory_bytes: highest memory use.
        fork_refusals: forks or threads refused because of the process limit.
        cpu_seconds: CPU time of all processes together, when ``cpuacct`` is present.
    """

    oom_kills: int = 0
    memory_limit_hits: int = 0
    peak_memory_bytes: int | None = None
    fork_refusals: int = 0
    cpu_seconds: float | None = None


class JobCgroups:
    """The cgroups of one job, one per controller, named ``countyos-sandbox-<job id>``.

    Use :meth:`create` before starting the job, pass :attr:`procs_files` to the launcher, then
    :meth:`kill_all`, :meth:`usage` and :meth:`remove` (always, in a ``finally``).
    """

    def __init__(self, job_id: str, hierarchies: dict[str, Path] | None = None) -> None:
        if not job_id.replace("-", "").isalnum():
            raise ValueError("a job id may hold only letters, digits and dashes")
        found = v1_hierarchies() if hierarchies is None else hierarchies
        self.job_id = job_id
        self.directories: dict[str, Path] = {
            controller: found[controller] / f"{JOB_CGROUP_PREFIX}{job_id}"
            for controller in (*REQUIRED_CONTROLLERS, *OPTIONAL_CONTROLLERS)
            if controller in found
        }

    @property
    def missing(self) -> list[str]:
        """Required controllers that are not mounted."""
        return [name for name in REQUIRED_CONTROLLERS if name not in self.directories]

    @property
    def procs_files(self) -> list[Path]:
        """The ``cgroup.procs`` file of every job cgroup (the launcher writes its pid there)."""
        return [directory / "cgroup.procs" for directory in self.directories.values()]

    def create(self, *, memory_bytes: int, max_processes: int) -> None:
        """Create the cgroups and set the memory and process limits.

        Args:
            memory_bytes: memory limit (also the memory+swap limit where swap is accounted).
            max_processes: most tasks (processes and threads) at once.

        Raises:
            OSError: a required controller is missing or a limit cannot be set (the cgroups
                created so far are removed again).
        """
        if self.missing:
            raise OSError(errno.ENOENT, f"cgroup v1 controllers not mounted: {self.missing}")
        try:
            for directory in self.directories.values():
                directory.mkdir()
            memory = self.directories["memory"]
            _write(memory / "memory.limit_in_bytes", memory_bytes)
            if (memory / "memory.memsw.limit_in_bytes").exists():
                _write(memory / "memory.memsw.limit_in_bytes", memory_bytes)
            _write_optional(memory / "memory.swappiness", 0)
            if _read_int(memory / "memory.limit_in_bytes") > memory_bytes + 4096:
                raise OSError(errno.EINVAL, "the memory limit did not take effect")
            _write(self.directories["pids"] / "pids.max", max_processes)
        except BaseException:
            self.remove()
            raise

    def pids(self) -> list[int]:
        """Every process id currently in any of the job's cgroups."""
        found: set[int] = set()
        for procs in self.procs_files:
            try:
                found.update(int(line) for line in procs.read_text().split())
            except (OSError, ValueError):
                continue
        return sorted(found)

    def kill_all(self, *, timeout: float = 5.0) -> bool:
        """SIGKILL every process in the job's cgroups until none is left.

        The process limit bounds how many can appear while killing, so this ends quickly.

        Args:
            timeout: seconds to keep trying.

        Returns:
            True when the cgroups are empty (zombies not yet reaped may remain listed).
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining = self.pids()
            if not remaining:
                return True
            for pid in remaining:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)

    def cpu_seconds(self) -> float | None:
        """CPU time used so far by all the job's processes, when ``cpuacct`` is present."""
        directory = self.directories.get("cpuacct")
        if directory is None:
            return None
        try:
            return _read_int(directory / "cpuacct.usage") / 1e9
        except (OSError, ValueError):
            return None

    def usage(self) -> CgroupUsage:
        """What the cgroups recorded (read before :meth:`remove`)."""
        memory = self.directories.get("memory")
        pids = self.directories.get("pids")
        oom_kills = memory_hits = 0
        peak = None
        if memory is not None:
            oom_kills = _keyed_value(memory / "memory.oom_control", "oom_kill")
            memory_hits = _read_int_or_zero(memory / "memory.failcnt")
            peak = _read_int_or_zero(memory / "memory.max_usage_in_bytes") or None
        refusals = _keyed_value(pids / "pids.events", "max") if pids is not None else 0
        return CgroupUsage(oom_kills, memory_hits, peak, refusals, self.cpu_seconds())

    def remove(self, *, timeout: float = 5.0) -> list[Path]:
        """Kill what is left and remove the job's cgroups.

        Args:
            timeout: seconds to keep retrying a cgroup that is still busy.

        Returns:
            Cgroup directories that could not be removed (empty when all went).
        """
        left: list[Path] = []
        deadline = time.monotonic() + timeout
        for directory in self.directories.values():
            while directory.exists():
                try:
                    directory.rmdir()
                except FileNotFoundError:
                    break
                except OSError as error:
                    if error.errno != errno.EBUSY or time.monotonic() > deadline:
                        left.append(directory)
                        break
                    self.kill_all(timeout=0.5)
                    time.sleep(0.02)
        return left


def _write(path: Path, value: int) -> None:
    with open(path, "w") as handle:
        handle.write(str(int(value)))


def _write_optional(path: Path, value: int) -> None:
    try:
        _write(path, value)
    except OSError:
        pass


def _read_int(path: Path) -> int:
    return int(path.read_text().strip())


def _read_int_or_zero(path: Path) -> int:
    try:
        return _read_int(path)
    except (OSError, ValueError):
        return 0


def _keyed_value(path: Path, key: str) -> int:
    """The number after ``key`` in a ``key value`` per line file (0 when absent)."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        return 0
    return 0
