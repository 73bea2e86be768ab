"""Parquet files: the declared schema brought to Iceberg types, row groups streamed.

Owns opening the file (a corrupt file is an ``ImportFileError``), cleaning its column names,
mapping its types with ``typed_values`` (no inference: a Parquet column is what it declares),
applying user overrides (a value that does not fit names file, row and column), and streaming
``iter_batches`` into the staging area. Never loads the whole file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from countyos.errors import ImportFileError
from countyos.ingest.columns import check_column_names, check_override_columns, clean_column_name
from countyos.ingest.staging import Preview, StagedImport, StagingArea
from countyos.ingest.typed_values import (
    ValueConversionError,
    convert_typed_array,
    first_unconvertible_index,
    iceberg_type,
    normalize_array,
)
from countyos.ingest.types import type_name

Progress = Callable[[int, int], None]


class ParquetSource:
    """A Parquet file opened for streaming."""

    source_format = "parquet"

    def __init__(self, path: Path, overrides: Mapping[str, pa.DataType]) -> None:
        self.path = Path(path)
        self.file = self.path.name
        self.total_bytes = self.path.stat().st_size
        try:
            self._parquet = pq.ParquetFile(self.path)
            source_schema = self._parquet.schema_arrow
        except (pa.ArrowException, OSError, ValueError):
            raise ImportFileError(
                f"{self.file}: not a readable Parquet file (corrupt?)", file=self.file
            ) from None
        self.names = check_column_names(
            [clean_column_name(name) for name in source_schema.names], file=self.file
        )
        check_override_columns(overrides, self.names)
        self.overrides = dict(overrides)
        self.schema = pa.schema(
            [
                pa.field(name, self.overrides.get(name) or iceberg_type(field.type))
                for name, field in zip(self.names, source_schema, strict=True)
            ]
        )
        self.num_rows = self._parquet.metadata.num_rows

    def close(self) -> None:
        self._parquet.close()

    def batches(self, batch_rows: int) -> Iterator[tuple[int, pa.RecordBatch]]:
        """(1-based first row, typed batch) for each batch of the file."""
        next_row = 1
        iterator = self._parquet.iter_batches(batch_size=batch_rows)
        while True:
            try:
                batch = next(iterator)
            except StopIteration:
                return
            except (pa.ArrowException, OSError, ValueError):
                raise ImportFileError(
                    f"{self.file}: not a readable Parquet file (corrupt data near row {next_row})",
                    file=self.file,
                    row=next_row,
                ) from None
            yield next_row, self._convert(batch, next_row)
            next_row += batch.num_rows

    def _convert(self, batch: pa.RecordBatch, first_row: int) -> pa.RecordBatch:
        arrays = []
        for name, column, field in zip(self.names, batch.columns, self.schema, strict=True):
            if name not in self.overrides:
                arrays.append(normalize_array(column))
                continue
            try:
                arrays.append(convert_typed_array(column, field.type))
            except ValueConversionError:
                index = first_unconvertible_index(column, field.type) or 0
                row = first_row + index
                raise ImportFileError(
                    f"{self.file}: row {row}, column {name!r}: a value does not fit the "
                    f"overridden type {type_name(field.type)}",
                    file=self.file,
                    row=row,
                    column=name,
                ) from None
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def stage_parquet(
    path: Path,
    overrides: Mapping[str, pa.DataType],
    area: StagingArea,
    *,
    batch_rows: int,
    progress: Progress | None,
) -> StagedImport:
    """Stream a Parquet file into ``area``."""
    source = ParquetSource(path, overrides)
    try:
        if source.num_rows == 0:
            raise ImportFileError(f"{source.file}: the file has no data rows", file=source.file)
        rows = 0
        for _, batch in source.batches(batch_rows):
            area.write(batch)
            rows += batch.num_rows
            if progress is not None:
                progress(source.total_bytes * rows // max(source.num_rows, 1), source.total_bytes)
    finally:
        source.close()
    if rows == 0:
        raise ImportFileError(f"{source.file}: the file has no data rows", file=source.file)
    files = area.finish(source.schema)
    return StagedImport(
        schema=source.schema,
        files=files,
        rows=rows,
        source_format="parquet",
        encoding=None,
        inferred_types={field.name: type_name(field.type) for field in source.schema},
    )


def preview_parquet(path: Path, overrides: Mapping[str, pa.DataType], *, rows: int) -> Preview:
    """The declared schema and the first ``rows`` rows of a Parquet file."""
    source = ParquetSource(path, overrides)
    try:
        if source.num_rows == 0:
            raise ImportFileError(f"{source.file}: the file has no data rows", file=source.file)
        first = next(source.batches(max(rows, 1)), None)
    finally:
        source.close()
    records = [] if first is None else first[1].slice(0, rows).to_pylist()
    return Preview(
        schema=source.schema,
        inferred_types={field.name: type_name(field.type) for field in source.schema},
        rows=records,
        source_format="parquet",
        encoding=None,
        sample_rows=len(records),
    )
