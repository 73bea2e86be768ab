"""What isolation this machine really gives a sandboxed job, found by trying it (:func:`probe`).

Owns :class:`SandboxCapabilities` and :func:`probe`: it looks for bubblewrap and setpriv, root,
cgroup v1 ``memory`` and ``pids`` (by creating and removing a cgroup with limits), a seccomp
filter for this CPU, the ``/out`` tmpfs, the sandbox venv, and then runs a tiny job in the real
sandbox that reports from inside: its uid and gid, capabilities, ``no_new_privs``, seccomp mode,
whether a socket can reach 127.0.0.1:5432 or an outside address, whether host paths are visible,
and whether ``countyos_job`` imports. Every shortfall becomes a line in ``problems``; real-data
runs are refused unless there are none. Results are cached per venv.

It must not run user code and must not relax anything when something is missing.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from countyos.lab.sandbox.cgroups import JobCgroups
from countyos.lab.sandbox.command import SANDBOX_GID, SANDBOX_UID
from countyos.lab.sandbox.execution import Tools, execute
from countyos.lab.sandbox.limits import GIB, SandboxLimits
from countyos.lab.sandbox.outputs import mount_output_tmpfs, unmount
from countyos.lab.sandbox.seccomp import supported_machine

_SEARCH_PATH = "/usr/bin:/usr/sbin:/bin:/sbin:/usr/local/bin"
_cache: dict[str, SandboxCapabilities] = {}
_cache_lock = threading.Lock()

#: Host paths that must not exist inside the sandbox.
HIDDEN_HOST_PATHS = ("/root", "/home", "/work", "/var", "/srv", "/mnt", "/sys", "/etc/shadow",
                     "/etc/ssh", "/run")

_PROBE_SCRIPT = r'''
import json, os, socket
def status():
    fields = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields
def connects(address):
    try:
        with socket.create_connection(address, timeout=2):
            return True
    except OSError:
        return False
fields = status()
import countyos_job
report = {
    "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups(),
    "caps": {k: fields.get(k) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")},
    "no_new_privs": fields.get("NoNewPrivs"), "seccomp": fields.get("Seccomp"),
    "local_db": connects(("127.0.0.1", 5432)), "outside": connects(("1.1.1.1", 53)),
    "visible": [p for p in HIDDEN if os.path.exists(p)],
    "environment": sorted(os.environ),
}
with open("/out/probe.json", "w") as handle:
    json.dump(report, handle)
'''


@dataclass(frozen=True)
class SandboxCapabilities:
    """What the sandbox can enforce here.

    Attributes:
        bwrap: bubblewrap is installed.
        setpriv: util-linux ``setpriv`` is installed under ``/usr``.
        root: the runner runs as root (needed to drop to uid 65534, mount, manage cgroups).
        unprivileged_uid: the trial job ran as uid/gid 65534 with no capabilities and
            ``no_new_privs``.
        memory_cgroup: a per-job cgroup v1 memory limit can be set.
        pids_cgroup: a per-job cgroup v1 process limit can be set.
        cpu_accounting: total CPU across a job's processes is measured (cgroup ``cpuacct``).
        seccomp: a seccomp filter exists for this CPU and was active in the trial job.
        output_tmpfs: the size-limited ``/out`` tmpfs can be mounted.
        network_isolated: the trial job could reach neither 127.0.0.1:5432 nor the outside.
        venv: the sandbox venv exists and ``countyos_job`` imported in it.
        bwrap_version: ``bwrap --version`` output.
        problems: one line per shortfall; empty means real-data runs are allowed.
    """

    bwrap: bool
    setpriv: bool
    root: bool
    unprivileged_uid: bool
    memory_cgroup: bool
    pids_cgroup: bool
    cpu_accounting: bool
    seccomp: bool
    output_tmpfs: bool
    network_isolated: bool
    venv: bool
    bwrap_version: str | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether real-data runs are allowed (no problems)."""
        return not self.problems


def find_tools() -> tuple[Path | None, Path | None]:
    """The bwrap and setpriv executables, or None for each one missing."""
    bwrap = shutil.which("bwrap", path=_SEARCH_PATH)
    setpriv = shutil.which("setpriv", path=_SEARCH_PATH)
    setpriv_path = Path(setpriv).resolve() if setpriv else None
    if setpriv_path is not None and not str(setpriv_path).startswith("/usr/"):
        setpriv_path = None  # only /usr is visible inside the sandbox
    return (Path(bwrap) if bwrap else None), setpriv_path


def probe(*, venv: Path, refresh: bool = False) -> SandboxCapabilities:
    """Find out, by trying, what the sandbox enforces on this machine (cached per venv).

    Args:
        venv: the sandbox venv (see :func:`countyos.lab.sandbox.setup.ensure_sandbox_venv`).
        refresh: probe again instead of returning the cached answer.

    Returns:
        The capabilities; ``problems`` lists every shortfall in plain words.
    """
    key = str(Path(venv).absolute())
    with _cache_lock:
        if not refresh and key in _cache:
            return _cache[key]
        capabilities = _probe(Path(key))
        _cache[key] = capabilities
        return capabilities


