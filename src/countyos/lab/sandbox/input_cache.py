"""Granted inputs of Python jobs as Parquet files, written once per version and column set.

Owns :func:`job_input` (:func:`cached_input`, then :func:`link_input`) and :func:`prune`. A
Python job reads the granted columns of the pinned dataset versions as one Parquet file per
dataset. Versions never change, so the file for (the version's data files, the granted columns)
is written once into a private cache directory (mode 0700, root's) under a temporary name and
renamed into place, and later jobs reuse it; the least recently used files beyond the bounds are
pruned. Each job gets its own hard link in its work directory (a copy if linking is impossible),
so pruning never pulls a file from under a running job; the runner binds that link read-only at
``/data/<name>.parquet``. Cached files are owned by root, group 65534 (the sandbox's group), mode
0640: the sandbox uid can read them only through that mount, since it cannot reach the cache
directory.

It must not decide what a job may read (the caller passes the granted files and columns).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import pyarrow.dataset as pads
import pyarrow.parquet as pq

from countyos.lab.sandbox.command import SANDBOX_GID

CACHE_FORMAT = 1
#: Cache bounds: the least recently used files beyond them are removed.
MAX_ENTRIES = 32
MAX_BYTES = 4 * 1024**3
#: Temporary files older than this are left-overs of a crashed writer.
STALE_TEMPORARY_SECONDS = 3600
FILE_MODE = 0o640


def cache_key(files: Sequence[str], columns: Sequence[str]) -> str:
    """Names the materialised file of these data files (path, size, mtime) and columns."""
    described = []
    for name in files:
        info = os.stat(name)
        described.append([str(name), info.st_size, info.st_mtime_ns])
    text = json.dumps({"format": CACHE_FORMAT, "files": described, "columns": list(columns)})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def cached_input(cache_dir: Path, name: str, files: Sequence[str], columns: Sequence[str]) -> Path:
    """The Parquet file holding ``columns`` of ``files``, written now unless already cached.

    Args:
        cache_dir: the cache directory (created mode 0700 if missing).
        name: the dataset's name (``^[a-z][a-z0-9_]{0,62}$``), part of the file name.
        files: the version's Parquet data files.
        columns: the granted columns, in order.

    Returns:
        The cached file (never modified once in place).
    """
    directory = private_directory(cache_dir)
    path = directory / f"{name}-{cache_key(files, columns)}.parquet"
    if path.is_file():
        _mark_used(path)
        return path
    table = pads.dataset(list(files), format="parquet").to_table(columns=list(columns))
    temporary = directory / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        pq.write_table(table, temporary)
        _seal(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    prune(directory, keep=path)
    return path


def job_input(cache_dir: Path, folder: Path, name: str, files: Sequence[str],
              columns: Sequence[str]) -> Path:
    """A job's own link to the cached input (written first if needed) in ``folder``.

    A cached file pruned by another worker between finding and linking it is written again.
    """
    for attempt in range(2):
        cached = cached_input(cache_dir, name, files, columns)
        try:
            return link_input(cached, folder, name)
        except FileNotFoundError:
            if attempt:
                raise
    raise AssertionError("unreachable")


def link_input(cached: Path, folder: Path, name: str) -> Path:
    """The job's own name for a cached input: a hard link in ``folder`` (a copy across devices).

    Raises:
        FileNotFoundError: ``cached`` is gone (pruned meanwhile).
    """
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = folder / f"{name}.parquet"
    target.unlink(missing_ok=True)
    try:
        os.link(cached, target)
    except FileNotFoundError:
        raise
    except OSError:
        shutil.copyfile(cached, target)
        _seal(target)
    return target


def private_directory(directory: Path) -> Path:
    """``directory``, created if missing, owned by this process's user with mode 0700."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(directory.stat().st_mode) != 0o700:
        directory.chmod(0o700)
    return directory


def prune(directory: Path, *, keep: Path | None = None, max_entries: int = MAX_ENTRIES,
          max_bytes: int = MAX_BYTES) -> list[Path]:
    """Remove the least recently used cached files beyond the bounds, and stale temporaries.

    Returns:
        The removed cached files.
    """
    now = time.time()
    entries = []
    for path in directory.iterdir():
        try:
            info = path.stat()
        except FileNotFoundError:
            continue
        if path.name.endswith(".tmp"):
            if now - info.st_mtime > STALE_TEMPORARY_SECONDS:
                path.unlink(missing_ok=True)
        elif path.suffix == ".parquet" and path != keep:
            entries.append((info.st_atime, info.st_size, path))
    entries.sort()
    total = sum(size for _, size, _ in entries) + (keep.stat().st_size if keep else 0)
    count = len(entries) + (1 if keep else 0)
    removed = []
    for _, size, path in entries:
        if count <= max_entries and total <= max_bytes:
            break
        path.unlink(missing_ok=True)
        removed.append(path)
        count, total = count - 1, total - size
    return removed


def _seal(path: Path) -> None:
    """Root-owned (this process), group of the sandbox, read-only: 0640."""
    if os.geteuid() == 0:
        os.chown(path, -1, SANDBOX_GID)
    os.chmod(path, FILE_MODE)


def _mark_used(path: Path) -> None:
    """Record the use in the access time (the modification time stays: it identifies the file)."""
    try:
        info = path.stat()
        os.utime(path, ns=(time.time_ns(), info.st_mtime_ns))
    except OSError:
        pass
