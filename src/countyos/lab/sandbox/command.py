"""The bubblewrap command line of one sandboxed job: what the job can see and as whom it runs.

Owns the sandbox's layout:

- read-only system: ``/usr`` and the ``/bin``, ``/lib*``, ``/sbin`` links or directories, plus a
  handful of ``/etc`` files written by the runner (``passwd``, ``group``, ``hosts``,
  ``nsswitch.conf``) and the host's ``ld.so.cache`` and ``localtime``; nothing else of the host
  (not ``/etc/shadow``, ``/root``, ``/home``, ``/work``, ``/var``, ``/sys``, the metadata DB or the
  warehouse);
- ``/opt/venv`` the sandbox venv, ``/opt/countyos/`` (``bootstrap.py``, ``countyos_job.py``,
  ``countyos_job_aggregate.py``), the job's script at ``/job/main.py``, each input at
  ``/data/<name>.parquet`` (all read-only);
- ``/out`` the only writable host-backed place (a size- and inode-limited tmpfs the runner
  mounted), a private ``/tmp`` and ``/dev/shm`` (tmpfs with a size), fresh ``/proc`` and ``/dev``;
- new network (loopback only), PID, IPC, UTS and cgroup namespaces, a new session, death with the
  runner, a seccomp filter, and — via ``setpriv`` — uid/gid 65534 with no supplementary groups,
  every capability dropped (also from the bounding set) and ``no_new_privs``;
- an environment of a few fixed variables (nothing from the host).

It must not start processes or touch cgroups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SANDBOX_UID = 65534
SANDBOX_GID = 65534

VENV_MOUNT = "/opt/venv"
SUPPORT_DIR = "/opt/countyos"
BOOTSTRAP_MOUNT = f"{SUPPORT_DIR}/bootstrap.py"
JOB_API_MOUNT = f"{SUPPORT_DIR}/countyos_job.py"
JOB_AGGREGATE_MOUNT = f"{SUPPORT_DIR}/countyos_job_aggregate.py"
SCRIPT_MOUNT = "/job/main.py"
DATA_DIR = "/data"
OUT_DIR = "/out"

PACKAGE_DIR = Path(__file__).resolve().parent
BOOTSTRAP_SOURCE = PACKAGE_DIR / "bootstrap.py"
JOB_API_SOURCE = PACKAGE_DIR / "job_api.py"
JOB_AGGREGATE_SOURCE = PACKAGE_DIR / "job_aggregate.py"

_SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_HOST_ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime")
SHM_BYTES_MAX = 64 * 1024**2


@dataclass(frozen=True)
class SandboxLayout:
    """Host paths a job's sandbox is assembled from.

    Attributes:
        bwrap: the bubblewrap executable.
        setpriv: the util-linux ``setpriv`` executable (inside ``/usr``).
        venv: the sandbox venv (see :mod:`countyos.lab.sandbox.setup`).
        script: the job's script (world-readable copy).
        support_dir: world-readable copies of ``bootstrap.py`` and the ``countyos_job`` files.
        inputs: input name → Parquet file (readable by uid or gid 65534).
        out_mount: the host directory mounted at ``/out``.
        etc_dir: the runner-written ``/etc`` files.
        tmp_bytes: size of ``/tmp``.
        threads: threads numerical libraries may use.
        seccomp_fd: descriptor holding the seccomp program, or None for none.
        status_fd: descriptor of the status channel (see ``bootstrap.py``).
    """

    bwrap: Path
    setpriv: Path
    venv: Path
    script: Path
    support_dir: Path
    inputs: Mapping[str, Path]
    out_mount: Path
    etc_dir: Path
    tmp_bytes: int
    threads: int
    seccomp_fd: int | None
    status_fd: int


def write_support_files(support_dir: Path) -> None:
    """Copy ``bootstrap.py`` and the job API (``countyos_job*.py``) there, world-readable.

    Args:
        support_dir: an existing directory in the trusted zone.
    """
    for source, name in ((BOOTSTRAP_SOURCE, "bootstrap.py"), (JOB_API_SOURCE, "countyos_job.py"),
                         (JOB_AGGREGATE_SOURCE, "countyos_job_aggregate.py")):
        target = support_dir / name
        target.write_bytes(source.read_bytes())
        target.chmod(0o644)


def write_etc_files(etc_dir: Path) -> None:
    """Write the minimal ``/etc`` files of the sandbox (user 65534 only, localhost only).

    Args:
        etc_dir: an existing directory in the trusted zone.
    """
    files = {
        "passwd": f"nobody:x:{SANDBOX_UID}:{SANDBOX_GID}:nobody:/tmp:/usr/sbin/nologin\n",
        "group": f"nogroup:x:{SANDBOX_GID}:\n",
        "hosts": "127.0.0.1 localhost\n::1 localhost\n",
        "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
    }
    for name, content in files.items():
        path = etc_dir / name
        path.write_text(content, encoding="utf-8")
        path.chmod(0o644)


def sandbox_environment(layout: SandboxLayout) -> dict[str, str]:
    """The complete environment of the job (nothing is inherited from the host)."""
    threads = str(layout.threads)
    return {
        "PATH": f"{VENV_MOUNT}/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/.matplotlib",
        "OMP_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "NUMEXPR_MAX_THREADS": threads,
        "COUNTYOS_SANDBOX": "1",
        "COUNTYOS_DATA": DATA_DIR,
        "COUNTYOS_OUT": OUT_DIR,
        "COUNTYOS_STATUS_FD": str(layout.status_fd),
    }


def bwrap_argv(layout: SandboxLayout) -> list[str]:
    """The full command: bwrap with the sandbox's mounts and namespaces, setpriv, the bootstrap.

    Args:
        layout: the host paths and settings of this job.

    Returns:
        argv for ``execv`` (first element: the bwrap executable).
    """
    argv = [
        str(layout.bwrap),
        "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup",
        "--die-with-parent", "--new-session", "--clearenv",
        "--hostname", "countyos-sandbox",
        "--ro-bind", "/usr", "/usr",
    ]
    for link in _SYSTEM_LINKS:
        host = Path(link)
        if host.is_symlink():
            argv += ["--symlink", str(host.readlink()), link]
        elif host.is_dir():
            argv += ["--ro-bind", link, link]
    for directory in ("/etc", "/opt", SUPPORT_DIR, "/job", DATA_DIR):
        argv += ["--perms", "0755", "--dir", directory]  # bwrap would make them 0700
    for name in ("passwd", "group", "hosts", "nsswitch.conf"):
        argv += ["--ro-bind", str(layout.etc_dir / name), f"/etc/{name}"]
    for host_file in _HOST_ETC_FILES:
        argv += ["--ro-bind-try", host_file, host_file]
    argv += [
        "--proc", "/proc",
        "--dev", "/dev",
        "--perms", "1777", "--size", str(min(layout.tmp_bytes, SHM_BYTES_MAX)),
        "--tmpfs", "/dev/shm",
        "--perms", "1777", "--size", str(layout.tmp_bytes), "--tmpfs", "/tmp",
        "--ro-bind", str(layout.venv), VENV_MOUNT,
        "--ro-bind", str(layout.support_dir / "bootstrap.py"), BOOTSTRAP_MOUNT,
        "--ro-bind", str(layout.support_dir / "countyos_job.py"), JOB_API_MOUNT,
        "--ro-bind", str(layout.support_dir / "countyos_job_aggregate.py"), JOB_AGGREGATE_MOUNT,
        "--ro-bind", str(layout.script), SCRIPT_MOUNT,
    ]
    for name, path in sorted(layout.inputs.items()):
        argv += ["--ro-bind", str(path), f"{DATA_DIR}/{name}.parquet"]
    argv += ["--bind", str(layout.out_mount), OUT_DIR]
    for key, value in sandbox_environment(layout).items():
        argv += ["--setenv", key, value]
    if layout.seccomp_fd is not None:
        argv += ["--seccomp", str(layout.seccomp_fd)]
    argv += [
        "--remount-ro", "/",
        "--chdir", "/tmp",
        "--",
        str(layout.setpriv),
        f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_GID}", "--clear-groups",
        "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
        "--",
        f"{VENV_MOUNT}/bin/python", "-I", "-B", "-u", BOOTSTRAP_MOUNT, SCRIPT_MOUNT,
    ]
    return argv
