"""The embedded DuckDB engine: runs guarded queries over Parquet data files.

Owns executing one ``ParsedQuery``: picking the granted tables the query reads (refusing any
other as an unknown dataset), transpiling to DuckDB SQL with a row cap, a second check of that
SQL by DuckDB's own parser, a watchdog that interrupts the query at its time limit, streaming at
most ``max_rows + 1`` rows back as Arrow, and turning DuckDB errors into CountyOS errors without
quoting data values. Databases and their lockdown live in ``countyos.engine.duckdb_pool``. Must
not decide who may read what: callers hand over only granted tables.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import duckdb
import pyarrow as pa
import sqlglot.expressions as exp
from sqlglot.errors import ErrorLevel, SqlglotError

from countyos.engine import sql as guard
from countyos.engine.watchdog import WATCHDOG
from countyos.engine.base import (
    Engine,
    ParsedQuery,
    QueryLimits,
    QueryResult,
    TableSource,
    select_sources,
)
from countyos.engine.duckdb_pool import DatabasePool
from countyos.engine.duckdb_verify import verify_statement
from countyos.errors import (
    CountyOSError,
    InternalError,
    InvalidInputError,
    QueryRefusedError,
    TooLargeError,
)

# Runtime errors whose DuckDB message may quote data values: only their kind is reported.
_RUNTIME_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (duckdb.ConversionException, "a value could not be converted to the requested type"),
    (duckdb.OutOfRangeException, "a value was out of range for its type"),
    (duckdb.InvalidInputException, "a function received an invalid value"),
    (duckdb.DataError, "a value was invalid for the operation"),
)

# Errors about the query text itself (no row has been read): their message is safe to show.
_QUERY_TEXT_ERRORS = (
    duckdb.ParserException,
    duckdb.BinderException,
    duckdb.CatalogException,
    duckdb.NotImplementedException,
)

_MAX_MESSAGE_CHARS = 1000

# An error raised while streaming reaches Python through the Arrow C stream as a pyarrow error
# (an OSError) whose text starts with DuckDB's error type: map it back to DuckDB's class.
_STREAM_ERROR_TYPES: dict[str, type[duckdb.Error]] = {
    "INTERRUPT": duckdb.InterruptException,
    "Out of Memory": duckdb.OutOfMemoryException,
    "Conversion": duckdb.ConversionException,
    "Out of Range": duckdb.OutOfRangeException,
    "Invalid Input": duckdb.InvalidInputException,
    "Permission": duckdb.PermissionException,
    "IO": duckdb.IOException,
}
_STREAM_ERROR_PATTERN = re.compile(r"^\s*([A-Za-z][A-Za-z ]*?) Error:")


# How many verified query texts one engine remembers.
PREPARED_CACHE_SIZE = 512

class DuckDBEngine(Engine):
    """Embedded DuckDB over the Parquet files of dataset versions.

    Args:
        limits: default limits of a query (``execute`` may pass others).
        max_idle_databases: locked databases kept open between queries (see
            ``countyos.engine.duckdb_pool``); 0 opens a fresh database for every query.
        temp_root: directory for the private spill directories; default the system temp dir.
        resident_bytes: memory the tables of sources marked ``resident`` may hold together
            (see ``countyos.engine.duckdb_resident``); 0 reads every table from its files.
    """

    name: ClassVar[str] = "duckdb"
    dialect: ClassVar[str] = "duckdb"

    def __init__(
        self,
        *,
        limits: QueryLimits | None = None,
        max_idle_databases: int = 8,
        temp_root: str | None = None,
        resident_bytes: int = 1024**3,
    ) -> None:
        self.default_limits = limits or QueryLimits()
        self.default_limits.validate()
        self._pool = DatabasePool(max_idle=max_idle_databases, temp_root=temp_root,
                                  resident_bytes=resident_bytes)
        # Queries repeat (dashboards, indicators, benchmarks): remember the DuckDB SQL of a guarded
        # query and that DuckDB's own parser accepted it for that table set. Both depend only on
        # the SQL text, the row cap and the table names, so a hit skips no check it would fail.
        self._prepared: dict[tuple[str, int | None, frozenset[str]], str] = {}
        guard.prepare()

    def execute(
        self,
        query: ParsedQuery,
        tables: Mapping[str, TableSource],
        *,
        limits: QueryLimits | None = None,
    ) -> QueryResult:
        """Run one guarded query; see ``Engine.execute``."""
        started = time.perf_counter()
        limits = limits or self.default_limits
        limits.validate()
        sources = select_sources(query, tables)
        key = (query.sql, limits.max_rows + 1, query.tables)
        sql = self._prepared.get(key)
        verified = sql is not None
        if sql is None:
            sql = self.transpile(query, row_cap=limits.max_rows + 1)
        timed_out = threading.Event()
        try:
            with self._pool.cursor(sources, limits) as cursor:
                if not verified:
                    verify_statement(cursor, sql, query.tables)
                    if len(self._prepared) >= PREPARED_CACHE_SIZE:
                        self._prepared.pop(next(iter(self._prepared)))
                    self._prepared[key] = sql
                remaining = limits.timeout_s - (time.perf_counter() - started)
                if remaining <= 0:
                    timed_out.set()
                    raise duckdb.InterruptException("time limit reached during set-up")
                alarm = WATCHDOG.schedule(remaining, lambda: _interrupt(cursor, timed_out))
                try:
                    table, truncated = _fetch(cursor, sql, limits.max_rows)
                finally:
                    WATCHDOG.cancel(alarm)
        except duckdb.Error as exc:
            raise _translate_error(exc, limits, timed_out.is_set()) from None
        return QueryResult(
            table=table, truncated=truncated, elapsed_s=time.perf_counter() - started
        )

    def transpile(self, query: ParsedQuery, *, row_cap: int | None = None) -> str:
        """The DuckDB SQL of a guarded query, optionally capped at ``row_cap`` rows.

        The cap is pushed into the query's own LIMIT so DuckDB stops early; the result is the
        same as taking the first ``row_cap`` rows of the uncapped query.

        Raises:
            QueryRefusedError: the query uses syntax DuckDB's generator does not support.
        """
        expression = query.expression.copy()
        if row_cap is not None:
            expression = _cap_rows(expression, row_cap)
        try:
            return expression.sql(
                dialect=self.dialect, comments=False, unsupported_level=ErrorLevel.RAISE
            )
        except SqlglotError as exc:
            raise QueryRefusedError(f"the query cannot run on DuckDB: {exc}") from None

    def close(self) -> None:
        """Close the pooled databases and remove their spill directories."""
        self._pool.close()


def _interrupt(cursor: Any, timed_out: threading.Event) -> None:
    timed_out.set()
    try:
        cursor.interrupt()
    except duckdb.Error:  # pragma: no cover - the query ended meanwhile
        pass


def _cap_rows(expression: exp.Expression, row_cap: int) -> exp.Expression:
    # Only a plain SELECT or set operation at the root gets the cap; anything else (VALUES,
    # a parenthesised query that may carry its own ORDER BY) is capped by streaming alone.
    root = expression
    if not isinstance(root, (exp.Select, exp.SetOperation)) or root.args.get("fetch"):
        return expression
    limit = root.args.get("limit")
    if limit is None:
        root.set("limit", exp.Limit(expression=exp.Literal.number(row_cap)))
        return expression
    if not isinstance(limit, exp.Limit) or limit.args.get("limit_options") or limit.args.get(
        "offset"
    ):
        return expression
    value = limit.expression
    if isinstance(value, exp.Literal) and value.is_int and int(value.this) > row_cap:
        limit.set("expression", exp.Literal.number(row_cap))
    return expression


def _fetch(cursor: Any, sql: str, max_rows: int) -> tuple[pa.Table, bool]:
    reader = cursor.sql(sql).to_arrow_reader(batch_size=max(1, min(max_rows + 1, 1 << 20)))
    batches: list[pa.RecordBatch] = []
    rows = 0
    try:
        while rows <= max_rows:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (OSError, pa.ArrowException) as exc:
                raise _stream_error(exc) from None
            batches.append(batch)
            rows += batch.num_rows
    finally:
        reader.close()
    table = pa.Table.from_batches(batches, schema=reader.schema)
    truncated = table.num_rows > max_rows
    if truncated:
        table = table.slice(0, max_rows)
    return table, truncated


def _stream_error(exc: Exception) -> duckdb.Error:
    """The DuckDB error behind a streaming failure; its text is dropped (it may quote data)."""
    match = _STREAM_ERROR_PATTERN.match(str(exc))
    error_class = _STREAM_ERROR_TYPES.get(match.group(1), duckdb.Error) if match else duckdb.Error
    return error_class("raised while streaming the result")


def _translate_error(exc: duckdb.Error, limits: QueryLimits, timed_out: bool) -> CountyOSError:
    if isinstance(exc, duckdb.InterruptException):
        if timed_out:
            return QueryRefusedError(
                f"query exceeded the time limit of {limits.timeout_s:g} s",
                details={"timeout_s": limits.timeout_s},
            )
        return QueryRefusedError("the query was interrupted")
    if isinstance(exc, duckdb.OutOfMemoryException):
        return TooLargeError(
            f"the query needs more memory than its limit of {limits.memory_limit}",
            details={"memory_limit": limits.memory_limit},
        )
    if isinstance(exc, duckdb.PermissionException):
        return QueryRefusedError("the query tried to read something outside its datasets")
    if isinstance(exc, _QUERY_TEXT_ERRORS):
        message = str(exc).strip()[:_MAX_MESSAGE_CHARS]
        return InvalidInputError(f"the query is not valid: {message}")
    for error_class, meaning in _RUNTIME_ERRORS:
        if isinstance(exc, error_class):
            return InvalidInputError(
                f"the query failed while running: {meaning} (details withheld because they "
                "may quote data)",
                details={"kind": type(exc).__name__},
            )
    if isinstance(exc, duckdb.IOException):
        return InternalError("a data file of the query could not be read")
    return InternalError(f"the query engine failed ({type(exc).__name__})")
