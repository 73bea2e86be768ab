"""Staging of one import: Parquet files in a private subdirectory of the staging directory.

Owns the result records (``StagedImport``, ``Preview``), writing record batches to Parquet files
(a new file whenever the batch schema changes or a file grows past its target size), rewriting
earlier files to the final schema after a lossless widening, and removing every file of a failed
import. Knows nothing of source formats, and never writes outside its own subdirectory.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from countyos.errors import InternalError
from countyos.ingest.types import is_iceberg_compatible

#: A staged Parquet file is closed and a new one started past this size.
TARGET_FILE_BYTES = 256 * 1024**2
_REWRITE_BATCH_ROWS = 65_536
_COMPRESSION = "zstd"


@dataclass
class StagedImport:
    """Parquet files of one import, ready for the catalog to commit into the lake.

    Attributes:
        schema: Iceberg-compatible Arrow schema of every file (all fields nullable).
        files: The Parquet files, in row order, under the staging directory.
        rows: Number of data rows.
        source_format: ``csv``, ``xlsx``, ``parquet``, ``jsonl`` or ``database``.
        encoding: ``utf-8`` or ``gb18030`` for text files; ``None`` otherwise.
        inferred_types: Column name -> user-facing type name (after overrides).
    """

    schema: pa.Schema
    files: list[Path]
    rows: int
    source_format: str
    encoding: str | None
    inferred_types: dict[str, str]


@dataclass
class Preview:
    """The first rows of a file with its inferred schema, for the import dialog and CLI.

    Attributes:
        schema: Arrow schema as an import would stage it (types from the sample).
        inferred_types: Column name -> user-facing type name (after overrides).
        rows: The first rows as ``{column: value}`` with Python values.
        source_format: As in ``StagedImport``.
        encoding: As in ``StagedImport``.
        sample_rows: How many rows the types were inferred from.
    """

    schema: pa.Schema
    inferred_types: dict[str, str]
    rows: list[dict[str, Any]]
    source_format: str
    encoding: str | None
    sample_rows: int = field(default=0)


def check_schema(schema: pa.Schema) -> None:
    """Raise ``InternalError`` if a schema is not one an import may stage (a bug, not input)."""
    for column in schema:
        if not is_iceberg_compatible(column.type):
            raise InternalError(
                f"staged column {column.name!r} has a non-Iceberg type {column.type}"
            )


class StagingArea:
    """One import's own directory under the staging dir, removed whole if the import fails.

    Use as a context manager: leaving it with an exception deletes everything written.
    """

    def __init__(self, staging_dir: Path, *, target_file_bytes: int = TARGET_FILE_BYTES) -> None:
        staging_dir = Path(staging_dir)
        staging_dir.mkdir(parents=True, exist_ok=True)
        self.directory = staging_dir / f"import-{uuid.uuid4().hex}"
        self.directory.mkdir()
        self._target_file_bytes = target_file_bytes
        self._files: list[Path] = []
        self._writer: pq.ParquetWriter | None = None
        self._writer_schema: pa.Schema | None = None
        self.rows = 0

    def __enter__(self) -> StagingArea:
        return self

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        if exc_type is not None:
            self.discard()

    def write(self, batch: pa.RecordBatch) -> None:
        """Append a batch; a schema different from the previous batch's starts a new file."""
        if batch.num_rows == 0:
            return
        if self._writer is not None and not batch.schema.equals(self._writer_schema):
            self._close_writer()
        if self._writer is None:
            path = self.directory / f"part-{len(self._files):05d}.parquet"
            self._writer = pq.ParquetWriter(path, batch.schema, compression=_COMPRESSION)
            self._writer_schema = batch.schema
            self._files.append(path)
        self._writer.write_batch(batch)
        self.rows += batch.num_rows
        if self._files[-1].stat().st_size >= self._target_file_bytes:
            self._close_writer()

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._writer_schema = None

    def reset(self) -> None:
        """Delete everything written so far (before a second pass over the source)."""
        self._close_writer()
        for path in self._files:
            path.unlink(missing_ok=True)
        self._files = []
        self.rows = 0

    def finish(
        self,
        schema: pa.Schema,
        adapt: Callable[[pa.RecordBatch, pa.Schema], pa.RecordBatch] | None = None,
    ) -> list[Path]:
        """Close the last file and bring every file to ``schema``.

        Args:
            schema: The final schema.
            adapt: Converts a batch of an earlier file to ``schema`` (only needed when files were
                written with narrower types or fewer columns).

        Returns:
            The staged files in row order.
        """
        check_schema(schema)
        self._close_writer()
        for index, path in enumerate(self._files):
            file_schema = pq.read_schema(path)
            if file_schema.remove_metadata().equals(schema):
                continue
            if adapt is None:
                raise InternalError(f"staged file {path.name} does not match the final schema")
            self._rewrite(path, schema, adapt, index)
        return list(self._files)

    def _rewrite(
        self,
        path: Path,
        schema: pa.Schema,
        adapt: Callable[[pa.RecordBatch, pa.Schema], pa.RecordBatch],
        index: int,
    ) -> None:
        temporary = self.directory / f"rewrite-{index:05d}.parquet"
        source = pq.ParquetFile(path)
        try:
            with pq.ParquetWriter(temporary, schema, compression=_COMPRESSION) as writer:
                for batch in source.iter_batches(batch_size=_REWRITE_BATCH_ROWS):
                    writer.write_batch(adapt(batch, schema))
        finally:
            source.close()
        os.replace(temporary, path)

    def discard(self) -> None:
        """Remove this import's directory and everything in it."""
        self._close_writer_quietly()
        shutil.rmtree(self.directory, ignore_errors=True)
        self._files = []

    def _close_writer_quietly(self) -> None:
        try:
            self._close_writer()
        except Exception:  # noqa: BLE001 - the files are deleted next anyway
            self._writer = None
