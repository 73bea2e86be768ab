"""Locked-down DuckDB databases, one per set of granted tables, kept in a small pool.

Owns how a DuckDB database for user SQL is built and locked, and how long it lives. A database
holds exactly the views of the tables one query reads (each a projection of the granted columns
over ``read_parquet([files], union_by_name=true)``); then, before any user SQL, it is locked:

- ``allowed_paths`` = exactly those Parquet files, ``enable_external_access = false`` (no other
  file, no COPY / ATTACH / INSTALL, no replacement scans of files or Python variables),
- extension auto-install and auto-load off, community and unsigned extensions refused,
- ``memory_limit`` and ``threads`` from the query limits, spilling only into a private temporary
  directory that is removed with the database,
- ``lock_configuration = true`` (no SET can undo any of the above).

A source marked ``resident`` is loaded once into the database as a table (the same projection
and rank columns as its view would have) when ``duckdb_resident.ResidentBudget`` has room:
repeated queries then skip Parquet decoding, and a ranked source (``rank_by``) is ranked once
instead of by a window in every query. To make room, idle databases holding resident tables are
closed, least recently used first; a source that still does not fit stays a view.

Opening a database costs about 15–20 ms, so databases are pooled by (tables, memory limit,
threads); each query runs on its own cursor (a fresh DuckDB connection to the pooled database),
which an interrupt stops alone. Idle databases beyond ``max_idle`` are closed, least recently
used first. Must not run user SQL and must not decide who may read what.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from countyos.engine.base import (
    KEY_ROWS_COLUMN,
    RANK_COLUMN,
    QueryLimits,
    TableSource,
    size_in_bytes,
)
from countyos.engine.duckdb_resident import ResidentBudget, measured_bytes, resident_sizes
from countyos.errors import InternalError, InvalidInputError


@dataclass(frozen=True)
class DatabaseKey:
    """What makes two queries able to share a database."""

    sources: tuple[TableSource, ...]
    memory_limit: str
    threads: int


@dataclass
class _Entry:
    database: Any
    temp_dir: str
    users: int = 0
    broken: bool = False
    closed: bool = field(default=False)
    resident_bytes: int = 0  # counted in the budget for its resident tables
    budget: ResidentBudget | None = None


def quote_identifier(name: str) -> str:
    """Quote a SQL identifier for DuckDB (double quotes, embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """Quote a SQL string literal for DuckDB (single quotes, embedded quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


def _file_list(paths: Sequence[str]) -> str:
    return "[" + ", ".join(quote_literal(path) for path in paths) + "]"


def source_sql(source: TableSource) -> str:
    """The SELECT of one table source: its granted columns (all when ``columns`` is None) over
    its Parquet files, read by column name; for a ranked source also ``RANK_COLUMN`` and
    ``KEY_ROWS_COLUMN`` (one window over the rows, partitioned by ``rank_by``)."""
    projection = "*" if source.columns is None else ", ".join(map(quote_identifier, source.columns))
    scan = f"SELECT {projection} FROM read_parquet({_file_list(source.files)}, union_by_name = true)"
    if source.rank_by is None:
        return scan
    key = quote_identifier(source.rank_by)
    order = quote_identifier("__order")
    return (
        f"SELECT * EXCLUDE ({order}), row_number() OVER (PARTITION BY {key} ORDER BY {order}) "
        f"AS {quote_identifier(RANK_COLUMN)}, count(*) OVER (PARTITION BY {key}) AS "
        f"{quote_identifier(KEY_ROWS_COLUMN)} FROM (SELECT *, random() AS {order} FROM ({scan}))"
    )


def view_sql(source: TableSource, *, resident: bool = False) -> str:
    """The statement creating one table source: a view, or a table held in memory.

    Args:
        source: a validated table source.
        resident: create a table (loaded now) instead of a view (read at each query).
    """
    kind = "TABLE" if resident else "VIEW"
    return f"CREATE {kind} {quote_identifier(source.name)} AS {source_sql(source)}"


def open_locked_database(
    sources: Sequence[TableSource], limits: QueryLimits, temp_dir: str,
    resident: frozenset[str] = frozenset(),
) -> Any:
    """Open an in-memory DuckDB database holding the sources (views, or tables for the names in
    ``resident``), then lock it down.

    Args:
        sources: validated table sources (distinct names).
        limits: memory limit and threads of the database.
        temp_dir: an existing private directory DuckDB may spill into.
        resident: names of the sources to load as in-memory tables instead of views.

    Returns:
        The locked ``duckdb.DuckDBPyConnection``; open cursors from it to run queries.

    Raises:
        InvalidInputError: a granted column is missing from the data files, or the memory limit
            is not accepted by DuckDB.
        InternalError: a data file is missing or not Parquet.
    """
    try:
        database = duckdb.connect(
            ":memory:",
            config={
                "threads": limits.threads,
                "memory_limit": limits.memory_limit,
                "temp_directory": temp_dir,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "allow_community_extensions": False,
                "allow_unsigned_extensions": False,
            },
        )
    except duckdb.Error as exc:
        raise InvalidInputError(f"DuckDB refused the query limits: {exc}") from None
    try:
        for source in sources:
            _create_source(database, source, source.name in resident)
        all_files = sorted({path for source in sources for path in source.files})
        database.execute(f"SET allowed_paths = {_file_list(all_files)}")
        database.execute("SET enable_external_access = false")
        database.execute("SET lock_configuration = true")
    except BaseException:
        database.close()
        raise
    return database


def _create_source(database: Any, source: TableSource, resident: bool) -> None:
    try:
        database.execute(view_sql(source, resident=resident))
    except duckdb.BinderException:
        missing = _missing_columns(database, source)
        if missing:
            raise InvalidInputError(
                f"dataset {source.name} has no column {missing[0]!r}",
                details={"dataset": source.name, "column": missing[0]},
            ) from None
        raise InternalError(f"the data files of dataset {source.name} cannot be combined") from None
    except duckdb.OutOfMemoryException:
        if not resident:
            raise InternalError(f"dataset {source.name} did not fit in the engine's memory") from None
        _create_source(database, source, False)  # the estimate was too low: read it from files
    except (duckdb.IOException, duckdb.InvalidInputException) as exc:
        raise InternalError(
            f"a data file of dataset {source.name} is missing or is not Parquet",
            details={"dataset": source.name, "reason": type(exc).__name__},
        ) from None


def _missing_columns(database: Any, source: TableSource) -> list[str]:
    rows = database.execute(
        f"DESCRIBE SELECT * FROM read_parquet({_file_list(source.files)}, union_by_name = true)"
    ).fetchall()
    present = {str(row[0]).lower() for row in rows}
    wanted = list(source.columns or ()) + ([source.rank_by] if source.rank_by else [])
    return [column for column in wanted if column.lower() not in present]


class DatabasePool:
    """Locked databases by ``DatabaseKey``; thread-safe.

    Args:
        max_idle: most idle databases kept open (0 closes each database after its query).
        temp_root: directory under which each database gets its private spill directory
            (created if missing); ``None`` uses the system temporary directory. Spill
            directories are removed with their database, on ``close()`` or at interpreter exit.
        resident_bytes: memory all resident tables of the pool may hold together (0: none).
    """

    def __init__(self, *, max_idle: int = 8, temp_root: str | os.PathLike[str] | None = None,
                 resident_bytes: int = 0):
        if max_idle < 0:
            raise InvalidInputError("max_idle must not be negative")
        self._max_idle = max_idle
        self._temp_root = os.fspath(temp_root) if temp_root is not None else None
        if self._temp_root is not None:
            os.makedirs(self._temp_root, exist_ok=True)
        self._entries: OrderedDict[DatabaseKey, _Entry] = OrderedDict()
        self.resident_budget = ResidentBudget(resident_bytes)
        self._lock = threading.Lock()
        self._closed = False
        # A pool dropped without close() (or alive at interpreter exit) still removes its
        # spill directories.
        self._finalizer = weakref.finalize(self, _close_entries, self._entries)

    @contextlib.contextmanager
    def cursor(self, sources: Sequence[TableSource], limits: QueryLimits) -> Iterator[Any]:
        """A fresh cursor on a locked database holding exactly ``sources``.

        Args:
            sources: validated table sources the query reads, sorted by name.
            limits: the query limits (memory and threads pick the database).

        Yields:
            A DuckDB connection of its own, closed on exit.
        """
        key = DatabaseKey(tuple(sources), limits.memory_limit, limits.threads)
        entry = self._checkout(key, sources, limits)
        cursor = None
        try:
            cursor = entry.database.cursor()
            yield cursor
        except (duckdb.IOException, duckdb.InternalException):
            entry.broken = True
            raise
        finally:
            if cursor is not None:
                cursor.close()
            self._checkin(key, entry)

    def _checkout(
        self, key: DatabaseKey, sources: Sequence[TableSource], limits: QueryLimits
    ) -> _Entry:
        with self._lock:
            if self._closed:
                raise InternalError("the query engine is closed")
            entry = self._entries.get(key)
            if entry is not None and not entry.broken:
                entry.users += 1
                self._entries.move_to_end(key)
                return entry
        resident, reserved = self._reserve_resident(sources, limits)
        temp_dir = tempfile.mkdtemp(prefix="countyos-duckdb-", dir=self._temp_root)
        try:
            database = open_locked_database(sources, limits, temp_dir, resident)
            measured = measured_bytes(database) if resident else 0
        except BaseException:
            shutil.rmtree(temp_dir, ignore_errors=True)
            self.resident_budget.release(reserved)
            raise
        self.resident_budget.replace(reserved, measured)
        fresh = _Entry(database=database, temp_dir=temp_dir, users=1, resident_bytes=measured,
                       budget=self.resident_budget)
        with self._lock:
            current = self._entries.get(key)
            if current is None or current.broken:
                self._entries[key] = fresh
            # Else another thread opened the same database meanwhile: use ours once, unpooled.
        return fresh

    def _reserve_resident(self, sources: Sequence[TableSource],
                          limits: QueryLimits) -> tuple[frozenset[str], int]:
        if not any(source.resident for source in sources) or not self.resident_budget.limit:
            return frozenset(), 0
        sizes = resident_sizes(sources, size_in_bytes(limits.memory_limit))
        missing = self.resident_budget.missing(sizes)
        to_close: list[_Entry] = []
        if missing:
            with self._lock:
                idle = [k for k, e in self._entries.items() if e.users == 0 and e.resident_bytes]
                for key in idle:
                    if missing <= 0:
                        break
                    stale = self._entries.pop(key)
                    missing -= stale.resident_bytes
                    to_close.append(stale)
        for stale in to_close:
            _close_entry(stale)
        return self.resident_budget.reserve(sizes)

    def _checkin(self, key: DatabaseKey, entry: _Entry) -> None:
        to_close: list[_Entry] = []
        with self._lock:
            entry.users -= 1
            pooled = self._entries.get(key) is entry
            if entry.users == 0 and (not pooled or entry.broken or self._closed):
                if pooled:
                    del self._entries[key]
                to_close.append(entry)
            idle = [k for k, e in self._entries.items() if e.users == 0]
            while len(idle) > self._max_idle:
                to_close.append(self._entries.pop(idle.pop(0)))
        for stale in to_close:
            _close_entry(stale)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def close(self) -> None:
        """Close every idle database now and every busy one when its query ends."""
        with self._lock:
            self._closed = True
            idle = [key for key, entry in self._entries.items() if entry.users == 0]
            to_close = [self._entries.pop(key) for key in idle]
        for entry in to_close:
            _close_entry(entry)


def _close_entries(entries: OrderedDict[DatabaseKey, _Entry]) -> None:
    for entry in list(entries.values()):
        _close_entry(entry)
    entries.clear()


def _close_entry(entry: _Entry) -> None:
    if entry.closed:
        return
    entry.closed = True
    try:
        entry.database.close()
    finally:
        shutil.rmtree(entry.temp_dir, ignore_errors=True)
        if entry.budget is not None:
            entry.budget.release(entry.resident_bytes)
