"""Staged Parquet files on their way into a lake table: checks, moves, and removal after a failure.

Owns what the lake demands of the files handed to `Lake.commit_version` (absolute paths to
regular files outside the warehouse, each listed once, readable Parquet whose columns match the
version's schema and carry no Parquet field ids), moving them into a table's data folder durably,
and deleting them again when the commit fails. Never touches the Iceberg catalog or metadata and
never reads row values beyond the Parquet footer. Messages name files by their base name only.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from countyos.errors import ImportFileError, InvalidInputError
from countyos.lake.schemas import type_signature

__all__ = ["check_staged_files", "move_into", "remove_quietly"]

logger = logging.getLogger(__name__)

_FIELD_ID_KEY = b"PARQUET:field_id"


def check_staged_files(paths: Sequence[Path | str], schema: pa.Schema, warehouse_dir: Path) -> list[Path]:
    """Check the files of a new dataset version before anything is moved.

    Args:
        paths: The Parquet files, as given to `Lake.commit_version`.
        schema: The schema of the version (already checked by `check_commit_schema`).
        warehouse_dir: The lake's warehouse (resolved); staged files must lie outside it, so a
            caller can never move another table's data files.

    Returns:
        The resolved paths, in the given order.

    Raises:
        InvalidInputError: ``paths`` is not a list of paths, or a path is relative.
        ImportFileError: A file is missing, a symbolic link or not a regular file, is inside the
            warehouse, is listed twice, is not readable Parquet, carries Parquet field ids, or
            its columns differ from ``schema`` (the error names the file and column).
    """
    if isinstance(paths, (str, bytes, os.PathLike)) or not isinstance(paths, Sequence):
        raise InvalidInputError("data files must be given as a list of paths")
    resolved_files: list[Path] = []
    seen: set[tuple[int, int]] = set()
    for raw in paths:
        if not isinstance(raw, (str, os.PathLike)):
            raise InvalidInputError("data files must be given as a list of paths")
        path = Path(raw)
        if not path.is_absolute():
            raise InvalidInputError(f"data file '{path.name}' must be given as an absolute path")
        try:
            status = path.lstat()
        except FileNotFoundError:
            raise _file_error(path, "does not exist") from None
        except OSError as error:
            raise _file_error(path, f"cannot be read ({error.strerror})") from None
        if stat.S_ISLNK(status.st_mode):
            raise _file_error(path, "is a symbolic link; only regular files can be committed")
        if not stat.S_ISREG(status.st_mode):
            raise _file_error(path, "is not a regular file")
        resolved = path.resolve(strict=True)
        if resolved.is_relative_to(warehouse_dir):
            raise _file_error(path, "is inside the lake's warehouse; only staged files can be committed")
        identity = (status.st_dev, status.st_ino)
        if identity in seen:
            raise _file_error(path, "is listed twice")
        seen.add(identity)
        _check_file_schema(resolved, schema)
        resolved_files.append(resolved)
    return resolved_files


def move_into(files: Sequence[Path], data_dir: Path, prefix: str) -> list[Path]:
    """Move files into a table's data folder under new unique names and make the move durable.

    Args:
        files: Checked staged files (see `check_staged_files`).
        data_dir: The table's data folder; created if missing.
        prefix: A unique prefix for this commit (the files become ``{prefix}-00000.parquet``...).

    Returns:
        The new paths, in the order of ``files``.

    Raises:
        OSError: A move failed; the files already moved have been deleted, the others are left
            where they were.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    moved: list[Path] = []
    try:
        for index, source in enumerate(files):
            target = data_dir / f"{prefix}-{index:05d}.parquet"
            _move(source, target)
            moved.append(target)
            _fsync(target)
        _fsync(data_dir)
    except BaseException:
        remove_quietly(moved)
        raise
    return moved


def remove_quietly(paths: Iterable[Path]) -> None:
    """Delete files that belong to a failed commit, logging (not raising) what cannot be deleted."""
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            logger.warning("could not delete %s after a failed lake commit", path, exc_info=True)


def _check_file_schema(path: Path, schema: pa.Schema) -> None:
    try:
        file_schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as error:
        raise _file_error(path, "is not a readable Parquet file") from error
    for field in file_schema:
        if field.metadata and _FIELD_ID_KEY in field.metadata:
            raise _file_error(
                path,
                "carries Parquet field ids; write it from a schema without field metadata "
                "(countyos.lake.iceberg_compatible drops them)",
                column=field.name,
            )
    if file_schema.names != schema.names:
        missing = [name for name in schema.names if name not in file_schema.names]
        extra = [name for name in file_schema.names if name not in schema.names]
        if missing:
            raise _file_error(path, f"lacks column '{missing[0]}'", column=missing[0])
        if extra:
            raise _file_error(path, f"has column '{extra[0]}', which the schema lacks", column=extra[0])
        raise _file_error(path, "has its columns in another order than the schema")
    for expected, found in zip(schema, file_schema, strict=True):
        if type_signature(expected.type) != type_signature(found.type):
            raise _file_error(
                path,
                f"stores column '{expected.name}' as {found.type}, but the schema says {expected.type}",
                column=expected.name,
            )


def _file_error(path: Path, problem: str, *, column: str | None = None) -> ImportFileError:
    return ImportFileError(f"data file '{path.name}' {problem}", file=path.name, column=column)


def _move(source: Path, target: Path) -> None:
    if target.exists():
        raise FileExistsError(errno.EEXIST, "target of a lake move exists", str(target))
    try:
        os.rename(source, target)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        try:
            shutil.copyfile(source, target)
        except BaseException:
            remove_quietly([target])
            raise
        source.unlink()


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