def _probe(venv: Path) -> SandboxCapabilities:
    problems: list[str] = []
    bwrap, setpriv = find_tools()
    version = _bwrap_version(bwrap)
    if bwrap is None or version is None:
        problems.append("bubblewrap is not installed (Debian package: bubblewrap)")
    if setpriv is None:
        problems.append("setpriv is not installed under /usr (Debian package: util-linux)")
    root = os.geteuid() == 0
    if not root:
        problems.append("the runner must run as root to switch jobs to uid 65534 and set limits")
    memory_ok, pids_ok, cpu_ok = _try_cgroups(problems)
    seccomp_ok = supported_machine()
    if not seccomp_ok:
        problems.append(f"no seccomp filter for the {platform.machine()} architecture")
    tmpfs_ok = _try_tmpfs(problems)
    venv_ok = (venv / "bin" / "python").exists()
    if not venv_ok:
        problems.append(f"the sandbox venv is missing at {venv}; build it with "
                        f"`python -m countyos.lab.sandbox.setup {venv}`")
    uid_ok = network_ok = False
    if not problems:
        report = _trial_run(venv, Tools(bwrap, setpriv), problems)
        if report is not None:
            uid_ok, network_ok, seccomp_ok, venv_ok = _judge(report, problems)
    return SandboxCapabilities(
        bwrap=bwrap is not None and version is not None, setpriv=setpriv is not None, root=root,
        unprivileged_uid=uid_ok, memory_cgroup=memory_ok, pids_cgroup=pids_ok,
        cpu_accounting=cpu_ok, seccomp=seccomp_ok, output_tmpfs=tmpfs_ok,
        network_isolated=network_ok, venv=venv_ok, bwrap_version=version,
        problems=tuple(problems),
    )


def _bwrap_version(bwrap: Path | None) -> str | None:
    if bwrap is None:
        return None
    try:
        completed = subprocess.run([str(bwrap), "--version"], capture_output=True, text=True,
                                   timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() or None if completed.returncode == 0 else None


def _try_cgroups(problems: list[str]) -> tuple[bool, bool, bool]:
    cgroups = JobCgroups(f"probe-{uuid.uuid4().hex[:12]}")
    cpu_ok = "cpuacct" in cgroups.directories
    for controller in cgroups.missing:
        problems.append(f"cgroup v1 controller '{controller}' is not mounted")
    if cgroups.missing:
        return "memory" in cgroups.directories, "pids" in cgroups.directories, cpu_ok
    try:
        cgroups.create(memory_bytes=GIB, max_processes=16)
    except OSError as error:
        problems.append(f"cannot create a job cgroup with memory and process limits: "
                        f"{error.strerror or error}")
        return False, False, cpu_ok
    finally:
        left = cgroups.remove()
    if left:
        problems.append("cannot remove a job cgroup")
        return False, False, cpu_ok
    return True, True, cpu_ok


def _try_tmpfs(problems: list[str]) -> bool:
    with tempfile.TemporaryDirectory(prefix="countyos-probe-") as directory:
        try:
            mount_output_tmpfs(Path(directory), size_bytes=1024 * 1024, max_files=16)
        except OSError as error:
            problems.append(f"cannot mount the size-limited /out tmpfs: {error.strerror}")
            return False
        unmount(Path(directory))
    return True


def _trial_run(venv: Path, tools: Tools, problems: list[str]) -> dict | None:
    with tempfile.TemporaryDirectory(prefix="countyos-probe-") as directory:
        root = Path(directory)
        script = root / "probe.py"
        script.write_text(f"HIDDEN = {list(HIDDEN_HOST_PATHS)!r}\n{_PROBE_SCRIPT}")
        output_dir = root / "out"
        output_dir.mkdir()
        limits = SandboxLimits(cpu_seconds=30, memory_bytes=GIB, wall_seconds=60,
                               output_bytes=1024 * 1024, tmp_bytes=64 * 1024 * 1024)
        try:
            result = execute(script=script, inputs={}, output_dir=output_dir, limits=limits,
                             venv=venv, workdir=root / "work", tools=tools)
        except OSError as error:
            problems.append(f"the trial sandbox could not be set up: {error.strerror or error}")
            return None
        if not result.succeeded:
            tail = _tail(result.log_path)
            problems.append(f"the trial job failed in the sandbox ({result.reason}, exit "
                            f"{result.exit_code}): {tail}")
            return None
        try:
            return json.loads((output_dir / "probe.json").read_text())
        except (OSError, ValueError):
            problems.append("the trial job wrote no report")
            return None


def _judge(report: dict, problems: list[str]) -> tuple[bool, bool, bool, bool]:
    caps_clear = all(value == "0000000000000000" for value in report.get("caps", {}).values())
    uid_ok = (report.get("uid") == report.get("euid") == SANDBOX_UID
              and report.get("gid") == SANDBOX_GID and report.get("groups") in ([], [SANDBOX_GID])
              and caps_clear and report.get("no_new_privs") == "1")
    if not uid_ok:
        problems.append("the trial job did not run as uid 65534 without capabilities")
    seccomp_ok = report.get("seccomp") == "2"
    if not seccomp_ok:
        problems.append("the seccomp filter was not active in the trial job")
    network_ok = report.get("local_db") is False and report.get("outside") is False
    if not network_ok:
        problems.append("the trial job could open a network connection")
    if report.get("visible"):
        problems.append(f"host paths are visible in the sandbox: {report['visible']}")
    allowed_environment = {"PATH", "PWD", "HOME", "TMPDIR", "LANG", "LC_ALL", "MPLBACKEND",
                           "MPLCONFIGDIR", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                           "MKL_NUM_THREADS", "NUMEXPR_MAX_THREADS", "COUNTYOS_SANDBOX",
                           "COUNTYOS_DATA", "COUNTYOS_OUT"}
    extra = sorted(set(report.get("environment", [])) - allowed_environment)
    if extra:
        problems.append(f"host environment variables leak into the sandbox: {extra}")
    return uid_ok, network_ok, seccomp_ok, True


def _tail(path: Path, limit: int = 400) -> str:
    try:
        return path.read_text(errors="replace").strip()[-limit:] or "no output"
    except OSError:
        return "no log"
