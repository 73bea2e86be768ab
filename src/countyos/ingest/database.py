"""Database tables (any SQLAlchemy URL) streamed into the staging area.

Owns reflecting the table (``schema.table`` allowed; an unknown table is an
``InvalidInputError``), mapping SQL column types to Iceberg-compatible Arrow types, streaming rows
server-side (``stream_results`` with ``partitions`` of ``batch_rows``), and applying user
overrides. The URL is never echoed with its password: every message uses the masked form and
driver messages are scrubbed. Reads only; never writes to the source database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

from countyos.errors import ImportFileError, InvalidInputError
from countyos.ingest.columns import (
    check_column_names,
    check_override_columns,
    clean_column_name,
    parse_overrides,
)
from countyos.ingest.staging import StagedImport, StagingArea
from countyos.ingest.typed_values import (
    ValueConversionError,
    first_unconvertible_value,
    python_values_to_array,
)
from countyos.ingest.types import (
    BOOL,
    DATE,
    FLOAT64,
    INT64,
    MAX_DECIMAL_PRECISION,
    STRING,
    TIMESTAMP,
    TIMESTAMPTZ,
    type_name,
)

Progress = Callable[[int, int], None]


def arrow_type_for_sql(sql_type: sa.types.TypeEngine[Any]) -> pa.DataType:
    """The Arrow type a column of a SQL type is staged as.

    Integers -> int64, floats -> float64, ``NUMERIC(p,s)`` (p <= 38) -> decimal(p,s), other
    numerics (no or too large precision) -> float64, dates, timestamps (with zone -> UTC),
    booleans; text, times, intervals, UUIDs, JSON, arrays, binary (base64) and unknown types ->
    string.
    """
    if isinstance(sql_type, sa.Boolean):
        return BOOL
    if isinstance(sql_type, sa.Integer):
        return INT64
    if isinstance(sql_type, sa.Float):
        return FLOAT64
    if isinstance(sql_type, sa.Numeric):
        precision, scale = sql_type.precision, sql_type.scale
        if precision is not None and 1 <= precision <= MAX_DECIMAL_PRECISION:
            return pa.decimal128(precision, min(max(scale or 0, 0), precision))
        return FLOAT64
    if isinstance(sql_type, sa.DateTime):
        return TIMESTAMPTZ if sql_type.timezone else TIMESTAMP
    if isinstance(sql_type, sa.Date):
        return DATE
    return STRING


def masked_url(url: str | URL) -> str:
    """The URL as text with its password replaced by ``***``."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except Exception:  # noqa: BLE001 - an unparsable URL is reported without echoing it
        return "<unparsable database URL>"
    return parsed.render_as_string(hide_password=True)


def _scrub(message: str, url: URL | None) -> str:
    first_line = message.strip().splitlines()[0] if message.strip() else "unknown error"
    if url is not None and url.password:
        first_line = first_line.replace(str(url.password), "***")
    return first_line


def _split_table(table: str) -> tuple[str | None, str]:
    if not isinstance(table, str) or not table.strip():
        raise InvalidInputError("a table name is required")
    schema, _, name = table.strip().rpartition(".")
    return (schema or None), name


def _connect_error(exc: BaseException, url: URL | None) -> InvalidInputError:
    reason = _scrub(str(getattr(exc, "orig", None) or exc), url)
    return InvalidInputError(
        f"cannot read from database {masked_url(url) if url else ''}: {reason}"
    )


