"""The engine contract: what a caller hands an engine and what it gets back.

Owns the value types shared by every engine (``TableSource``, ``QueryLimits``, ``QueryResult``,
``ParsedQuery``), the ``Engine`` base class and the checks on table sources and limits that every
engine applies the same way. Must not import a concrete engine, the catalog or the lake: callers
decide which datasets a user may read and hand over only their data files.
"""

from __future__ import annotations

import abc
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa
import sqlglot.expressions as exp

from countyos.errors import InvalidInputError, NotFoundError

#: A dataset's SQL table name.
DATASET_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}\Z")

# Characters DuckDB (and Spark) expand as glob patterns inside a file path.
_GLOB_CHARACTERS = frozenset("*?[]{}")

_MEMORY_LIMIT_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.I)
_SIZE_UNITS = {"B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
               "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}

#: Column of a ranked source (``TableSource.rank_by``): the row's 1-based position among the
#: rows with the same ``rank_by`` value, in a random order drawn when the table is loaded.
RANK_COLUMN = "__rank"
#: Column of a ranked source: how many rows have the row's ``rank_by`` value.
KEY_ROWS_COLUMN = "__key_rows"


@dataclass(frozen=True)
class TableSource:
    """One dataset version as a SQL table.

    Attributes:
        name: the SQL table name (a dataset name, ``^[a-z][a-z0-9_]{0,62}$``).
        files: absolute paths of the version's Parquet data files; files written by later
            versions may add columns (they are read by column name).
        columns: the columns the caller may see, in order; ``None`` means all columns.
        resident: keep the table in the engine's memory between queries when it fits the
            engine's budget (a hint: the results are the same either way, only faster).
        rank_by: a column of the source; the table then also has ``RANK_COLUMN`` and
            ``KEY_ROWS_COLUMN`` (see there), for trusted callers that bound rows per key. A
            resident table keeps one random order for as long as it stays loaded; otherwise
            every query draws a fresh one.
    """

    name: str
    files: tuple[str, ...]
    columns: tuple[str, ...] | None = None
    resident: bool = False
    rank_by: str | None = None

    def __post_init__(self) -> None:
        # Accept lists from callers; keep the source hashable (engines pool by it).
        if isinstance(self.files, list):
            object.__setattr__(self, "files", tuple(self.files))
        if isinstance(self.columns, list):
            object.__setattr__(self, "columns", tuple(self.columns))

    def validate(self) -> None:
        """Check the source is well formed.

        Raises:
            InvalidInputError: a bad table name, a relative or glob-like file path, no files,
                or a blank or duplicate column.
        """
        if not isinstance(self.name, str) or not DATASET_NAME_PATTERN.match(self.name):
            raise InvalidInputError(
                f"table name {self.name!r} is not a dataset name "
                "(lowercase letter first, then lowercase letters, digits or _; at most 63)"
            )
        if isinstance(self.files, str) or not self.files:
            raise InvalidInputError(f"dataset {self.name} has no data files to read")
        for path in self.files:
            if not isinstance(path, str) or not os.path.isabs(path):
                raise InvalidInputError(f"data file of dataset {self.name} is not an absolute path")
            if _GLOB_CHARACTERS & set(path) or "\x00" in path:
                raise InvalidInputError(
                    f"data file path of dataset {self.name} contains a glob or NUL character"
                )
        if self.columns is not None:
            if isinstance(self.columns, str) or not self.columns:
                raise InvalidInputError(f"dataset {self.name} grants no columns")
            seen: set[str] = set()
            for column in self.columns:
                if not isinstance(column, str) or not column.strip() or "\x00" in column:
                    raise InvalidInputError(f"dataset {self.name} has a blank column name")
                if column.lower() in seen:
                    raise InvalidInputError(f"dataset {self.name} lists column {column!r} twice")
                if column.lower() in (RANK_COLUMN, KEY_ROWS_COLUMN):
                    raise InvalidInputError(
                        f"dataset {self.name} has a column named {column!r}, a name the engine "
                        "reserves"
                    )
                seen.add(column.lower())
        if self.rank_by is not None:
            if not isinstance(self.rank_by, str) or not self.rank_by.strip():
                raise InvalidInputError(f"dataset {self.name} is ranked by a blank column")
            if self.columns is not None and self.rank_by.lower() not in seen:
                raise InvalidInputError(
                    f"dataset {self.name} is ranked by {self.rank_by!r}, which it does not grant"
                )


@dataclass(frozen=True)
class QueryLimits:
    """Resource limits of one query.

    Attributes:
        timeout_s: wall-clock seconds before the query is interrupted.
        max_rows: most rows returned; more rows set ``QueryResult.truncated``.
        memory_limit: engine memory limit, a size such as ``"4GB"`` or ``"512MiB"``.
        threads: worker threads of the query.
    """

    timeout_s: float = 60.0
    max_rows: int = 10_000
    memory_limit: str = "4GB"
    threads: int = 2

    def validate(self) -> None:
        """Check the limits are usable.

        Raises:
            InvalidInputError: a non-positive timeout, row limit or thread count, or a memory
                limit that is not a size.
        """
        if not self.timeout_s > 0:
            raise InvalidInputError("query timeout_s must be a positive number of seconds")
        if not _is_count(self.max_rows) or self.max_rows < 0:
            raise InvalidInputError("query max_rows must be a non-negative integer")
        if not _is_count(self.threads) or self.threads < 1:
            raise InvalidInputError("query threads must be a positive integer")
        if not isinstance(self.memory_limit, str) or not _MEMORY_LIMIT_PATTERN.match(
            self.memory_limit
        ):
            raise InvalidInputError(
                f"memory_limit {self.memory_limit!r} is not a size such as '4GB' or '512MiB'"
            )


def size_in_bytes(text: str) -> int:
    """A size such as ``"4GB"`` or ``"512MiB"`` in bytes (decimal and binary units).

    Raises:
        InvalidInputError: the text is not a size.
    """
    match = _MEMORY_LIMIT_PATTERN.match(text) if isinstance(text, str) else None
    if not match:
        raise InvalidInputError(f"{text!r} is not a size such as '4GB' or '512MiB'")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).upper()])


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class QueryResult:
    """The rows of one query.

    Attributes:
        table: the result, at most ``max_rows`` rows.
        truncated: whether the query produced more rows than were returned.
        elapsed_s: wall-clock seconds spent in the engine, set-up included.
    """

    table: pa.Table
    truncated: bool
    elapsed_s: float


