"""Which tables a DuckDB database keeps in memory, and how much memory that may take.

Owns the estimate of a table's in-memory size (from its Parquet footers: fixed-width columns at
their width, variable-width ones at their uncompressed size plus DuckDB's 16-byte string
header, two BIGINT rank columns for a ranked source) and ``ResidentBudget``, the engine-wide
count of bytes held by resident tables. A source asking to be resident (``TableSource.resident``)
is loaded as a table only when its estimate fits both the budget and half of its database's
memory limit; otherwise it stays a view over its files, with the same rows. Once loaded, the
budget counts what DuckDB reports the tables take (``measured_bytes``: the estimate misses
e.g. dictionary-encoded long strings). Must not open databases.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pyarrow.parquet as pq

from countyos.engine.base import TableSource

#: Bytes per value of Parquet's fixed-width physical types as DuckDB holds them in memory.
_FIXED_WIDTH = {"BOOLEAN": 1, "INT32": 4, "INT64": 8, "INT96": 8, "FLOAT": 4, "DOUBLE": 8}
#: DuckDB's in-memory header of one string (inlined up to 12 bytes, else a pointer).
_STRING_HEADER = 16
#: Bytes of the rank columns a ranked source adds (two BIGINTs per row).
_RANK_BYTES = 16


def estimate_bytes(source: TableSource) -> int | None:
    """The in-memory size of ``source`` as a DuckDB table, or ``None`` if a footer is unreadable.

    A column a file lacks (written before the column existed) counts 8 bytes per row.
    """
    wanted = None if source.columns is None else {c.lower() for c in source.columns}
    total = 0
    for path in source.files:
        try:
            metadata = pq.read_metadata(path)
        except (OSError, ValueError):
            return None
        rows = metadata.num_rows
        schema = metadata.schema
        seen: set[str] = set()
        for index in range(len(schema)):
            column = schema.column(index)
            name = column.path.split(".")[0].lower()
            if wanted is not None and name not in wanted:
                continue
            seen.add(name)
            width = _FIXED_WIDTH.get(column.physical_type)
            if width is None and column.physical_type == "FIXED_LEN_BYTE_ARRAY":
                width = column.length
            if width is not None:
                total += rows * width
                continue
            total += rows * _STRING_HEADER + sum(
                metadata.row_group(group).column(index).total_uncompressed_size
                for group in range(metadata.num_row_groups)
            )
        if wanted is not None:
            total += rows * 8 * len(wanted - seen)
        if source.rank_by is not None:
            total += rows * _RANK_BYTES
    return total


class ResidentBudget:
    """Bytes the engine's resident tables may hold together; thread-safe.

    Args:
        limit: the budget in bytes (0 keeps nothing resident).
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(0, int(limit))
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        with self._lock:
            return self._used

    def reserve(self, sizes: dict[str, int]) -> tuple[frozenset[str], int]:
        """Reserve room for each table of ``sizes`` (from ``resident_sizes``) that fits, in order.

        Returns:
            The names of the tables to load and the bytes reserved for them; give the bytes
            back with ``release`` when their database closes.
        """
        names: set[str] = set()
        reserved = 0
        with self._lock:
            for name, size in sizes.items():
                if self._used + size <= self.limit:
                    self._used += size
                    reserved += size
                    names.add(name)
        return frozenset(names), reserved

    def release(self, size: int) -> None:
        """Give back bytes reserved (or measured) for a database that closed."""
        with self._lock:
            self._used -= size

    def replace(self, reserved: int, measured: int) -> None:
        """Count what the loaded tables really take instead of their estimate."""
        with self._lock:
            self._used += measured - reserved

    def missing(self, sizes: dict[str, int]) -> int:
        """Bytes the tables of ``sizes`` would need beyond what is free (0: they fit now)."""
        with self._lock:
            return max(0, self._used + sum(sizes.values()) - self.limit)


def resident_sizes(sources: Sequence[TableSource], memory_limit: int) -> dict[str, int]:
    """The estimated size of each source that asks to be resident and may be: its footers are
    readable and it takes at most half of its database's ``memory_limit`` (bytes)."""
    sizes: dict[str, int] = {}
    for source in sources:
        if source.resident:
            size = estimate_bytes(source)
            if size is not None and size <= memory_limit // 2:
                sizes[source.name] = size
    return sizes


def measured_bytes(database: object) -> int:
    """Memory the in-memory tables of an open DuckDB database take (its buffer manager's
    ``IN_MEMORY_TABLE`` count)."""
    row = database.execute(  # type: ignore[attr-defined]
        "SELECT COALESCE(sum(memory_usage_bytes), 0) FROM duckdb_memory() "
        "WHERE tag = 'IN_MEMORY_TABLE'"
    ).fetchone()
    return int(row[0])