class _TableReader:
    def __init__(self, table: sa.Table, overrides: Mapping[str, pa.DataType], label: str) -> None:
        self.table = table
        self.label = label
        self.names = check_column_names(
            [clean_column_name(column.name) for column in table.columns], file=label
        )
        check_override_columns(overrides, self.names)
        self.schema = pa.schema(
            [
                pa.field(name, overrides.get(name) or arrow_type_for_sql(column.type))
                for name, column in zip(self.names, table.columns, strict=True)
            ]
        )

    def to_batch(self, rows: Sequence[Sequence[Any]], first_row: int) -> pa.RecordBatch:
        arrays = []
        for position, field in enumerate(self.schema):
            values = [row[position] for row in rows]
            try:
                arrays.append(python_values_to_array(values, field.type))
            except ValueConversionError:
                row = first_row + (first_unconvertible_value(values, field.type) or 0)
                raise ImportFileError(
                    f"{self.label}: row {row}, column {field.name!r}: a value does not fit the "
                    f"type {type_name(field.type)}",
                    file=self.label,
                    row=row,
                    column=field.name,
                ) from None
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def stage_database_table(
    url: str,
    table: str,
    staging_dir: Path,
    *,
    type_overrides: Mapping[str, str] | None = None,
    batch_rows: int = 131_072,
    progress: Progress | None = None,
) -> StagedImport:
    """Stream a database table into Parquet files under ``staging_dir``.

    Args:
        url: SQLAlchemy URL (``sqlite:///path.db``, ``postgresql+psycopg://user@host/db``...).
        table: Table or view name, optionally ``schema.table``.
        staging_dir: Parent of the import's own staging subdirectory.
        type_overrides: Column name -> type name (see ``TYPE_NAMES``).
        batch_rows: Rows fetched and written per batch.
        progress: Called with ``(rows_done, rows_total)``.

    Returns:
        The staged import (``files`` is empty for an empty table; ``rows`` is 0).

    Raises:
        InvalidInputError: Bad URL, unreachable database, unknown table, bad override.
        ImportFileError: A value does not fit its column type (names row and column).
    """
    overrides = parse_overrides(type_overrides)
    if batch_rows < 1:
        raise InvalidInputError("batch_rows must be at least 1")
    try:
        parsed_url = make_url(url)
    except Exception:  # noqa: BLE001 - never echo the URL: it may hold a password
        raise InvalidInputError("the database URL cannot be parsed") from None
    if parsed_url.get_backend_name() == "sqlite":
        database = parsed_url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            if not Path(database).is_file():
                # SQLite would silently create an empty database file here.
                raise InvalidInputError(f"no SQLite database file at {masked_url(parsed_url)}")
    schema_name, table_name = _split_table(table)
    label = f"{schema_name + '.' if schema_name else ''}{table_name}"
    try:
        engine = sa.create_engine(parsed_url)
    except Exception as exc:  # noqa: BLE001 - unknown dialect, missing driver, bad options
        raise InvalidInputError(
            f"cannot use database URL {masked_url(parsed_url)}: {_scrub(str(exc), parsed_url)}"
        ) from None
    try:
        with StagingArea(staging_dir) as area:
            with engine.connect() as connection:
                if not sa.inspect(connection).has_table(table_name, schema=schema_name):
                    raise InvalidInputError(
                        f"no table {label!r} in database {masked_url(parsed_url)}",
                        details={"table": label},
                    )
                reflected = sa.Table(
                    table_name, sa.MetaData(), schema=schema_name, autoload_with=connection
                )
                reader = _TableReader(reflected, overrides, label)
                total = None
                if progress is not None:
                    total = connection.execute(
                        sa.select(sa.func.count()).select_from(reflected)
                    ).scalar_one()
                # Raw driver values (no SQLAlchemy result processing, which would raise on a
                # bad stored value without saying where): ``to_batch`` converts and locates.
                raw_columns = [
                    sa.type_coerce(column, sa.types.NullType()).label(f"c{position}")
                    for position, column in enumerate(reflected.columns)
                ]
                result = connection.execution_options(
                    stream_results=True, yield_per=batch_rows
                ).execute(sa.select(*raw_columns))
                rows = 0
                for partition in result.partitions(batch_rows):
                    area.write(reader.to_batch(partition, rows + 1))
                    rows += len(partition)
                    if progress is not None:
                        progress(rows, max(total or 0, rows))
            files = area.finish(reader.schema)
    except (sa_exc.SQLAlchemyError, OSError) as exc:
        if isinstance(exc, sa_exc.NoSuchTableError):
            raise InvalidInputError(
                f"no table {label!r} in database {masked_url(parsed_url)}"
            ) from None
        raise _connect_error(exc, parsed_url) from None
    finally:
        engine.dispose()
    if progress is not None:
        progress(rows, rows)
    return StagedImport(
        schema=reader.schema,
        files=files,
        rows=rows,
        source_format="database",
        encoding=None,
        inferred_types={field.name: type_name(field.type) for field in reader.schema},
    )