@dataclass(frozen=True)
class ParsedQuery:
    """One read-only query that passed the guard (``countyos.engine.sql.parse_read_only``).

    Attributes:
        expression: the sqlglot tree; engines copy it before changing anything.
        tables: catalog tables the query reads (CTE names excluded), lowercase.
        sql: the canonical DuckDB SQL of the query.
    """

    expression: exp.Expression
    tables: frozenset[str]
    sql: str


class Engine(abc.ABC):
    """A query engine that runs guarded, read-only SQL over Parquet data files.

    Subclasses set ``name`` (the registry key) and ``dialect`` (the sqlglot dialect the engine
    speaks) and implement ``execute`` and ``close``. An engine is safe to share between threads.
    """

    name: ClassVar[str]
    dialect: ClassVar[str]

    @abc.abstractmethod
    def execute(
        self,
        query: ParsedQuery,
        tables: Mapping[str, TableSource],
        *,
        limits: QueryLimits | None = None,
    ) -> QueryResult:
        """Run one guarded query over the tables the caller granted.

        Args:
            query: the output of ``parse_read_only``.
            tables: the tables the user may read, by SQL name; only those the query references
                are opened.
            limits: resource limits; ``None`` uses the engine's configured defaults.

        Returns:
            At most ``limits.max_rows`` rows and whether more existed.

        Raises:
            NotFoundError: the query references a table not in ``tables``.
            QueryRefusedError: the query cannot run on this engine or exceeded its time limit.
            InvalidInputError: a bad table source, or the query failed on the data.
            TooLargeError: the query needed more memory than its limit.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release every connection and scratch file the engine holds."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def select_sources(
    query: ParsedQuery, tables: Mapping[str, TableSource]
) -> tuple[TableSource, ...]:
    """The validated sources a query reads, sorted by name.

    Args:
        query: a guarded query.
        tables: the caller's grant, by SQL name.

    Returns:
        One ``TableSource`` per table the query references.

    Raises:
        NotFoundError: "unknown dataset …" for the first referenced name (in sorted order) that
            is not granted; nothing is said about other tables.
        InvalidInputError: a granted source that is malformed or filed under another name.
    """
    granted = {key.lower(): source for key, source in tables.items()}
    selected: list[TableSource] = []
    for name in sorted(query.tables):
        source = granted.get(name)
        if source is None:
            raise NotFoundError(f"unknown dataset {name!r}", details={"dataset": name})
        source.validate()
        if source.name != name:
            raise InvalidInputError(
                f"table source {source.name!r} is filed under the name {name!r}"
            )
        selected.append(source)
    return tuple(selected)
