"""Typing and staging of text sources (CSV, JSON Lines, XLSX): inference, widening, overrides.

A text source yields blocks of string columns. The first block fixes each column's inferred
type; a later block that does not fit is handled by widening: int64 -> float64 and date ->
timestamp (and a column that had no values yet) widen in place, earlier files being rewritten by
an exact cast at the end; a widening to string (which must keep the source text, ``1.50`` not
``1.5``) switches to inference only for the rest of the source and then stages it again with the
final types: at most two passes. A value that does not fit an *overridden* type is an
``ImportFileError`` naming file, row and column. Owns no file parsing (the sources do) and no
Parquet writing (``staging`` does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from countyos.errors import ImportFileError, InternalError
from countyos.ingest.columns import check_override_columns
from countyos.ingest.staging import Preview, StagedImport, StagingArea
from countyos.ingest.text_values import (
    TextParseError,
    first_unparsable_index,
    fits,
    infer_text_type,
    parse_text,
)
from countyos.ingest.types import (
    STRING,
    join_types,
    type_name,
    widening_is_lossless,
)

Progress = Callable[[int, int], None]


@dataclass
class TextBlock:
    """Consecutive data rows of a text source as string columns.

    Attributes:
        columns: Column names present in this block (JSON Lines may add names later).
        arrays: One string array per column, all of the same length.
        first_row: 1-based data row number of the block's first row.
        bytes_done: Source bytes consumed once this block is read (for progress).
        row_numbers: Data row number of each row, when rows are not consecutive (XLSX skips
            blank rows but reports sheet positions).
    """

    columns: list[str]
    arrays: list[pa.Array]
    first_row: int
    bytes_done: int
    row_numbers: list[int] | None = None

    @property
    def num_rows(self) -> int:
        return len(self.arrays[0]) if self.arrays else 0

    def row_at(self, index: int) -> int:
        """The data row number reported for the block's ``index``-th row."""
        if self.row_numbers is not None:
            return self.row_numbers[index]
        return self.first_row + index


class TextSource(Protocol):
    """What the pipeline needs of a CSV, JSON Lines or XLSX reader."""

    file: str  # file name for messages
    source_format: str
    total_bytes: int
    header: list[str] | None  # column names known before reading data, if the format has them

    @property
    def encoding(self) -> str | None: ...

    def blocks(self, batch_rows: int) -> AbstractContextManager[Iterator[TextBlock]]: ...


@dataclass
class _PassResult:
    complete: bool
    types: dict[str, pa.DataType | None]
    rows: int


class _TextStager:
    def __init__(
        self,
        source: TextSource,
        overrides: Mapping[str, pa.DataType],
        area: StagingArea,
        batch_rows: int,
        progress: Progress | None,
    ) -> None:
        self.source = source
        self.overrides = dict(overrides)
        self.area = area
        self.batch_rows = batch_rows
        self.progress = progress
        self.passes = 1

    def report(self, done: int) -> None:
        if self.progress is not None:
            total = self.source.total_bytes * self.passes
            offset = self.source.total_bytes * (self.passes - 1)
            self.progress(min(offset + done, total), total)

    def run(self) -> StagedImport:
        result = self.run_pass(None)
        if not result.complete:
            self.area.reset()
            self.passes = 2
            result = self.run_pass(result.types)
            if not result.complete:
                raise InternalError("a text import widened a column in its second pass")
        check_override_columns(self.overrides, result.types)
        if result.rows == 0:
            raise ImportFileError(
                f"{self.source.file}: the file has no data rows", file=self.source.file
            )
        schema = self.final_schema(result.types)
        files = self.area.finish(schema, adapt_batch)
        self.report(self.source.total_bytes)
        return StagedImport(
            schema=schema,
            files=files,
            rows=result.rows,
            source_format=self.source.source_format,
            encoding=self.source.encoding,
            inferred_types={field.name: type_name(field.type) for field in schema},
        )

    def final_schema(self, types: Mapping[str, pa.DataType | None]) -> pa.Schema:
        return pa.schema(
            [pa.field(name, self.overrides.get(name) or types[name] or STRING) for name in types]
        )

    def run_pass(self, final_types: Mapping[str, pa.DataType | None] | None) -> _PassResult:
        types: dict[str, pa.DataType | None] = {}
        inference_only = False
        rows = 0
        with self.source.blocks(self.batch_rows) as blocks:
            for block in blocks:
                for name in block.columns:
                    if name not in types:
                        types[name] = final_types.get(name) if final_types is not None else None
                if inference_only:
                    self.infer_block(block, types)
                else:
                    batch = self.convert_block(block, types)
                    if batch is None:
                        inference_only = True
                        self.area.reset()
                        self.infer_block(block, types)
                    else:
                        self.area.write(batch)
                rows += block.num_rows
                self.report(block.bytes_done)
        return _PassResult(complete=not inference_only, types=types, rows=rows)

    def infer_block(self, block: TextBlock, types: dict[str, pa.DataType | None]) -> None:
        for name, values in zip(block.columns, block.arrays, strict=True):
            current = types[name]
            if name in self.overrides or current == STRING:
                continue
            if current is not None and fits(values, current):
                continue
            types[name] = join_types(current, infer_text_type(values))

    def convert_block(
        self, block: TextBlock, types: dict[str, pa.DataType | None]
    ) -> pa.RecordBatch | None:
        """The block as a typed batch, or ``None`` if a column must widen to string."""
        by_name = dict(zip(block.columns, block.arrays, strict=True))
        arrays: list[pa.Array] = []
        for name in types:
            values = by_name.get(name)
            if values is None:
                values = pa.nulls(block.num_rows, STRING)
            if name in self.overrides:
                arrays.append(
                    convert_overridden(values, self.overrides[name], name, block, self.source.file)
                )
                continue
            current = types[name]
            if current is not None:
                try:
                    arrays.append(parse_text(values, current, strict=True))
                    continue
                except TextParseError:
                    pass
            widened = join_types(current, infer_text_type(values))
            if widened is None:  # still no value in this column: keep the blanks as text
                arrays.append(values)
                continue
            types[name] = widened
            if not widening_is_lossless(current, widened):
                return None
            arrays.append(parse_text(values, widened, strict=True))
        return pa.RecordBatch.from_arrays(arrays, names=list(types))


