"""The job's ``/out``: a size- and inode-limited tmpfs, and copying its files to the trusted zone.

Owns mounting the tmpfs the sandbox sees as ``/out`` (owned by the sandbox uid, ``nosuid``,
``nodev``, ``noexec``; its size is the output limit and its inode count the file limit, so a job
can neither fill the host disk nor exhaust its inodes), unmounting it, telling whether the job
filled it, and :func:`collect_outputs`: copying the top-level files and ``.quarantine/`` files
with plain names into the caller's output directory, root-owned, never following links.
Everything else a job wrote is dropped; the release code only looks at manifest entries anyway.

It must not interpret outputs (see ``manifest.py``) and must not run jobs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from countyos.lab.sandbox.command import SANDBOX_GID, SANDBOX_UID

_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 2, 4, 8
_MNT_DETACH = 2
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

#: Names of files copied out of ``/out`` (no leading dot: temporary files are left behind).
SAFE_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
QUARANTINE_DIR = ".quarantine"
_FULL_MARGIN_BYTES = 64 * 1024


def mount_output_tmpfs(target: Path, *, size_bytes: int, max_files: int) -> None:
    """Mount a fresh tmpfs for one job's ``/out`` at ``target``.

    Args:
        target: an existing empty directory in the trusted zone.
        size_bytes: capacity (the job's output limit).
        max_files: inode limit (files and directories).

    Raises:
        OSError: the mount failed (e.g. not root).
    """
    options = (f"size={int(size_bytes)},nr_inodes={int(max_files)},mode=0700,"
               f"uid={SANDBOX_UID},gid={SANDBOX_GID}")
    result = _libc.mount(b"tmpfs", os.fsencode(target), b"tmpfs",
                         _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, options.encode())
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"mounting the output tmpfs failed: {os.strerror(number)}")


def unmount(target: Path) -> None:
    """Detach the tmpfs at ``target`` (its contents are freed); no error when not mounted."""
    if _libc.umount2(os.fsencode(target), _MNT_DETACH) != 0:
        number = ctypes.get_errno()
        if number not in (errno.EINVAL, errno.ENOENT):
            raise OSError(number, f"unmounting the output tmpfs failed: {os.strerror(number)}")


def is_full(target: Path) -> bool:
    """Whether the job used up the space or the inodes of its ``/out``."""
    try:
        info = os.statvfs(target)
    except OSError:
        return False
    return info.f_bavail * info.f_frsize < _FULL_MARGIN_BYTES or info.f_favail == 0


@dataclass(frozen=True)
class CollectedOutputs:
    """What :func:`collect_outputs` copied."""

    files: int
    total_bytes: int
    ignored: int


def collect_outputs(source: Path, destination: Path, *, max_bytes: int) -> CollectedOutputs:
    """Copy the job's files from its ``/out`` into ``destination`` (trusted zone).

    Only regular files with :data:`SAFE_FILE_NAME` names at the top level or directly in
    ``.quarantine/`` are copied, read with ``O_NOFOLLOW``; links, devices, other directories and
    odd names are skipped and counted. Copies are owned by the runner, mode 0640 (dirs 0750).

    Args:
        source: the job's ``/out`` on the host (the tmpfs).
        destination: an existing empty directory.
        max_bytes: refuse to copy more than this in total.

    Returns:
        Counts of copied and ignored entries.

    Raises:
        OSError: with ``errno.EFBIG`` when the files exceed ``max_bytes``.
    """
    files = total = ignored = 0
    for relative_dir in ("", QUARANTINE_DIR):
        directory = source / relative_dir
        try:
            info = os.lstat(directory)
        except FileNotFoundError:
            continue
        if not stat.S_ISDIR(info.st_mode):
            ignored += 1
            continue
        target_dir = destination / relative_dir
        for entry in sorted(os.listdir(directory)):
            path = directory / entry
            mode = os.lstat(path).st_mode
            if relative_dir == "" and entry == QUARANTINE_DIR and stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode) or not SAFE_FILE_NAME.match(entry):
                ignored += 1
                continue
            if relative_dir and not target_dir.exists():
                target_dir.mkdir(mode=0o750)
            total += _copy_file(path, target_dir / entry, max_bytes - total)
            files += 1
    return CollectedOutputs(files, total, ignored)


def _copy_file(source: Path, target: Path, budget: int) -> int:
    descriptor = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        copied = 0
        with open(target, "xb") as out:
            os.fchmod(out.fileno(), 0o640)
            while chunk := os.read(descriptor, 1024 * 1024):
                copied += len(chunk)
                if copied > budget:
                    raise OSError(errno.EFBIG, "the job's outputs exceed the output limit")
                out.write(chunk)
        return copied
    finally:
        os.close(descriptor)


def directory_size(root: Path) -> tuple[int, int]:
    """Total bytes of regular files and number of entries under ``root`` (links not followed)."""
    size = count = 0
    for directory, subdirectories, filenames in os.walk(root):
        count += len(subdirectories) + len(filenames)
        for name in filenames:
            info = os.lstat(os.path.join(directory, name))
            if stat.S_ISREG(info.st_mode):
                size += info.st_size
    return size, count