def convert_overridden(
    values: pa.Array, target: pa.DataType, name: str, block: TextBlock, file: str
) -> pa.Array:
    """Parse an overridden column leniently; a value that does not fit names its row."""
    try:
        return parse_text(values, target, strict=False)
    except TextParseError:
        index = first_unparsable_index(values, target, strict=False)
        row = block.row_at(index or 0)
        raise ImportFileError(
            f"{file}: row {row}, column {name!r}: a value does not fit the overridden type "
            f"{type_name(target)}",
            file=file,
            row=row,
            column=name,
        ) from None


def adapt_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Bring a batch written before a lossless widening to the final schema."""
    arrays = []
    for field in schema:
        index = batch.schema.get_field_index(field.name)
        if index < 0:
            arrays.append(pa.nulls(batch.num_rows, field.type))
            continue
        column = batch.column(index)
        if column.type == field.type:
            arrays.append(column)
        elif column.type == STRING:
            # Written while the column had no values yet: only blanks and nulls are in it.
            arrays.append(parse_text(column, field.type, strict=True))
        else:
            arrays.append(pc.cast(column, field.type, safe=True))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def stage_text(
    source: TextSource,
    overrides: Mapping[str, pa.DataType],
    area: StagingArea,
    *,
    batch_rows: int,
    progress: Progress | None,
) -> StagedImport:
    """Stage a text source into ``area`` (see the module docstring for the typing rules)."""
    if source.header is not None:
        check_override_columns(overrides, source.header)
    return _TextStager(source, overrides, area, batch_rows, progress).run()


def preview_text(
    source: TextSource, overrides: Mapping[str, pa.DataType], *, rows: int, sample_rows: int
) -> Preview:
    """Types inferred from the first ``sample_rows`` rows, and the first ``rows`` rows typed."""
    if source.header is not None:
        check_override_columns(overrides, source.header)
    with source.blocks(max(sample_rows, rows, 1)) as blocks:
        block = next(iter(blocks), None)
    if block is None:
        raise ImportFileError(f"{source.file}: the file has no data rows", file=source.file)
    check_override_columns(overrides, block.columns)
    fields, arrays = [], []
    for name, values in zip(block.columns, block.arrays, strict=True):
        if name in overrides:
            dtype = overrides[name]
            typed = convert_overridden(values, dtype, name, block, source.file)
        else:
            dtype = infer_text_type(values) or STRING
            typed = parse_text(values, dtype, strict=True)
        fields.append(pa.field(name, dtype))
        arrays.append(typed.slice(0, rows))
    schema = pa.schema(fields)
    table = pa.Table.from_arrays(arrays, schema=schema)
    return Preview(
        schema=schema,
        inferred_types={field.name: type_name(field.type) for field in schema},
        rows=table.to_pylist(),
        source_format=source.source_format,
        encoding=source.encoding,
        sample_rows=block.num_rows,
    )
